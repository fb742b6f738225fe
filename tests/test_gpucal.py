"""llmperf.gpucal: strength 1 on GPUs, fitted on Vidur's published profiles of one model and judged on six others.

The extract is checked against Vidur's own CSV (read from a local mirror of
microsoft/vidur when there is one), the profiled dimensions against the
catalog's configs of the same models, the operator mapping and the tile
quantization against hand arithmetic, the roofline against the raw
measurements (a lower bound for every matrix product), and the held-out error
against the issue's target (layer sums within 10 %, median over token counts).
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


def _pairs():
    ext = G.load_vidur()
    return sorted(set(zip(ext.device, ext.model)))


@pytest.mark.skipif(not MIRROR.exists(), reason="no local mirror of microsoft/vidur to compare the extract with")
def test_extract_matches_vidurs_medians_row_for_row():
    ext = G.load_vidur()
    for device, model in _pairs():
        raw = _vidur_csv(device, model)
        mine = ext[(ext.device == device) & (ext.model == model)].reset_index(drop=True)
        assert len(mine) == len(raw)
        assert (mine.tp.to_numpy() == raw.num_tensor_parallel_workers.to_numpy()).all()
        assert (mine.num_tokens.to_numpy() == raw.num_tokens.to_numpy()).all()
        for i in (0, 7, 260, 500, len(raw) - 1):  # a few rows, spread over tp and token counts
            for op in G.OPS:
                assert mine.loc[i, f"{op}_ms"] == pytest.approx(raw.loc[i, f"time_stats.{op}.median"], rel=1e-9)
        # and every value of every row
        for op in G.OPS:
            np.testing.assert_allclose(mine[f"{op}_ms"], raw[f"time_stats.{op}.median"], rtol=1e-9)
    # a (device, model) the extract lacks is one Vidur did not profile
    for device in G.DEVICES:
        for model in G.MODELS:
            if (device, model) not in _pairs():
                rel = f"data/profiling/compute/{device}/{model}/mlp.csv"
                r = subprocess.run(["git", "-C", str(MIRROR), "cat-file", "-e", f"{G.VIDUR_COMMIT}:{rel}"],
                                   capture_output=True)
                assert r.returncode != 0, rel


def test_the_licence_and_the_source_travel_with_the_data():
    lic = (DATA / "VIDUR_LICENSE").read_text()
    assert "MIT License" in lic and "Copyright (c) Microsoft Corporation." in lic
    assert G.VIDUR_COMMIT in lic and "mlp.csv" in lic
    assert G.VIDUR_COMMIT[:12] in G.SOURCE and "MIT" in G.SOURCE
    assert 'data/measurements/VIDUR_LICENSE' in (ROOT / "pyproject.toml").read_text()
    assert "data/measurements/*.csv.gz" in (ROOT / "pyproject.toml").read_text()
    assert "agrawal2024vidur" in (ROOT / "references.bib").read_text()


def test_the_extract_covers_both_devices_every_model_and_tp_degree():
    ext = G.load_vidur()
    assert set(ext.device) == {"a100", "h100"}
    assert set(ext[ext.device == "a100"].model) == set(G.MODELS)
    # Vidur has no Llama-3 profile on its H100s
    assert set(ext[ext.device == "h100"].model) == {m for m in G.MODELS if "Meta-Llama-3" not in m}
    for _, g in ext.groupby(["device", "model"]):
        assert sorted(g.tp.unique()) == [1, 2, 4, 8]
        assert g.num_tokens.min() == 1
        # 1 to 4,096 tokens; Vidur's Llama-3 grids go on to 32,768
        assert g.num_tokens.max() == (32768 if "Meta-Llama-3" in g.model.iloc[0] else 4096)
    assert (ext[[f"{op}_ms" for op in G.OPS]] > 0).all().all()


def test_vidurs_dimensions_equal_the_catalogs_configs_of_the_same_models():
    """The dimensions copied from Vidur's model_config.py, checked against the published config.json files in
    the catalog (Llama-3.1 has Llama-3's layer shapes)."""
    from llmperf.models import load_model

    pairs = {"meta-llama/Llama-2-7b-hf": "llama-2-7b", "meta-llama/Llama-2-70b-hf": "llama-2-70b",
             "meta-llama/Meta-Llama-3-8B": "llama-3.1-8b", "meta-llama/Meta-Llama-3-70B": "llama-3.1-70b"}
    for vid, cat in pairs.items():
        a, b = load_model(G.vidur_config(vid)), load_model(cat)
        for k in ("d_model", "d_ff", "n_heads", "n_kv_heads", "n_layers", "head_dim"):
            assert getattr(a, k) == getattr(b, k), (vid, k)
    q = load_model(G.vidur_config("Qwen/Qwen-72B"))
    assert q.qkv_bias and not q.o_bias and q.n_kv_heads == q.n_heads == 64
    assert set(G.LABELS) == set(G.MODELS)


def test_fused_projections_are_the_shapes_vidur_times():
    """Hand arithmetic: Llama-2-70B at tp 8, 512 tokens, fp16 (2 bytes)."""
    t = G.op_table()
    r = t[(t.device == "h100") & (t.model == "Llama-2-70B") & (t.tp == 8) & (t.num_tokens == 512)].set_index("op")
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


def test_qwen_bias_is_in_its_fused_projection():
    """Vidur's Qwen-72B layer adds a bias to q, k and v: one add per output element, and the bias read."""
    t = G.op_table()
    r = t[(t.device == "a100") & (t.model == "Qwen-72B") & (t.tp == 1) & (t.num_tokens == 64)].set_index("op")
    M_, d = 64, 8192
    n = 3 * d  # 64 q heads and 64 kv heads of 128
    assert r.loc["attn_pre_proj", "flops"] == 2 * M_ * d * n + M_ * n
    assert r.loc["attn_pre_proj", "bytes"] == 2 * (M_ * d + d * n + n + M_ * n)


def test_tile_quantization_pads_the_rows_of_a_product_only():
    t = G.op_table()
    rows = t[(t.device == "a100") & (t.model == "Llama-2-70B") & (t.tp == 1) & (t.num_tokens == 136)]
    plain, cls1 = G.tiled_roofline(rows, 1)
    np.testing.assert_allclose(plain, rows.roofline_s.to_numpy(), rtol=1e-12)
    tiled, cls = G.tiled_roofline(rows, 128)
    peak = llmperf.get_hardware("a100-sxm-80gb").peak_for("fp16")
    bw = llmperf.get_hardware("a100-sxm-80gb").memory_bandwidth_bytes_per_s
    for (_, r), x, c in zip(rows.iterrows(), tiled, cls):
        if r.kind == "matmul":  # 136 rows run as two tiles of 128: 256 rows of arithmetic, same bytes
            assert x == pytest.approx(max(r.flops * 256 / 136 / peak, r.bytes / bw), rel=1e-12)
            assert c in ("linear, compute-bound", "linear, memory-bound")
        else:
            assert x == pytest.approx(r.roofline_s, rel=1e-12) and c == "other"
    # a row count that fills its tiles is not padded
    full = t[(t.device == "a100") & (t.model == "Llama-2-70B") & (t.tp == 1) & (t.num_tokens == 256)]
    np.testing.assert_allclose(G.tiled_roofline(full, 128)[0], full.roofline_s.to_numpy(), rtol=1e-12)


def test_roofline_is_a_lower_bound_for_every_measured_matrix_product():
    """On the raw rows (duplicates not averaged): measured >= roofline at the fp16 peak and the catalog
    bandwidth, allowing one microsecond, the resolution Vidur records to. (Elementwise operators are not
    bounded this way: a residual add whose inputs were just written partly hits the L2 cache.)"""
    t = G.op_table()
    ext = G.load_vidur().assign(model=lambda e: e.model.map(G.LABELS))
    roof = t[t.kind == "matmul"][["device", "model", "tp", "num_tokens", "op", "roofline_s"]]
    long = ext.melt(id_vars=["device", "model", "tp", "num_tokens"], var_name="op", value_name="ms")
    long["op"] = long.op.str.removesuffix("_ms")
    m = long.merge(roof, on=["device", "model", "tp", "num_tokens", "op"])
    assert len(m) == 4 * len(ext)  # four products per layer, every raw row
    assert (m.ms * 1e-3 + RESOLUTION_S >= m.roofline_s).all()
    # and not by a hair: the closest product is still above its bound
    assert (m.ms * 1e-3 / m.roofline_s).min() > 1.0


def test_fitted_parameters_are_efficiencies_a_small_fixed_cost_and_a_tile():
    params, _ = G.held_out()
    assert len(params) == 2
    for p in params.params:
        for c in CLASSES:
            assert 0 < p["efficiency"][c] <= 1
        assert p["efficiency"]["attention"] == 1.0  # not profiled here: left at the roofline
        assert 0 <= p["overhead_s"] < 20e-6
        assert p["tile_tokens"] in G.TILES
    for col in G.CLASS_NAMES.values():
        assert ((params[col] > 0) & (params[col] <= 1)).all()
    assert params.source.str.contains(G.VIDUR_COMMIT[:12]).all()
    # the GEMM tile the data choose is a real one (the plain roofline, tile 1, fits worse)
    assert (params.tile_tokens >= 64).all()


def test_held_out_layer_sums_meet_the_issue_target():
    """Fit on Llama-2-7B, judge on the six other models at every tp, per device: the median error of the layer
    sums within 10 % for every judged model. The worst is reported, not hidden: it sits at the token counts
    where cuBLAS changes kernels."""
    _, s = G.held_out()
    assert set(s[~s.held_out].model) == {"Llama-2-7B"}
    assert "Llama-2-7B" not in set(s[s.held_out].model)
    h = G.held_out_summary()
    # six judged models on the A100, four on the H100 (Vidur has no Llama-3 profile there)
    assert len(h) == 6 + 4
    assert (h.layer_sums >= 4 * 259).all()
    assert (h.median_error < 0.10).all(), h[["device", "model", "median_error"]]
    assert (h.median_roofline_ratio > 1.2).all()  # the bound alone misses by far more
    by_device = G.held_out_summary(by=("device",)).set_index("device")
    assert (by_device.within_10pct > 0.75).all()
    assert (by_device.worst_error < 0.30).all()


def test_tile_quantization_is_what_brings_the_worst_case_down():
    """The same fit without tiles (the plain roofline) misses the worst layer sums by far more, on both devices."""
    tiled = G.held_out_summary(by=("device",)).set_index("device")
    plain = G.held_out_summary(tiles=(1,), by=("device",)).set_index("device")
    assert (tiled.worst_error < 0.7 * plain.worst_error).all()
    assert (tiled.within_10pct > plain.within_10pct).all()


def test_fit_recovers_known_parameters_from_synthetic_layers():
    """Synthetic measurements made by the model itself, at a known tile: the fit finds the tile and the numbers."""
    t = G.op_table()
    rows = t[(t.device == "a100") & (t.model == "Llama-2-7B")].copy()
    truth = {"efficiency": {"linear, memory-bound": 0.8, "linear, compute-bound": 0.7, "attention": 1.0,
                            "other": 0.5}, "overhead_s": 3e-6, "tile_tokens": 64}
    rows["measured_s"] = G.predict(rows, truth)
    got = G.fit(rows)
    assert got["tile_tokens"] == 64
    for c in CLASSES:
        assert got["efficiency"][c] == pytest.approx(truth["efficiency"][c], rel=1e-6)
    assert got["overhead_s"] == pytest.approx(3e-6, rel=1e-6)


def test_expected_times_reproduces_the_layer_sums_with_the_fitted_numbers():
    params, _ = G.held_out()
    t = G.op_table()
    for device, p in zip(params.device, params.params):
        sel = t[(t.device == device) & (t.model == "Llama-2-70B") & (t.tp == 8)]
        sums = G.layer_sums(sel, p).set_index("num_tokens")
        for n in (1, 136, 256, 4096):
            rows = sel[sel.num_tokens == n]
            assert len(rows) == len(G.OPS)
            assert G.expected_layer(rows, p) == pytest.approx(sums.loc[n, "expected_s"], rel=1e-12)


def test_summary_rows_name_device_and_model():
    s = G.held_out_summary()
    assert list(s.columns[:2]) == ["device", "model"]
    assert set(s.device) == set(G.DEVICES)
    assert set(s.model) <= set(G.LABELS.values())
