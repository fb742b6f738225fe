"""Chapter "Roofline Basics": llmperf.rooflines, its charts, explorer and exercises.

Expected values are derived here by hand from datasheet and config.json
constants (written out in each test), from limiting cases and from
monotonicity; none is copied from the module's own output.
"""
import math

import numpy as np
import pytest

import llmperf
from llmperf import rooflines as R

# Datasheet constants used below (dense peaks; decimal units).
H100_BF16, H100_FP8, H100_BW = 989.4e12, 1978.9e12, 3.35e12      # H100 SXM5 80GB
L4_BF16, L4_BW = 121e12, 300e9                                   # L4: 242 TFLOP/s sparse / 2
A100_BF16, A100_BW = 312e12, 2039e9                              # A100 SXM4 80GB
# Llama-3.1-8B config.json
D, F, L, N, K, H, V = 4096, 14336, 32, 32, 8, 128, 128256


def mm_intensity(m, n, k, a=2.0, w=2.0):
    return 2 * m * n * k / (a * m * k + w * k * n + a * m * n)


# --- the roof -----------------------------------------------------------------

def test_attainable_is_bandwidth_times_intensity_below_the_ridge_and_peak_above():
    ridge = H100_BF16 / H100_BW
    got = R.attainable_flop_per_s([1.0, ridge, 10 * ridge], H100_BF16, H100_BW)
    np.testing.assert_allclose(got, [H100_BW, H100_BF16, H100_BF16])


def test_peak_and_ridge_lookups_with_the_fp16_fallback():
    assert R.peak_for("l4", "bf16") == L4_BF16
    assert R.ridge_for("h100-sxm", "fp8") == pytest.approx(H100_FP8 / H100_BW)
    # Apple M2 lists fp16 only (3.6 TFLOP/s): bf16 work falls back to it, as decode_step does.
    assert R.peak_for("apple-m2", "bf16") == 3.6e12
    with pytest.raises(llmperf.HardwareError):
        R.peak_for("a100-sxm-80gb", "fp8")


def test_roof_line_has_a_slope_one_segment_then_a_flat_one():
    roof = R.roof_line("h100-sxm", "bf16", i_min=0.1, i_max=1e4)
    x, y = roof["Intensity (FLOP/B)"].to_numpy(), roof["Attainable (TFLOP/s)"].to_numpy() * 1e12
    assert x[1] == pytest.approx(H100_BF16 / H100_BW)
    assert y[0] == pytest.approx(0.1 * H100_BW)
    assert y[1] == pytest.approx(H100_BF16) and y[2] == pytest.approx(H100_BF16)
    slope = np.log(y[1] / y[0]) / np.log(x[1] / x[0])
    assert slope == pytest.approx(1.0)


# --- ridge table ------------------------------------------------------------------

def test_ridge_table_covers_the_catalog_sorted_with_datasheet_values():
    t = R.ridge_table()
    assert len(t) == len(llmperf.hardware_names())
    r = t["Ridge 16-bit (FLOP/B)"].to_numpy()
    assert np.all(np.diff(r) <= 0)
    row = t.set_index("name")
    assert row.loc["l4", "Ridge 16-bit (FLOP/B)"] == pytest.approx(L4_BF16 / L4_BW)
    assert row.loc["t4", "Ridge int8 (OP/B)"] == pytest.approx(130e12 / 320e9)   # T4: 130 TOPS int8, 320 GB/s
    assert math.isnan(row.loc["v100-sxm2-32gb", "Ridge fp8 (FLOP/B)"])            # Volta has no fp8
    # 8-bit doubles the peak and keeps the bandwidth: twice the ridge.
    assert row.loc["h100-sxm", "Ridge fp8 (FLOP/B)"] == pytest.approx(2 * row.loc["h100-sxm", "Ridge 16-bit (FLOP/B)"],
                                                                      rel=1e-3)


def test_ridge_long_has_no_missing_values_and_three_precisions():
    long = R.ridge_long()
    assert set(long["Precision"]) == {"16-bit (bf16/fp16)", "fp8", "int8"}
    assert long["Ridge (FLOP/B)"].notna().all()
    assert (long["Precision"] == "16-bit (bf16/fp16)").sum() == len(llmperf.hardware_names())


# --- matrix products --------------------------------------------------------------

def test_matmul_table_by_hand():
    t = R.matmul_table(2, 2, 2)                     # 2*2*2*2 = 16 FLOP; 3 matrices of 4 bf16 = 24 B
    assert t.loc[0, "FLOP"] == 16 and t.loc[0, "Bytes (B)"] == 24
    assert t.loc[0, "Intensity (FLOP/B)"] == pytest.approx(2 / 3)
    t = R.matmul_table(1, F, D)
    assert t.loc[0, "Intensity (FLOP/B)"] == pytest.approx(mm_intensity(1, F, D))


def test_matmul_limits():
    lim = R.matmul_intensity_limits(F, D)
    assert lim["m_one"] == pytest.approx(mm_intensity(1, F, D))
    assert lim["m_one"] < 1 and lim["m_one"] > 0.999          # one multiply-add per 2-byte weight
    assert lim["small_m_slope"] == 1.0                        # 2 / w with w = 2
    big = mm_intensity(1e9, F, D)
    assert big == pytest.approx(lim["m_infinite"], rel=1e-4)
    assert lim["m_infinite"] == pytest.approx(2 * D * F / (2 * (D + F)))
    # int4 weights: slope 2 / 0.5 = 4 FLOP/B per token
    assert R.matmul_intensity_limits(F, D, 2, 0.5)["small_m_slope"] == 4.0
    assert float(R.square_matmul_intensity(4096)) == pytest.approx(4096 / 3)
    assert float(R.square_matmul_intensity(4096, 1)) == pytest.approx(2 * 4096 / 3)


def test_critical_batch_reaches_the_ridge_exactly():
    ridge = H100_BF16 / H100_BW
    cb = R.critical_batch(F, D, ridge, 2)
    assert mm_intensity(float(cb["exact"]), F, D) == pytest.approx(ridge)
    assert float(cb["approx"]) == pytest.approx(ridge)          # R w / 2 with w = 2
    assert float(cb["exact"]) > float(cb["approx"])             # activation bytes push it up
    b = int(cb["min_batch"])
    assert mm_intensity(b, F, D) >= ridge > mm_intensity(b - 1, F, D)
    # int4 weights with bf16 activations: about R * 0.5 / 2
    cb4 = R.critical_batch(F, D, ridge, 0.5, 2)
    assert mm_intensity(float(cb4["exact"]), F, D, 2, 0.5) == pytest.approx(ridge)


def test_critical_batch_is_infinite_when_the_weight_is_too_small():
    # a [64, 64] weight in bf16 saturates at 2*64*64 / (2*128) = 32 FLOP/B < 295
    assert np.isinf(R.critical_batch(64, 64, 295.0, 2)["exact"])


def test_gemm_bound_by_hand():
    g = R.gemm_bound(4096, 4096, 4096, "h100-sxm", "bf16")
    assert g["flops"] == 2 * 4096 ** 3
    assert g["bytes"] == 3 * 2 * 4096 ** 2
    assert g["intensity"] == pytest.approx(4096 / 3)
    assert g["bound"] == "compute"
    assert g["time_s"] == pytest.approx(2 * 4096 ** 3 / H100_BF16)


def test_scheme_curves_and_ridges():
    c = R.scheme_curves(F, D, [1, 4096]).set_index(["Scheme", "Tokens M"])["Intensity (FLOP/B)"]
    assert c[("int4 weight-only", 1)] == pytest.approx(4 * c[("bf16", 1)], rel=2e-3)
    assert c[("fp8 W8A8", 1)] == pytest.approx(2 * c[("bf16", 1)], rel=1e-3)
    r = R.scheme_ridges(F, D, devices=("h100-sxm", "a100-sxm-80gb")).set_index(["device", "Scheme"])
    assert ("a100-sxm-80gb", "fp8 W8A8") not in r.index             # the A100 has no fp8
    assert r.loc[("h100-sxm", "fp8 W8A8"), "Ridge (FLOP/B)"] == pytest.approx(H100_FP8 / H100_BW)
    # fp8 W8A8 doubles the ridge and halves the bytes: the critical batch barely moves
    assert r.loc[("h100-sxm", "fp8 W8A8"), "Critical batch (exact)"] == pytest.approx(
        r.loc[("h100-sxm", "bf16"), "Critical batch (exact)"], rel=1e-3)


# --- a real decode step ----------------------------------------------------------------

def test_batch1_decode_step_is_bandwidth_bound_by_hand():
    s = R.decode_step_summary("llama-3.1-8b", "h100-sxm", batch=1, context=1024)
    # weights read once in bf16: all parameters but the embedding table, of which one row is read
    params = 2 * V * D + L * (D * (N * H) * 2 + 2 * D * (K * H) + 3 * D * F + 2 * D) + D
    weight_bytes = 2 * (params - V * D + D)
    kv_bytes = 2 * L * K * H * 2 * 1025          # keys and values of 1024 cached tokens + the new one
    assert s["bytes"] == pytest.approx(weight_bytes + kv_bytes, rel=2e-3)
    assert s["time_s"] == pytest.approx(s["bytes"] / H100_BW)
    assert s["bound"] == "memory"
    assert 0.95 < s["intensity"] < 1.1


def test_decode_points_move_linear_layers_not_attention():
    p = R.decode_points("llama-3.1-8b", ("h100-sxm", "l4"), batches=2 ** np.arange(11), context=1024)
    h = p[p["device"] == "h100-sxm"]
    gate = h[h["operator"] == "gate_proj"].sort_values("batch")
    assert np.all(np.diff(gate["Intensity (FLOP/B)"].to_numpy()) > 0)
    np.testing.assert_allclose(gate["Intensity (FLOP/B)"], mm_intensity(gate["batch"].to_numpy(float), F, D))
    attn = h[h["operator"] == "attention (fused)"]["Intensity (FLOP/B)"]
    assert attn.max() - attn.min() < 1e-9                   # independent of batch
    assert attn.iloc[0] == pytest.approx(N / K, rel=0.02)   # about N/K FLOP per KV byte
    assert "embedding" not in set(p["operator"])            # no FLOP, no point on a log axis
    for (dev, b), grp in p[p["operator"] != "whole step"].groupby(["device", "batch"]):
        assert 0.999 < grp["Share of step time"].sum() <= 1 + 1e-9
        assert (grp["Attainable (TFLOP/s)"] * 1e12 <= R.peak_for(dev, "bf16") * (1 + 1e-9)).all()
    # bound agrees with the ridge
    ridge = H100_BF16 / H100_BW
    assert (h["Bound"] == np.where(h["Intensity (FLOP/B)"] >= ridge, "compute", "memory")).all()


def test_batch_sweep_table_layout():
    t = R.batch_sweep_table(batches=[1, 64])
    assert list(t.columns) == ["B=1", "B=64"]
    assert "whole step" in t.index and "lm_head" in t.index


def test_scheme_table_int4_quadruples_batch1_intensity():
    t = R.scheme_table(batch=1).set_index("Scheme")
    assert t.loc["int4 weight-only", "Step intensity (FLOP/B)"] / t.loc["bf16", "Step intensity (FLOP/B)"] \
        == pytest.approx(4, rel=0.05)
    assert t.loc["fp8 W8A8", "Peak (TFLOP/s)"] == pytest.approx(H100_FP8 / 1e12)
    assert (t["Step bound"] == "memory").all()
    assert "fp8 W8A8" not in R.scheme_table(device="a100-sxm-80gb")["Scheme"].values


def test_operator_table_and_dims():
    t = R.operator_table(batch=1)
    assert (t["Intensity / ridge"] < 1).all()
    assert R.matmul_dims("llama-3.1-8b", "down_proj") == (F, D)
    with pytest.raises(ValueError):
        R.operator_table(scheme="fp4")
    with pytest.raises(ValueError):
        R.matmul_dims("llama-3.1-8b", "rope")


# --- charts -----------------------------------------------------------------------

def _params(spec):
    return {p["name"]: p for p in spec.get("params", [])}


def _rows(spec):
    return sum(len(v) for v in spec.get("datasets", {}).values())


def test_ridge_chart_has_a_precision_dropdown():
    from llmperf.charts import roofline as rc
    spec = rc.ridge_chart().to_dict()
    p = _params(spec)["precision"]
    assert p["bind"]["input"] == "select" and "fp8" in p["bind"]["options"]


def test_decode_roofline_chart_has_slider_and_dropdown_and_small_data():
    from llmperf.charts import roofline as rc
    points = R.decode_points(batches=2 ** np.arange(11))
    spec = rc.decode_roofline_chart(points, R.roof_lines()).to_dict()
    p = _params(spec)
    assert p["log2_batch"]["bind"]["input"] == "range"
    assert (p["log2_batch"]["bind"]["min"], p["log2_batch"]["bind"]["max"]) == (0, 10)
    assert p["device"]["bind"]["input"] == "select"
    assert _rows(spec) < 3000
    assert len(rc.decode_roofline_chart(points, R.roof_lines()).to_json()) < 600_000


def test_decode_roofline_chart_flags_batches_that_do_not_fit():
    from llmperf.charts import roofline as rc
    fits = R.decode_fit_table(devices=("h100-sxm", "l4"), batches=2 ** np.arange(11))
    f = fits.set_index(["device", "batch"])["fits"]
    # weights ~16.1e9 B + B * 1025 * 131072 B of bf16 KV cache, against 80 GiB and 24 GiB
    for (dev, b), ok in f.items():
        cap = {"h100-sxm": 80, "l4": 24}[dev] * 2 ** 30
        need = 2 * 8.03e9 + b * 1025 * L * 2 * K * H * 2
        if abs(need / cap - 1) > 0.02:
            assert ok == (need <= cap), (dev, b)
    assert not f[("h100-sxm", 1024)] and f[("h100-sxm", 256)] and not f[("l4", 256)]
    spec = rc.decode_roofline_chart(R.decode_points(devices=("h100-sxm", "l4"), batches=2 ** np.arange(11)),
                                    R.roof_lines(("h100-sxm", "l4")), fits=fits).to_json()
    assert "DOES NOT FIT" in spec


def test_scheme_chart_has_a_device_dropdown():
    from llmperf.charts import roofline as rc
    spec = rc.scheme_chart(R.scheme_curves(F, D, [1, 16, 256]), R.scheme_ridges(F, D)).to_dict()
    assert _params(spec)["device_scheme"]["bind"]["input"] == "select"


# --- explorer ---------------------------------------------------------------------------

def test_explorer_reacts_to_controls_and_flags_what_does_not_fit():
    from llmperf.widgets.roofline import operator_explorer
    ex = operator_explorer()
    gate = lambda: float(ex.result.set_index("Operator").loc["gate_proj", "Intensity (FLOP/B)"])  # noqa: E731
    assert gate() == pytest.approx(mm_intensity(1, F, D))
    assert ex.memory["fits"]
    ex.set(batch=64)
    assert gate() == pytest.approx(mm_intensity(64, F, D))
    ex.set(scheme="int4 weight-only")
    assert gate() == pytest.approx(mm_intensity(64, F, D, 2, 0.5))
    # 1024 sequences of 1025 tokens: 1024 * 1025 * 32 layers * 2 * 8 * 128 * 2 bytes = 128.1 GiB > 80 GiB
    ex.set(scheme="bf16", batch=1024)
    assert 1024 * 1025 * L * 2 * K * H * 2 > 80 * 2 ** 30
    assert not ex.memory["fits"] and ex.memory["message"].startswith("DOES NOT FIT")
    ex.set(batch=1, device="a100-sxm-80gb")
    ex.set(scheme="fp8 W8A8")                        # the A100 has no fp8: an error, not a crash
    assert ex.result is None and "fp8" in ex.error


# --- does it fit -------------------------------------------------------------------------

def test_decode_memory_by_hand():
    params = 2 * V * D + L * (D * (N * H) * 2 + 2 * D * (K * H) + 3 * D * F + 2 * D) + D
    m = R.decode_memory("llama-3.1-8b", "h100-sxm", batch=256, context=4096)
    assert m["weight_bytes"] == pytest.approx(2 * params)
    assert m["kv_cache_bytes"] == pytest.approx(256 * 4097 * L * 2 * K * H * 2)
    assert m["capacity_bytes"] == 80 * 2 ** 30 and not m["fits"]
    small = R.decode_memory("llama-3.1-8b", "h100-sxm", batch=1, context=1024)
    assert small["fits"] and small["message"].startswith("fits")
    # int4 weights: a quarter of the bf16 bytes (norms stay, a rounding error here)
    q = R.decode_memory("llama-3.1-8b", "h100-sxm", batch=1, context=1024, scheme="int4 weight-only")
    assert q["weight_bytes"] == pytest.approx(0.5 * params, rel=1e-3)
    with pytest.raises(ValueError):
        R.decode_memory(scheme="fp4")


# --- exercises ---------------------------------------------------------------------------

def test_exercise_answers_by_hand():
    from llmperf.exercises import answer, check
    a = answer("roofline-ex1")                                   # MI300X, 70 % of peak, 90 % of bandwidth
    assert a["bf16"] == pytest.approx(0.7 * 1307.4e12 / (0.9 * 5.3e12))
    assert a["fp8"] == pytest.approx(0.7 * 2614.9e12 / (0.9 * 5.3e12))
    a = answer("roofline-ex2")
    assert a["bound"] == "memory" and a["intensity"] == pytest.approx(N / K, rel=0.02)
    assert a["fits"] is False                    # 256 caches of 4097 tokens: 128 GiB alone
    a = answer("roofline-ex3")
    ridge = L4_BF16 / L4_BW
    assert mm_intensity(a["min_batch"], F, D) >= ridge > mm_intensity(a["min_batch"] - 1, F, D)
    assert a["approx"] == pytest.approx(ridge)
    a = answer("roofline-ex5")
    assert a["intensity"] == pytest.approx(8192 * 28672 / (8192 + 2 * 28672))
    assert a["time_ms"] == pytest.approx(2 * 8192 * 8192 * 28672 / A100_BF16 * 1e3)
    assert a["bound"] == "compute"
    a = answer("roofline-ex6")
    assert a["tokens_per_s"] == pytest.approx(1e3 / a["step_ms"])
    ridge = 15.04e12 / 102.4e9                                   # Jetson Orin NX 16GB
    b = a["critical_batch"]
    assert mm_intensity(b, 8192, 2048, 2, 0.5) >= ridge > mm_intensity(b - 1, 8192, 2048, 2, 0.5)
    # Llama-3.2-1B int4 weights: at least (1.24e9 params x 0.5 B) / 102.4 GB/s
    assert a["step_ms"] > 1.2e9 * 0.5 / 102.4e9 * 1e3
    assert check("roofline-ex1", {"bf16": 192.0, "fp8": 383.6})


def test_design_exercise_accepts_designs_that_meet_the_targets_and_only_those():
    from llmperf.exercises import answer, check
    device, scheme, batch = answer("roofline-ex4")   # targets: <= 20 ms per step, >= 4000 tokens/s, S = 4096
    assert check("roofline-ex4", (device, scheme, batch), quiet=True)
    # by hand on an H100 with fp8 W8A8 at B = 128: weights ~8.03e9 B, KV 4097 * 32 * 2 * 8 * 128 B per sequence
    kv_seq = 4097 * L * 2 * K * H * 1
    t = (8.03e9 + 128 * kv_seq) / H100_BW
    assert t < 0.020 and 128 / t > 4000 and 8.03e9 + 128 * kv_seq < 80 * 2 ** 30
    assert check("roofline-ex4", ("h100-sxm", "fp8 W8A8", 128), quiet=True)
    # batch 1 in bf16: about 1 / 4.6 ms = 217 tokens/s, far under the target
    assert not check("roofline-ex4", ("h100-sxm", "bf16", 1), quiet=True)
    # 400 bf16 caches of 512 MiB do not fit in 80 GiB
    assert 400 * 4097 * L * 2 * K * H * 2 > 80 * 2 ** 30
    r = check("roofline-ex4", ("h100-sxm", "bf16", 400), quiet=True)
    assert not r and "fit" in r.hint
    assert not check("roofline-ex4", ("a100-sxm-80gb", "fp8 W8A8", 64), quiet=True)   # no fp8 on an A100
    assert not check("roofline-ex4", ("h100-sxm", "fp8 W8A8", 12.5), quiet=True)
    assert not check("roofline-ex4", ("no-such-gpu", "bf16", 8), quiet=True)


LABELS = [f"roofline-ex{i}" for i in range(1, 7)]


def _shown_numbers(v):
    from llmperf.book import fmt
    if isinstance(v, bool) or isinstance(v, str):
        return {str(v)}
    if isinstance(v, int):
        return {f"{v:,d}", str(v)}
    return {fmt(v), fmt(v, "sig4")}


def _cells():
    import json
    from pathlib import Path
    return json.loads((Path(__file__).resolve().parents[1] / "book" / "roofline.ipynb").read_text())["cells"]


def test_notebook_notation_one_meaning_per_symbol():
    text = "\n".join("".join(c["source"]) for c in _cells() if c["cell_type"] == "markdown")
    assert "I^{*}" not in text and "I*" not in text          # the ridge is R
    assert r"\frac{W}" not in text and "W}{" not in text       # W is a weight matrix, never FLOP
    assert "aMK" not in text and "wKN" not in text            # bytes per element are b_a, b_w
    assert "{doc}`generation`" in text
