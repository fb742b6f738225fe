"""Tests of the edge chapter: llmperf/edge.py, its chart, explorer and exercise answers.

Expected values are derived here by hand from config.json and datasheet
constants (quoted beside them), from limiting cases and from monotonicity,
never copied from the module's output.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

import llmperf
from llmperf import edge
from llmperf.exercises import answer, check, labels

GiB = 2 ** 30


# --- the catalog table --------------------------------------------------------
def test_device_table_covers_the_edge_catalog():
    t = edge.device_table()
    assert set(t.index) == set(llmperf.list_hardware("edge")["name"])
    assert set(t.index) == set(edge.FIGURE_BASIS)
    # Raspberry Pi 5: LPDDR4X-4267 x 32 bit = 17.07 GB/s; fp16 = 4 cores x 2.4 GHz x 32 FLOP/cycle
    rpi = t.loc["raspberry-pi-5"]
    assert rpi["Bandwidth (GB/s)"] == pytest.approx(4267e6 * 4 / 1e9, rel=1e-3)
    assert rpi["fp16 peak (TFLOP/s)"] == pytest.approx(4 * 2.4e9 * 32 / 1e12)
    assert rpi["Ridge fp16 (FLOP/B)"] == pytest.approx(307.2e9 / 17.0672e9, rel=1e-4)
    assert t.loc["apple-m2", "Memory (GiB)"] == 16


def test_figure_basis_agrees_with_catalog_notes():
    """'estimate' exactly where the catalog's notes say ESTIMATE; 'assumed' bandwidth where they say ASSUMED."""
    for name, (peak, bw) in edge.FIGURE_BASIS.items():
        notes = llmperf.get_hardware(name).notes
        assert (peak == "estimate") == ("ESTIMATE" in notes), name
        assert (bw == "assumed") == ("ASSUMED" in notes), name


# --- bytes per token and the ceiling ------------------------------------------
def test_streamed_params_untied_and_tied():
    # Llama-3.1-8B (untied): V=128256, D=4096; the input embedding is a lookup, not streamed
    m = llmperf.load_model("llama-3.1-8b")
    assert edge.streamed_weight_params(m) == m.params_total - 128256 * 4096
    # Llama-3.2-1B (tied): the one matrix is streamed as the lm_head
    t = llmperf.load_model("llama-3.2-1b")
    assert edge.streamed_weight_params(t) == t.params_total


def test_streamed_params_moe_uses_active():
    m = llmperf.load_model("qwen3-30b-a3b")
    assert edge.streamed_weight_params(m) == m.params_active - m.vocab_size * m.d_model
    assert edge.streamed_weight_params(m) < m.params_total / 5


def test_kv_bytes_by_hand():
    # Llama-3.1-8B: L=32, K=8, H=128, fp16: 2*32*8*128*2 = 131072 B per token, S+1 keys
    assert edge.kv_bytes_per_token("llama-3.1-8b", 1024) == 131072 * 1025
    # Mistral-7B: window 4096 caps the keys read
    assert edge.kv_bytes_per_token("mistral-7b", 10_000) == 131072 * 4096
    # vectorized over context
    v = edge.kv_bytes_per_token("llama-3.1-8b", np.array([0, 1023]))
    assert np.allclose(v, 131072 * np.array([1, 1024]))


def test_ceiling_by_hand_and_against_full_decode():
    # Qwen2.5-1.5B: 1,543,714,304 params (tied), int4 = 0.5 B/param; L=28, K=2, H=128
    params = llmperf.load_model("qwen2.5-1.5b").params_total
    kv = 2 * 28 * 2 * 128 * 2 * 1025
    by_hand = 76.8e9 / (params * 0.5 + kv)
    got = edge.bandwidth_ceiling("qwen2.5-1.5b", "snapdragon-8-gen-3", 1024, "int4")
    assert got == pytest.approx(by_hand, rel=1e-9)
    full = edge.decode_tokens_per_s("qwen2.5-1.5b", "snapdragon-8-gen-3", 1024, "int4")
    assert full < got and full > 0.98 * got       # activations add a little


def test_ceiling_limits_and_monotonicity():
    ctx = np.array([128, 1024, 8192, 65536])
    c = edge.bandwidth_ceiling("llama-3.2-3b", "apple-m2", ctx, "int4")
    assert np.all(np.diff(c) < 0)                    # more context, more KV read
    f16 = edge.bandwidth_ceiling("llama-3.2-3b", "apple-m2", 0, "fp16")
    i4 = edge.bandwidth_ceiling("llama-3.2-3b", "apple-m2", 0, "int4")
    assert 3.5 < i4 / f16 < 4.0                      # weights /4, one token of KV stays
    # efficiency scales linearly; bits_per_weight=4 equals int4
    assert edge.bandwidth_ceiling("llama-3.2-3b", "apple-m2", 512, "int4", memory_efficiency=0.5) == \
        pytest.approx(0.5 * edge.bandwidth_ceiling("llama-3.2-3b", "apple-m2", 512, "int4"))
    assert edge.bandwidth_ceiling("llama-3.2-3b", "apple-m2", 512, "fp16", bits_per_weight=4) == \
        pytest.approx(edge.bandwidth_ceiling("llama-3.2-3b", "apple-m2", 512, "int4"))


def test_ceiling_table_shape_and_gap():
    t = edge.ceiling_table(models=("qwen2.5-0.5b", "llama-3.1-8b"), devices=["apple-m2", "tensor-g3"])
    assert len(t) == 2 * 3 * 2
    assert (t["decode (tokens/s)"] <= t["ceiling (tokens/s)"]).all()
    assert (t["decode (tokens/s)"] > 0.95 * t["ceiling (tokens/s)"]).all()


# --- memory -------------------------------------------------------------------
def test_memory_needed_weights_by_hand():
    # Llama-3.1-8B int4: 8,030,261,248 params; norms (2*L*D + D = 266,240 params) also at 0.5 B
    m = edge.memory_needed("llama-3.1-8b", 4096, "int4")
    assert m["weights"] == pytest.approx(8_030_261_248 * 0.5)
    assert m["kv"] == 131072 * 4096
    assert m["total"] == pytest.approx(m["weights"] + m["kv"] + m["activations"])


def test_fits_table_follows_usable_fraction():
    small = edge.fits_table(models=("llama-3.1-8b",), devices=["snapdragon-8-gen-3"], weight_dtypes=("fp16",),
                            context=4096, usable_fraction=0.5)
    assert not small["fits"].item()                 # 16 GB of weights in 8 GiB: no
    whole = edge.fits_table(models=("llama-3.1-8b",), devices=["apple-m2-max"], weight_dtypes=("fp16",),
                            context=4096, usable_fraction=0.5)
    assert whole["fits"].item()                     # 32 GiB usable: yes
    # monotone in the fraction and in precision
    t = edge.fits_table(models=edge.EDGE_MODELS, devices=["tensor-g3"], context=4096, usable_fraction=0.5)
    n = t.groupby("weights")["fits"].sum()
    assert n["fp16"] <= n["int8"] <= n["int4"]
    t2 = edge.fits_table(models=edge.EDGE_MODELS, devices=["tensor-g3"], context=4096, usable_fraction=1.0)
    assert t2["fits"].sum() >= t["fits"].sum()


def test_fits_matrix_and_largest():
    mtx = edge.fits_matrix("int4", devices=["raspberry-pi-5", "apple-m2-max"])
    assert set(mtx.values.ravel()) <= {"yes", "no"}
    assert (mtx["apple-m2-max"] == "yes").all()
    # Raspberry Pi 5, 8 GiB, half usable = 4 GiB: a 7B int4 model (3.6 GB of weights + KV) does not fit
    assert mtx.loc["mistral-7b", "raspberry-pi-5"] == "no"
    assert edge.largest_fitting("apple-m2-max", "int4") == "llama-2-13b"


# --- claims -------------------------------------------------------------------
def test_check_claim_ratio_and_verdicts():
    r = edge.check_claim("llama-3.1-8b", "raspberry-pi-5", 25.0, "int4", context=1024)
    bpt = (8_030_261_248 - 128256 * 4096) * 0.5 + 131072 * 1025
    assert r["bytes_per_token"] == pytest.approx(bpt)
    assert r["ratio"] == pytest.approx(25.0 * bpt / 17.0672e9)
    assert r["implied_bandwidth_bytes_per_s"] == pytest.approx(25.0 * bpt)
    assert r["verdict"].startswith("exceeds")
    ceil = r["ceiling_tokens_per_s"]
    assert edge.check_claim("llama-3.1-8b", "raspberry-pi-5", 0.5 * ceil)["verdict"].startswith("plausible")
    assert edge.check_claim("llama-3.1-8b", "raspberry-pi-5", 0.9 * ceil)["verdict"].startswith("at the ceiling")
    # fp16 Llama-3.1-8B (16 GB) on a 12 GiB phone
    assert "does not fit" in edge.check_claim("llama-3.1-8b", "tensor-g3", 1.0, "fp16")["verdict"]


def test_claims_table():
    t = edge.claims_table([dict(model="qwen2.5-0.5b", device="apple-m2", tokens_per_s=10),
                           dict(model="qwen2.5-0.5b", device="apple-m2", tokens_per_s=10_000)])
    assert t["verdict"].iloc[0].startswith("plausible")
    assert t["verdict"].iloc[1].startswith("exceeds")
    ceil = edge.bandwidth_ceiling("qwen2.5-0.5b", "apple-m2", 1024, "int4")
    assert t["claim / ceiling"].tolist() == pytest.approx([10 / ceil, 10_000 / ceil])


# --- prefill and speculative decoding -----------------------------------------
def test_prefill_is_compute_bound_and_near_2PT_over_peak():
    t = edge.prefill_table("qwen2.5-1.5b", ["snapdragon-8-gen-3", "raspberry-pi-5"], 1024, "int4")
    assert (t["prefill bound"] == "compute").all()
    # 2 * P * T / peak, P without the (tied) embedding matrix: the lookup does no FLOP and the
    # lm_head runs for the last token only; attention adds FLOP on top. V=151936, D=1536
    P = llmperf.load_model("qwen2.5-1.5b").params_total - 151936 * 1536
    for dev, peak in (("snapdragon-8-gen-3", 5.55e12), ("raspberry-pi-5", 307.2e9)):
        approx = 2 * P * 1024 / peak
        assert approx < t.loc[dev, "prefill compute (s)"] < 1.2 * approx
    assert (t["decode steps = TTFT"] > 1).all()


def test_speculative_speedup_limits():
    base = edge.speculative_speedup("llama-3.1-8b", "apple-m2", 4, 1.0)
    # one token per pass, no draft: slightly slower than plain decoding (the pass feeds 5 tokens)
    assert 0.95 < base["speedup"] <= 1.0
    free = edge.speculative_speedup("llama-3.1-8b", "apple-m2", 4, 3.0)
    paid = edge.speculative_speedup("llama-3.1-8b", "apple-m2", 4, 3.0, draft_model="llama-3.2-1b")
    assert paid["tokens_per_s"] < free["tokens_per_s"]
    assert free["speedup"] == pytest.approx(3.0 / free["verify_over_decode"])
    assert 0 < paid["draft_share"] < 1


# --- chart and explorer ---------------------------------------------------------
def test_ceiling_chart_has_bound_params():
    from llmperf.charts.edge import ceiling_chart
    spec = ceiling_chart(edge.ceiling_table(models=("qwen2.5-0.5b", "llama-3.2-1b"),
                                            devices=["apple-m2", "tensor-g3"])).to_dict()
    params = {p["name"]: p for p in spec["params"]}
    assert params["weights"]["bind"]["input"] == "select"
    assert params["efficiency"]["bind"]["input"] == "range"
    assert params["target"]["bind"]["input"] == "range"


def test_fits_chart_has_bound_params_and_small_data():
    from llmperf.charts.edge import fits_chart
    table = edge.fits_table(models=("qwen2.5-0.5b", "llama-3.1-8b"), devices=["apple-m2", "tensor-g3"])
    spec = fits_chart(table).to_dict()
    names = {p["name"]: p["bind"]["input"] for p in spec["params"]}
    assert names == {"fit_weights": "select", "usable": "range"}
    rows = sum(len(v) for v in spec["datasets"].values())
    assert rows == len(table)


def test_claim_explorer_reacts():
    from llmperf.widgets.edge import claim_explorer
    ex = claim_explorer(model="llama-3.1-8b", device="snapdragon-8-gen-3", weights="int4", tokens_per_s=5.0)
    assert ex.error is None
    assert ex.result.loc["verdict", "value"].startswith("plausible")
    ex.set(device="raspberry-pi-5", tokens_per_s=50.0)
    assert ex.result.loc["verdict", "value"].startswith("exceeds")
    ex.set(weights="fp16", device="tensor-g3")
    assert "does not fit" in ex.result.loc["verdict", "value"]
    before = float(ex.result.loc["bytes read per token (GB)", "value"])
    ex.set(context=32768)
    assert float(ex.result.loc["bytes read per token (GB)", "value"]) > before


# --- exercises --------------------------------------------------------------------
def test_exercise_labels_registered():
    mine = [l for l in labels() if l.startswith("edge-")]
    assert mine == sorted(f"edge-ex{i}" for i in range(1, 15))


def test_ex1_ridge_by_hand():
    a = answer("edge-ex1")
    assert a["ridge_flop_per_byte"] == pytest.approx(1.2e12 / 48e9)
    assert a["bound"] == "memory"
    assert a["attainable_tflop_per_s"] == pytest.approx(15 * 48e9 / 1e12)
    assert a["decode_fraction_of_peak"] == pytest.approx(48e9 / 1.2e12)
    assert check("edge-ex1", {"ridge_flop_per_byte": 25, "bound": "memory", "attainable_tflop_per_s": 0.72,
                              "decode_fraction_of_peak": 0.04})


def test_ex2_attention_share_by_hand():
    a = answer("edge-ex2")
    T, D = 1024, 2048
    full_attn = 8 * T * D ** 2 + 4 * T ** 2 * D
    causal_attn = 8 * T * D ** 2 + 4 * (T * (T + 1) // 2) * D
    mlp = 16 * T * D ** 2
    assert a["full"]["share"] == pytest.approx(full_attn / (full_attn + mlp))
    assert a["causal"]["share"] == pytest.approx(causal_attn / (causal_attn + mlp))
    assert a["causal"]["share"] < a["full"]["share"]


def test_ex3_bandwidth_by_hand():
    a = answer("edge-ex3")
    p = llmperf.load_model("llama-3.2-3b").params_total        # tied, int8: 1 B each
    kv = 2 * 28 * 8 * 128 * 2 * 2049
    assert a["sustained_gb_per_s"] == pytest.approx(10 * (p + kv) / 1e9)
    assert a["devices_too_slow"] == ["raspberry-pi-5"]


def test_ex4_flash_gain_is_one_plus_T_over_H():
    a = answer("edge-ex4")
    assert a["prefill"]["gain"] == pytest.approx(1 + 2048 / 128)
    assert 1 < a["decode"]["gain"] < 1.05
    assert a["prefill"]["unfused"] < a["ridge_fp16"] < a["prefill"]["flash"]


def test_ex5_matmul_predictions():
    a = answer("edge-ex5")
    sq = a["square [1024,1024]x[1024,1024]"]
    assert sq["intensity"] == pytest.approx(1024 / 3)
    assert sq["time_ms"] == pytest.approx(2 * 1024 ** 3 / 15.04e12 * 1e3)
    row = a["row [1,1024]x[1024,1048576]"]
    assert row["time_ms"] == pytest.approx(2 * (1024 + 1024 ** 3 + 1024 ** 2) / 102.4e9 * 1e3)
    # knee: m * 4096 / (2m + 4096) >= ridge  <=>  m >= 4096 r / (4096 - 2 r)
    r = 15.04e12 / 102.4e9
    assert a["knee_m_for_4096x4096_weight"] == math.ceil(4096 * r / (4096 - 2 * r))


def test_ex6_to_ex8():
    a = answer("edge-ex6")
    assert a["fp16_ms"] > 100 > a["int4_ms"]
    assert a["int4_ms"] < a["int4_ms_at_70pct"] < a["int4_4p5bit_ms_at_70pct"]
    assert a["int4_ms_at_70pct"] == pytest.approx(a["int4_ms"] / 0.7, rel=0.01)
    assert not a["fp16_fits_half_of_16gib"]
    b = answer("edge-ex7")
    # batch-1 decode intensity does not fall with model size
    assert b["llama-2-70b fp16"]["intensity"] >= b["llama-2-7b fp16"]["intensity"] * 0.99
    assert not b["llama-2-70b fp16"]["fits"] and b["llama-2-70b int4"]["fits"]
    c = answer("edge-ex8")
    for k in (32, 8, 1):
        assert c[k]["attention_intensity"] == pytest.approx(32 / k, rel=0.02)
    assert c[1]["tpot_ms"] < c[8]["tpot_ms"] < c[32]["tpot_ms"]
    assert c[8]["kv_gb_per_step"] == pytest.approx(2 * 32 * 8 * 128 * 2 * 4097 / 1e9)


def test_ex9_to_ex14():
    assert answer("edge-ex9")["model"] in edge.EDGE_MODELS
    a10 = answer("edge-ex10")
    assert a10["ratio"] > 1
    assert 0.8 * edge.bandwidth_ceiling(a10["largest_plausible_model"], "raspberry-pi-5", 1024, "int4") >= 25
    a11 = answer("edge-ex11")
    p = llmperf.load_model("qwen2.5-3b").params_total        # tied; L=36, K=2, H=128
    bpt = p * 4.5 / 8 + 2 * 36 * 2 * 128 * 2 * 513
    assert a11["achieved_gb_per_s"] == pytest.approx(30 * bpt / 1e9)
    assert a11["fraction_of_68_3"] > a11["fraction_of_76_8"]
    assert answer("edge-ex12")["bound"] == "compute"
    a13 = answer("edge-ex13")
    assert a13["speed_ratio"] > 5                               # 3.35 B active of 30.5 B
    a14 = answer("edge-ex14")
    assert a14["tokens_per_s"] > a14["ceiling_tokens_per_s"] > a14["plain_tokens_per_s"]
