"""Tests of llmperf.regimes and the chapter "From Memory-Bound to Compute-Bound".

Expected values are derived here by hand from datasheet and config.json
constants, or from limiting cases; llmperf's per-operator engine is the
independent reference for the closed forms.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

import llmperf
from llmperf import regimes

# Llama-3.1-8B config.json: hidden 4096, intermediate 14336, 32 layers, 32 heads,
# 8 KV heads, head_dim 128, vocabulary 128256; 8,030,261,248 parameters.
D, F, L, N, K, H, V = 4096, 14336, 32, 32, 8, 128, 128256
PARAMS_8B = 8_030_261_248
# H100 SXM datasheet: 989.4 TFLOP/s dense bf16, 1978.9 fp8, 3.35 TB/s, 80 GB (binary GiB).
H100_BF16, H100_FP8, H100_BW = 989.4e12, 1978.9e12, 3.35e12
R_H100 = H100_BF16 / H100_BW


# -- critical batch ------------------------------------------------------------

def test_critical_batch_by_hand():
    assert regimes.critical_batch(R_H100, 2) == pytest.approx(R_H100)
    assert regimes.critical_batch(R_H100, 0.5) == pytest.approx(R_H100 / 4)


def test_exact_critical_batch_puts_intensity_on_the_ridge():
    b = float(regimes.critical_batch_exact(R_H100, D, F, 2, 2))
    hand = R_H100 / (1 - R_H100 * 2 * (D + F) / (2 * D * F))
    assert b == pytest.approx(hand)
    # llmperf.roofline's own matmul intensity of [b, D] x [D, F] equals the ridge there
    assert float(llmperf.matmul_intensity(b, F, D, 2.0)) == pytest.approx(R_H100)
    assert b > regimes.critical_batch(R_H100, 2)          # activations only add bytes


def test_exact_critical_batch_infinite_when_activations_dominate():
    # a tiny matrix: activations alone keep it memory-bound
    assert np.isinf(regimes.critical_batch_exact(1000.0, 64, 64, 2, 2))


@pytest.mark.parametrize("device", ["h100-sxm", "a100-sxm-80gb", "l4", "h200"])
@pytest.mark.parametrize("wd", ["bf16", "int4"])
def test_llmperf_first_compute_bound_batch_is_exact_rounded_up(device, wd):
    hw = llmperf.get_hardware(device)
    exact = float(regimes.critical_batch_exact(hw.ridge_point_for("bf16"), D, F, llmperf.dtype_bytes(wd), 2))
    first = regimes.first_compute_bound_batch("llama-3.1-8b", device, op="gate_proj", weight_dtype=wd)
    assert first == math.ceil(exact)


def test_first_compute_bound_batch_rejects_unknown_op_and_can_return_none():
    with pytest.raises(ValueError):
        regimes.first_compute_bound_batch("llama-3.1-8b", "h100-sxm", op="nope", max_batch=4)
    assert regimes.first_compute_bound_batch("llama-3.1-8b", "h100-sxm", op="gate_proj", max_batch=100) is None


def test_critical_batch_table_patterns():
    t = regimes.critical_batch_table()
    assert set(t.index) == set(llmperf.hardware_names())
    h = t.loc["h100-sxm"]
    assert h["16-bit (tokens)"] == pytest.approx(R_H100)
    # fp8 doubles the peak and halves the bytes: same critical batch
    assert h["fp8 (W8A8) (tokens)"] == pytest.approx(H100_FP8 / H100_BW * 1 / 2)
    assert h["fp8 (W8A8) (tokens)"] == pytest.approx(h["16-bit (tokens)"], rel=1e-3)
    # int4 weights at the 16-bit peak: a quarter
    assert h["int4 weights, 16-bit compute (tokens)"] == pytest.approx(R_H100 / 4)
    # no fp8 peak on a V100: NaN; V100 has fp16 only, used for "16-bit"
    assert np.isnan(t.loc["v100-sxm2-32gb", "fp8 (W8A8) (tokens)"])
    assert t.loc["v100-sxm2-32gb", "16-bit (tokens)"] == pytest.approx(125e12 / 900e9)
    # MI250X: int8 peak equals bf16 peak (383 TOP/s), bytes halve -> half the batch
    m = t.loc["mi250x"]
    assert m["int8 (W8A8) (tokens)"] == pytest.approx(m["16-bit (tokens)"] / 2)


def test_critical_batch_check_agrees():
    df = regimes.critical_batch_check("llama-3.1-8b", ["h100-sxm", "rtx-4090"])
    assert (df["llmperf first batch"] == np.ceil(df["exact (tokens)"]).astype(int)).all()
    with pytest.raises(ValueError):
        regimes.critical_batch_check("llama-3.1-8b", ["h100-sxm"], op="q_proj")


# -- attention -------------------------------------------------------------------

def test_decode_attention_intensity_by_hand_and_batch_independent():
    S = 4096
    keys = S + 1
    hand = (4 * N * H * keys + 5 * N * keys) / (2 * K * H * keys * 2 + 2 * N * H * 2)
    assert float(regimes.decode_attention_intensity("llama-3.1-8b", S)) == pytest.approx(hand)
    r = llmperf.decode_step("llama-3.1-8b", "h100-sxm", np.array([1, 16, 1024]), S)
    i = r.ops.names.index("attention (fused)")
    assert np.allclose(r.op_intensity[i], hand)


def test_attention_limits():
    # long context: 2N/(K kv) (1 + 5/(4H))
    lim = regimes.attention_limit("llama-3.1-8b")
    assert lim == pytest.approx(4 * (1 + 5 / 512))
    assert float(regimes.decode_attention_intensity("llama-3.1-8b", 10 ** 9)) == pytest.approx(lim, rel=1e-6)
    # MHA: about 1 FLOP/B in 16-bit, 2 with an fp8 cache
    assert float(regimes.decode_attention_intensity("llama-2-7b", 4096)) == pytest.approx(1.0, rel=0.02)
    assert float(regimes.decode_attention_intensity("llama-2-7b", 4096, kv_dtype="fp8")) == pytest.approx(2.0, rel=0.02)


def test_intensity_vs_batch_table():
    df = regimes.intensity_vs_batch("llama-3.1-8b", "h100-sxm", [1, 1024])
    assert list(df["gate_proj bound"]) == ["memory", "compute"]
    assert (df["attention (fused) bound"] == "memory").all()
    assert df["ridge (FLOP/B)"].iloc[0] == pytest.approx(R_H100)


# -- step-time formula ---------------------------------------------------------------

def test_matmul_params_from_published_count():
    norms = 2 * D * L + D
    assert regimes.matmul_params("llama-3.1-8b") == PARAMS_8B - V * D - norms
    assert regimes.matmul_params("llama-3.1-8b", tp=2) == pytest.approx((PARAMS_8B - V * D - norms) / 2)
    with pytest.raises(ValueError):
        regimes.matmul_params("mixtral-8x7b")


def test_kv_bytes_read_by_hand_and_against_engine():
    assert float(regimes.kv_bytes_read("llama-3.1-8b", 1, 4095)) == 4096 * L * 2 * K * H * 2
    ops = llmperf.build_ops(llmperf.load_model("llama-3.1-8b"), 8, 1, 4095, phase="decode")
    assert float(regimes.kv_bytes_read("llama-3.1-8b", 8, 4095)) == pytest.approx(float(ops.total("kv_bytes_read")))
    # a sliding window caps the keys: Mistral-7B (window 4096) reads no more at 100k than at 4095
    assert float(regimes.kv_bytes_read("mistral-7b", 1, 100_000)) == float(regimes.kv_bytes_read("mistral-7b", 1, 4095))


def test_step_formula_is_a_close_lower_estimate():
    c = regimes.step_time_check("llama-3.1-8b", "h100-sxm", 2 ** np.arange(11), 2 ** np.arange(7, 18))
    assert len(c) == 121
    assert (c["error (%)"] <= 0).all()              # only drops bytes: never above llmperf
    assert c["error (%)"].abs().max() < 15
    assert c[c["context"] >= 16384]["error (%)"].abs().max() < 1


def test_step_formula_limits():
    P = regimes.matmul_params("llama-3.1-8b")
    f = regimes.step_time_model("llama-3.1-8b", "h100-sxm", 1, 0)
    # batch 1, empty cache: weights dominate; t = one key's KV + P w / BW
    assert float(f["time_s"]) == pytest.approx(L * 2 * K * H * 2 / H100_BW + 2 * P / H100_BW)
    big = regimes.step_time_model("llama-3.1-8b", "h100-sxm", 4096, 0)
    assert float(big["compute_s"]) == pytest.approx(2 * 4096 * P / H100_BF16)
    assert float(big["compute_s"]) > float(big["weight_s"])


def test_throughput_ceiling():
    S = 32768
    ceil = float(regimes.throughput_ceiling("llama-3.1-8b", "h100-sxm", S))
    kv_only = H100_BW / ((S + 1) * L * 2 * K * H * 2)
    assert ceil < kv_only and ceil == pytest.approx(kv_only, rel=0.02)
    tps = 8192 / float(llmperf.decode_step("llama-3.1-8b", "h100-sxm", 8192, S).time_s)
    assert tps <= ceil and tps == pytest.approx(ceil, rel=0.01)


def test_max_compute_bound_context():
    s_max = regimes.max_compute_bound_context("llama-3.1-8b", "h100-sxm")
    P = regimes.matmul_params("llama-3.1-8b")
    assert s_max == pytest.approx(2 * P / (2 * L * H * (R_H100 * K * 2 - 2 * N)))
    # closed form neglects activations, so it is an upper bound for llmperf
    assert regimes.first_compute_bound_batch("llama-3.1-8b", "h100-sxm", op=None, context=int(s_max)) is None
    assert regimes.first_compute_bound_batch("llama-3.1-8b", "h100-sxm", op=None, context=0) is not None
    # an fp8 cache roughly doubles it; full fp8 (peak doubles too) leaves it unchanged
    assert regimes.max_compute_bound_context("llama-3.1-8b", "h100-sxm", kv_dtype="fp8") == pytest.approx(2 * s_max, rel=0.03)
    assert regimes.max_compute_bound_context("llama-3.1-8b", "h100-sxm", act_dtype="fp8") == pytest.approx(s_max, rel=1e-3)
    with pytest.raises(ValueError):
        regimes.max_compute_bound_context("mistral-7b", "h100-sxm")
    # a device whose ridge is below attention's intensity: never memory-bound attention -> inf
    slow = llmperf.get_hardware("h100-sxm").replace(peak_flop_per_s={"bf16": 1e12})
    assert math.isinf(regimes.max_compute_bound_context("llama-3.1-8b", slow))


# -- the map -------------------------------------------------------------------------

def test_cost_split_sums_to_step_time():
    r = llmperf.decode_step("llama-3.1-8b", "h100-sxm", np.array([1, 64, 1024]), 4096)
    split = regimes.cost_split(r)
    assert np.allclose(sum(split.values()), r.time_s)
    assert split["compute"][0] == 0 and split["weights"][0] > split["KV cache"][0]


def test_max_decode_batch_by_hand():
    weights = llmperf.analyze("llama-3.1-8b", "h100-sxm", 1, 1, 1).summary["weight_bytes"]
    hand = math.floor((80 * 2 ** 30 - weights) / (L * 2 * K * H * 2 * 4097))
    assert int(regimes.max_decode_batch("llama-3.1-8b", "h100-sxm", 4096)) == hand
    # analyze() also counts activations, so its max batch is not larger
    a = llmperf.analyze("llama-3.1-8b", "h100-sxm", 1, 4096, 2).summary["max_batch"]
    assert a <= hand
    assert int(regimes.max_decode_batch("llama-3.1-70b", "l4", 128)) == 0   # weights alone do not fit


def test_regime_map():
    df = regimes.regime_map("llama-3.1-8b", ["h100-sxm", "a100-sxm-80gb"])
    # the A100 has no fp8 peak: its W8A8 scheme is skipped
    assert len(df) == (4 + 3) * 121
    h = df[(df.device == "h100-sxm") & (df.precision == "bf16")].set_index(["batch", "context"])
    assert h.loc[(1, 128), "dominant"] == "weights"
    assert h.loc[(1024, 131072), "dominant"] == "KV cache"
    assert h.loc[(1024, 128), "dominant"] == "compute"
    mb = h.xs(1, level="batch")["max_batch"]
    assert (np.diff(mb.values) <= 0).all()
    # fp8 W8A8 + fp8 KV halves every byte and doubles the peak: the same map, twice as fast
    f = df[(df.device == "h100-sxm") & (df.precision == "fp8 (W8A8) + fp8 KV")].set_index(["batch", "context"])
    assert (f["dominant"] == h["dominant"]).all()
    assert np.allclose(f["tokens_per_s"] / h["tokens_per_s"], 2, rtol=0.01)


def test_batch_table_layout():
    t = regimes.batch_table("llama-3.1-8b", "h100-sxm", [1, 64, 1024], 4096)
    assert list(t.columns) == [1, 64, 1024] and t.columns.name == "batch"
    assert t.loc["Tokens/s", 64] == pytest.approx(64 / float(llmperf.decode_step("llama-3.1-8b", "h100-sxm", 64, 4096).time_s))
    assert t.loc["Fits in memory", 1] and not t.loc["Fits in memory", 1024]


def test_precision_table():
    t = regimes.precision_table("llama-3.1-8b", "h100-sxm")
    crit = t["critical batch, gate_proj (tokens)"]
    assert crit["int4 weights (W4A16)"] == pytest.approx(crit["bf16"] / 4, abs=2)
    assert crit["fp8 (W8A8) + fp8 KV"] == crit["bf16"]
    mb = t["max batch that fits"]
    assert mb["bf16 + fp8 KV"] in (2 * mb["bf16"], 2 * mb["bf16"] + 1)
    # full fp8 halves every term: twice the tokens/s at any batch
    assert t.loc["fp8 (W8A8) + fp8 KV", "tokens/s at B=64"] == pytest.approx(2 * t.loc["bf16", "tokens/s at B=64"], rel=0.01)


# -- chunked prefill -------------------------------------------------------------------

def test_chunk_sizes_table():
    t = regimes.chunk_sizes_table("llama-3.1-8b", "l4", 8192, [100, 1024, 8192]).set_index("chunk (tokens)")
    assert list(t["chunks"]) == [82, 8, 1]
    whole = float(llmperf.prefill_step("llama-3.1-8b", "l4", 1, 8192).time_s)
    assert t.loc[8192, "TTFT (ms)"] == pytest.approx(whole * 1e3)
    one = float(llmperf.prefill_step("llama-3.1-8b", "l4", 1, 1024).ops.total("weight_bytes"))
    assert t.loc[1024, "weights read (GB)"] == pytest.approx(8 * one / 1e9)
    assert (np.diff(t["TTFT (ms)"].values) < 0).all()
    # the chunks' time is at least the unchunked prefill's FLOP at peak (121 TFLOP/s on an L4)
    flops = float(llmperf.prefill_step("llama-3.1-8b", "l4", 1, 8192).flops)
    assert t.loc[1024, "TTFT (ms)"] / 1e3 >= flops / 121e12 * 0.999


def test_smallest_compute_bound_chunk():
    c = regimes.smallest_compute_bound_chunk("llama-3.1-8b", "l4", past=0)
    r = llmperf.prefill_step("llama-3.1-8b", "l4", 1, np.array([c - 1, c]), 0)
    assert list(r.bound) == ["memory", "compute"]
    l4 = llmperf.get_hardware("l4")
    assert c > regimes.critical_batch_exact(l4.ridge_point_for("bf16"), D, F, 2, 2)
    assert regimes.smallest_compute_bound_chunk("llama-3.1-8b", "l4", past=0, max_chunk=64) is None


# -- charts, explorer, exercises ---------------------------------------------------

def _params(spec):
    return {p["name"]: p for p in spec.get("params", [])}


def test_heatmap_spec_has_two_bound_dropdowns():
    from llmperf.charts import regimes as rc
    df = regimes.regime_map("llama-3.1-8b", ["h100-sxm", "l4"], ["bf16", "int4 weights (W4A16)"])
    spec = rc.regime_heatmap(df).to_dict()
    params = _params(spec)
    assert params["device"]["bind"]["input"] == "select"
    assert params["device"]["bind"]["options"] == ["h100-sxm", "l4"]
    assert params["precision"]["bind"]["options"] == ["bf16", "int4 weights (W4A16)"]


def test_tokens_vs_batch_spec_has_a_slider():
    from llmperf.charts import regimes as rc
    df = regimes.regime_map("llama-3.1-8b", ["h100-sxm"], ["bf16"])
    spec = rc.tokens_vs_batch(df, "h100-sxm", log2_context=12).to_dict()
    p = _params(spec)["log2_context"]
    assert p["bind"]["input"] == "range" and (p["bind"]["min"], p["bind"]["max"]) == (7, 17) and p["value"] == 12


def test_intensity_chart_builds():
    from llmperf.charts import regimes as rc
    iv = regimes.intensity_vs_batch("llama-3.1-8b", "h100-sxm", [1, 4, 16])
    spec = rc.intensity_chart(iv, R_H100).to_dict()
    assert len(spec["layer"]) == 3


def _num(text):
    return float(str(text).replace(",", ""))


def test_explorer_reacts_and_flags_memory():
    from llmperf.widgets.regimes import BATCHES, regime_explorer
    ex = regime_explorer()
    t = ex.result.table
    assert list(t.columns) == list(BATCHES)
    # by hand: (80 GiB - 2 x 8,030,261,248 B of weights) / (2 L K H x 2 B x 4097 tokens) = 130 sequences
    max_b = (80 * 2 ** 30 - 2 * PARAMS_8B) // (2 * L * K * H * 2 * 4097)
    assert list(t.loc["Fits in memory"]) == ["yes" if b <= max_b else "no" for b in BATCHES]
    assert not ex.result.fits and f"Only {max_b:,} sequences" in ex.result.note
    t4k = _num(t.loc["Tokens/s", 64])
    ex.set(context=32768)
    assert _num(ex.result.table.loc["Tokens/s", 64]) < t4k
    ex.set(precision="bf16 + fp8 KV")
    assert ex.error is None and _num(ex.result.table.loc["Tokens/s", 64]) > 0
    ex.set(hardware="a100-sxm-80gb", precision="fp8 (W8A8) + fp8 KV")
    assert ex.result is None and "fp8" in ex.error
    ex.set(model="llama-3.2-1b", hardware="h200", precision="bf16", context=128)
    assert ex.result.fits and ex.result.note.startswith("Every batch shown fits")


# --- exercises: answers derived by hand ------------------------------------------------

def _w(label, **kw):
    from llmperf.exercises import _fn
    return _fn(label)(**kw)


def test_ex1_exact_critical_batch_by_hand():
    # L40S datasheet: 366.5 TFLOP/s dense bf16, 864 GB/s; Qwen2.5-14B gate_proj [5120, 13824]
    R = 366.5e12 / 864e9
    Dq, Fq = 5120, 13824
    corr = R * 2 * (Dq + Fq) / (2 * Dq * Fq)
    a = _w("regimes-ex1").parts
    assert a["bf16"].value == pytest.approx((R * 2 / 2) / (1 - corr), rel=1e-6)
    assert a["int4"].value == pytest.approx((R * 0.5 / 2) / (1 - corr), rel=1e-6)
    # llmperf's own roofline calls gate_proj compute-bound from the exact value rounded up
    first = regimes.first_compute_bound_batch("qwen2.5-14b", "l40s", op="gate_proj")
    assert first == math.ceil(a["bf16"].value)


def test_ex2_large_model_by_hand():
    # Llama-3.1-70B: D=8192, F=28672, N=64, K=8, H=128, L=80, V=128256; tp = 8
    Dl, Fl, Nl, Kl, Hl, Ll, Vl, tp = 8192, 28672, 64, 8, 128, 80, 128256, 8
    a = _w("regimes-ex2").parts
    assert a["gate_batch"].value == math.ceil(regimes.critical_batch_exact(R_H100, Dl, Fl / tp, 2, 2))
    P = (Ll * (2 * Dl * Nl * Hl + 2 * Dl * Kl * Hl + 3 * Dl * Fl) + Dl * Vl) / tp
    s_max = 2 * P / (2 * Ll * Hl * (R_H100 * (Kl / tp) * 2 - 2 * Nl / tp))
    assert a["s_max"].value == pytest.approx(s_max, rel=1e-3)
    assert a["step_compute_bound"].value is False                  # 4,096 cached tokens > S_max
    weights = llmperf.analyze("llama-3.1-70b", "h100-sxm", 1, 1, 1, tp=tp).summary["weight_bytes"]
    kv_seq = 2 * Ll * (Kl // tp) * Hl * 2 * 4097
    assert a["fits"].value == (weights + a["gate_batch"].value * kv_seq <= 80 * 2 ** 30)
    short = _w("regimes-ex2", context=1024, tp=4).parts           # below S_max: some batch gets there
    assert short["step_compute_bound"].value is (short["s_max"].value > 1024)


def test_ex3_int4_speedup_by_hand():
    # Qwen2.5-7B on an A100 SXM 80GB (2,039 GB/s), 16,384 cached tokens, batch 1
    Dq, Fq, Nq, Kq, Hq, Lq, Vq = 3584, 18944, 28, 4, 128, 28, 152064
    w16 = 2 * (7_615_616_512 - Vq * Dq)          # the embedding rows are a lookup, not a weight read
    kv = 2 * Lq * Kq * Hq * 2 * 16385
    a = _w("regimes-ex3").parts
    assert a["t_bf16"].value / 1e3 == pytest.approx((w16 + kv) / 2039e9, rel=0.01)
    assert a["t_int4"].value / 1e3 == pytest.approx((w16 / 4 + kv) / 2039e9, rel=0.02)
    assert 1 < a["speedup"].value < 4
    assert a["speedup"].value == pytest.approx((w16 + kv) / (w16 / 4 + kv), rel=0.02)


def test_ex4_tpot_is_the_mean_decode_step():
    a = _w("regimes-ex4").parts                # Llama-3.1-8B, A100 SXM 80GB, B = 16, prompt 2048, G = 512
    steps = llmperf.decode_step("llama-3.1-8b", "a100-sxm-80gb", 16, 2048 + np.arange(511)).time_s
    assert a["tpot_ms"].value == pytest.approx(1e3 * float(np.mean(steps)), rel=1e-9)
    assert a["tpot_ms"].value > 1e3 * float(steps[0])           # the first step alone understates TPOT
    ttft = float(llmperf.prefill_step("llama-3.1-8b", "a100-sxm-80gb", 16, 2048).time_s)
    assert a["ttft_ms"].value == pytest.approx(1e3 * ttft)
    assert a["e2e_s"].value == pytest.approx(ttft + 511 * a["tpot_ms"].value / 1e3)
    assert a["fits"].value is True
    big = _w("regimes-ex4", model="qwen2.5-14b", device="l40s", batch=64, prompt_len=8192)
    # 64 x 8,703 tokens x 2 x 48 x 8 x 128 x 2 B = 110 GB of KV cache on a 48 GiB device
    assert big.parts["fits"].value is False and "does not fit" in big.solution


def test_ex5_chunk_after_cached_tokens():
    c = _w("regimes-ex5").parts["chunk"].value
    r = llmperf.prefill_step("llama-3.1-8b", "l4", 1, np.array([c - 1, c]), 4096)
    assert list(r.bound) == ["memory", "compute"]
    assert c < regimes.smallest_compute_bound_chunk("llama-3.1-8b", "l4", past=0)


def test_ex6_design_validator_rejects_designs_that_miss_the_target():
    from llmperf.exercises import answer, check
    good = answer("regimes-ex6")["design"]
    assert check("regimes-ex6", {"design": good}, quiet=True)
    # another design meeting 15 ms and 3,000 tokens/s: H100 SXM, fp8 KV cache, B = 64
    assert check("regimes-ex6", {"design": {"device": "h100-sxm", "precision": "bf16 + fp8 KV", "batch": 64}},
                 quiet=True)
    # an L4 reads 16 GB of bf16 weights at 300 GB/s: TPOT > 50 ms whatever the batch
    slow = check("regimes-ex6", {"design": {"device": "l4", "precision": "bf16", "batch": 1}}, quiet=True)
    assert not slow and "TPOT" in slow.hint
    # 64 caches of 4,608 tokens x 131,072 B = 38.7 GB, beside 16 GB of weights: more than 24 GiB
    full = check("regimes-ex6", {"design": {"device": "l4", "precision": "bf16", "batch": 64}}, quiet=True)
    assert not full and "does not fit" in full.hint
    few = check("regimes-ex6", {"design": {"device": "h100-sxm", "precision": "bf16", "batch": 1}}, quiet=True)
    assert not few and "tokens/s" in few.hint                        # fast, but far below 3,000 tokens/s
    assert not check("regimes-ex6", {"design": {"device": "a100-sxm-80gb", "precision": "fp8 (W8A8) + fp8 KV",
                                                "batch": 8}}, quiet=True)     # no fp8 on an A100
    assert not check("regimes-ex6", {"design": "h100"}, quiet=True)


def test_ex7_ceiling_against_memory_by_hand():
    # H200: 141 GiB, 4.8 TB/s, 989.4 TFLOP/s; S = 20,000; bf16 KV
    P = L * (2 * D * N * H + 2 * D * K * H + 3 * D * F) + D * V
    ceiling = 1 / (20001 * 2 * L * K * H * 2 / 4.8e12 + 2 * P / 989.4e12)
    a = _w("regimes-ex7").parts
    assert a["ceiling"].value == pytest.approx(ceiling, rel=1e-3)
    assert a["max_batch"].value == (141 * 2 ** 30 - 2 * PARAMS_8B) // (2 * L * K * H * 2 * 20001)
    assert a["tokens_per_s"].value < a["ceiling"].value
    assert a["pct_of_ceiling"].value == pytest.approx(100 * a["tokens_per_s"].value / ceiling, rel=1e-3)


LABELS = [f"regimes-ex{i}" for i in range(1, 8)]


# --- the notebook ----------------------------------------------------------------------------

def _cells():
    import json
    from pathlib import Path
    nb = json.loads((Path(__file__).resolve().parents[1] / "book" / "memory_compute.ipynb").read_text())
    return nb["cells"]


def test_notebook_uses_the_books_notation():
    text = "\n".join("".join(c["source"]) for c in _cells() if c["cell_type"] == "markdown")
    for old in ("\\kappa", "$w\\,", "$a\\,", "chunks** of $C$", "after $P$ cached"):
        assert old not in text, old
    for new in ("b_{kv}", "b_w", "b_a", "M_{kv}", "\\omega", "TPOT"):
        assert new in text, new
