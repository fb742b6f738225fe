"""Tests of the edge chapter: llmperf/edge.py, its chart, explorer and exercise answers.

Expected values are derived here by hand from config.json and datasheet
constants (quoted beside them), from limiting cases and from monotonicity,
never copied from the module's output.
"""
from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest

import llmperf
from llmperf import edge
from llmperf.book import fmt
from llmperf.exercises import answer, check, labels, variant, variant_count, worked

GiB = 2 ** 30
NOTEBOOK = Path(__file__).resolve().parents[1] / "book" / "edge.ipynb"


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


def test_ceiling_table_flags_what_does_not_fit():
    t = edge.ceiling_table(models=("qwen2.5-0.5b", "llama-2-13b"), devices=["snapdragon-8-gen-3"],
                           weight_dtypes=("fp16",), usable_fraction=0.5).set_index("model")
    # Llama-2-13B fp16: 13.0 B params x 2 B = 26 GB of weights, more than half of 16 GiB
    assert not t.loc["llama-2-13b", "fits"]
    # Qwen2.5-0.5B fp16: about 1 GB
    assert t.loc["qwen2.5-0.5b", "fits"]


def test_largest_table_agrees_with_largest_fitting_and_dashes_when_nothing_fits():
    fits = edge.fits_table(devices=["tensor-g3", "raspberry-pi-5"], context=4096)
    t = edge.largest_table(fits)
    assert t.loc["tensor-g3", "int4"] == edge.largest_fitting("tensor-g3", "int4", context=4096)
    assert t.loc["raspberry-pi-5", "fp16"] == edge.largest_fitting("raspberry-pi-5", "fp16", context=4096)
    # 1 % of a Raspberry Pi's 8 GiB is 82 MiB: not even Qwen2.5-0.5B (about 1 GB in fp16) fits
    none = edge.largest_table(edge.fits_table(devices=["raspberry-pi-5"], usable_fraction=0.01))
    assert (none == "–").all().all()


def test_check_claim_reports_memory():
    r = edge.check_claim("llama-3.1-8b", "tensor-g3", 1.0, "fp16", context=1024)
    assert r["memory_bytes"] == 12 * GiB
    assert r["memory_needed_bytes"] > 8_030_261_248 * 2          # fp16 weights alone: 16.1 GB
    assert r["verdict"] == "does not fit in memory"


# --- chart and explorer ---------------------------------------------------------
def test_ceiling_chart_has_bound_params_and_marks_what_does_not_fit():
    from llmperf.charts.edge import ceiling_chart
    table = edge.ceiling_table(models=("qwen2.5-0.5b", "llama-2-13b"), devices=["apple-m2", "tensor-g3"])
    spec = ceiling_chart(table).to_dict()
    params = {p["name"]: p for p in spec["params"]}
    assert params["weights"]["bind"]["input"] == "select"
    assert params["efficiency"]["bind"]["input"] == "range"
    assert params["target"]["bind"]["input"] == "range"
    text = json.dumps(spec)
    assert '"shape": {"field": "fits"' in text
    rows = [r for v in spec["datasets"].values() for r in v]
    # Llama-2-13B fp16 (26 GB) on a 12 GiB phone: flagged
    bad = [r for r in rows if r.get("model") == "llama-2-13b" and r.get("weights") == "fp16"
           and r.get("device") == "tensor-g3"]
    assert bad and bad[0]["fits"] == "no"


def test_fits_chart_has_bound_params_and_small_data():
    from llmperf.charts.edge import fits_chart
    table = edge.fits_table(models=("qwen2.5-0.5b", "llama-3.1-8b"), devices=["apple-m2", "tensor-g3"])
    spec = fits_chart(table).to_dict()
    names = {p["name"]: p["bind"]["input"] for p in spec["params"]}
    assert names == {"fit_weights": "select", "usable": "range"}
    rows = sum(len(v) for v in spec["datasets"].values())
    assert rows == len(table)


def test_claim_explorer_reacts_and_flags_what_does_not_fit():
    from llmperf.widgets.edge import claim_explorer
    ex = claim_explorer(model="llama-3.1-8b", device="snapdragon-8-gen-3", weights="int4", tokens_per_s=5.0)
    assert ex.error is None
    assert ex.result.loc["verdict", "value"].startswith("plausible")
    assert ex.result.loc["fits in device memory", "value"].startswith("yes")
    ex.set(device="raspberry-pi-5", tokens_per_s=50.0)
    assert ex.result.loc["verdict", "value"].startswith("exceeds")
    ex.set(weights="fp16", device="tensor-g3")
    assert "does not fit" in ex.result.loc["verdict", "value"]
    # the flag comes first, with the numbers: 16 GB of fp16 weights against 12 GiB
    assert ex.result.index[0] == "fits in device memory"
    assert ex.result.iloc[0, 0].startswith("NO") and "12.0 GiB" in ex.result.iloc[0, 0]
    before = float(ex.result.loc["bytes read per token (GB)", "value"])
    ex.set(context=32768)
    assert float(ex.result.loc["bytes read per token (GB)", "value"]) > before


# --- exercises: the notebook states them, variants differ, solutions carry their numbers ----------
LABELS = [f"edge-ex{i}" for i in range(1, 15)]


def _cells():
    return json.loads(NOTEBOOK.read_text())["cells"]


def test_exercise_labels_registered():
    mine = [l for l in labels() if l.startswith("edge-")]
    assert sorted(mine) == sorted(LABELS)


def test_the_chapter_names_no_unseen_source_and_no_W_for_bytes():
    text = "\n".join("".join(c["source"]) for c in _cells() if c["cell_type"] == "markdown")
    text += "\n".join(worked(l).prompt + worked(l).solution for l in LABELS)
    assert not re.search(r"\bthe source\b|source text", text, re.I)
    assert "$W" not in text and "{W}" not in text


def test_no_exercise_answer_is_printed_before_it():
    """The prose and tables before the exercises do not show an exercise's numbers."""
    cells = _cells()
    first = next(k for k, c in enumerate(cells) if "{exercise-start}" in "".join(c["source"]))
    shown = []
    for c in cells[:first]:
        shown.append("".join(c["source"]))
        for o in c.get("outputs", []):
            d = o.get("data", {})
            shown.append("".join(o.get("text", "")) + "".join(d.get("text/plain", ""))
                         + "".join(d.get("application/papermill.record/text/plain", "")))
    shown = "\n".join(shown)
    # the specific configurations of the claim and prefill exercises do not appear before them
    assert "25 tokens/s" not in shown                                  # edge-ex10's claim
    assert "qwen2.5-3b" not in shown.split("## Prefill")[-1]          # edge-ex12 prefills Qwen2.5-3B
    # nor their numbers (at 4 significant figures, where a coincidence is unlikely)
    for label in LABELS:
        a = worked(label)
        for name, p in a.parts.items():
            if isinstance(p.value, float):
                assert f" {fmt(p.value, 'sig4')} " not in shown, (label, name)


@pytest.mark.parametrize("label", LABELS)
def test_variants_differ_and_check_against_themselves(label):
    n = variant_count(label)
    assert n >= 3
    seen = set()
    for seed in range(n):
        v = variant(label, seed)
        seen.add(v.prompt)
        assert check(label, v.answer, seed=seed, quiet=True)
    assert len(seen) == n                                             # every variant reads differently


@pytest.mark.parametrize("label", LABELS)
def test_solutions_contain_their_numbers(label):
    for seed in (None, 1, 2):
        w = worked(label, seed)
        text = w.solution.replace("{,}", ",")          # thousands separators inside math
        for name, p in w.parts.items():
            if isinstance(p.value, bool):
                continue
            if isinstance(p.value, str):
                assert p.value in text, (label, name)
            elif isinstance(p.value, (int, float)):
                assert fmt(p.value) in text, (label, seed, name, fmt(p.value))


def test_ex1_ridge_by_hand():
    assert answer("edge-ex1") == pytest.approx({"ridge": 1.2e12 / 48e9, "bound": "memory",
                                                "attainable": 15 * 48e9 / 1e12, "fraction": 48e9 / 1.2e12})
    from llmperf.exercises.edge import ridge_of_a_small_gpu
    w = ridge_of_a_small_gpu(peak_tflops=1.2, bandwidth_gbs=100, intensity=15)   # ridge 12: compute-bound
    assert w.parts["bound"].value == "compute"
    assert w.parts["attainable"].value == pytest.approx(1.2)
    assert check("edge-ex1", {"ridge": 25, "bound": "memory", "attainable": 0.72, "fraction": 0.04})
    assert not check("edge-ex1", {"ridge": 25, "bound": "compute", "attainable": 0.72, "fraction": 0.04})


def test_ex2_attention_share_by_hand():
    a = answer("edge-ex2")
    T, D = 1024, 2048
    proj, full, causal, mlp = 8 * T * D ** 2, 4 * T ** 2 * D, 2 * T * (T + 1) * D, 16 * T * D ** 2
    assert a["attention_full"] == pytest.approx((proj + full) / 1e9)
    assert a["attention_causal"] == pytest.approx((proj + causal) / 1e9)
    assert a["mlp"] == pytest.approx(mlp / 1e9)
    assert a["share_full"] == pytest.approx((proj + full) / (proj + full + mlp))   # 5/13 = 0.385
    assert a["share_full"] == pytest.approx(5 / 13)
    assert a["share_causal"] == pytest.approx((proj + causal) / (proj + causal + mlp))


def test_ex3_bandwidth_by_hand():
    a = answer("edge-ex3")
    p = 3_212_749_824                            # Llama-3.2-3B, tied: every parameter streamed, int8 = 1 B
    kv = 2 * 28 * 8 * 128 * 2 * 2049
    assert a["weights_gb"] == pytest.approx(p / 1e9)
    assert a["kv_gb"] == pytest.approx(kv / 1e9)
    assert a["sustained"] == pytest.approx(10 * (p + kv) / 1e9)
    assert a["peak"] == pytest.approx(10 * (p + kv) / 0.7 / 1e9)
    assert a["too_slow"] == 1                    # 49.3 GB/s: only the Raspberry Pi 5 (17.07 GB/s) has less


def test_ex4_flash_gain_is_one_plus_T_over_H_for_mha():
    a = answer("edge-ex4")
    assert a["prefill_fused"] / a["prefill_unfused"] == pytest.approx(1 + 2048 / 128, rel=1e-3)
    assert a["decode_fused"] == pytest.approx(32 / 32, rel=0.02)       # N / K for MHA
    assert a["prefill_unfused"] < 146.875 < a["prefill_fused"]      # Orin NX fp16 ridge: 15.04e12 / 102.4e9


def test_ex5_matmul_predictions():
    a = answer("edge-ex5")
    assert a["square_ms"] == pytest.approx(2 * 1024 ** 3 / 15.04e12 * 1e3)
    assert a["row_ms"] == pytest.approx(2 * (1024 + 1024 ** 3 + 1024 ** 2) / 102.4e9 * 1e3)
    assert a["column_ms"] == pytest.approx(a["row_ms"])
    r = 15.04e12 / 102.4e9      # knee: 4096 m / (2m + 4096) >= r  <=>  m >= 4096 r / (4096 - 2 r)
    assert a["knee"] == math.ceil(4096 * r / (4096 - 2 * r))


def test_ex6_by_hand():
    a = answer("edge-ex6")
    ps = 7_241_732_096 - 32000 * 4096            # Mistral-7B, untied: the input embedding is not streamed
    kv = 2 * 32 * 8 * 128 * 2 * 2049
    assert a["fp16_ms"] == pytest.approx((2 * ps + kv) / 50e9 * 1e3)
    assert a["int4_ms"] == pytest.approx((0.5 * ps + kv) / 50e9 * 1e3)
    assert a["int4_70_ms"] == pytest.approx(a["int4_ms"] / 0.7)
    assert a["int4_scaled_ms"] == pytest.approx((4.5 / 8 * ps + kv) / (0.7 * 50e9) * 1e3)
    assert a["fp16_fits"] is False               # 14.5 GB of fp16 weights in 8 GiB


def test_ex7_intensity_does_not_fall_and_fp16_70b_does_not_fit():
    a = answer("edge-ex7")
    assert 0.95 < a["small_intensity"] < 1.05 and 0.95 < a["large_intensity"] < 1.05
    assert a["large_intensity"] >= a["small_intensity"]
    assert a["large_fp16_fits"] is False and a["large_int4_fits"] is True     # 138 GB vs 34.5 GB in 57.6 GiB
    # int4 Llama-2-70B at 204.8 GB/s: at least (P - V D) / 2 bytes per step
    assert a["large_int4_ms"] > (68_976_648_192 - 32000 * 8192) * 0.5 / 204.8e9 * 1e3


def test_ex8_kv_heads():
    a = answer("edge-ex8")
    for k in (32, 8, 1):
        assert a[f"intensity_k{k}"] == pytest.approx(32 / k, rel=0.02)
    assert a["ms_k1"] < a["ms_k8"] < a["ms_k32"]
    # the KV bytes fall 4x from K = 32 to 8, the step time by less: the weights stay
    assert a["ms_k32"] / a["ms_k8"] < 4


def test_ex9_design_is_checked_against_speed_and_memory():
    w = worked("edge-ex9")
    accept = w.parts["design"].accept
    assert accept(w.answer["design"]) is None
    assert check("edge-ex9", w.answer)
    # Apple M2, int4: 0.7 x 100 GB/s / (7.50 G x 0.5 B + 131072 B x 4097) = 16.3 tokens/s >= 15, and it fits
    bpt = (8_030_261_248 - 128256 * 4096) * 0.5 + 131072 * 4097
    assert 0.7 * 100e9 / bpt > 15
    assert accept({"device": "apple-m2", "weight_dtype": "int4"}) is None
    # fp16 on the M2: 16 GB of weights in 8 GiB usable
    assert "does not fit" in accept({"device": "apple-m2", "weight_dtype": "fp16"})
    # the Snapdragon, int4: 0.7 x 76.8 / 4.29 GB = 12.5 tokens/s
    assert 0.7 * 76.8e9 / bpt < 15
    assert "too slow" in accept({"device": "snapdragon-8-gen-3", "weight_dtype": "int4"})
    assert accept({"device": "h100-sxm", "weight_dtype": "int4"}) is not None
    assert not check("edge-ex9", {"design": {"device": "raspberry-pi-5", "weight_dtype": "int4"}}, quiet=True)


def test_ex10_claim_by_hand():
    a = answer("edge-ex10")
    bpt = (8_030_261_248 - 128256 * 4096) * 0.5 + 131072 * 4097
    assert a["ceiling"] == pytest.approx(17.0672e9 / bpt, rel=1e-4)
    assert a["ratio"] == pytest.approx(25 * bpt / 17.0672e9, rel=1e-4)
    assert a["implied"] == pytest.approx(25 * bpt / 1e9)
    assert a["plausible"] is False


def test_ex11_achieved_bandwidth_by_hand():
    a = answer("edge-ex11")
    p = llmperf.load_model("qwen2.5-3b").params_total        # tied; L=36, K=2, H=128
    bpt = p * 4.5 / 8 + 2 * 36 * 2 * 128 * 2 * 513
    assert a["achieved"] == pytest.approx(30 * bpt / 1e9)
    assert a["fraction_max"] == pytest.approx(30 * bpt / 76.8e9, rel=1e-3)
    assert a["fraction_shipped"] == pytest.approx(30 * bpt / 68.3e9)


def test_ex12_prefill():
    a = answer("edge-ex12")
    assert a["bound"] == "compute"
    assert a["steps"] == pytest.approx(a["ttft_s"] / (a["decode_ms"] / 1e3))
    # at least 2 P' T / peak: Qwen2.5-3B without its (tied) embedding, V=151936, D=2048; Dimensity 9300: 4 TFLOP/s
    p = 3_085_938_688 - 151936 * 2048
    assert 2 * p * 1024 / 4e12 < a["ttft_s"] < 1.2 * 2 * p * 1024 / 4e12


def test_ex13_moe():
    a = answer("edge-ex13")
    assert a["moe_tokens_per_s"] / a["dense_tokens_per_s"] > 5      # 3.35 B active against 32.8 B
    assert a["moe_gib"] < 0.75 * 64 and a["dense_gib"] < 0.75 * 64
    assert a["moe_gib"] > 30.5e9 * 0.5 / GiB                        # all experts are stored


def test_ex14_speculative():
    a = answer("edge-ex14")
    ceiling = edge.bandwidth_ceiling("llama-3.1-8b", "apple-m2", 1024, "int4")
    assert a["tokens_per_s"] > ceiling > a["plain_tokens_per_s"]
    assert a["speedup"] == pytest.approx(a["tokens_per_s"] / a["plain_tokens_per_s"])
