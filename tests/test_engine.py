"""The engine against hand derivations, limiting cases and properties."""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import llmperf
from llmperf import Conventions, analyze, build_ops, decode_step, load_model
from llmperf.ops import attention_pairs

MiB = 2**20


# --- hand derivations --------------------------------------------------------

def test_llama2_7b_fp16_kv_cache_is_half_a_mib_per_token():
    # 2 (K and V) x 32 layers x 32 KV heads x 128 head dim x 2 bytes = 524288 B
    a = analyze("llama-2-7b", "a100-sxm-80gb", kv_dtype="fp16", act_dtype="fp16", gen_len=2)
    assert a.summary["kv_cache_bytes_per_token"] == 0.5 * MiB


def test_gqa_shrinks_the_kv_cache_by_the_group_size():
    # Llama-2-70B: 80 layers, 8 KV heads of 128 -> 2*80*8*128*2 B = 320 KiB per token
    a = analyze("llama-2-70b", "h100-sxm", gen_len=2)
    assert a.summary["kv_cache_bytes_per_token"] == 2 * 80 * 8 * 128 * 2


@pytest.mark.parametrize("name,group", [("llama-2-7b", 1), ("llama-3.1-70b", 8), ("qwen2.5-7b", 7)])
def test_decode_attention_intensity_is_about_the_group_size(name, group):
    # Each K/V element (2 B) is used by N/K query heads for 2 FLOP (QK) + 2 FLOP (SV):
    # intensity -> 4 * group / (2 * 2 B) = group FLOP/B, plus softmax and Q/O traffic.
    r = decode_step(name, "h100-sxm", batch=8, context=16384)
    i = r.ops.names.index("attention (fused)")
    assert r.op_intensity[i] == pytest.approx(group, rel=0.03)


def test_batch1_decode_matmul_intensity_near_one():
    r = decode_step("llama-2-7b", "h100-sxm", batch=1, context=1024)
    for name in ("q_proj", "gate_proj", "down_proj", "lm_head"):
        i = r.ops.names.index(name)
        assert 0.99 < r.op_intensity[i] < 1.0  # 2 FLOP per 2-byte weight, minus activation traffic
        assert r.op_bound[i] == "memory"


def test_prefill_matmul_flops_are_two_per_parameter_per_token():
    # With logits for every token, each linear-layer weight does one multiply-add per token.
    m = load_model("llama-2-7b")
    T = 512
    ops = build_ops(m, 1, T, conventions=Conventions(logits="all"))
    mm = sum(ops.repeats[i] * ops.data["flops"][i] for i, k in enumerate(ops.kinds) if k == "matmul")
    pc = m.param_counts()
    norms = 2 * m.d_model * m.n_layers + m.d_model
    assert mm == 2 * T * (pc["total"] - pc["embedding"] - norms)


def test_decode_reads_all_weights_once():
    m = load_model("llama-2-7b")
    r = decode_step(m, "h100-sxm", batch=4, context=100)
    weights = float(r.ops.total("weight_bytes")[()])
    embedding_table = m.vocab_size * m.d_model * 2
    # every weight except the embedding table is streamed; the embedding reads B rows
    assert weights == pytest.approx(m.params_total * 2 - embedding_table + 4 * m.d_model * 2)


def test_causal_pairs_closed_form():
    p, k = attention_pairs(1024, 0)
    assert p == 1024 * 1025 / 2 and k == 1024
    p, k = attention_pairs(1, 1024)
    assert p == 1025 and k == 1025
    p, _ = attention_pairs(1024, 0, mode="full")
    assert p == 1024**2


@settings(max_examples=200, deadline=None)
@given(t=st.integers(1, 40), past=st.integers(0, 40), window=st.one_of(st.none(), st.integers(1, 30)))
def test_attention_pairs_match_a_brute_force_mask(t, past, window):
    q = np.arange(past, past + t)[:, None]
    kpos = np.arange(past + t)[None, :]
    mask = kpos <= q
    if window is not None:
        mask &= kpos > q - window
    pairs, keys = attention_pairs(t, past, window)
    assert pairs == mask.sum()
    assert keys == mask.any(axis=0).sum()


def test_sliding_window_caps_decode_attention_and_kv_cache():
    short = decode_step("mistral-7b", "h100-sxm", context=4095)
    long = decode_step("mistral-7b", "h100-sxm", context=20000)
    i = short.ops.names.index("attention (fused)")
    assert long.ops.data["flops"][i] == short.ops.data["flops"][i]
    a = analyze("mistral-7b", "h100-sxm", prompt_len=20000, gen_len=2)
    assert a.summary["kv_cache_bytes"] == 4096 * a.summary["kv_cache_bytes_per_token"]


def test_flash_off_writes_the_score_matrix():
    on = analyze("llama-2-7b", "h100-sxm", prompt_len=4096, gen_len=2)
    off = analyze("llama-2-7b", "h100-sxm", prompt_len=4096, gen_len=2, flash_attention=False)
    # eager: QK^T writes and softmax reads+writes and SV reads 32 heads x 4096^2 scores, 2 B each
    scores = 32 * 4096**2 * 2
    assert off.prefill.bytes - on.prefill.bytes == pytest.approx(32 * 4 * scores, rel=1e-9)
    assert off.summary["ttft_s"] > on.summary["ttft_s"]
    assert off.summary["prefill_flops"] == on.summary["prefill_flops"]


def test_logits_all_adds_lm_head_for_every_prompt_token():
    m = load_model("llama-3.1-8b")
    last = analyze(m, "h100-sxm", prompt_len=100, gen_len=2)
    allp = analyze(m, "h100-sxm", prompt_len=100, gen_len=2, logits="all")
    assert allp.summary["prefill_flops"] - last.summary["prefill_flops"] == 2 * 99 * m.d_model * m.vocab_size


def test_moe_decode_reads_only_the_experts_it_uses():
    m = load_model("mixtral-8x7b")
    r1 = decode_step(m, "h100-sxm", batch=1, context=10)
    i = r1.ops.names.index("experts down")
    one_expert = m.d_expert * m.d_model * 2
    assert r1.ops.data["weight_bytes"][i] == pytest.approx(2 * one_expert)  # top-2 of 8
    rbig = decode_step(m, "h100-sxm", batch=512, context=10)
    assert rbig.ops.data["weight_bytes"][i] == pytest.approx(8 * one_expert)  # all experts


def test_int4_weights_are_half_a_byte():
    a16 = analyze("llama-2-7b", "h100-sxm", gen_len=2)
    a4 = analyze("llama-2-7b", "h100-sxm", gen_len=2, weight_dtype="int4")
    assert a4.summary["weight_bytes"] == pytest.approx(a16.summary["weight_bytes"] / 4)


def test_fp8_compute_uses_the_fp8_peak():
    a = analyze("llama-2-7b", "h100-sxm", act_dtype="fp8", weight_dtype="fp8", gen_len=2)
    assert a.setup.peak_flop_per_s == llmperf.get_hardware("h100-sxm").peak_for("fp8")


def test_missing_dtype_peak_is_a_clear_error():
    with pytest.raises(ValueError, match="fp8"):
        analyze("llama-2-7b", "a100-sxm-80gb", act_dtype="fp8", gen_len=2).summary


# --- decode over steps ------------------------------------------------------------

def test_decode_steps_grow_with_context():
    a = analyze("llama-2-7b", "h100-sxm", prompt_len=1000, gen_len=65)
    steps = a.decode_steps()
    assert len(steps) == 64 and steps["context"].iloc[0] == 1000 and steps["context"].iloc[-1] == 1063
    assert np.all(np.diff(steps["time_s"]) > 0)
    s = a.summary
    assert s["tpot_first_s"] < s["tpot_s"] < s["tpot_last_s"]
    assert s["e2e_latency_s"] == pytest.approx(s["ttft_s"] + steps["time_s"].sum())
    # a step is the sum of its operators, each evaluated separately
    d = decode_step("llama-2-7b", "h100-sxm", context=1030)
    assert steps["time_s"].iloc[30] == pytest.approx(float(d.time_s))


def test_gen_len_one_has_no_decode():
    a = analyze("llama-2-7b", "h100-sxm", gen_len=1)
    assert a.decode is None and math.isnan(a.summary["tpot_s"])
    assert a.summary["e2e_latency_s"] == a.summary["ttft_s"]


# --- memory -----------------------------------------------------------------

def test_max_batch_is_the_boundary_of_fitting():
    a = analyze("llama-2-13b", "a100-sxm-40gb", batch=1, prompt_len=2048, gen_len=256)
    mb = a.summary["max_batch"]
    assert mb > 1
    assert analyze("llama-2-13b", "a100-sxm-40gb", batch=mb, prompt_len=2048, gen_len=256).fits
    too_big = analyze("llama-2-13b", "a100-sxm-40gb", batch=mb + 1, prompt_len=2048, gen_len=256)
    assert not too_big.fits
    assert "DOES NOT FIT" in too_big.memory_message() and str(mb) in too_big.memory_message()


def test_weights_that_do_not_fit_are_reported_not_negative():
    a = analyze("llama-2-70b", "rtx-4090", gen_len=2)
    assert not a.fits and a.summary["max_batch"] == 0
    assert "weights alone" in a.memory_message()
    assert a.summary["memory_total_bytes"] > a.summary["memory_capacity_bytes"]


# --- tensor parallelism -------------------------------------------------------

def test_tp_splits_weights_and_adds_all_reduce():
    m = load_model("llama-2-70b")
    one = analyze(m, "h100-sxm", batch=1, prompt_len=128, gen_len=2)
    four = analyze(m, "h100-sxm", batch=1, prompt_len=128, gen_len=2, tp=4)
    norms = (2 * m.n_layers + 1) * m.d_model * 2
    assert four.summary["weight_bytes"] == pytest.approx((one.summary["weight_bytes"] - norms) / 4 + norms)
    assert four.summary["prefill_flops"] == one.summary["prefill_flops"]  # whole model
    ops = four.prefill.ops
    i = ops.names.index("attention all-reduce")
    # ring all-reduce: 2 (tp-1)/tp x B T D x 2 bytes per device
    assert ops.data["comm_bytes"][i] == 2 * 3 / 4 * 128 * m.d_model * 2
    link = llmperf.get_hardware("h100-sxm").interconnect_bandwidth_bytes_per_s
    assert four.prefill.op_time_s[i] == pytest.approx(ops.data["comm_bytes"][i] / link)
    assert four.summary["tpot_s"] < one.summary["tpot_s"]


def test_tp_must_divide_heads():
    with pytest.raises(ValueError, match="tp=3"):
        analyze("llama-2-70b", "h100-sxm", tp=3, gen_len=2)


# --- vectorized sweeps ------------------------------------------------------------

def test_sweep_is_the_same_as_pointwise_calls():
    df = llmperf.sweep("llama-3.1-8b", "h100-sxm", batch=[1, 8, 64], context=[128, 4096])
    assert len(df) == 6
    row = df[(df.batch == 8) & (df.context == 4096)].iloc[0]
    assert row.time_s == pytest.approx(float(decode_step("llama-3.1-8b", "h100-sxm", 8, 4096).time_s))
    assert set(df.bound) <= {"compute", "memory"}


def test_step_bound_turns_compute_at_large_batch():
    # GQA-8 keeps the KV traffic small enough for the weights' reuse to win; MHA Llama-2-7B never does
    df = llmperf.sweep("llama-3.1-70b", "h100-sxm", batch=[1, 4096], context=[128])
    assert list(df.bound) == ["memory", "compute"]


# --- properties ---------------------------------------------------------------------

MODELS = ["llama-3.2-1b", "qwen2.5-0.5b", "qwen3-0.6b", "mistral-7b", "qwen3-30b-a3b", "phi-3-mini", "gemma-7b"]


@settings(max_examples=40, deadline=None)
@given(name=st.sampled_from(MODELS), b=st.integers(1, 64), s=st.integers(0, 5000), k=st.integers(2, 5))
def test_flops_are_linear_in_batch(name, b, s, k):
    m = load_model(name)
    one = build_ops(m, b, 1, s, phase="decode").total("flops")
    many = build_ops(m, b * k, 1, s, phase="decode").total("flops")
    assert many == pytest.approx(k * one, rel=1e-12)


@settings(max_examples=40, deadline=None)
@given(name=st.sampled_from(MODELS), b=st.integers(1, 256), s=st.integers(0, 10000),
       hw=st.sampled_from(["h100-sxm", "a100-sxm-80gb", "apple-m2", "raspberry-pi-5", "l4"]))
def test_time_never_below_compute_or_memory_time(name, b, s, hw):
    r = decode_step(name, hw, b, s)
    assert r.time_s >= max(r.compute_s, r.memory_s) * (1 - 1e-12)
    assert np.all(r.op_time_s >= np.maximum(r.op_compute_s, r.op_memory_s))


@settings(max_examples=30, deadline=None)
@given(name=st.sampled_from(MODELS), b=st.integers(1, 256), s=st.integers(1, 8000),
       factor=st.floats(1.0, 10.0))
def test_more_bandwidth_is_never_slower(name, b, s, factor):
    hw = llmperf.get_hardware("a100-sxm-80gb")
    fast = hw.replace(memory_bandwidth_bytes_per_s=hw.memory_bandwidth_bytes_per_s * factor)
    assert decode_step(name, fast, b, s).time_s <= decode_step(name, hw, b, s).time_s
    assert analyze(name, fast, b, s, 3).summary["ttft_s"] <= analyze(name, hw, b, s, 3).summary["ttft_s"]


@settings(max_examples=50, deadline=None)
@given(n=st.integers(1, 64), k=st.integers(1, 64))
def test_heads_that_do_not_divide_raise(n, k):
    cfg = llmperf.models.catalog_config("llama-3.2-1b") | {"num_attention_heads": n, "num_key_value_heads": k,
                                                            "head_dim": 64}
    if n % k:
        with pytest.raises(llmperf.ModelConfigError, match="divide"):
            llmperf.models.from_hf_config(cfg)
    else:
        assert llmperf.models.from_hf_config(cfg).group_size == n // k


@settings(max_examples=30, deadline=None)
@given(field=st.sampled_from(["hidden_size", "num_hidden_layers", "vocab_size", "intermediate_size"]),
       value=st.one_of(st.integers(-100, 0), st.just(1.5), st.just("big"), st.none()))
def test_non_positive_or_non_integer_sizes_raise(field, value):
    cfg = llmperf.models.catalog_config("llama-3.2-1b") | {field: value}
    with pytest.raises(llmperf.ModelConfigError, match=field):
        llmperf.models.from_hf_config(cfg)


@pytest.mark.parametrize("kw", [dict(batch=0), dict(batch=-1), dict(prompt_len=0), dict(gen_len=0),
                                dict(batch=1.5), dict(compute_efficiency=0), dict(memory_efficiency=1.5),
                                dict(tp=0), dict(weight_dtype="int3")])
def test_bad_workloads_raise(kw):
    with pytest.raises(ValueError):
        analyze("llama-3.2-1b", "h100-sxm", **kw).summary


def test_efficiency_scales_time_and_is_echoed():
    base = analyze("llama-3.2-1b", "h100-sxm", gen_len=4)
    half = analyze("llama-3.2-1b", "h100-sxm", gen_len=4, memory_efficiency=0.5, compute_efficiency=0.5)
    assert half.summary["tpot_s"] == pytest.approx(2 * base.summary["tpot_s"])
    assert "lower bound" in base.summary["time_basis"] and "0.5" in half.summary["time_basis"]


def test_conventions_are_echoed_and_validated():
    a = analyze("llama-3.2-1b", "h100-sxm", gen_len=2, attention_flops="full")
    assert a.to_dict()["conventions"]["attention_flops"] == "full"
    assert "full" in a.report()
    with pytest.raises(ValueError, match="attention_flops"):
        Conventions(attention_flops="half")


def test_decode_kv_exclusive_attends_one_key_fewer():
    inc = decode_step("llama-2-7b", "h100-sxm", context=100)
    exc = decode_step("llama-2-7b", "h100-sxm", context=100, decode_kv="exclusive")
    i = inc.ops.names.index("attention (fused)")
    assert inc.ops.data["flops"][i] / exc.ops.data["flops"][i] == pytest.approx(101 / 100)


def test_time_at_peak_and_with_efficiency_per_operator():
    a = analyze("llama-3.1-8b", "h100-sxm", batch=4, prompt_len=256, gen_len=3,
                compute_efficiency=0.5, memory_efficiency=0.8)
    t = a.prefill_table()
    bound_c = t["Bound"] == "compute"
    assert bound_c.any()
    assert np.allclose(t.loc[bound_c, "Time (s)"], 2 * t.loc[bound_c, "Time at peak (s)"])
    mem = t["Bound"] == "memory"
    assert np.allclose(t.loc[mem, "Time (s)"], t.loc[mem, "Time at peak (s)"] / 0.8)
    op = a.to_dict()["prefill"]["ops"][3]
    assert op["time_s"] >= op["time_peak_s"] > 0


def test_totals_per_layer_and_per_model():
    m = load_model("llama-2-7b")
    r = llmperf.prefill_step(m, "h100-sxm", 1, 512)
    tot = r.totals()
    assert tot.loc["whole step", "FLOP"] == pytest.approx(float(r.flops))
    assert tot.loc["all layers", "FLOP"] == pytest.approx(m.n_layers * tot.loc["one layer (mean)", "FLOP"])
    assert tot.loc["all layers", "FLOP"] + tot.loc["embedding + head", "FLOP"] == pytest.approx(float(r.flops))
    # one layer: 4 projections of D x D, 3 of D x F, 2 FLOP per weight per token (the matmul part)
    mm = 2 * 512 * (4 * m.d_model**2 + 3 * m.d_model * m.d_ff)
    assert mm < tot.loc["one layer (mean)", "FLOP"] < mm * 1.05


def test_import_llmperf_needs_only_numpy_and_pandas():
    import subprocess
    import sys
    code = ("import sys, llmperf; llmperf.analyze('llama-3.2-1b', 'h100-sxm', gen_len=2).to_dict(); "
            "bad = [m for m in ('altair', 'ipywidgets', 'yaml', 'torch', 'matplotlib', 'IPython') if m in sys.modules]; "
            "print(','.join(bad))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ""


def test_shared_expert_is_read_every_step():
    # Qwen1.5-MoE-A2.7B: a shared gated expert of width 5632 plus a [D, 1] sigmoid gate in every layer
    m = load_model("qwen1.5-moe-a2.7b")
    r = decode_step(m, "h100-sxm", batch=1, context=10)
    names = r.ops.names
    shared = sum(r.ops.data["weight_bytes"][names.index(n)]
                 for n in ("shared expert gate_up", "shared expert down", "shared expert gate"))
    assert shared == (3 * 2048 * 5632 + 2048) * 2
    # routed: 4 of 60 experts of width 1408 for one token
    routed = sum(r.ops.data["weight_bytes"][names.index(n)] for n in ("experts gate_up", "experts down"))
    assert routed == pytest.approx(4 * 3 * 2048 * 1408 * 2)


@pytest.mark.parametrize("fn,kw", [(decode_step, dict(context=-1)), (decode_step, dict(context=2.5)),
                                   (llmperf.prefill_step, dict(past=-3)), (llmperf.prefill_step, dict(past=np.nan))])
def test_negative_or_fractional_cache_lengths_raise(fn, kw):
    with pytest.raises(ValueError, match="non-negative integer"):
        fn("llama-3.2-1b", "h100-sxm", **kw)


def test_kv_cache_bytes_by_hand_and_with_windows():
    # Llama-3.1-8B: 32 layers x 8 KV heads x 128 x (K and V) x 2 bytes = 128 KiB per token
    assert llmperf.kv_cache_bytes("llama-3.1-8b", 1000, batch=3) == 3 * 1000 * 32 * 8 * 128 * 2 * 2
    assert llmperf.kv_cache_bytes("llama-3.1-8b", 1000, kv_dtype="fp8", tp=2) == 1000 * 32 * 4 * 128 * 2
    # Mistral-7B keeps at most its 4096-token window in every layer
    assert llmperf.kv_cache_bytes("mistral-7b", 10_000) == llmperf.kv_cache_bytes("mistral-7b", 4096)
    v = llmperf.kv_cache_bytes("mistral-7b", np.array([10, 4096, 9999]))
    assert v.shape == (3,) and v[0] < v[1] == v[2]


# --- operator plans: traced once per setup, the same numbers as build_ops ------------------

from llmperf.analysis import MAX_PLANS_PER_MODEL, make_setup  # noqa: E402
from llmperf.ops import FIELDS  # noqa: E402


def _bits(x):
    return np.ascontiguousarray(np.asarray(x, dtype=float)).view(np.int64)


def _plan_of(setup, phase):
    setup._plan(phase)              # the first request builds directly; the second traces
    plan = setup._plan(phase)
    assert plan is not None, (setup.model.name, phase)
    return plan


def _same_ops(got, want):
    assert (got.names, got.groups, got.kinds, got.scopes) == (want.names, want.groups, want.kinds, want.scopes)
    assert np.array_equal(got.repeats, want.repeats)
    for f in FIELDS:
        assert got.data[f].shape == want.data[f].shape, f
        assert np.array_equal(_bits(got.data[f]), _bits(want.data[f])), f
    assert tuple(got.shapes) == tuple(want.shapes)
    for a, b in zip(got.shape_keys, want.shape_keys):
        assert (a is None) == (b is None) and (a is None or np.array_equal(_bits(a), _bits(b)))


PLAN_SETUPS = [("llama-2-7b", {}), ("llama-2-70b", {"tp": 4, "pp": 2}), ("gemma-2-9b", {"flash_attention": False}),
               ("mixtral-8x7b", {"ep": 2}), ("deepseek-v2-lite", {"mla": "expanded"}), ("deepseek-v2-lite", {}),
               ("llama-4-scout-17b-16e", {"decode_kv": "exclusive"}), ("gpt-oss-20b", {}),
               ("qwen2.5-7b", {"tp": 2, "weight_dtype": "int4", "kv_dtype": "fp8", "logits": "all"})]


@pytest.mark.parametrize("name,opts", PLAN_SETUPS)
@pytest.mark.parametrize("phase", ["prefill", "decode"])
def test_plan_reproduces_build_ops_bit_for_bit(name, opts, phase):
    s = make_setup(name, "h100-sxm", **opts)
    plan = _plan_of(s, phase)
    ep = s.ep
    sizes = [(ep, 1024, 0), (3 * ep, 1, 4095), (ep, 1, 70000), (np.arange(1, 4) * ep, 1, np.array([[0], [511], [9000]])),
             (2 * ep, np.array([1, 64, 4096]), 7)]
    if phase == "prefill":
        sizes.append((ep, 300, 8190))
    for b, t, p in sizes:
        got = plan(b, t, p, lambda: s._build_ops(b, t, p, phase, True).shapes)
        assert got is not None
        _same_ops(got, s._build_ops(b, t, p, phase, True))


def test_analysis_through_plans_equals_direct_build(monkeypatch):
    m = load_model("mixtral-8x7b")
    cases = [(2, 1024, 129, {"ep": 2}), (1, 100, 5000, {}), (4, 7, 3, {"tp": 2, "pp": 2})]
    planned = [analyze(m, "h100-sxm", b, s, g, **o) for b, s, g, o in cases for _ in range(2)][1::2]
    monkeypatch.setattr(llmperf.analysis.Setup, "_plan", lambda self, phase: None)
    direct = [analyze(m, "h100-sxm", b, s, g, **o) for b, s, g, o in cases]
    for a, d in zip(planned, direct):
        assert a.summary == d.summary
        assert np.array_equal(_bits(a.decode_summary.op_time_total_s), _bits(d.decode_summary.op_time_total_s))
        assert a.prefill_table().equals(d.prefill_table())
        assert a.decode_table("last").equals(d.decode_table("last"))
        assert a.to_dict() == d.to_dict()


def test_different_setups_never_share_a_plan():
    m = load_model("llama-3.1-8b")
    variants = [{}, {"tp": 2}, {"pp": 2}, {"weight_dtype": "int8"}, {"act_dtype": "fp16"}, {"kv_dtype": "fp8"},
                {"attention_flops": "full"}, {"logits": "all"}, {"flash_attention": False},
                {"decode_kv": "exclusive"}, {"tp": 2, "pp": 2}]
    plans = {}
    for v in variants:
        for phase in ("prefill", "decode"):
            plan = _plan_of(make_setup(m, "h100-sxm", **v), phase)
            assert all(plan is not p for p in plans.values()), (v, phase)
            plans[(str(v), phase)] = plan
            # an equal setup (a new object, the same fields) finds the same plan
            assert _plan_of(make_setup(m, "h100-sxm", **v), phase) is plan
    # a changed model is another object: its own plans, its own numbers
    short = m.replace(n_layers=4)
    p_short = _plan_of(make_setup(short, "h100-sxm"), "decode")
    assert p_short is not plans[("{}", "decode")]
    a, b = (make_setup(x, "h100-sxm").ops(1, 1, 100, "decode") for x in (m, short))
    assert a.repeats.max() == 32 and b.repeats.max() == 4
    # hardware and efficiencies do not change the operators: one plan, different times
    h = make_setup(m, "a100-sxm-80gb", compute_efficiency=0.5)
    assert _plan_of(h, "decode") is plans[("{}", "decode")]
    assert llmperf.decode_step(m, "a100-sxm-80gb").time_s != llmperf.decode_step(m, "h100-sxm").time_s


def test_changing_a_result_leaks_into_no_other_call():
    s = make_setup("llama-2-7b", "h100-sxm")
    _plan_of(s, "prefill")
    first = s.ops(1, 512, 0, "prefill")
    want = {f: v.copy() for f, v in first.data.items()}
    for v in first.data.values():
        v *= 7.0
    first.repeats[:] = 0.0
    again = s.ops(1, 512, 0, "prefill")
    assert all(np.array_equal(again.data[f], want[f]) for f in FIELDS)
    assert again.repeats.max() == 32
    a = analyze("llama-2-7b", "h100-sxm", 1, 512, 3)
    ttft = a.summary["ttft_s"]
    a.prefill.op_time_s[:] = 0.0
    a.prefill.ops.data["flops"][:] = 0.0
    a.decode_summary.op_time_total_s[:] = 0.0
    b = analyze("llama-2-7b", "h100-sxm", 1, 512, 3)
    assert b.summary["ttft_s"] == ttft and b.prefill.flops > 0 and b.decode_summary.time_total_s > 0


def test_plans_are_bounded_dropped_by_copies_and_fall_back_when_they_fail(monkeypatch):
    import copy
    import pickle
    m = load_model("llama-2-7b").replace(n_layers=3)
    for tp in (1, 2, 4, 8, 16, 32):
        for phase in ("prefill", "decode"):
            _plan_of(make_setup(m, "h100-sxm", tp=tp), phase)
    cache = llmperf.analysis._model_facts(m)["plans"]
    assert 0 < len(cache) <= MAX_PLANS_PER_MODEL
    for c in (pickle.loads(pickle.dumps(m)), copy.deepcopy(m)):
        assert c == m and not c.__dict__.get("_llmperf_facts", {}).get("plans")
    s = make_setup(m, "h100-sxm")
    plan = _plan_of(s, "decode")

    def boom(*args):
        raise ZeroDivisionError
    monkeypatch.setattr(plan, "_scalar", boom)
    _same_ops(s.ops(2, 1, 10, "decode"), s._build_ops(2, 1, 10, "decode", True))


def test_code_that_cannot_be_traced_keeps_build_ops():
    from llmperf.plans import TraceError, _Graph
    g = _Graph(3)
    B = g.inputs[0]
    for bad in (lambda: bool(B > 1), lambda: float(B), lambda: np.sqrt(B), lambda: B == 2, lambda: B * np.ones(2)):
        with pytest.raises(TraceError):
            bad()


@pytest.mark.parametrize("call", [
    lambda m: __import__("llmperf.share", fromlist=["x"]).layer_coefficients(m),
    lambda m: __import__("llmperf.share", fromlist=["x"]).crossover_context(m),
    lambda m: __import__("llmperf.regimes", fromlist=["x"]).decode_attention_intensity(m, 1024),
    lambda m: __import__("llmperf.regimes", fromlist=["x"]).attention_limit(m),
    lambda m: __import__("llmperf.regimes", fromlist=["x"]).max_compute_bound_context(m, "h100-sxm"),
    lambda m: __import__("llmperf.rooflines", fromlist=["x"]).matmul_dims(m, "q_proj"),
], ids=["layer_coefficients", "crossover_context", "decode_attention_intensity", "attention_limit",
        "max_compute_bound_context", "matmul_dims"])
@pytest.mark.parametrize("model", ["deepseek-v2-lite", "deepseek-v3"])
def test_closed_forms_refuse_latent_attention_instead_of_a_wrong_number(call, model):
    """The closed forms use per-head K and V (N, K, H); for an MLA model they would be wrong, so they say so
    and point at the engine, which models MLA."""
    with pytest.raises(ValueError, match=r"multi-head latent attention \(MLA\).*decode_step"):
        call(model)


def test_closed_forms_still_answer_for_standard_attention():
    from llmperf import regimes, share

    c = share.layer_coefficients("llama-3.1-8b")
    assert c["core_per_key"] == (4 * 128 + 5) * 32          # 4 N H + 5 N
    assert regimes.attention_limit("llama-3.1-8b") == pytest.approx(2 * 32 / 8 * (1 + 5 / (4 * 128)) / 2)
