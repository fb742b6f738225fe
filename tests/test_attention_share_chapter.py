"""Tests of the attention-share chapter: llmperf.share, its charts, explorer and exercises.

Expected values are derived here by hand from the models' config.json sizes
(Llama-3.1-8B: D=4096, F=14336, N=32, K=8, H=128, L=32, SiLU-gated MLP, no
biases; Mistral-7B: the same layer with a 4096-token sliding window; Llama-2-7B:
D=4096, F=11008, N=K=32, H=128) and llmperf's documented per-element costs
(softmax 5, RoPE 3, SiLU 4, gating multiply 1 FLOP), never copied from the
module's output.
"""
from __future__ import annotations

import math
import re

import numpy as np
import pytest

import llmperf
from llmperf import share

D8, F8, N8, K8, H8, L8 = 4096, 14336, 32, 8, 128, 32
# Llama-3.1-8B per token and layer, by hand
PROJ8 = 2 * D8 * N8 * H8 + 2 * (2 * D8 * K8 * H8) + 2 * N8 * H8 * D8 + 3 * (N8 * H8 + K8 * H8)
MLP8 = 3 * 2 * D8 * F8 + (4 + 1) * F8
CORE8 = (4 * H8 + 5) * N8          # per key seen, all heads: QK 2H, SV 2H, softmax 5


# --- textbook formula -------------------------------------------------------------

def test_textbook_ratio_and_share_by_hand():
    assert share.textbook_ratio(2048, 4096) == pytest.approx(0.625)
    assert share.textbook_share(2048, 4096) == pytest.approx(5 / 13)      # 0.625 / 1.625
    assert share.textbook_core_share(2048, 4096) == pytest.approx(1 / 13)  # 2048 / (6*4096 + 2048)


def test_textbook_limits():
    D = 4096
    assert share.textbook_share(2 * D, D) == pytest.approx(0.5)          # ratio 1 at S = 2D
    assert share.textbook_core_share(4 * D, D) == pytest.approx(16 / 40)  # core = MLP = 16 D^2, proj 8 D^2
    assert share.textbook_share(0, D) == pytest.approx(1 / 3)              # 8 D^2 / 24 D^2
    S = np.array([1e3, 1e5, 1e7, 1e9])
    assert np.all(np.diff(share.textbook_share(S, D)) > 0)
    assert share.textbook_share(1e12, D) == pytest.approx(1.0, abs=1e-6)
    # a ratio is always larger than the share it implies
    assert np.all(share.textbook_ratio(S, D) > share.textbook_share(S, D))


def test_textbook_table_columns():
    t = share.textbook_table([2048, 8192], 4096)
    assert list(t.index) == [2048, 8192]
    assert t.loc[8192, "Attention share (%)"] == pytest.approx(50.0)
    assert t.loc[2048, "Attention / MLP ratio"] == pytest.approx(0.625)


def test_engine_textbook_model_matches_formula():
    """llmperf's counts for the textbook layer (full attention, matmuls only) are the formula."""
    tb = llmperf.textbook_model(4096, 32, 32)
    S = np.array([256, 2048, 16384, 65536])
    sh = share.shares(share.part_flops(tb, S, "prefill", matmul_only=True, attention_flops="full"))
    np.testing.assert_allclose(sh["attention_share"], (2 * 4096 + S) / (6 * 4096 + S), rtol=1e-12)
    np.testing.assert_allclose(sh["core_share"], S / (6 * 4096 + S), rtol=1e-12)
    np.testing.assert_allclose(sh["attention_to_mlp"], 0.5 + S / (4 * 4096), rtol=1e-12)


# --- exact counts ------------------------------------------------------------------

def test_layer_coefficients_llama31_by_hand():
    co = share.layer_coefficients("llama-3.1-8b")
    assert co["proj"] == PROJ8
    assert co["mlp"] == MLP8
    assert co["core_per_key"] == CORE8
    mo = share.layer_coefficients("llama-3.1-8b", matmul_only=True)
    assert mo["proj"] == 2 * D8 * (2 * N8 * H8 + 2 * K8 * H8)
    assert mo["mlp"] == 6 * D8 * F8
    assert mo["core_per_key"] == 4 * H8 * N8


def test_part_flops_decode_llama31_by_hand():
    S = np.array([0, 100, 4095, 32768])
    p = share.part_flops("llama-3.1-8b", S, "decode")
    np.testing.assert_allclose(p["core"], L8 * CORE8 * (S + 1))          # S cached keys + itself
    np.testing.assert_allclose(p["projections"] + p["rope"], L8 * PROJ8)
    np.testing.assert_allclose(p["mlp"], L8 * MLP8)
    np.testing.assert_allclose(p["lm_head"], 2 * D8 * 128256)


def test_part_flops_prefill_causal_pairs():
    S = np.array([1, 7, 1000, 8192])
    p = share.part_flops("llama-3.1-8b", S, "prefill")
    np.testing.assert_allclose(p["core"], L8 * CORE8 * S * (S + 1) / 2)
    full = share.part_flops("llama-3.1-8b", S, "prefill", attention_flops="full")
    np.testing.assert_allclose(full["core"] / p["core"], 2 * S / (S + 1))
    np.testing.assert_allclose(full["mlp"], p["mlp"])


def test_flop_parts_do_not_depend_on_flash_or_batch():
    S = np.array([512, 4096])
    a = share.part_flops("llama-3.1-8b", S, "decode", batch=1)
    b = share.part_flops("llama-3.1-8b", S, "decode", batch=16)
    for k in share.PARTS:
        np.testing.assert_allclose(b[k], 16 * a[k])
    on = llmperf.build_ops(llmperf.load_model("llama-3.1-8b"), 1, 1, S, phase="decode")
    total_on = on.total("flops")
    np.testing.assert_allclose(sum(a.values()), total_on)


def test_every_operator_in_exactly_one_part():
    for name in ("llama-3.1-8b", "qwen3-30b-a3b", "phi-3-mini", "qwen2.5-7b"):
        for flash in (True, False):
            conv = llmperf.Conventions(flash_attention=flash)
            ops = llmperf.build_ops(llmperf.load_model(name), 1, 16, 0, conventions=conv)
            masks = share.part_masks(ops)
            count = sum(m.astype(int) for m in masks.values())
            assert np.all(count == 1)


def test_gqa_shrinks_projections_only():
    gqa = llmperf.load_model("llama-3.1-8b")
    mha = gqa.replace(n_kv_heads=32)
    S = np.array([4096])
    pg, pm = share.part_flops(gqa, S, "prefill"), share.part_flops(mha, S, "prefill")
    # k_proj and v_proj grow from K H to N H outputs (2 FLOP per weight), RoPE on keys 3 per element
    extra = L8 * 4096 * (2 * 2 * D8 * (32 - 8) * H8 + 3 * (32 - 8) * H8)
    np.testing.assert_allclose(pm["projections"] + pm["rope"] - pg["projections"] - pg["rope"], extra)
    np.testing.assert_allclose(pm["core"], pg["core"])
    assert share.shares(pm)["attention_share"][0] > share.shares(pg)["attention_share"][0]


def test_share_grows_with_context_and_decode_exceeds_prefill():
    S = 2.0 ** np.arange(8, 18)
    for name in ("llama-2-7b", "llama-3.1-8b", "qwen3-30b-a3b"):
        pf = share.share_vs_context(name, S, "prefill")["attention_share"].to_numpy()
        dc = share.share_vs_context(name, S, "decode")["attention_share"].to_numpy()
        assert np.all(np.diff(pf) > 0) and np.all(np.diff(dc) > 0)
        assert np.all(dc > pf)


def test_window_freezes_share():
    S = np.array([4095, 8192, 100_000])
    dc = share.share_vs_context("mistral-7b", S, "decode")["attention_share"].to_numpy()
    np.testing.assert_allclose(dc, dc[0])                            # min(S+1, 4096) = 4096 keys
    p = share.part_flops("mistral-7b", S, "decode")
    np.testing.assert_allclose(p["core"], L8 * CORE8 * 4096)
    # below the window Mistral is Llama-3.1-8B
    a = share.share_vs_context("mistral-7b", [1000], "prefill")["attention_share"].iloc[0]
    b = share.share_vs_context("llama-3.1-8b", [1000], "prefill")["attention_share"].iloc[0]
    assert a == pytest.approx(b)


# --- crossovers --------------------------------------------------------------------

def test_crossover_closed_forms_llama31_by_hand():
    assert share.crossover_context("llama-3.1-8b", "decode", "core") == pytest.approx(MLP8 / CORE8 - 1)
    assert share.crossover_context("llama-3.1-8b", "prefill", "core") == pytest.approx(2 * MLP8 / CORE8 - 1)
    assert share.crossover_context("llama-3.1-8b", "decode", "attention") == pytest.approx(
        (MLP8 - PROJ8) / CORE8 - 1)
    assert share.crossover_context("llama-3.1-8b", "prefill", "core", attention_flops="full") == pytest.approx(
        MLP8 / CORE8)
    assert share.crossover_context("llama-3.1-8b", "decode", "core", decode_kv="exclusive") == pytest.approx(
        MLP8 / CORE8)
    # matmul-only rule of thumb for NH = D: 1.5 F in decode, 3 F in prefill (minus one)
    assert share.crossover_context("llama-3.1-8b", "decode", "core", matmul_only=True) == pytest.approx(
        1.5 * F8 - 1)
    assert share.crossover_context("llama-3.1-8b", "prefill", "core", matmul_only=True) == pytest.approx(
        3 * F8 - 1)


@pytest.mark.parametrize("name", ["llama-2-7b", "llama-3.1-8b", "gemma-7b", "qwen2.5-7b", "qwen3-30b-a3b",
                                  "mistral-7b", "phi-3-mini"])
def test_crossover_numeric_matches_closed_form(name):
    for phase in ("prefill", "decode"):
        for what in ("core", "attention"):
            cf = share.crossover_context(name, phase, what)
            num = share.crossover_numeric(name, phase, what)
            if math.isinf(cf):
                assert math.isinf(num)
            else:
                assert num == math.ceil(cf - 1e-9)


def test_windowed_prefill_crossover_against_brute_force():
    """A window shorter than the unwindowed crossover: check against an explicit pair count."""
    base = llmperf.load_model("qwen3-30b-a3b")
    W = 8192
    m = base.replace(windows=(W,) * base.n_layers)
    co = share.layer_coefficients(m)
    cf = share.crossover_context(m, "prefill", "core")
    assert cf > W
    S = np.arange(1, 40_000)
    pairs = np.cumsum(np.minimum(S, W))                               # query j sees min(j, W) keys
    first = int(S[np.argmax(co["core_per_key"] * pairs >= co["mlp"] * S)])
    assert first == math.ceil(cf)
    assert share.crossover_numeric(m, "prefill", "core") == first


def test_window_prevents_crossover():
    assert math.isinf(share.crossover_context("mistral-7b", "decode", "core"))
    assert math.isinf(share.crossover_numeric("mistral-7b", "decode", "core", hi=2 ** 20))


def test_crossover_table_shape():
    t = share.crossover_table(["llama-3.1-8b", "mistral-7b"])
    assert t.loc["llama-3.1-8b", "decode core S* (llmperf)"] == math.ceil(MLP8 / CORE8 - 1)
    assert t.loc["mistral-7b", "window"] == "4096"


# --- time against FLOP -------------------------------------------------------------

def test_core_intensity_is_group_size_in_decode():
    df = share.time_vs_flop_share("llama-3.1-8b", "h100-sxm", [1, 64], [32768])
    # per key: 16544 FLOP over one K row and one V row of K*H bf16 values
    assert df["core_intensity"].iloc[0] == pytest.approx(CORE8 / (2 * K8 * H8 * 2), rel=0.01)
    mha = share.time_vs_flop_share("llama-2-7b", "h100-sxm", 1, 32768).iloc[0]
    assert mha["core_intensity"] == pytest.approx((4 * 128 + 5) * 32 / (2 * 32 * 128 * 2), rel=0.01)


def test_time_share_against_flop_share():
    df = share.time_vs_flop_share("llama-3.1-8b", "h100-sxm", 2 ** np.arange(0, 10), [4096, 32768])
    for _, g in df.groupby("context"):
        np.testing.assert_allclose(g["core_flop_share"], g["core_flop_share"].iloc[0])  # FLOP share flat in B
        assert np.all(np.diff(g["core_time_share"].to_numpy()) > 0)
        b1 = g[g.batch == 1].iloc[0]
        assert b1.core_time_share < b1.core_flop_share     # GQA core cheaper per FLOP than weights at B = 1
        big = g[g.batch >= 16]
        assert np.all(big.core_time_share > big.core_flop_share)


def test_share_over_generation():
    g = share.share_over_generation("llama-3.1-8b", "h100-sxm", prompt_len=512, gen_len=257, every=64)
    assert list(g["step"]) == [0, 64, 128, 192, 255]
    np.testing.assert_array_equal(g["context"], 512 + g["step"])
    assert np.all(np.diff(g["attention_flop_share"]) > 0)
    first = share.share_vs_context("llama-3.1-8b", [512], "decode")["attention_share"].iloc[0]
    assert g["attention_flop_share"].iloc[0] == pytest.approx(first)


def test_breakdown_sums_to_whole_step():
    bd = share.breakdown("llama-3.1-8b", "h100-sxm", "decode", 4, 8192)
    assert bd["FLOP share (%)"].sum() == pytest.approx(100)
    assert bd["Time share (%)"].sum() == pytest.approx(100)
    r = llmperf.decode_step("llama-3.1-8b", "h100-sxm", 4, 8192)
    assert bd["GFLOP"].sum() * 1e9 == pytest.approx(float(r.flops))
    assert bd["Time (µs)"].sum() * 1e-6 == pytest.approx(float(r.time_s))


def test_variant_ladder_endpoints():
    lad = share.variant_ladder(4096)
    assert lad["Attention share (%)"].iloc[0] == pytest.approx(100 * (2 * 4096 + 4096) / (6 * 4096 + 4096))
    real = share.share_vs_context("llama-3.1-8b", [4096], "prefill")["attention_share"].iloc[0]
    assert lad["Attention share (%)"].iloc[-1] == pytest.approx(100 * real)


# --- charts, explorer, exercises ---------------------------------------------------

def _params(spec):
    return {p["name"]: p for p in spec.get("params", [])}


def test_share_chart_spec():
    from llmperf.charts.attention import share_vs_context_chart
    data = share.chart_data(["llama-3.1-8b", "mistral-7b"], np.arange(8, 17.01, 0.5))
    assert len(data) == 2 * 19 * 2 * 2
    assert set(data["definition"]) == {"attention (projections + core)", "core only"}
    spec = share_vs_context_chart(data).to_dict()
    ps = _params(spec)
    assert ps["phase"]["bind"]["input"] == "select"
    assert ps["definition"]["bind"]["input"] == "select"
    assert ps["log2_context"]["bind"]["input"] == "range"
    assert ps["log2_context"]["value"] in set(data["log2_context"])


def test_time_chart_spec():
    from llmperf.charts.attention import time_vs_flop_chart
    df = share.time_vs_flop_share("llama-3.1-8b", "h100-sxm", [1, 8, 64], [1024, 4096])
    df["log2_context"] = np.log2(df["context"])
    spec = time_vs_flop_chart(df, title="t").to_dict()
    slider = _params(spec)["log2_context_t"]
    assert slider["bind"]["input"] == "range" and slider["bind"]["step"] == 2


def test_time_share_table_flags_what_does_not_fit():
    t = share.time_share_table("llama-3.1-8b", "h100-sxm", [1, 16, 64], [4096, 32768])
    assert t.columns.name == "B" and list(t.columns) == [1, 16, 64]
    fits = t.xs("Fits in memory", level=1)
    # by hand: 80 GiB minus 2 bytes x 8,030,261,248 weights, over 2 L K H x 2 bytes x (S + 1) per sequence
    for S in (4096, 32768):
        max_b = (80 * 2 ** 30 - 2 * 8_030_261_248) // (2 * L8 * K8 * H8 * 2 * (S + 1))
        assert list(fits.loc[S]) == ["yes" if b <= max_b else "no" for b in (1, 16, 64)]
    assert list(fits.loc[32768]) == ["yes", "yes", "no"]          # 64 x 4.3 GB of cache > 80 GiB
    assert t.loc[(4096, "Core FLOP share (%)"), 1] == t.loc[(4096, "Core FLOP share (%)"), 64]


def test_explorer_reacts_and_flags_memory():
    from llmperf.widgets.attention import share_explorer
    ex = share_explorer()
    core = share.PART_LABELS["core"]
    first = float(ex.result.table.loc[core, "GFLOP"].replace(",", ""))
    assert ex.result.fits and ex.result.note.startswith("Fits")
    ex.set(context=32768)
    assert ex.error is None
    assert float(ex.result.table.loc[core, "GFLOP"].replace(",", "")) > first
    ex.set(batch=64)                     # 64 caches of 32,769 tokens: 275 GB, more than 80 GiB
    assert not ex.result.fits and "DOES NOT FIT" in ex.result.note and "DOES NOT FIT" in ex.result._repr_html_()
    ex.set(phase="prefill", context=1024, batch=2)
    mlp = float(ex.result.table.loc[share.PART_LABELS["mlp"], "GFLOP"].replace(",", ""))
    assert mlp == pytest.approx(2 * 1024 * L8 * MLP8 / 1e9, rel=2e-3)        # shown at 3 significant figures


# --- exercises: answers derived by hand ------------------------------------------------

def _w(label, **kw):
    from llmperf.exercises import _fn
    return _fn(label)(**kw)


def test_ex1_textbook_by_hand():
    a = _w("share-ex1").parts
    assert a["ratio"].value == pytest.approx(0.5 + 12288 / (4 * 8192))
    assert a["share"].value == pytest.approx(100 * 0.875 / 1.875)
    assert a["S75"].value == 81920 and a["S75"].rel == 0
    # the 75 % context is 10 D for every width
    assert _w("share-ex1", D=3072, S=3072).parts["S75"].value == 30720


def test_ex2_crossover_by_hand():
    # Llama-2-13B: D=5120, F=13824, N=K=40, H=128, SiLU-gated, no biases
    m = 6 * 5120 * 13824 + 5 * 13824
    c = (4 * 128 + 5) * 40
    a = _w("share-ex2", model="llama-2-13b").parts
    assert a["decode"].value == math.ceil(m / c - 1)
    assert a["prefill"].value == math.ceil(2 * m / c - 1)


def test_ex3_gqa_by_hand():
    T = 6000
    core = CORE8 * (T + 1) / 2
    proj_mha = 2 * D8 * 4 * N8 * H8 + 3 * (2 * N8 * H8)
    a = _w("share-ex3").parts
    assert a["gqa"].value == pytest.approx(100 * (PROJ8 + core) / (PROJ8 + core + MLP8))
    assert a["mha"].value == pytest.approx(100 * (proj_mha + core) / (proj_mha + core + MLP8))


def test_ex4_generation_by_hand():
    # Qwen2.5-14B: D=5120, F=13824, N=40, K=8, H=128, bias on q, k, v
    D, F, N, K, H = 5120, 13824, 40, 8, 128
    p = (2 * D + 1) * (N * H + 2 * K * H) + 2 * N * H * D + 3 * (N * H + K * H)
    m, c = 6 * D * F + 5 * F, (4 * H + 5) * N
    a = _w("share-ex4").parts
    for part, S in (("first", 1024), ("last", 1024 + 32768 - 2)):
        assert a[part].value == pytest.approx(100 * (p + c * (S + 1)) / (p + c * (S + 1) + m))


def test_ex5_causal_by_hand():
    T = 6000
    a = _w("share-ex5").parts
    assert a["pairs_full"].value == 36_000_000 and a["pairs_causal"].value == 18_003_000
    full, causal = CORE8 * T, CORE8 * (T + 1) / 2
    assert a["share_full"].value == pytest.approx(100 * (PROJ8 + full) / (PROJ8 + full + MLP8))
    assert a["share_causal"].value == pytest.approx(100 * (PROJ8 + causal) / (PROJ8 + causal + MLP8))
    assert "1.999667" in _w("share-ex5").solution          # 2T/(T+1) = 12000/6001, not 2


def test_ex6_flags_a_workload_that_does_not_fit():
    w = _w("share-ex6")                  # L40S (48 GiB), B = 16, S = 24,000
    a = w.parts
    core = CORE8 * 24001
    assert a["flop_share"].value == pytest.approx(100 * core / (PROJ8 + core + MLP8))
    assert a["time_share"].value > a["flop_share"].value          # B = 16 > N/K = 4
    assert a["fits"].value is False
    assert a["max_batch"].value == (48 * 2 ** 30 - 2 * 8_030_261_248) // (131072 * 24001) == 11
    assert "does not fit" in w.solution
    ok = _w("share-ex6", device="h200", batch=2, context=8192)
    assert ok.parts["fits"].value is True and ok.parts["time_share"].value < ok.parts["flop_share"].value


def test_ex7_design_validator():
    from llmperf.exercises import check
    w = _w("share-ex7")                  # Llama-3.1-8B, at most 40 %, window >= 1024, S = 131,072
    t = 0.40
    best = math.floor((t * MLP8 - (1 - t) * PROJ8) / ((1 - t) * CORE8))
    assert w.parts["window"].value == best
    assert check("share-ex7", {"window": best}, quiet=True)
    assert check("share-ex7", {"window": 2048}, quiet=True)                # any window in range is a design
    too_long = check("share-ex7", {"window": best + 64}, quiet=True)
    assert not too_long and "above" in too_long.hint
    too_short = check("share-ex7", {"window": 512}, quiet=True)
    assert not too_short and "shorter" in too_short.hint
    assert not check("share-ex7", {"window": "wide"}, quiet=True)


LABELS = [f"share-ex{i}" for i in range(1, 8)]


# --- the notebook's exercise cells ----------------------------------------------------------

def _cells():
    import json
    from pathlib import Path
    nb = json.loads((Path(__file__).resolve().parents[1] / "book" / "attention_share.ipynb").read_text())
    return nb["cells"]


def test_notebook_uses_the_books_notation():
    text = "\n".join("".join(c["source"]) for c in _cells() if c["cell_type"] == "markdown")
    assert "\\omega" in text
    assert not re.search(r"\$W\s*=\s*4096", text) and "window $W$" not in text and "$W$ tokens" not in text


def test_crossover_summary():
    t = share.crossover_summary(["llama-3.1-8b", "mistral-7b"])
    assert t.loc["llama-3.1-8b", "decode: core = MLP at S"] == f"{math.ceil(MLP8 / CORE8 - 1):,}"
    assert t.loc["mistral-7b", "prefill: core = MLP at S"] == "never"
    assert t["closed forms agree"].all()
