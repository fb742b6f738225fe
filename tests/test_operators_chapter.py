"""Tests of the chapter "Operator Tables": llmperf/tables.py, its chart, explorer and exercises.

Expected values are derived here by hand from config.json sizes and datasheet
constants (written out below), or are limiting cases and monotonicity; none is
copied from the module's own output.
"""
import math

import numpy as np
import pytest

import llmperf
from llmperf import tables
from llmperf.exercises import answer

# config.json sizes (Hugging Face), written out for hand arithmetic
LLAMA2_7B = dict(L=32, D=4096, F=11008, N=32, K=32, H=128, V=32000)
LLAMA2_70B = dict(L=80, D=8192, F=28672, N=64, K=8, H=128, V=32000)
QWEN25_7B = dict(L=28, D=3584, F=18944, N=28, K=4, H=128, V=152064)
QWEN25_15B = dict(L=28, D=1536, F=8960, N=12, K=2, H=128, V=151936)
H100_BF16, H100_BW = 989.4e12, 3.35e12          # NVIDIA H100 SXM datasheet: dense bf16, HBM3
BF16 = 2


def hand_params(c, qkv_bias=False, tied=False):
    L, D, F, N, K, H, V = (c[k] for k in "LDFNKHV")
    layer = D * N * H + 2 * D * K * H + N * H * D + 3 * D * F + 2 * D + ((N + 2 * K) * H if qkv_bias else 0)
    return V * D + L * layer + D + (0 if tied else V * D)


# --- parameters -------------------------------------------------------------------

def test_model_facts_match_hand_counts_and_published():
    f = tables.model_facts()
    assert list(f.index) == list(tables.SEED_MODELS)
    assert f.loc["llama-2-7b", "Parameters"] == hand_params(LLAMA2_7B) == 6_738_415_616   # HF model card
    assert f.loc["llama-2-70b", "Parameters"] == hand_params(LLAMA2_70B) == 68_976_648_192
    assert f.loc["qwen2.5-7b", "Parameters"] == hand_params(QWEN25_7B, qkv_bias=True)
    assert f.loc["qwen2.5-1.5b", "Parameters"] == hand_params(QWEN25_15B, qkv_bias=True, tied=True)
    assert f.loc["llama-2-7b", "Attention"] == "MHA" and f.loc["llama-2-70b", "Attention"] == "GQA-8"
    assert (f["N·H"] == f["D"]).all()


@pytest.mark.parametrize("name", llmperf.model_names())
def test_operator_parameters_sum_to_model_total(name):
    m = llmperf.load_model(name)
    ops = llmperf.prefill_step(m, "h100-sxm", 1, 16).ops
    assert int((tables.op_parameters(m, ops) * ops.repeats).sum()) == m.params_total


def test_operator_parameters_by_hand():
    t = tables.operator_table("qwen2.5-7b", phase="decode")
    D, N, K, H, F, V = (QWEN25_7B[k] for k in "DNKHFV")
    assert t.loc["q_proj", "Parameters"] == D * N * H + N * H
    assert t.loc["k_proj", "Parameters"] == D * K * H + K * H
    assert t.loc["o_proj", "Parameters"] == N * H * D
    assert t.loc["down_proj", "Parameters"] == F * D
    assert t.loc["embedding", "Parameters"] == t.loc["lm_head", "Parameters"] == V * D
    assert t.loc["rope", "Parameters"] == 0
    tied = tables.operator_table("qwen2.5-1.5b", phase="decode")
    assert tied.loc["lm_head", "Parameters"] == 0       # shared with the embedding, counted there


def test_parameter_breakdown_rows_add_up():
    b = tables.parameter_breakdown()
    assert (b["Sum of operators"] == b["Model total"]).all()
    parts = b[["Embedding (B)", "Attention (B)", "MLP (B)", "Norms (B)", "lm_head (B)"]].sum(axis=1)
    assert np.allclose(parts * 1e9, b["Model total"], rtol=1e-12)
    c = LLAMA2_70B
    assert b.loc["llama-2-70b", "MLP (B)"] * 1e9 == pytest.approx(c["L"] * 3 * c["D"] * c["F"])


# --- one step ------------------------------------------------------------------------

def test_prefill_q_proj_flop_and_intensity_by_hand():
    t = tables.operator_table("qwen2.5-7b", "h100-sxm", "prefill", batch=1, prompt_len=1024)
    D, N, K, H = (QWEN25_7B[k] for k in "DNKH")
    T = 1024
    assert t.loc["q_proj", "MFLOP"] * 1e6 == pytest.approx((2 * D + 1) * T * N * H, rel=1e-12)
    flops = (2 * D + 1) * T * K * H
    byts = BF16 * ((D + 1) * K * H + T * D + T * K * H)      # weights + bias, input, output
    assert t.loc["k_proj", "Intensity (FLOP/B)"] == pytest.approx(flops / byts, rel=1e-12)
    assert t.loc["gate_proj", "Bound"] == "compute" and t.loc["input norm", "Bound"] == "memory"
    assert t["Share (%)"].sum() == pytest.approx(100)
    assert t.loc["q_proj", "Repeats"] == QWEN25_7B["L"] and t.loc["lm_head", "Repeats"] == 1
    assert t.loc["q_proj", "Shape"] == f"bf16[{T}, {D}] x bf16[{D}, {N * H}]"


def test_prefill_time_is_roofline_of_each_op():
    t = tables.operator_table("llama-2-7b", "h100-sxm", "prefill")
    D, N, H = (LLAMA2_7B[k] for k in "DNH")
    flops, byts = 2 * 1024 * D * N * H, BF16 * (D * N * H + 2 * 1024 * D)
    assert t.loc["q_proj", "Time (µs)"] * 1e-6 == pytest.approx(max(flops / H100_BF16, byts / H100_BW), rel=1e-12)


@pytest.mark.parametrize("name", tables.SEED_MODELS)
def test_decode_step_is_memory_bound_with_unit_matmul_intensity(name):
    t = tables.operator_table(name, "h100-sxm", "decode", batch=1, prompt_len=1024)
    assert (t["Bound"] == "memory").all()
    mm = t.loc[["q_proj", "k_proj", "o_proj", "gate_proj", "down_proj"], "Intensity (FLOP/B)"]
    assert ((mm > 0.95) & (mm <= 1.0)).all()     # 2 FLOP per 2-byte weight, minus activation bytes


def test_decode_attention_attends_cache_plus_one():
    t = tables.operator_table("llama-2-7b", phase="decode", prompt_len=1024)
    assert "1025" in t.loc["attention (fused)", "Shape"]
    L, K, H = (LLAMA2_7B[k] for k in "LKH")
    assert t.loc["attention (fused)", "KV read (MB)"] * 1e6 == pytest.approx(2 * 1025 * K * H * BF16)


def test_step_totals_prefill_against_decode():
    s = tables.step_totals("llama-2-7b")
    L, D, F, N, H, V = (LLAMA2_7B[k] for k in "LDFNHV")
    P = hand_params(LLAMA2_7B)
    # decode reads every weight once, except the embedding table (one row)
    assert s.loc["decode", "Weights read (GB)"] * 1e9 == pytest.approx(BF16 * (P - V * D + D), rel=1e-12)
    assert s.loc["prefill", "Weights read (GB)"] * 1e9 == pytest.approx(BF16 * (P - V * D + 1024 * D), rel=1e-12)
    # matmul FLOP by hand: a lower bound that elementwise ops exceed only slightly
    mm_dec = 2 * (L * (4 * D * N * H + 3 * D * F) + D * V) + L * 4 * H * N * 1025
    mm_pre = 2 * 1024 * L * (4 * D * N * H + 3 * D * F) + 2 * D * V + L * 4 * H * N * 1024 * 1025 / 2
    assert 1 < s.loc["decode", "GFLOP"] * 1e9 / mm_dec < 1.01
    assert 1 < s.loc["prefill", "GFLOP"] * 1e9 / mm_pre < 1.01
    assert s.loc["prefill", "Bound"] == "compute" and s.loc["decode", "Bound"] == "memory"


def test_step_rejects_unknown_phase():
    with pytest.raises(ValueError):
        tables.step("llama-2-7b", phase="train")


# --- KV cache ------------------------------------------------------------------------

def test_kv_cache_by_hand():
    assert tables.kv_bytes_per_token_layer("llama-2-7b") == 2 * 32 * 128 * BF16
    assert tables.kv_bytes_per_token_layer("llama-2-70b", kv_dtype="fp8") == 2 * 8 * 128 * 1
    kv = tables.kv_cache_table(context=1024)
    assert kv.loc["llama-2-7b", "Total at S=1024 (MiB)"] == 32 * 1024 * 2 * 32 * 128 * BF16 / 2**20
    assert kv.loc["llama-2-70b", "Total at S=1024 (MiB)"] == 80 * 1024 * 2 * 8 * 128 * BF16 / 2**20
    assert kv.loc["llama-2-70b", "If MHA (K=N), total (MiB)"] == 8 * kv.loc["llama-2-70b", "Total at S=1024 (MiB)"]
    assert kv.loc["llama-2-7b", "If MHA (K=N), total (MiB)"] == kv.loc["llama-2-7b", "Total at S=1024 (MiB)"]
    assert kv.loc["qwen2.5-7b", "Per layer at S=1024 (MiB)"] == 1024 * 2 * 4 * 128 * BF16 / 2**20


def test_kv_cache_agrees_with_engine_summary_and_windows():
    a = llmperf.analyze("qwen2.5-7b", "h100-sxm", batch=3, prompt_len=500, gen_len=25)
    assert float(tables.kv_cache_bytes("qwen2.5-7b", 500 + 25 - 1, 3)) == pytest.approx(a.summary["kv_cache_bytes"])
    # a sliding-window model keeps at most the window per layer
    assert float(tables.kv_cache_bytes("mistral-7b", 10_000)) == float(tables.kv_cache_bytes("mistral-7b", 4096))
    s = np.array([1, 10, 100])
    assert np.allclose(tables.kv_cache_bytes("llama-2-7b", s), s * 32 * 2 * 32 * 128 * BF16)


# --- decode bytes ------------------------------------------------------------------------

def test_decode_bytes_split_by_hand_and_monotone():
    L, D, K, H, V = (LLAMA2_7B[k] for k in "LDKHV")
    P = hand_params(LLAMA2_7B)
    s = tables.decode_bytes_split("llama-2-7b", batch=4, context=1000)
    assert float(s["kv"]) == pytest.approx(4 * L * 1001 * 2 * K * H * BF16)
    assert float(s["weights"]) == pytest.approx(BF16 * (P - V * D + 4 * D))   # 4 embedding rows
    assert float(s["total"]) == pytest.approx(float(s["weights"] + s["kv"] + s["other"]))
    grid = tables.decode_bytes_split("llama-2-7b", batch=np.array([[1], [8]]), context=np.array([[128, 1024, 8192]]))
    share = grid["kv_share"]
    assert (np.diff(share, axis=1) > 0).all() and (share[1] > share[0]).all()


def test_kv_equals_weights_context_by_hand():
    L, D, K, H, V = (LLAMA2_7B[k] for k in "LDKHV")
    P = hand_params(LLAMA2_7B)
    for b in (1, 16):
        s = tables.kv_equals_weights_context("llama-2-7b", batch=b)
        assert s == pytest.approx(BF16 * (P - V * D + b * D) / (b * L * 2 * K * H * BF16) - 1)
        below = tables.decode_bytes_split("llama-2-7b", batch=b, context=math.floor(s))
        above = tables.decode_bytes_split("llama-2-7b", batch=b, context=math.ceil(s))
        assert float(below["kv"]) < float(below["weights"]) and float(above["kv"]) > float(above["weights"])


# --- across models -----------------------------------------------------------------------------

def test_cross_model_summary_limits():
    s = tables.cross_model_summary()
    assert (s["Prefill bound"] == "compute").all() and (s["Decode bound"] == "memory").all()
    # prefill ~ T times the FLOP of a decode step, but only a small multiple of its bytes
    assert ((s["FLOP ratio prefill/decode"] > 500) & (s["FLOP ratio prefill/decode"] < 1024)).all()
    assert ((s["Bytes ratio prefill/decode"] > 1) & (s["Bytes ratio prefill/decode"] < 3)).all()
    # Llama-2-70B's bf16 weights alone exceed the H100's 80 GiB
    assert BF16 * hand_params(LLAMA2_70B) > 80 * 2**30
    assert not s.loc["llama-2-70b", "Fits"] and s.loc["llama-2-7b", "Fits"]
    # TPOT at least the weights over the bandwidth
    P, V, D = hand_params(LLAMA2_70B), LLAMA2_70B["V"], LLAMA2_70B["D"]
    lower = BF16 * (P - V * D) / H100_BW * 1e3
    assert lower < s.loc["llama-2-70b", "TPOT (ms)"] < 1.01 * lower


# --- GQA against MHA ---------------------------------------------------------------------------

def test_with_kv_heads_changes_only_kv():
    base = llmperf.load_model("llama-2-70b")
    mha = tables.with_kv_heads(base, 64)
    assert mha.attention_kind == "MHA" and mha.name == "llama-2-70b as MHA (K=64)"
    c = LLAMA2_70B
    assert mha.params_total - base.params_total == c["L"] * 2 * c["D"] * (64 - 8) * c["H"]
    assert tables.with_kv_heads("llama-2-7b", 1).attention_kind == "MQA"


@pytest.mark.parametrize("batch", [1, 16])
def test_decode_attention_intensity_is_about_group_size(batch):
    for name, group in (("llama-2-7b", 1), ("llama-3.1-8b", 4), ("llama-2-70b", 8)):
        i = tables.attention_intensity(name, "h100-sxm", "decode", batch, 1024)
        # 4NH FLOP + 5N softmax per key over 2KH bf16 elements per key: (N/K)(1 + 5/(4H)) is the ceiling
        assert group * 0.98 < i <= group * (1 + 5 / (4 * 128)) + 1e-9


def test_gqa_comparison_ratios():
    g = tables.gqa_comparison(["llama-2-70b", tables.with_kv_heads("llama-2-70b", 64)], batch=16, context=1024)
    gqa, mha = g.iloc[0], g.iloc[1]
    assert mha["KV per token (KiB)"] == 8 * gqa["KV per token (KiB)"] == 8 * 80 * 2 * 8 * 128 * BF16 / 1024
    assert mha["Decode KV read (GB)"] == pytest.approx(8 * gqa["Decode KV read (GB)"])
    assert mha["TPOT (ms)"] > gqa["TPOT (ms)"]
    assert g["KV at B=16, S=1024 (GiB)"].iloc[0] == 16 * 1024 * 80 * 2 * 8 * 128 * BF16 / 2**30


# --- chart data -----------------------------------------------------------------------------------

def test_operator_time_long():
    df = tables.operator_time_long(["llama-2-7b", "qwen2.5-1.5b"], ["h100-sxm", "rtx-4090"])
    shares = df.groupby(["model", "device", "phase"])["share"].sum()
    assert np.allclose(shares, 100) and len(shares) == 8
    one = df[(df.model == "llama-2-7b") & (df.device == "h100-sxm") & (df.phase == "prefill")]
    a = llmperf.analyze("llama-2-7b", "h100-sxm", 1, 1024, 2)
    assert one["time_us"].sum() * 1e-6 == pytest.approx(a.summary["ttft_s"])
    assert one["step_ms"].iloc[0] * 1e-3 == pytest.approx(a.summary["ttft_s"])


def test_kv_share_long():
    df = tables.kv_share_long(["llama-2-7b"], log2_batches=range(0, 3), contexts=[256, 1024, 4096])
    assert len(df) == 9 and set(df["batch"]) == {1, 2, 4}
    assert df["kv_share"].between(0, 100).all()
    for _, g in df.groupby("batch"):
        assert (np.diff(g.sort_values("context")["kv_share"]) > 0).all()


def test_fmt():
    assert tables.fmt(26310.3) == "26,310"
    assert tables.fmt(0.0) == "0"
    assert tables.fmt(3.14159) == "3.142"
    assert tables.fmt(0.00123) == "0.00123"
    assert tables.fmt(float("nan")) == "-"


# --- charts and explorer ----------------------------------------------------------------------------

def _params(spec):
    return {p["name"]: p for p in spec.get("params", [])}


def test_operator_time_chart_spec():
    pytest.importorskip("altair")
    from llmperf.charts.operators import operator_time_chart
    df = tables.operator_time_long(["llama-2-7b", "qwen2.5-7b"], ["h100-sxm", "a100-sxm-80gb"])
    spec = operator_time_chart(df, model="qwen2.5-7b").to_dict()
    p = _params(spec)
    assert p["op_model"]["bind"]["input"] == "select"
    assert p["op_model"]["bind"]["options"] == ["llama-2-7b", "qwen2.5-7b"] and p["op_model"]["value"] == "qwen2.5-7b"
    assert p["op_device"]["bind"]["options"] == ["h100-sxm", "a100-sxm-80gb"]
    assert p["op_phase"]["bind"]["options"] == ["prefill", "decode"]
    data = next(iter(spec["datasets"].values()))
    assert len(data) == len(df) < 3000


def test_kv_share_chart_spec():
    pytest.importorskip("altair")
    from llmperf.charts.operators import kv_share_chart
    spec = kv_share_chart(tables.kv_share_long(log2_batches=range(0, 5)), log2_batch=2).to_dict()
    p = _params(spec)["kv_log2_batch"]
    assert p["bind"]["input"] == "range" and (p["bind"]["min"], p["bind"]["max"], p["value"]) == (0, 4, 2)
    assert sum(len(v) for v in spec["datasets"].values()) < 3000


def test_operator_explorer_reacts_and_flags_what_does_not_fit():
    pytest.importorskip("ipywidgets")
    from llmperf.widgets.operators import operator_explorer
    ex = operator_explorer(model="qwen2.5-7b")
    assert ex.error is None and ex.result.loc["gate_proj", "Bound"] == "compute"
    assert ex.memory["fits"]
    ex.set(phase="decode")
    assert (ex.result["Bound"] == "memory").all()
    ex.set(model="llama-2-70b")
    assert "8192" in ex.result.loc["q_proj", "Shape"]
    # 2 bytes x 68,976,648,192 parameters = 128.5 GiB > 80 GiB: flagged
    assert BF16 * hand_params(LLAMA2_70B) > 80 * 2**30
    assert not ex.memory["fits"] and ex.memory["message"].startswith("DOES NOT FIT")
    w16 = ex.result.loc["q_proj", "Weights (MB)"]
    ex.set(weight_dtype="int4")
    assert ex.result.loc["q_proj", "Weights (MB)"] == pytest.approx(w16 / 4)
    assert ex.memory["fits"]                     # int4: about 32 GiB of weights
    ex.set(batch=64, prompt_len=4096)
    assert ex.result.loc["attention (fused)", "KV read (MB)"] * 1e6 == pytest.approx(64 * 2 * 4097 * 8 * 128 * BF16)


def test_shape_table_splits_every_shape_in_two_narrow_columns():
    pytest.importorskip("altair")
    from llmperf.charts.operators import shape_table
    t = tables.operator_table("qwen2.5-7b", phase="decode")
    s = shape_table(t)
    assert list(s.index) == list(t.index)
    assert s.loc["q_proj", "Input"] == "bf16[1, 3584]" and s.loc["q_proj", "Weight or cache"] == "bf16[3584, 3584]"
    assert s.loc["attention (fused)", "Weight or cache"] == "K, V bf16[1, 4, 1025, 128]"
    assert s.loc["embedding", "Weight or cache"] == "bf16[152064, 3584]"
    assert s.loc["input norm", "Weight or cache"] == "–"
    assert max(len(x) for x in s.values.ravel() if isinstance(x, str)) <= 30     # fits a text column


# --- exercises ---------------------------------------------------------------------------------------

def test_exercise_answers_by_hand():
    assert answer("operators-ex1") == pytest.approx(80 * 8 * 4096 * 2 * 8 * 128 * BF16 / 2**30) == 10.0
    assert answer("operators-ex2") == (2 * 2048 + 1) * 1024 * 16 * 128      # exact, with the bias
    ex3 = answer("operators-ex3")
    assert ex3["bound"] == "memory" and ex3["ridge"] == pytest.approx(H100_BF16 / H100_BW)
    assert 1 < ex3["intensity"] < 1.1
    assert ex3["fits"] is False                  # 128 GiB of bf16 weights on an 80 GiB H100
    ex4 = answer("operators-ex4")                # batch 1, 6000 cached tokens
    L, D, K, H, V = (LLAMA2_7B[k] for k in "LDKHV")
    kv = L * 6001 * 2 * K * H * BF16
    w = BF16 * (hand_params(LLAMA2_7B) - V * D + D)
    assert ex4["mha"] == pytest.approx(100 * kv / (kv + w), rel=1e-2)   # other bytes are tiny
    c = QWEN25_7B
    kvq = c["L"] * 6001 * 2 * c["K"] * c["H"] * BF16
    wq = BF16 * (hand_params(QWEN25_7B, qkv_bias=True) - c["V"] * c["D"] + c["D"])
    assert ex4["gqa"] == pytest.approx(100 * kvq / (kvq + wq), rel=1e-2)
    ex5 = answer("operators-ex5")                # Qwen2.5-7B, K = 4 -> 28, 8 x 4096 tokens
    assert ex5["kv_gqa_gib"] == 28 * 8 * 4096 * 2 * 4 * 128 * BF16 / 2**30
    assert ex5["kv_mha_gib"] == 7 * ex5["kv_gqa_gib"]
    assert ex5["intensity_gqa"] / ex5["intensity_mha"] == pytest.approx(7, rel=0.01)
    ex6 = answer("operators-ex6")
    s = BF16 * (hand_params(LLAMA2_7B) - V * D + 16 * D) / (16 * L * 2 * K * H * BF16) - 1
    assert ex6 == math.floor(s) + 1
    for tokens, more_kv in ((ex6 - 1, False), (ex6, True)):
        split = tables.decode_bytes_split("llama-2-7b", batch=16, context=tokens)
        assert (float(split["kv"]) > float(split["weights"])) is more_kv


LABELS = [f"operators-ex{i}" for i in range(1, 7)]


def test_variants_avoid_numbers_the_chapter_prints():
    """The chapter prints the crossover at B = 1, 8, 64 and the KV share on a grid of powers of two."""
    from llmperf.exercises import _VARIANTS, labels
    labels()
    assert not {1, 8, 64} & set(_VARIANTS["operators-ex6"]["batch"])
    grid = {int(x) for x in np.unique(np.round(np.geomspace(128, 131072, 31)))}
    assert not grid & set(_VARIANTS["operators-ex4"]["context"])
    assert "qwen2.5-7b" not in _VARIANTS["operators-ex2"]["model"]        # its q_proj is worked in the text


def _shown_numbers(v):
    from llmperf.book import fmt
    if isinstance(v, int):
        return {f"{v:,d}", str(v)}
    return {fmt(v), fmt(v, "sig4")}


@pytest.mark.parametrize("label", LABELS)
def test_each_solution_shows_its_numbers_and_answers_why(label):
    from llmperf import exercises as E
    w = E.worked(label)
    text = w.solution.replace("{,}", ",")
    for name, part in w.parts.items():
        if isinstance(part.value, (bool, str)):
            assert (str(part.value) in text) if isinstance(part.value, str) else True
            continue
        assert any(t in text for t in _shown_numbers(part.value)), (name, part.value)
    if "Why" in w.prompt or "why" in w.prompt:
        assert "**Why:**" in w.solution
    assert "{'" not in w.solution and "def " not in w.solution


def _cells():
    import json
    from pathlib import Path
    return json.loads((Path(__file__).resolve().parents[1] / "book" / "operators.ipynb").read_text())["cells"]


def test_notebook_formula_and_notation():
    text = "\n".join("".join(c["source"]) for c in _cells() if c["cell_type"] == "markdown")
    assert r"\begin{aligned}" in text                        # the parameter formula is split over two lines
    assert "{doc}`generation`" in text
    assert "{glue" not in text
