"""The command line contract: flags, JSON keys, exit status 2 on bad input."""
import json
import subprocess
import sys

import pytest

from llmperf.cli import main

SUMMARY_KEYS = {"params_total", "params_active", "weight_bytes", "kv_cache_bytes_per_token", "kv_cache_bytes",
                "prefill_flops", "decode_flops_first_step", "ttft_s", "tpot_s", "tpot_first_s", "tpot_last_s",
                "throughput_tokens_per_s", "max_batch"}
OP_KEYS = {"name", "flops", "bytes_read", "bytes_written", "intensity", "bound", "time_s", "repeats"}


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_json_contract(capsys):
    code, out, err = run(capsys, "analyze", "--model", "llama-2-7b", "--hardware", "a100-sxm-80gb", "--batch", "4",
                         "--prompt-len", "512", "--gen-len", "33", "--json")
    assert code == 0 and err == ""
    d = json.loads(out)
    assert SUMMARY_KEYS <= set(d["summary"])
    assert d["conventions"]["attention_flops"] == "causal" and d["conventions"]["logits"] == "last"
    for phase in ("prefill", "decode"):
        ops = d[phase]["ops"]
        assert ops and all(OP_KEYS <= set(op) for op in ops)
    names = [op["name"] for op in d["prefill"]["ops"]]
    assert {"q_proj", "o_proj", "gate_proj", "lm_head", "embedding"} <= set(names)
    s = d["summary"]
    assert s["params_total"] == 6738415616
    # times: e2e = ttft + 32 decode steps, throughput = B * G / e2e
    assert s["throughput_tokens_per_s"] == pytest.approx(4 * 33 / s["e2e_latency_s"])
    assert s["tpot_first_s"] <= s["tpot_s"] <= s["tpot_last_s"]


def test_flags_change_the_result(capsys):
    base = json.loads(run(capsys, "analyze", "--model", "qwen2.5-7b", "--hardware", "h100-sxm", "--json")[1])
    full = json.loads(run(capsys, "analyze", "--model", "qwen2.5-7b", "--hardware", "h100-sxm", "--json",
                          "--attention-flops", "full", "--logits", "all", "--weight-dtype", "int4",
                          "--kv-dtype", "fp8", "--tp", "2")[1])
    assert full["conventions"]["attention_flops"] == "full" and full["setup"]["tp"] == 2
    assert full["summary"]["prefill_flops"] > base["summary"]["prefill_flops"]
    assert full["summary"]["kv_cache_bytes_per_token"] == base["summary"]["kv_cache_bytes_per_token"] / 4
    assert any(op["name"] == "attention all-reduce" for op in full["prefill"]["ops"])


def test_text_report(capsys):
    code, out, _ = run(capsys, "analyze", "--model", "mixtral-8x7b", "--hardware", "h100-sxm", "--tp", "2")
    assert code == 0
    for word in ("PREFILL", "DECODE", "SUMMARY", "TTFT", "TPOT", "max batch", "conventions", "experts"):
        assert word in out
    assert "2(tp-1)/tp" in out and "450 GB/s link" in out  # H100 SXM NVLink: 900 GB/s total, 450 per direction


def test_not_fitting_is_said(capsys):
    code, out, _ = run(capsys, "analyze", "--model", "llama-2-70b", "--hardware", "rtx-4090")
    assert code == 0 and "DOES NOT FIT" in out


def test_catalog_listings(capsys):
    code, out, _ = run(capsys, "models")
    assert code == 0 and "qwen3-30b-a3b" in out
    code, out, _ = run(capsys, "hardware", "--json")
    assert code == 0 and any(r["name"] == "a100-sxm-80gb" for r in json.loads(out))


@pytest.mark.parametrize("argv,words", [
    (["analyze", "--model", "nope", "--hardware", "h100-sxm"], "unknown model"),
    (["analyze", "--model", "llama-2-7b", "--hardware", "nope"], "nope"),
    (["analyze", "--model", "llama-2-7b", "--hardware", "h100-sxm", "--batch", "0"], "batch"),
    (["analyze", "--model", "llama-2-7b", "--hardware", "h100-sxm", "--prompt-len", "-5"], "prompt_len"),
    (["analyze", "--model", "llama-2-70b", "--hardware", "h100-sxm", "--tp", "3"], "tp=3"),
    (["analyze", "--model", "llama-2-7b", "--hardware", "h100-sxm", "--weight-dtype", "fp13"], "fp13"),
    (["analyze", "--model", "llama-2-7b", "--hardware", "h100-sxm", "--batch", "two"], "batch"),
    (["frobnicate"], "frobnicate"),
])
def test_bad_input_exits_2_with_one_line(capsys, argv, words):
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and words in err and "Traceback" not in err


def test_bad_config_files(capsys, tmp_path):
    bad = tmp_path / "config.json"
    bad.write_text("{oops")
    code, _, err = run(capsys, "analyze", "--model", str(bad), "--hardware", "h100-sxm")
    assert code == 2 and "not valid JSON" in err
    bad.write_text(json.dumps({"model_type": "llama", "hidden_size": 64, "num_hidden_layers": 2,
                               "num_attention_heads": 6, "num_key_value_heads": 4, "vocab_size": 100, "head_dim": 16,
                               "intermediate_size": 128}))
    code, _, err = run(capsys, "analyze", "--model", str(bad), "--hardware", "h100-sxm")
    assert code == 2 and "divide" in err


def test_module_entry_point_runs():
    p = subprocess.run([sys.executable, "-m", "llmperf", "analyze", "--model", "qwen3-0.6b", "--hardware",
                        "apple-m2", "--json"], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["summary"]["params_total"] > 0
    p = subprocess.run([sys.executable, "-m", "llmperf", "analyze", "--model", "nope", "--hardware", "x"],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 2 and "Traceback" not in p.stderr


def test_sweep_puts_batch_across_the_columns(capsys):
    code, out, _ = run(capsys, "sweep", "--model", "llama-3.1-8b", "--hardware", "h100-sxm", "--batch", "1,64",
                       "--context", "1024,8192", "--metric", "time_s")
    assert code == 0
    lines = out.splitlines()
    assert "B=1" in lines[1] and "B=64" in lines[1] and "roofline lower bound" in lines[0]
    code, out, _ = run(capsys, "sweep", "--model", "llama-3.1-8b", "--hardware", "h100-sxm", "--batch", "1,64",
                       "--context", "1024,8192", "--json")
    rows = json.loads(out)
    assert len(rows) == 4
    # more cached tokens means more KV bytes per step, so a slower step
    t = {(r["batch"], r["context"]): r["time_s"] for r in rows}
    assert t[(64, 8192)] > t[(64, 1024)] and t[(1, 8192)] > t[(1, 1024)]
    code, _, err = run(capsys, "sweep", "--model", "llama-3.1-8b", "--hardware", "h100-sxm", "--batch", "1,x")
    assert code == 2 and "comma-separated" in err


def test_user_device_file_on_the_command_line(capsys, tmp_path):
    dev = tmp_path / "my-npu.yaml"
    dev.write_text("name: my-npu\ndisplay_name: My NPU\ncategory: edge\nmemory_bytes: 8.0e9\n"
                   "memory_bandwidth_bytes_per_s: 50.0e9\npeak_flop_per_s:\n  fp16: 10.0e12\n"
                   "source: my own measurement\n")
    code, out, err = run(capsys, "analyze", "--model", "qwen2.5-0.5b", "--hardware", str(dev), "--json",
                         "--act-dtype", "fp16")
    assert code == 0, err
    d = json.loads(out)
    assert d["setup"]["hardware"] == "my-npu"
    # batch-1 decode is memory-bound: a step reads every 2-byte weight (the tied embedding as the lm_head),
    # 494,032,768 parameters (Qwen2.5-0.5B model card), at 50 GB/s
    assert 494032768 * 2 / 50e9 < d["summary"]["tpot_first_s"] < 1.05 * 494032768 * 2 / 50e9


def test_parallel_flags_echo_their_formulas(capsys):
    code, out, err = run(capsys, "analyze", "--model", "llama-2-70b", "--hardware", "h100-sxm", "--tp", "2", "--pp",
                         "2", "--json")
    assert code == 0, err
    d = json.loads(out)
    assert d["setup"]["devices"] == 4 and d["summary"]["pp"] == 2
    assert len(d["parallelism"]) == 2 and "2(tp-1)/tp" in d["parallelism"][0] and "pp-1" in d["parallelism"][1]
    names = [op["name"] for op in d["decode"]["ops"]]
    assert "pipeline send (stage to stage)" in names and "attention all-reduce" in names
    code, out, _ = run(capsys, "analyze", "--model", "mixtral-8x7b", "--hardware", "h100-sxm", "--ep", "2",
                       "--batch", "2")
    assert code == 0 and "expert parallel over 2 devices" in out and "ep=2" in out.splitlines()[0]
