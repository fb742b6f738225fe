"""Chapter "How an LLM Generates Text": llmperf.generation, its chart, explorer and exercises.

Expected values are derived here by hand from config.json and datasheet
constants (written out below), from the metrics' definitions and from limiting
cases; none is copied from the module's own output.
"""
import json
import re
from pathlib import Path

import numpy as np
import pytest

import llmperf
from llmperf import exercises as X
from llmperf import generation as gen

ROOT = Path(__file__).resolve().parents[1]
NB = ROOT / "book" / "generation.ipynb"

# Llama-3.1-8B config.json
L, N, K, H, D, V = 32, 32, 8, 128, 4096, 128256
P_TOTAL = 8_030_261_248                      # parameters, untied embedding and lm_head
# H100 SXM5 80GB datasheet (dense bf16), 80 GiB
PEAK, BW, CAP = 989.4e12, 3.35e12, 80 * 2**30
KV_TOKEN = 2 * L * K * H * 2                 # bytes per token, bf16: 131,072
LABELS = [f"generation-ex{i}" for i in range(1, 8)]


@pytest.fixture(scope="module")
def ref():
    """The chapter's example: one prompt of 1,024 tokens, 256 generated."""
    return llmperf.analyze("llama-3.1-8b", "h100-sxm", batch=1, prompt_len=1024, gen_len=256)


# --- the KV cache -----------------------------------------------------------------------------

def test_kv_per_token_by_hand():
    kv = gen.kv_per_token("llama-3.1-8b")
    assert kv["per_layer"] == 2 * K * H * 2 == 4096
    assert kv["all_layers"] == KV_TOKEN == 131072
    assert gen.kv_per_token("llama-3.1-8b", "fp8")["all_layers"] == KV_TOKEN // 2
    # multi-head attention (Llama-2-7B: K = N = 32, 32 layers) caches N/K = 4 times more per token
    assert gen.kv_per_token("llama-2-7b")["all_layers"] == 4 * KV_TOKEN


def test_kv_growth_adds_one_token_per_decode_step():
    t = gen.kv_growth("llama-3.1-8b", prompt_len=1024, gen_len=256, batch=2)
    assert len(t) == 256
    assert t["Tokens fed"].tolist()[:3] == [1024, 1, 1]
    cached = t["Tokens cached after"].to_numpy()
    assert cached[0] == 1024 and cached[-1] == 1024 + 255          # the cache ends with T + G - 1 tokens
    assert np.all(np.diff(cached) == 1)
    assert t["KV cache (KiB)"].iloc[0] == 2 * 1024 * KV_TOKEN // 1024
    assert np.all(np.diff(t["KV cache (KiB)"].to_numpy()) == 2 * KV_TOKEN // 1024)
    with pytest.raises(ValueError):
        gen.kv_growth("llama-3.1-8b", 1024, 4, steps=[4])


# --- prefill against decode ---------------------------------------------------------------------

def test_phase_comparison_prefill_compute_bound_decode_memory_bound():
    t = gen.phase_comparison("llama-3.1-8b", "h100-sxm", batch=1, prompt_len=1024)
    p, d = t["Prefill"], t["First decode step"]
    assert p["Bound"] == "compute" and d["Bound"] == "memory"
    assert p["Intensity (FLOP/B)"] > PEAK / BW > 10 * d["Intensity (FLOP/B)"]
    # both read every weight except the embedding table (one row per token looked up)
    weights_gb = 2 * (P_TOTAL - V * D) / 1e9
    assert d["Weights read (GB)"] == pytest.approx(weights_gb, rel=1e-3)
    assert p["Weights read (GB)"] == pytest.approx(weights_gb, rel=2e-3)
    # the prefill writes the K and V of its 1,024 tokens, the decode step of one token
    assert p["KV cache written (MB)"] == pytest.approx(1024 * KV_TOKEN / 1e6)
    assert d["KV cache written (MB)"] == pytest.approx(KV_TOKEN / 1e6)
    # decode reads the whole cache: 1,024 cached tokens (plus the new one it attends)
    assert d["KV cache read (MB)"] == pytest.approx(1024 * KV_TOKEN / 1e6, rel=2e-3)


def test_decode_step_is_its_bytes_over_the_bandwidth(ref):
    bytes_hand = 2 * (P_TOTAL - V * D) + 1024 * KV_TOKEN
    assert float(gen.decode_bytes_estimate("llama-3.1-8b", 1024)) == pytest.approx(bytes_hand)
    assert ref.summary["tpot_first_s"] == pytest.approx(bytes_hand / BW, rel=5e-3)


def test_prefill_is_its_flop_over_the_peak_at_least(ref):
    T = 1024
    flop_hand = 2 * (P_TOTAL - 2 * V * D) * T + 2 * V * D + 4 * H * L * N * T * (T + 1) / 2
    assert float(ref.prefill.flops) == pytest.approx(flop_hand, rel=0.01)
    assert ref.summary["ttft_s"] >= flop_hand / PEAK * 0.99


# --- the four metrics -----------------------------------------------------------------------------

def test_metrics_follow_their_definitions(ref):
    m = gen.metrics_of(ref)
    G = 256
    steps = ref.decode_steps()["time_s"].to_numpy()
    assert len(steps) == G - 1                                   # the first token is the prefill's
    assert m["ttft_s"] == pytest.approx(float(ref.prefill.time_s))
    assert m["tpot_s"] == pytest.approx(steps.sum() / (G - 1))   # the mean, not the first step
    assert m["tpot_s"] == pytest.approx((steps[0] + steps[-1]) / 2, rel=1e-6)   # arithmetic sequence
    assert m["e2e_s"] == pytest.approx(m["ttft_s"] + (G - 1) * m["tpot_s"])
    assert m["throughput"] == pytest.approx(G / m["e2e_s"])
    # each step reads one more token's K and V: the step time grows by KV_TOKEN / BW
    assert np.diff(steps).mean() == pytest.approx(KV_TOKEN / BW, rel=1e-3)


def test_one_token_has_no_decode_step():
    m = gen.metrics("llama-3.1-8b", "h100-sxm", batch=2, prompt_len=64, gen_len=1)
    assert m["tpot_s"] == 0 and m["e2e_s"] == m["ttft_s"]
    assert m["throughput"] == pytest.approx(2 / m["ttft_s"])


def test_metrics_table_units():
    t = gen.metrics_table({"ttft_s": 0.0125, "tpot_s": 0.004, "e2e_s": 1.5, "throughput": 200.0})
    assert t["Value"].tolist() == pytest.approx([12.5, 4.0, 1.5, 200.0])
    assert t["Unit"].tolist() == ["ms", "ms", "s", "tokens/s"]


def test_token_times_match_analyze_and_climb_by_one_step_per_token(ref):
    df = gen.token_times("llama-3.1-8b", "h100-sxm", prompt_lens=[1024, 2048], gen_len=256, batches=[1, 4])
    one = df[(df["Prompt tokens"] == 1024) & (df["Batch"] == 1)].sort_values("Token")
    t = one["Time (ms)"].to_numpy()
    assert len(t) == 256 and one["Token"].iloc[0] == 1
    assert t[0] == pytest.approx(ref.summary["ttft_s"] * 1e3)
    assert t[-1] == pytest.approx(ref.summary["e2e_latency_s"] * 1e3)
    assert np.all(np.diff(t) > 0)
    np.testing.assert_allclose(np.diff(t), ref.decode_steps()["time_s"].to_numpy() * 1e3)
    b4 = df[(df["Prompt tokens"] == 1024) & (df["Batch"] == 4)]
    a4 = llmperf.analyze("llama-3.1-8b", "h100-sxm", batch=4, prompt_len=1024, gen_len=256).summary
    assert b4["TTFT (ms)"].iloc[0] == pytest.approx(a4["ttft_s"] * 1e3)
    assert b4["TPOT (ms)"].iloc[0] == pytest.approx(a4["tpot_s"] * 1e3)
    # thinning keeps token 1, every 16th and the last
    thin = gen.token_times("llama-3.1-8b", "h100-sxm", [1024], 256, every=16)
    assert thin["Token"].tolist() == [1] + list(range(16, 257, 16))


def test_batch_metrics_agree_with_analyze_and_flag_what_does_not_fit():
    bm = gen.batch_metrics("llama-3.1-8b", "h100-sxm", [1, 64, 512], prompt_len=1024, gen_len=256).set_index("Batch")
    for b in (1, 64, 512):
        a = llmperf.analyze("llama-3.1-8b", "h100-sxm", batch=b, prompt_len=1024, gen_len=256)
        assert bm.loc[b, "Throughput (tokens/s)"] == pytest.approx(a.summary["throughput_tokens_per_s"])
        assert bm.loc[b, "Memory needed (GiB)"] == pytest.approx(a.memory["memory_total_bytes"] / 2**30)
        assert bool(bm.loc[b, "Fits"]) == a.fits
    # by hand: 512 sequences of 1,279 tokens cache 512 x 1,279 x 131,072 B = 79.9 GiB, plus 15 GB of weights
    assert bm.loc[512, "KV cache (GiB)"] == pytest.approx(512 * 1279 * KV_TOKEN / 2**30)
    assert 512 * 1279 * KV_TOKEN + 2 * P_TOTAL > CAP and not bm.loc[512, "Fits"]
    # decode at batch 64 reads the weights once for 64 tokens: throughput grows far more than TPOT
    assert bm.loc[64, "Throughput (tokens/s)"] / bm.loc[1, "Throughput (tokens/s)"] > 10
    assert bm.loc[64, "TPOT (ms)"] / bm.loc[1, "TPOT (ms)"] < 2
    t = gen.batch_table(bm.reset_index())
    assert list(t.columns) == ["B = 1", "B = 64", "B = 512"]
    assert t.loc["Fits in memory"].tolist() == ["yes", "yes", "no"]


# --- chart and explorer -------------------------------------------------------------------------------

def test_latency_chart_has_two_bound_sliders():
    from llmperf.charts import generation as gc

    times = gen.token_times("llama-3.1-8b", "h100-sxm", np.arange(2048, 8193, 2048), 64, batches=[1, 2, 4],
                            every=8)
    spec = gc.latency_chart(times).to_dict()
    params = {p["name"]: p for p in spec["params"]}
    assert params["prompt"]["bind"]["min"] == 2048 and params["prompt"]["bind"]["max"] == 8192
    assert params["prompt"]["bind"]["step"] == 2048
    assert params["log2batch"]["bind"]["max"] == 2
    assert params["prompt"]["value"] == 2048 and params["log2batch"]["value"] == 0
    assert spec["layer"][0]["encoding"]["x"]["scale"]["domain"] == [0, 64]
    assert len(spec["datasets"][spec["data"]["name"]]) == len(times)
    with pytest.raises(ValueError):
        gc.latency_chart(times[times["Prompt tokens"] != 4096])


def test_explorer_flags_a_batch_that_does_not_fit():
    pytest.importorskip("ipywidgets")
    from llmperf.widgets.generation import generation_explorer

    ex = generation_explorer()
    assert ex.result.loc["Fits in memory", "Value"] == "yes"
    ex.set(batch=512)
    assert ex.result.loc["Fits in memory", "Value"] == "NO"
    assert "DOES NOT FIT" in ex.result.loc["Fits in memory", "Definition"]


# --- exercises -------------------------------------------------------------------------------------------

def test_seven_exercises_with_variants():
    assert set(LABELS) <= set(X.labels())
    for label in LABELS:
        assert X.variant_count(label) >= 3, label


def test_ex1_by_hand():
    # Qwen2.5-7B: L = 28, K = 4, H = 128; bf16
    w = X.worked("generation-ex1")
    assert w.answer["per_token"] == 2 * 28 * 4 * 128 * 2 == 57344
    assert w.answer["cache_gib"] == pytest.approx(57344 * 8 * 32768 / 2**30)


def _prompt_numbers(prompt, pattern):
    return [float(x.replace(",", "").replace("{", "").replace("}", "")) for x in re.findall(pattern, prompt)]


@pytest.mark.parametrize("seed", range(0, 27, 4))
def test_ex2_solvable_from_the_prompt_numbers(seed):
    """TTFT, first and last step as printed (4 figures) give the answers within their tolerance."""
    v = X.variant("generation-ex2", seed)
    ttft, first, last = _prompt_numbers(v.prompt, r"([\d,.]+) ms")
    G, B = 512, v.params["batch"]
    tpot = (first + last) / 2
    e2e = (ttft + (G - 1) * tpot) / 1e3
    assert X.check("generation-ex2", {"tpot_ms": tpot, "e2e_s": e2e, "throughput": B * G / e2e}, seed=seed,
                   quiet=True)


@pytest.mark.parametrize("seed", range(32))
def test_ex3_bytes_over_bandwidth_is_within_tolerance(seed):
    v = X.variant("generation-ex3", seed)
    m, h, S = v.params["model"], llmperf.get_hardware(v.params["device"]), v.params["context"]
    c = llmperf.load_model(m)
    P, E = c.param_counts()["total"], c.vocab_size * c.d_model
    t = (2 * (P - E) + 2 * c.n_layers * c.n_kv_heads * c.head_dim * 2 * S) / h.memory_bandwidth_bytes_per_s
    assert X.check("generation-ex3", {"step_ms": t * 1e3, "tokens_per_s": 1 / t}, seed=seed, quiet=True)


@pytest.mark.parametrize("seed", range(36))
def test_ex4_hand_count_is_within_tolerance(seed):
    v = X.variant("generation-ex4", seed)
    c = llmperf.load_model(v.params["model"])
    T, E = v.params["prompt_len"], c.vocab_size * c.d_model
    P = c.param_counts()["total"]
    flop = 2 * (P - 2 * E) * T + 2 * E + 4 * c.head_dim * c.n_layers * c.n_heads * T * (T + 1) / 2
    peak = llmperf.get_hardware(v.params["device"]).peak_for("bf16")
    assert X.check("generation-ex4", {"tflop": flop / 1e12, "compute_ms": flop / peak * 1e3}, seed=seed, quiet=True)


@pytest.mark.parametrize("seed", range(18))
def test_ex5_byte_estimate_is_within_tolerance(seed):
    v = X.variant("generation-ex5", seed)
    c = llmperf.load_model(v.params["model"])
    bw = llmperf.get_hardware(v.params["device"]).memory_bandwidth_bytes_per_s
    B, S = v.params["batch"], 4096
    w = 2 * (c.param_counts()["total"] - c.vocab_size * c.d_model)
    kv = 2 * c.n_layers * c.n_kv_heads * c.head_dim * 2 * S
    t1, tb = (w + kv) / bw, (w + B * kv) / bw
    assert X.check("generation-ex5", {"step_b1_ms": t1 * 1e3, "step_b_ms": tb * 1e3, "speedup": B * t1 / tb,
                                      "kv_equals_weights_batch": w / kv}, seed=seed, quiet=True)


def test_ex6_by_hand():
    # Qwen2.5-14B: 14,770,033,664 parameters, L = 48, K = 8, H = 128; L40S 48 GiB; S = 8,192
    w = X.worked("generation-ex6")
    per_seq = 2 * 48 * 8 * 128 * 2 * 8192
    assert w.answer["max_batch"] == (48 * 2**30 - 2 * 14_770_033_664) // per_seq == 13
    assert w.answer["kv_per_seq_gib"] == pytest.approx(1.5)
    for seed in range(X.variant_count("generation-ex6")):
        assert X.variant("generation-ex6", seed).answer["max_batch"] >= 1


def test_ex7_accepts_its_design_and_rejects_bad_ones():
    w = X.worked("generation-ex7")
    d = w.answer["design"]
    assert X.check("generation-ex7", {"design": d}, quiet=True)
    # one more request than the reference breaks a target (the reference is the largest batch)
    assert not X.check("generation-ex7", {"design": {**d, "batch": d["batch"] + 1}}, quiet=True)
    # Qwen2.5-14B in bf16 (29.5 GB) with 64 sequences of 2,559 tokens (196,608 B each) on a 48 GiB L40S
    bad = X.check("generation-ex7", {"design": {"device": "l40s", "weight_dtype": "bf16", "batch": 64}}, quiet=True)
    assert not bad and "does not fit" in bad.hint and "TTFT" in bad.hint
    assert not X.check("generation-ex7", {"design": {"device": "h100-sxm", "weight_dtype": "fp8", "batch": 2.5}},
                       quiet=True)
    assert not X.check("generation-ex7", {"design": {"device": "tpu", "weight_dtype": "fp8", "batch": 4}}, quiet=True)


# --- the notebook --------------------------------------------------------------------------------------

def _cells():
    return json.loads(NB.read_text())["cells"]


def test_every_metric_is_defined_once_in_bold():
    md = "\n".join("".join(c["source"]) for c in _cells() if c["cell_type"] == "markdown")
    for term in ("time to first token (TTFT)", "time per output token (TPOT)", "end-to-end latency", "throughput",
                 "KV cache", "prefill", "decode step", "logits", "batch"):
        assert md.count(f"**{term}**") == 1, term
    assert "*mean* time of the $G - 1$ decode steps" in md


def test_first_cell_is_the_install_cell_and_explorer_output_is_removed():
    code = [c for c in _cells() if c["cell_type"] == "code"]
    assert "remove-cell" in code[0]["metadata"]["tags"]
    assert 'find_spec("llmperf") is None' in "".join(code[0]["source"])
    explorer = [c for c in code if "generation_explorer()" in "".join(c["source"])]
    assert explorer and "remove-output" in explorer[0]["metadata"]["tags"]


def test_the_chapter_cites_its_sources():
    bib = (ROOT / "references.bib").read_text()
    keys = set(re.findall(r"@\w+\{([^,]+),", bib))
    md = "\n".join("".join(c["source"]) for c in _cells() if c["cell_type"] == "markdown")
    cited = {k.strip() for group in re.findall(r"\{cite\}`([^`]+)`", md) for k in group.split(",")}
    assert cited and cited <= keys
    assert {"vaswani2017attention", "williams2009roofline", "kwon2023vllm"} <= cited


@pytest.mark.parametrize("label", LABELS)
def test_text_outside_math_has_no_tex_commas(label):
    """Thousands separators are written {,} inside $...$ only; in running text a plain comma."""
    w = X.worked(label)
    for text in (w.prompt, w.solution):
        outside = re.sub(r"\$\$.*?\$\$|\$[^$]*\$", "", text, flags=re.S)
        assert "{,}" not in outside, outside


@pytest.mark.parametrize("label,keys", [("generation-ex2", ("model", "device", "batch")),
                                        ("generation-ex3", ("model", "device", "context")),
                                        ("generation-ex5", ("model", "device", "batch"))])
def test_every_variant_fits_in_memory(label, keys):
    """No exercise analyses, silently, a configuration that does not fit on its device."""
    for seed in range(X.variant_count(label)):
        p = X.variant(label, seed).params
        batch = p.get("batch", 1)
        context = p.get("context", 4096 if label == "generation-ex5" else 2048 + 511)
        a = llmperf.analyze(p["model"], p["device"], batch=batch, prompt_len=context, gen_len=1)
        assert a.fits, (label, p)
