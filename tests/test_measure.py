"""llmperf.measure: the machine's roofline, a real model timed, and the two "expected" strengths.

The pure parts (operator classes, fits, held-out comparison) are checked on
synthetic numbers whose answer is known by construction; the measuring parts
run with tiny shapes and short timings (torch is the ``measure`` extra) and
are checked against hand arithmetic (FLOP and byte counts, parameter counts
from the config) and physical limits, never against their own output.
"""
import json
import math
from pathlib import Path

import numpy as np
import pytest

import llmperf
from llmperf import measure as M

REF = Path(llmperf.__file__).parent / "data" / "measurements" / "reference_run.json"
# Qwen2.5-0.5B config.json
D, F, N, K, H, V = 896, 4864, 14, 2, 64, 151936


# --- the operator list and its classes (no torch) -------------------------------------------------------

def test_kernel_keys_read_the_shapes_of_products_and_attention():
    assert M.kernel_key("matmul", "fp32[4, 896] x fp32[896, 4864]") == ("linear", 4, 896, 4864)
    key = M.kernel_key("attention", "Q bf16[4, 14, 1, 64], K bf16[4, 2, 129, 64], V bf16[4, 2, 129, 64]")
    assert key == ("attention", 4, 14, 2, 1, 129, 64)
    assert M.kernel_key("elementwise", "fp32[4, 896]") is None


def test_op_parts_of_a_decode_step_have_the_models_shapes_and_sum_to_the_roofline():
    hw = llmperf.get_hardware("h100-sxm")
    parts = M.op_parts("qwen2.5-0.5b", hw, ("decode", 4, 128), "bf16")
    keys = {p["name"]: p["key"] for p in parts}
    assert keys["q_proj"] == ("linear", 4, D, N * H)
    assert keys["k_proj"] == ("linear", 4, D, K * H)
    assert keys["down_proj"] == ("linear", 4, F, D)
    assert keys["lm_head"] == ("linear", 4, D, V)
    assert keys["attention (fused)"] == ("attention", 4, N, K, 1, 129, H)   # 128 cached + the new token
    total = sum(p["repeats"] * p["roofline_s"] for p in parts)
    step = llmperf.decode_step("qwen2.5-0.5b", hw, batch=4, context=128)
    assert total == pytest.approx(float(step.time_s), rel=1e-9)
    # decode products are memory-bound on an H100 (intensity ~ 2B = 8 FLOP/B << ridge ~ 295)
    assert {p["cls"] for p in parts if p["name"].endswith("_proj")} == {"linear, memory-bound"}
    pre = M.op_parts("qwen2.5-0.5b", hw, ("prefill", 1, 512), "bf16")
    assert {p["cls"] for p in pre if p["name"] == "gate_proj"} == {"linear, compute-bound"}
    # the head of a prefill runs on the last row of [B, T, D]: calibrated as the model calls it
    assert [p["key"] for p in pre if p["name"] == "lm_head"] == [("last token", 1, 512, D, V)]


def _synthetic_parts(scale):
    # three operators: a memory-bound product, attention, a norm; 10 instances each
    return [{"name": "w", "repeats": 10.0, "roofline_s": 1e-4 * scale, "cls": "linear, memory-bound",
             "key": ("linear", 1, 8, 8)},
            {"name": "a", "repeats": 10.0, "roofline_s": 2e-5 * scale ** 2, "cls": "attention",
             "key": ("attention", 1, 1, 1, 1, 8, 8)},
            {"name": "n", "repeats": 10.0, "roofline_s": 1e-6 * scale ** 3, "cls": "other", "key": None}]


def test_strength_one_recovers_known_efficiencies_and_overhead():
    eff = {"linear, memory-bound": 0.5, "linear, compute-bound": 1.0, "attention": 0.1, "other": 0.25}
    ov = 5e-6
    parts = [_synthetic_parts(s) for s in (1.0, 2.0, 3.0, 5.0)]
    # measured = 10 * (1e-4 s / 0.5 + 2e-5 s^2 / 0.1 + 1e-6 s^3 / 0.25) + 30 * 5e-6, by hand
    meas = [10 * (1e-4 * s / 0.5 + 2e-5 * s * s / 0.1 + 1e-6 * s ** 3 / 0.25) + 30 * ov for s in (1.0, 2.0, 3.0, 5.0)]
    got, got_ov = M.fit_efficiencies(parts, meas)
    for c in ("linear, memory-bound", "attention", "other"):
        assert got[c] == pytest.approx(eff[c], rel=1e-6)
    assert got_ov == pytest.approx(ov, rel=1e-4, abs=1e-9)
    assert got["linear, compute-bound"] == 1.0          # no time in that class: the bound itself
    r = M.expected_times(parts[0], efficiency=got, overhead_s=got_ov)
    assert r["expected_s"] == pytest.approx(meas[0], rel=1e-6)
    assert r["roofline_s"] == pytest.approx(10 * (1e-4 + 2e-5 + 1e-6))
    assert r["basis"].startswith("strength 1")


def test_strength_one_never_beats_the_roofline():
    # measurements faster than the bound (impossible) give efficiency 1, not above
    parts = [_synthetic_parts(s) for s in (1.0, 2.0)]
    meas = [0.5 * M.expected_times(p)["roofline_s"] for p in parts]
    eff, ov = M.fit_efficiencies(parts, meas)
    assert all(0 < e <= 1 for e in eff.values()) and ov == 0


def test_strength_two_puts_measured_kernels_in_place_of_the_roofline():
    parts = _synthetic_parts(1.0)
    kern = {("linear", 1, 8, 8): 3e-4, ("attention", 1, 1, 1, 1, 8, 8): 1e-4}
    r = M.expected_times(parts, kernels=kern, overhead_s=1e-6)
    assert r["expected_s"] == pytest.approx(10 * 3e-4 + 10 * 1e-4 + 10 * 1e-6 + 30 * 1e-6)
    assert r["basis"].startswith("strength 2")
    with pytest.raises(KeyError):
        M.expected_times(parts, kernels={("linear", 1, 8, 8): 3e-4})
    # the fitted cost per kernel closes a known gap: measured = kernels + 30 * 2 µs
    base = 10 * 3e-4 + 10 * 1e-4 + 10 * 1e-6
    assert M.fit_overhead([parts], [base + 30 * 2e-6], kern) == pytest.approx(2e-6, rel=1e-6)


def _synthetic_run(factor):
    """A stored run whose every 'measured' time is ``factor`` x the roofline of its case."""
    # the copy bandwidth is made huge, so the cache's append copy (strength 2 only) costs nothing here
    prof = {"threads": 2, "bandwidth_bytes_per_s": {"read": 50e9, "copy": 1e30, "triad": 45e9},
            "matmul_flop_per_s": {"fp32": 200e9}, "points": [], "kernel_overhead_s": 1e-6,
            "load_before": 0.1, "load_after": 0.1, "host": "h", "cpu": "c", "when": "w",
            "torch_version": "t", "seconds": 1.0, "notes": []}
    hw = M.MachineProfile.from_dict(prof).hardware()
    models = []
    for model in ("qwen2.5-0.5b", "qwen3-0.6b"):
        meas, kern = [], {}
        for case in M.DECODE_CASES + M.PREFILL_CASES:
            parts = M.op_parts(model, hw, case, "fp32")
            meas.append({"phase": case[0], "batch": case[1], "length": case[2], "dtype": "fp32",
                         "measured_s": factor * sum(p["repeats"] * p["roofline_s"] for p in parts)})
            kern.update({p["key"]: factor * p["roofline_s"] for p in parts if p["key"] is not None})
        models.append({"model": model, "dtype": "fp32", "measured": meas,
                       "kernels": [[list(k), s] for k, s in kern.items()]})
    return {"profile": prof, "models": models}


def test_compare_run_is_exact_when_every_kernel_is_twice_its_bound():
    df, fits = M.compare_run(_synthetic_run(2.0))
    assert len(df) == 12
    np.testing.assert_allclose(df["measured_over_roofline"], 2.0)
    # strength 1 fitted on the other model: efficiency 1/2 everywhere there is time, no overhead
    assert df["strength1_error"].max() < 1e-6
    # strength 2: the operators not calibrated (norms, rope, adds) stay at their bound, so the kernels
    # alone undershoot; the cost per kernel fitted on the other model closes most of that gap
    assert (df["kernels_only_s"] < df["measured_s"]).all()
    assert df["strength2_error"].max() < 0.02
    assert set(df["fit_on"]) == {"qwen2.5-0.5b", "qwen3-0.6b"}
    for f in fits.values():
        assert f["efficiency"]["linear, memory-bound"] == pytest.approx(0.5, rel=1e-6)
    s = M.error_summary(df)
    assert list(s.columns) == ["Phase", "Strength", "Median error", "Worst error", "Cases"]
    assert s["Cases"].tolist() == [8, 8, 4, 4]


# --- the stored reference run ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def ref():
    return json.loads(REF.read_text())


def test_reference_run_says_where_and_when_and_has_every_case(ref):
    m = ref["machine"]
    for k in ("host", "cpu", "cores", "threads", "torch", "transformers", "load_average_before", "date"):
        assert k in m
    want = {tuple(c) for c in M.DECODE_CASES + M.PREFILL_CASES}
    assert len(ref["models"]) >= 2
    for e in ref["models"]:
        assert {(r["phase"], r["batch"], r["length"]) for r in e["measured"]} == want
        assert all(r["measured_s"] > 0 for r in e["measured"])


def test_reference_roofline_is_a_lower_bound_and_predictions_reproduce(ref):
    df, _ = M.compare_run(ref)
    assert (df["measured_over_roofline"] > 1).all()      # a bound: nothing runs faster than the roof
    stored = {(r["model"], r["dtype"], r["phase"], r["batch"], r["length"]): r for r in ref["predicted"]}
    for r in df.to_dict("records"):
        s = stored[(r["model"], r["dtype"], r["phase"], r["batch"], r["length"])]
        for k in ("roofline_s", "strength1_s", "strength2_s"):
            assert r[k] == pytest.approx(s[k], rel=1e-9)


def test_reference_profile_points_are_consistent(ref):
    p = M.MachineProfile.from_dict(ref["profile"])
    for pt in p.points:
        assert pt["flops"] == 2 * pt["m"] * pt["k"] * pt["n"]
    # a matrix-vector product is bound by memory: it cannot beat the read bandwidth by much, nor the peak
    for g in p.gemv:
        assert g["flops"] / g["seconds"] < p.matmul_flop_per_s[g["dtype"]]
    assert p.hardware().memory_bandwidth_bytes_per_s == p.bandwidth_bytes_per_s["triad"]


# --- measuring (torch, the `measure` extra) -------------------------------------------------------------

def test_machine_roofline_measures_in_bounded_time_and_returns_hardware(capsys):
    torch = pytest.importorskip("torch")
    before = torch.get_num_threads()
    p = M.machine_roofline(seconds=1.0, threads=1, stream_elements=2**18, matmul_sizes=(64, 128),
                           gemv_shape=(256, 512), progress=True)
    assert torch.get_num_threads() == before                # the thread count is restored
    assert p.threads == 1 and p.seconds < 10
    assert set(p.bandwidth_bytes_per_s) == {"read", "copy", "triad"}
    assert all(v > 1e8 for v in p.bandwidth_bytes_per_s.values())
    mv = [g for g in p.gemv if g["dtype"] == "fp32" and g["m"] == 4][0]
    # [4, 256] x [256, 512] fp32: 2*4*256*512 FLOP; (4*256 + 256*512 + 4*512) * 4 bytes
    assert mv["flops"] == 2 * 4 * 256 * 512 and mv["bytes"] == (4 * 256 + 256 * 512 + 4 * 512) * 4
    hw = p.hardware("mine")
    assert "measured" in hw.source and "load average" in hw.source and p.cpu in hw.source
    assert hw.peak_for("fp32") == max(q["flops"] / q["seconds"] for q in p.points
                                      if q["kind"] == "matmul" and q["dtype"] == "fp32")
    assert "bf16" in p.matmul_flop_per_s or any("bf16" in n for n in p.notes)
    assert "kernel" in capsys.readouterr().out                # the progress bar printed its steps
    assert len(p.table()) == 3 + len(p.matmul_flop_per_s) + len(p.gemv) + 1


def test_a_real_model_is_built_with_the_configs_parameter_count():
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    m = M.build_hf_model("qwen2.5-0.5b", "fp32", layers=1)
    # one layer by hand: q,k,v (with biases), o, MLP, two norms; embeddings tied; final norm
    layer = D * N * H + N * H + 2 * (D * K * H + K * H) + N * H * D + 3 * D * F + 2 * D
    assert sum(p.numel() for p in m.parameters()) == V * D + layer + D
    assert all(bool(p.isfinite().all()) and float(p.abs().max()) > 0 for p in m.parameters())
    assert not any(p.requires_grad for p in m.parameters())       # inference only


def test_time_model_holds_the_context_and_splits_the_step():
    pytest.importorskip("transformers")
    m = M.build_hf_model("qwen2.5-0.5b", "fp32", layers=1)
    df = M.time_model("qwen2.5-0.5b", [("decode", 2, 16), ("prefill", 1, 8)], "fp32", min_run_time=0.02,
                      hf_model=m, threads=1)
    assert df["measured_s"].gt(0).all() and list(df["phase"]) == ["decode", "prefill"]
    shares = df[["share_linear", "share_attention_core", "share_rest"]]
    assert ((shares >= 0) & (shares <= 1)).all().all()
    assert (shares.sum(axis=1) <= 1 + 1e-9).all()
    with pytest.raises(ValueError):
        M.time_model("qwen2.5-0.5b", [("train", 1, 8)], hf_model=m, min_run_time=0.01)


def test_calibrate_kernels_times_every_shape_of_the_operator_list():
    pytest.importorskip("torch")
    cases = [("decode", 1, 16), ("prefill", 1, 8)]
    kern = M.calibrate_kernels("qwen2.5-0.5b", cases, "fp32", min_run_time=0.01, threads=1, layers=1,
                               cold_bytes=2**20)
    hw = llmperf.get_hardware("h100-sxm")
    need = {p["key"] for c in cases for p in M.op_parts(M.model_config("qwen2.5-0.5b", 1), hw, c, "fp32")
            if p["key"] is not None}
    assert need == set(kern) and all(v > 0 for v in kern.values())
    assert ("attention", 1, N, K, 1, 17, H) in kern and ("last token", 1, 8, D, V) in kern
    r = M.expected_times(M.op_parts(M.model_config("qwen2.5-0.5b", 1), hw, cases[0], "fp32"), kernels=kern)
    assert r["expected_s"] > r["roofline_s"]


def test_time_fn_takes_the_median_or_the_fastest_block():
    pytest.importorskip("torch")
    g = {"x": [0]}
    med = M.time_fn("x.append(1)", g, min_run_time=0.02, threads=1)
    fast = M.time_fn("x.append(1)", g, min_run_time=0.02, threads=1, stat="min")
    assert 0 < fast and 0 < med
    with pytest.raises(ValueError):
        M.time_fn("x.append(1)", g, min_run_time=0.01, threads=1, stat="mean")


def test_cache_append_copies_the_whole_cache_of_every_layer():
    """Hand count for Qwen3-0.6B (28 layers, 8 KV heads of 128), B = 4, S = 1024, fp32: each of the 2 x 28
    concatenations reads the 1024 cached rows and the new one and writes 1025, of 4 x 8 x 128 elements."""
    parts = M.cache_append_parts("qwen3-0.6b", ("decode", 4, 1024), "fp32", copy_bytes_per_s=40e9)
    assert len(parts) == 1
    p = parts[0]
    assert p["repeats"] == 2 * 28 and p["key"] is None and p["cls"] == "attention"
    assert p["roofline_s"] * 40e9 == pytest.approx((1024 + 1 + 1025) * 4 * 8 * 128 * 4)
    assert M.cache_append_parts("qwen3-0.6b", ("prefill", 1, 512), "fp32", copy_bytes_per_s=40e9) == []


def test_reference_run_meets_the_issue_targets_held_out(ref):
    """Strength 2 (kernel calibration), fitted on the other model, on the stored reference run: decode within
    10 % median and 15 % worst, prefill within 15 % median (the issue's targets for this CPU)."""
    df, fits = M.compare_run(ref)
    s = M.error_summary(df).set_index(["Phase", "Strength"])
    assert s.loc[("decode", "2: kernel calibration"), "Median error"] <= 0.10
    assert s.loc[("decode", "2: kernel calibration"), "Worst error"] <= 0.15
    assert s.loc[("prefill", "2: kernel calibration"), "Median error"] <= 0.15
    # the cost per kernel is fitted per phase, and a prefill's is the larger (elementwise kernels over T tokens)
    for f in fits.values():
        assert 0 <= f["overhead2_s"]["decode"] < f["overhead2_s"]["prefill"]
