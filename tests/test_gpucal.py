"""llmperf.gpucal: strength 1 on GPUs, fitted on Vidur's published Llama-2 profiles and judged held out.

The extract is checked against Vidur's own CSV (read from a local mirror of
microsoft/vidur when there is one), the operator mapping against hand
arithmetic of the fused shapes, the roofline against the raw measurements (a
lower bound for every matrix product), and the held-out error against the
issue's target (median within 10 %).
"""
import io
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import llmperf
from llmperf import gpucal as G
from llmperf.measure import CLASSES

ROOT = Path(__file__).resolve().parents[1]
MIRROR = Path("/work/.mirror/microsoft+vidur/repo")
DATA = Path(llmperf.__file__).parent / "data" / "measurements"
# Vidur records each kernel's duration to the microsecond (times in ms with three decimals)
RESOLUTION_S = 1e-6


def _vidur_csv(device, model):
    rel = f"data/profiling/compute/{device}/{model}/mlp.csv"
    out = subprocess.run(["git", "-C", str(MIRROR), "show", f"{G.VIDUR_COMMIT}:{rel}"], capture_output=True,
                         text=True, check=True).stdout
    return pd.read_csv(io.StringIO(out))


@pytest.mark.skipif(not MIRROR.exists(), reason="no local mirror of microsoft/vidur to compare the extract with")
def test_extract_matches_vidurs_medians_row_for_row():
    ext = G.load_vidur()
    for device in G.DEVICES:
        for model in G.MODELS:
            raw = _vidur_csv(device, model)
            mine = ext[(ext.device == device) & (ext.model == model)].reset_index(drop=True)
            assert len(mine) == len(raw)
            assert (mine.tp.to_numpy() == raw.num_tensor_parallel_workers.to_numpy()).all()
            assert (mine.num_tokens.to_numpy() == raw.num_tokens.to_numpy()).all()
            for i in (0, 7, 260, 500, len(raw) - 1):  # a few rows, spread over tp and token counts
                for op in G.OPS:
                    assert mine.loc[i, f"{op}_ms"] == pytest.approx(raw.loc[i, f"time_stats.{op}.median"], rel=1e-9)
            # and every value of every row, to the six significant digits the extract keeps
            for op in G.OPS:
                np.testing.assert_allclose(mine[f"{op}_ms"], raw[f"time_stats.{op}.median"], rtol=1e-5)


def test_the_licence_and_the_source_travel_with_the_data():
    lic = (DATA / "VIDUR_LICENSE").read_text()
    assert "MIT License" in lic and "Copyright (c) Microsoft Corporation." in lic
    assert G.VIDUR_COMMIT in lic and "mlp.csv" in lic
    assert G.VIDUR_COMMIT[:12] in G.SOURCE and "MIT" in G.SOURCE
    assert 'data/measurements/VIDUR_LICENSE' in (ROOT / "pyproject.toml").read_text()
    assert "agrawal2024vidur" in (ROOT / "references.bib").read_text()


def test_the_extract_covers_both_devices_models_and_tp_degrees():
    ext = G.load_vidur()
    assert set(ext.device) == {"a100", "h100"}
    assert set(ext.model) == set(G.MODELS)
    for _, g in ext.groupby(["device", "model"]):
        assert sorted(g.tp.unique()) == [1, 2, 4, 8]
        assert g.num_tokens.min() == 1 and g.num_tokens.max() == 4096
    assert (ext[[f"{op}_ms" for op in G.OPS]] > 0).all().all()


def test_fused_projections_are_the_shapes_vidur_times():
    """Hand arithmetic: Llama-2-70B at tp 8, 512 tokens, fp16 (2 bytes)."""
    t = G.op_table()
    r = t[(t.device == "h100") & (t.model == "llama-2-70b") & (t.tp == 8) & (t.num_tokens == 512)].set_index("op")
    M_, d, hd, I = 512, 8192, 128, 28672
    n_qkv = (64 + 2 * 8) * hd // 8  # fused q, k, v columns per device
    assert r.loc["attn_pre_proj", "flops"] == 2 * M_ * d * n_qkv
    assert r.loc["attn_pre_proj", "bytes"] == 2 * (M_ * d + d * n_qkv + M_ * n_qkv)
    assert r.loc["mlp_up_proj", "flops"] == 2 * M_ * d * (2 * I // 8)
    assert r.loc["mlp_up_proj", "bytes"] == 2 * (M_ * d + d * 2 * I // 8 + M_ * 2 * I // 8)
    assert r.loc["mlp_down_proj", "flops"] == 2 * M_ * (I // 8) * d
    assert r.loc["attn_post_proj", "bytes"] == 2 * (M_ * 64 * hd // 8 + 64 * hd // 8 * d + M_ * d)
    assert r.loc["add", "bytes"] == 2 * 3 * M_ * d
    assert r.loc["mlp_act", "bytes"] == 2 * (M_ * 2 * I // 8 + M_ * I // 8)
    hw = llmperf.get_hardware("h100-sxm")
    rt = r.loc["mlp_up_proj"]
    bound = max(rt.flops / hw.peak_for("fp16"), rt.bytes / hw.memory_bandwidth_bytes_per_s)
    assert rt.roofline_s == pytest.approx(bound)


def test_roofline_is_a_lower_bound_for_every_measured_matrix_product():
    """On the raw rows (duplicates not averaged): measured >= roofline at the fp16 peak and the catalog
    bandwidth, allowing one microsecond, the resolution Vidur records to. (Elementwise operators are not
    bounded this way: a residual add whose inputs were just written partly hits the L2 cache.)"""
    t = G.op_table()
    ext = G.load_vidur().assign(model=lambda e: e.model.map(G.MODELS))
    roof = t[t.kind == "matmul"][["device", "model", "tp", "num_tokens", "op", "roofline_s"]]
    long = ext.melt(id_vars=["device", "model", "tp", "num_tokens"], var_name="op", value_name="ms")
    long["op"] = long.op.str.removesuffix("_ms")
    m = long.merge(roof, on=["device", "model", "tp", "num_tokens", "op"])
    assert len(m) == 4 * len(ext)  # four products per layer, every raw row
    assert (m.ms * 1e-3 + RESOLUTION_S >= m.roofline_s).all()
    # and not by a hair: the closest product is still above its bound
    assert (m.ms * 1e-3 / m.roofline_s).min() > 1.0


def test_fitted_parameters_are_efficiencies_and_a_small_fixed_cost():
    params, _ = G.held_out()
    assert len(params) == 2
    for p in params.params:
        for c in CLASSES:
            assert 0 < p["efficiency"][c] <= 1
        assert p["efficiency"]["attention"] == 1.0  # not profiled here: left at the roofline
        assert 0 <= p["overhead_s"] < 20e-6
    for col in G.CLASS_NAMES.values():
        assert ((params[col] > 0) & (params[col] <= 1)).all()
    assert params.source.str.contains(G.VIDUR_COMMIT[:12]).all()


def test_held_out_layer_sums_meet_the_issue_target():
    """Fit on Llama-2-7B (tp 1), judge on Llama-2-70B at tp 1, 2, 4 and 8, per device: the median error of
    the layer sums within 10 %. The worst is reported, not hidden: it sits near the ridge."""
    _, e = G.held_out()
    held = e[e.held_out]
    assert len(held) == 8 and set(held["judged on"].str[:11]) == {"llama-2-70b"}
    assert set(held["fit on"]) == {"llama-2-7b, tp 1"}
    assert (held.median_error < 0.10).all(), held[["device", "judged on", "median_error"]]
    assert (held.worst_error < 0.5).all()
    assert (held.median_roofline_ratio > 1.2).all()  # the bound alone misses by far more
    assert (held.n == 259).all()
    assert e.source.str.contains("MIT").all()


def test_fit_recovers_known_parameters_from_synthetic_operators():
    t = G.op_table()
    rows = t[(t.device == "a100") & (t.model == "llama-2-7b") & (t.tp == 1)].copy()
    truth = {"efficiency": {"linear, memory-bound": 0.8, "linear, compute-bound": 0.7, "attention": 1.0,
                            "other": 0.5}, "overhead_s": 3e-6}
    rows["measured_s"] = G.predict(rows, truth)
    got = G.fit(rows)
    for c in CLASSES:
        assert got["efficiency"][c] == pytest.approx(truth["efficiency"][c], rel=1e-6)
    assert got["overhead_s"] == pytest.approx(3e-6, rel=1e-6)


def test_expected_times_reproduces_the_layer_sums_with_the_fitted_numbers():
    params, _ = G.held_out()
    t = G.op_table()
    for device, p in zip(params.device, params.params):
        sel = t[(t.device == device) & (t.model == "llama-2-70b") & (t.tp == 8)]
        sums = G.layer_sums(sel, p).set_index("num_tokens")
        for n in (1, 256, 4096):
            rows = sel[sel.num_tokens == n]
            assert len(rows) == len(G.OPS)
            assert G.expected_layer(rows, p) == pytest.approx(sums.loc[n, "expected_s"], rel=1e-12)


def test_summary_table_is_tidy():
    s = G.held_out_summary()
    assert list(s.columns[:3]) == ["Device", "Fit on", "Judged on"]
    assert set(s.Device) == {"a100-sxm-80gb", "h100-sxm"}
    assert len(s) == 8
