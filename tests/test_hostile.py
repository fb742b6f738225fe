"""Hostile and careless input: every input ends quickly with exit 2 and one line, or with finite numbers.

The contract (issue 8, part 3): a bad file, field or number is a one-line error
naming it (CLI exit status 2), never a hang, a traceback, a memory blow-up or a
wrong number; a good one gives finite, non-negative numbers.
"""
import contextlib
import io
import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import llmperf
from llmperf.cli import main
from llmperf.models import ModelConfigError, catalog_config, from_hf_config

HW = {"name": "my-npu", "display_name": "My NPU", "category": "edge", "memory_bytes": 8e9,
      "memory_bandwidth_bytes_per_s": 50e9, "peak_flop_per_s": {"bf16": 10e12}}


def cli(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code, out, err, *words):
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err[:500]
    for w in words:
        assert w in err, err


def assert_finite_summary(summary, gen_len):
    for k, v in summary.items():
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            continue
        if gen_len == 1 and k in ("tpot_s", "tpot_first_s", "tpot_last_s", "decode_tokens_per_s"):
            assert math.isnan(v)  # no decode step: no TPOT, stated as NaN (null in JSON)
            continue
        assert math.isfinite(v) and v >= 0, (k, v)


# --- files ------------------------------------------------------------------------

@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_fifo_and_device_files_are_refused_without_reading(tmp_path):
    fifo = tmp_path / "dev.yaml"
    os.mkfifo(fifo)
    zero = tmp_path / "zero.json"
    zero.symlink_to("/dev/zero")
    cfg = tmp_path / "config.json"
    cfg.symlink_to("/dev/zero")
    code = ("import llmperf, sys\n"
            "for f in sys.argv[1:3]:\n"
            "    try: llmperf.get_hardware(f)\n"
            "    except llmperf.HardwareError as e: print('HW', e)\n"
            "try: llmperf.load_model(sys.argv[3])\n"
            "except llmperf.ModelConfigError as e: print('MODEL', e)\n")
    p = subprocess.run([sys.executable, "-c", code, str(fifo), str(zero), str(cfg)], capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert len(lines) == 3 and all("regular file" in ln for ln in lines)


def test_yaml_alias_bomb_is_refused_quickly(tmp_path):
    levels = ["a: &a [" + ", ".join(['"lol"'] * 9) + "]"]
    for i, c in enumerate("bcdefghi"):
        prev = "abcdefghi"[i]
        levels.append(f"{c}: &{c} [" + ", ".join([f"*{prev}"] * 9) + "]")
    f = tmp_path / "bomb.yaml"
    f.write_text("\n".join(levels) + "\n")
    assert f.stat().st_size < 1000  # a few hundred bytes that would expand to 9**9 strings
    with pytest.raises(llmperf.HardwareError, match="not allowed") as e:
        llmperf.get_hardware(f)
    assert len(str(e.value)) < 300


@pytest.mark.parametrize("suffix,text", [(".json", "[" * 50000 + "]" * 50000), (".yaml", "[" * 50000 + "]" * 50000),
                                         (".json", '{"a":' * 50000 + "1" + "}" * 50000)])
def test_deep_nesting_is_a_clear_error(tmp_path, suffix, text):
    f = tmp_path / f"deep{suffix}"
    f.write_text(text)
    with pytest.raises(llmperf.HardwareError, match="nested too deeply"):
        llmperf.get_hardware(f)


def test_deep_model_config_is_a_clear_error(tmp_path, capsys):
    f = tmp_path / "config.json"
    f.write_text('{"a":' * 50000 + "1" + "}" * 50000)
    assert_one_line_error(*cli(capsys, "analyze", "--model", f, "--hardware", "h100-sxm"), "nested too deeply")


def test_oversized_file_is_refused(tmp_path):
    f = tmp_path / "big.json"
    f.write_text(" " * (5 * 2 ** 20) + "{}")
    with pytest.raises(ModelConfigError, match="limit"):
        llmperf.load_model(f)


@pytest.mark.parametrize("value", [float("inf"), 1e30, -1.0, 0.5, "10e12x", True, [1]])
def test_bad_hardware_figures_are_named(tmp_path, value, capsys):
    f = tmp_path / "hw.json"
    f.write_text(json.dumps(HW | {"memory_bandwidth_bytes_per_s": value}))
    assert_one_line_error(*cli(capsys, "analyze", "--model", "qwen2.5-0.5b", "--hardware", f, "--act-dtype", "fp16"),
                          "memory_bandwidth_bytes_per_s")


@pytest.mark.parametrize("field,value", [("hidden_size", float("inf")), ("hidden_size", 1e30),
                                         ("num_hidden_layers", 10 ** 9), ("vocab_size", 2.5),
                                         ("intermediate_size", "11008"), ("num_attention_heads", float("nan"))])
def test_bad_model_sizes_are_named(tmp_path, field, value, capsys):
    f = tmp_path / "config.json"
    f.write_text(json.dumps(catalog_config("llama-2-7b") | {field: value}))  # Infinity/NaN as Python's json writes them
    assert_one_line_error(*cli(capsys, "analyze", "--model", f, "--hardware", "h100-sxm"), field)


def test_string_false_is_not_true(capsys, tmp_path):
    # "false" in quotes is a string: read as a boolean it would be true, tying the embeddings (or, for
    # use_sliding_window, capping the KV cache at a window 128 times smaller than the context)
    for field in ("tie_word_embeddings", "use_sliding_window", "attention_bias"):
        cfg = catalog_config("qwen2.5-7b") | {field: "false"}
        with pytest.raises(ModelConfigError, match=field):
            from_hf_config(cfg, "x")
    f = tmp_path / "config.json"
    f.write_text(json.dumps(catalog_config("qwen2.5-7b") | {"use_sliding_window": "false"}))
    assert_one_line_error(*cli(capsys, "analyze", "--model", f, "--hardware", "h100-sxm"), "JSON boolean")


# --- workload numbers -----------------------------------------------------------------

def test_long_generation_is_closed_form_and_exact():
    # a million decode steps end quickly and in little memory; a short generation's closed-form
    # sums equal the sum over the steps evaluated one by one
    a = llmperf.analyze("llama-2-7b", "h100-sxm", 1, 1024, 2_000_000)
    assert_finite_summary(a.summary, 2_000_000)
    g = 300
    b = llmperf.analyze("mistral-7b", "h100-sxm", 4, 3900, g)        # crosses the 4096-token window
    steps = llmperf.decode_step("mistral-7b", "h100-sxm", 4, 3900 + np.arange(g - 1)).time_s
    assert b.summary["decode_time_s"] == pytest.approx(float(steps.sum()), rel=1e-12)
    assert b.summary["tpot_first_s"] == pytest.approx(float(steps[0]), rel=1e-12)
    assert b.summary["tpot_last_s"] == pytest.approx(float(steps[-1]), rel=1e-12)


def test_crossing_from_memory_to_compute_bound_is_summed_exactly():
    # batch 256 on Llama-2-7B: attention's bound changes inside the generation; the closed form splits there
    a = llmperf.analyze("llama-2-7b", "a100-sxm-80gb", 256, 100, 900, attention_flops="full", flash_attention=False)
    steps = llmperf.decode_step("llama-2-7b", "a100-sxm-80gb", 256, 100 + np.arange(899), attention_flops="full",
                                flash_attention=False)
    assert a.summary["decode_time_s"] == pytest.approx(float(steps.time_s.sum()), rel=1e-12)


def test_per_step_arrays_have_a_stated_limit():
    a = llmperf.analyze("llama-2-7b", "h100-sxm", 1, 10, 10 ** 9)
    with pytest.raises(llmperf.WorkloadError, match="at most"):
        a.decode
    assert a.decode_table("last")["Time (s)"].sum() > a.decode_table("first")["Time (s)"].sum()


@pytest.mark.parametrize("argv,words", [
    (["--batch", 2 ** 63], "batch"), (["--gen-len", 0], "gen_len"), (["--prompt-len", 2 ** 41], "prompt_len"),
    (["--compute-efficiency", "1e-300"], "compute efficiency"), (["--memory-efficiency", "nan"], "memory efficiency"),
    (["--comm-efficiency", "inf"], "comm efficiency"), (["--memory-fraction", "0"], "memory_fraction"),
    (["--kv-dtype", ""], "kv_dtype"), (["--weight-dtype", " "], "weight_dtype"), (["--tp", 0], "tp"),
    (["--pp", 100], "pp"), (["--ep", 2], "ep"), (["--tp", 3], "tp=3"),
])
def test_bad_workload_numbers_exit_2(capsys, argv, words):
    assert_one_line_error(*cli(capsys, "analyze", "--model", "llama-2-7b", "--hardware", "h100-sxm", *argv), words)


def test_tiny_efficiency_gives_finite_json(capsys):
    code, out, err = cli(capsys, "analyze", "--model", "llama-2-7b", "--hardware", "h100-sxm", "--json",
                         "--compute-efficiency", "1e-6", "--memory-efficiency", "1e-6")
    assert code == 0, err
    s = json.loads(out)["summary"]
    assert_finite_summary(s, 128)
    assert s["ttft_s"] > 1.0  # a millionth of the device is slow


def test_sweep_limits_and_batch_overflow(capsys):
    with pytest.raises(llmperf.WorkloadError, match="limit"):
        llmperf.sweep("llama-2-7b", "h100-sxm", np.arange(1, 3001), np.arange(1, 3001))
    with pytest.raises(llmperf.WorkloadError, match="batch"):
        llmperf.sweep("llama-2-7b", "h100-sxm", [2 ** 63], [1024])
    with pytest.raises(ValueError, match="context"):
        llmperf.sweep("llama-2-7b", "h100-sxm", [1], [-1])
    assert_one_line_error(*cli(capsys, "sweep", "--model", "llama-2-7b", "--hardware", "h100-sxm", "--batch",
                               str(2 ** 63)), "batch")
    assert_one_line_error(*cli(capsys, "sweep", "--model", "llama-2-7b", "--hardware", "h100-sxm", "--batch",
                               ",".join(map(str, range(1, 3001)))), "at most")


def test_sweep_says_whether_each_point_fits(capsys):
    # Llama-2-70B has 68.98e9 parameters: 138 GB of bf16 weights cannot fit a 24 GiB RTX 4090 at any point
    df = llmperf.sweep("llama-2-70b", "rtx-4090", [1, 8], [1024, 4096])
    assert not df["fits"].any() and (df["memory_bytes"] > 2 * 68.9e9).all()
    code, out, _ = cli(capsys, "sweep", "--model", "llama-2-70b", "--hardware", "rtx-4090", "--batch", "1,8",
                       "--context", "1024")
    assert code == 0 and "does not fit" in out and out.count(" *") >= 2
    # Llama-3.2-1B fits an H100 at batch 1 but not at batch 4096 with 128k tokens each (KV cache 32 KiB/token)
    df = llmperf.sweep("llama-3.2-1b", "h100-sxm", [1, 4096], [131072])
    assert list(df["fits"]) == [True, False]
    rows = json.loads(cli(capsys, "sweep", "--model", "llama-3.2-1b", "--hardware", "h100-sxm", "--batch", "1,4096",
                          "--context", "131072", "--json")[1])
    assert [r["fits"] for r in rows] == [True, False]


def test_python_api_validates_like_the_cli():
    m = llmperf.load_model("llama-2-7b")
    for bad in (-5, 2.5, float("nan"), float("inf"), True, "1024", [1, -1]):
        with pytest.raises(ValueError, match="context"):
            llmperf.kv_cache_bytes(m, bad)
    with pytest.raises(ValueError, match="batch"):
        llmperf.kv_cache_bytes(m, 1024, batch=0)
    # independent: 2 (K and V) x 32 layers x 32 heads x 128 x 2 bytes per token
    assert llmperf.kv_cache_bytes(m, 1000, 3) == 3 * 1000 * 2 * 32 * 32 * 128 * 2
    with pytest.raises(ValueError, match="efficiency"):
        llmperf.analyze(m, "h100-sxm", compute_efficiency=0.0)
    with pytest.raises(ValueError, match="kv_dtype"):
        llmperf.analyze(m, "h100-sxm", kv_dtype="")
    with pytest.raises(ValueError, match="batch"):
        llmperf.decode_step(m, "h100-sxm", batch=np.array([1, 0]))
    with pytest.raises(ValueError, match="limit"):
        llmperf.decode_step(m, "h100-sxm", batch=np.ones((1000, 1000)))
    with pytest.raises(ValueError, match="context"):
        llmperf.tables.kv_cache_table(["llama-2-7b"], context=-5)


# --- property tests ----------------------------------------------------------------------

JSON_VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(-2 ** 70, 2 ** 70), st.sampled_from([0, 1, 2, 7, 64, 4096, 2 ** 31]),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12),
    st.lists(st.integers(-3, 40), max_size=4), st.dictionaries(st.text(max_size=5), st.integers(), max_size=3))
CONFIG_FIELDS = ["hidden_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads", "vocab_size",
                 "intermediate_size", "head_dim", "tie_word_embeddings", "attention_bias", "hidden_act",
                 "sliding_window", "use_sliding_window", "max_window_layers", "layer_types", "rope_scaling",
                 "quantization_config", "num_experts", "num_experts_per_tok", "model_type", "mlp_only_layers",
                 "use_bidirectional_attention", "something_new"]
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(base=st.sampled_from(["llama-2-7b", "qwen2.5-0.5b", "qwen3-30b-a3b", "mistral-7b"]),
       changes=st.dictionaries(st.sampled_from(CONFIG_FIELDS), JSON_VALUES, min_size=1, max_size=3))
def test_any_config_dict_is_an_error_or_finite(base, changes):
    cfg = catalog_config(base) | changes
    try:
        m = from_hf_config(cfg, "fuzz")
    except ModelConfigError as e:
        assert "\n" not in str(e) and len(str(e)) < 1000
        return
    a = llmperf.analyze(m, "h100-sxm", 2, 64, 3)
    assert_finite_summary(a.summary, 3)
    json.dumps(a.to_dict(), allow_nan=False)


HW_VALUES = st.one_of(st.none(), st.booleans(), st.floats(allow_nan=True, allow_infinity=True),
                      st.integers(-2 ** 80, 2 ** 80), st.text(max_size=8), st.just(1e12), st.just(1.0))


@SETTINGS
@given(changes=st.dictionaries(st.sampled_from(["memory_bytes", "memory_bandwidth_bytes_per_s",
                                                "interconnect_bandwidth_bytes_per_s", "name", "category"]),
                               HW_VALUES, max_size=3),
       peak=st.dictionaries(st.sampled_from(["bf16", "fp16", "fp8", "int4", "bogus"]), HW_VALUES, max_size=3))
def test_any_hardware_dict_is_an_error_or_finite(changes, peak):
    d = HW | changes | {"peak_flop_per_s": peak}
    try:
        hw = llmperf.Hardware.from_dict(d)
        a = llmperf.analyze("qwen2.5-0.5b", hw, 1, 128, 4)
        s = a.summary
    except ValueError as e:  # HardwareError, or a missing bf16/fp16 peak
        assert "\n" not in str(e) and len(str(e)) < 1000
        return
    assert_finite_summary(s, 4)


ARG = st.one_of(st.integers(-5, 2 ** 64), st.sampled_from(["0", "1", "-1", "1e3", "nan", "inf", "", " ", "x",
                                                            "1e-300", "0.5", "2", "8", "4096", "fp8", "int4-g128"]))


@SETTINGS
@given(args=st.dictionaries(st.sampled_from(["--batch", "--prompt-len", "--gen-len", "--tp", "--pp", "--ep",
                                             "--compute-efficiency", "--memory-efficiency", "--memory-fraction",
                                             "--kv-dtype", "--weight-dtype", "--act-dtype"]),
                            ARG, max_size=4),
       model=st.sampled_from(["llama-2-7b", "qwen3-30b-a3b"]))
def test_any_cli_arguments_exit_0_with_finite_json_or_2_with_one_line(args, model):
    argv = ["analyze", "--model", model, "--hardware", "h100-sxm", "--json"]
    for k, v in args.items():
        argv += [f"{k}={v}"]
    out_buf, err_buf = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out_buf), contextlib.redirect_stderr(err_buf):
        code = main(argv)
    out, err = out_buf.getvalue(), err_buf.getvalue()
    if code == 2:
        assert out == "" and len(err.strip().splitlines()) == 1 and "Traceback" not in err
        return
    assert code == 0, err
    d = json.loads(out)
    s = d["summary"]
    assert_finite_summary({k: (math.nan if v is None else v) for k, v in s.items()}, s["gen_len"])
