"""Exercises of the chapter "How an LLM Generates Text" (labels ``generation-ex1`` ...).

Each function takes the exercise's numbers as keyword arguments (defaults: the
book's version) and returns a :class:`~llmperf.exercises.Worked` whose answer
and worked solution llmperf computes. The chapter's own example (Llama-3.1-8B
on an H100 SXM, one sequence) is never an exercise's default, so no answer is
printed in the chapter before its exercise.
"""
from __future__ import annotations

import numpy as np

import llmperf
from llmperf import generation as gen
from llmperf.book import fmt
from llmperf.dtypes import dtype_bytes

from . import Part, Worked, exercise

GiB = 2.0 ** 30

#: How the exercises name the catalog's models.
MODEL_NAMES = {"llama-3.1-8b": "Llama-3.1-8B", "llama-3.1-70b": "Llama-3.1-70B", "llama-2-7b": "Llama-2-7B",
               "llama-2-13b": "Llama-2-13B", "qwen2.5-7b": "Qwen2.5-7B", "qwen2.5-14b": "Qwen2.5-14B",
               "qwen3-8b": "Qwen3-8B"}


def _name(model: str) -> str:
    return MODEL_NAMES.get(model, model)


def _m(text: str) -> str:
    """A formatted number for use inside $...$ (a bare comma would add a space in TeX)."""
    return str(text).replace(",", "{,}")


def _cfg(model: str) -> str:
    c = llmperf.load_model(model)
    return f"$L = {c.n_layers}$ layers, $N = {c.n_heads}$ query heads, $K = {c.n_kv_heads}$ key-value heads of " \
           f"dimension $H = {c.head_dim}$"


# --- 1. KV cache per token and per batch ---------------------------------------------------------

@exercise("generation-ex1", variants={"model": ["qwen2.5-7b", "llama-2-7b", "qwen3-8b", "qwen2.5-14b",
                                                "llama-3.1-70b"],
                                      "kv_dtype": ["bf16", "fp8"], "context": [4096, 32768]})
def kv_cache_size(model: str = "qwen2.5-7b", kv_dtype: str = "bf16", batch: int = 8, context: int = 32768) -> Worked:
    """Bytes one token adds to the KV cache (all layers), and the cache of a batch in GiB."""
    c = llmperf.load_model(model)
    b = dtype_bytes(kv_dtype)
    per_token = gen.kv_per_token(model, kv_dtype)["all_layers"]
    total = float(llmperf.kv_cache_bytes(model, context, batch, kv_dtype))
    prompt = (f"{_name(model)} has {_cfg(model)}. Its KV cache is stored in {kv_dtype} "
              f"($b_{{kv}} = {b:g}$ bytes per element). How many bytes does one token add to the KV cache, "
              f"over all layers? How many GiB does the KV cache of $B = {batch}$ sequences of $S = {_m(fmt(context))}$ "
              "cached tokens each occupy?")
    mha = per_token * c.n_heads / c.n_kv_heads
    solution = (
        "Every layer stores, for every token, one key and one value vector per KV head:\n\n"
        f"$$2 \\cdot L \\cdot K \\cdot H \\cdot b_{{kv}} = 2 \\times {c.n_layers} \\times {c.n_kv_heads} \\times "
        f"{c.head_dim} \\times {b:g} = {_m(fmt(int(per_token)))}\\ \\text{{bytes per token}}.$$\n\n"
        f"For $B \\cdot S = {batch} \\times {_m(fmt(context))}$ tokens: "
        f"${_m(fmt(int(per_token)))} \\times {batch} \\times {_m(fmt(context))} / 2^{{30}} = "
        f"{_m(fmt(total / GiB))}$ GiB.\n\n"
        f"The factor 2 is the key and the value. The number of query heads $N = {c.n_heads}$ does not enter: "
        "only the $K$ key-value heads are cached. "
        + (f"With grouped-query attention ($K < N$) the cache is $N / K = {c.n_heads // c.n_kv_heads}$ times smaller "
           f"than multi-head attention would make it ({fmt(mha / 1024)} KiB per token). "
           if c.n_kv_heads < c.n_heads else
           "This model uses multi-head attention ($K = N$), the largest cache per token of any attention variant. ")
        + "The cache grows by the same amount with every token, so it is proportional to $B \\cdot S$.")
    return Worked(prompt, {"per_token": Part(int(per_token), "bytes", rel=0, what="KV bytes per token"),
                           "cache_gib": Part(total / GiB, "GiB", rel=0.01, what="KV cache of the batch")},
                  solution)


# --- 2. The four metrics from measured step times ---------------------------------------------------

@exercise("generation-ex2", variants={"model": ["qwen2.5-7b", "llama-3.1-8b", "qwen3-8b"],
                                      "device": ["a100-sxm-80gb", "h100-sxm", "mi300x"], "batch": [1, 8, 16]})
def metrics_from_steps(model: str = "qwen2.5-7b", device: str = "a100-sxm-80gb", batch: int = 8,
                       prompt_len: int = 2048, gen_len: int = 512) -> Worked:
    """TPOT, end-to-end latency and throughput from TTFT and the first and last decode-step times."""
    m = gen.metrics(model, device, batch=batch, prompt_len=prompt_len, gen_len=gen_len)
    h = llmperf.get_hardware(device)
    ttft, first, last = m["ttft_s"] * 1e3, m["tpot_first_s"] * 1e3, m["tpot_last_s"] * 1e3
    prompt = (f"{_name(model)} runs on an {h.display_name} in bf16 with a batch of $B = {batch}$ requests, each "
              f"with a prompt of $T = {_m(fmt(prompt_len))}$ tokens, and generates $G = {gen_len}$ tokens per "
              f"request. The prefill takes {fmt(ttft, 'sig4')} ms; the first decode step takes "
              f"{fmt(first, 'sig4')} ms and the last one {fmt(last, 'sig4')} ms, and the step time grows by the "
              "same amount at every step. Compute the TPOT (ms), the end-to-end latency (s) and the throughput "
              "(generated tokens per second, all requests together).")
    mean_est = (first + last) / 2
    solution = (
        f"There are $G - 1 = {gen_len - 1}$ decode steps. Their times grow by a constant amount per step, "
        "because each step reads the cache of one more token: the times form an arithmetic sequence, whose mean "
        "is the mean of its first and last terms:\n\n"
        f"$$\\text{{TPOT}} = \\frac{{{fmt(first, 'sig4')} + {fmt(last, 'sig4')}}}{{2}} = {fmt(mean_est, 'sig4')}"
        "\\ \\text{ms}.$$\n\n"
        f"End-to-end latency: $\\text{{TTFT}} + (G - 1)\\,\\text{{TPOT}} = {fmt(ttft, 'sig4')}\\ \\text{{ms}} + "
        f"{gen_len - 1} \\times {fmt(m['tpot_s'] * 1e3, 'sig4')}\\ \\text{{ms}} = {fmt(m['e2e_s'], 'sig4')}$ s.\n\n"
        f"Throughput: $B \\cdot G / \\text{{latency}} = {batch} \\times {gen_len} / {fmt(m['e2e_s'], 'sig4')}\\ "
        f"\\text{{s}} = {_m(fmt(m['throughput'], 'sig4'))}$ tokens/s.\n\n"
        "TPOT is a mean over the decode steps only: the first token comes from the prefill, whose time is "
        f"TTFT. Here the decode steps take {fmt(100 * (gen_len - 1) * m['tpot_s'] / m['e2e_s'])} % of the "
        "end-to-end latency.")
    return Worked(prompt, {"tpot_ms": Part(m["tpot_s"] * 1e3, "ms", rel=0.01, what="TPOT"),
                           "e2e_s": Part(m["e2e_s"], "s", rel=0.01, what="end-to-end latency"),
                           "throughput": Part(m["throughput"], "tokens/s", rel=0.01, what="throughput")},
                  solution)


# --- 3. A batch-1 decode step, by hand -----------------------------------------------------------

def _decode_reads(model, context, batch=1):
    """(weights a decode step reads, KV cache it reads) in bytes, bf16: every weight but the embedding table."""
    c = llmperf.load_model(model)
    pc = c.param_counts()
    weights = 2.0 * (pc["total"] - pc["embedding"])
    kv = float(llmperf.kv_cache_bytes(model, context, batch))
    return weights, kv, pc


@exercise("generation-ex3", variants={"model": ["qwen3-8b", "llama-2-13b", "qwen2.5-14b", "llama-3.1-8b"],
                                      "device": ["h200", "a100-sxm-80gb", "l40s", "mi300x"],
                                      "context": [1024, 8192]})
def decode_step_by_hand(model: str = "qwen3-8b", device: str = "h200", context: int = 8192) -> Worked:
    """Lower bound on a batch-1 decode step: the bytes it must read over the bandwidth."""
    c = llmperf.load_model(model)
    h = llmperf.get_hardware(device)
    bw = h.memory_bandwidth_bytes_per_s
    weights, kv, pc = _decode_reads(model, context)
    step = float(llmperf.decode_step(model, device, batch=1, context=context).time_s)
    est = (weights + kv) / bw
    prompt = (f"{_name(model)} has $P = {_m(fmt(pc['total']))}$ parameters, of which "
              f"$V \\cdot D = {_m(fmt(pc['embedding']))}$ form the input embedding table, and {_cfg(model)}. "
              f"It decodes one sequence ($B = 1$) with $S = {_m(fmt(context))}$ tokens in its KV cache on an "
              f"{h.display_name} ({fmt(bw / 1e12, 'sig3')} TB/s), weights and cache in bf16. A decode step reads "
              "every weight except the embedding table (it looks up one row of it) and the whole KV cache. "
              "Estimate the time of the step (ms) and the tokens per second this sequence gets.")
    solution = (
        f"Weights read: $2 \\times ({_m(fmt(pc['total']))} - {_m(fmt(pc['embedding']))}) = "
        f"{fmt(weights / 1e9)}$ GB. KV cache read: $2 L K H \\cdot 2 \\cdot S = {_m(fmt(kv / 1e9))}$ GB.\n\n"
        f"$$t \\ge \\frac{{{fmt(weights / 1e9)} + {fmt(kv / 1e9)}\\ \\text{{GB}}}}{{{fmt(bw / 1e12, 'sig3')}\\ "
        f"\\text{{TB/s}}}} = {fmt(est * 1e3)}\\ \\text{{ms}},$$\n\n"
        f"so about $1 / t = {_m(fmt(1 / est))}$ tokens per second. llmperf, counting every operator, gives "
        f"{fmt(step * 1e3, 'sig4')} ms, so {fmt(1 / step)} tokens per second: the answer.\n\n"
        "The step is memory-bound: it does 2 FLOP (one multiply-add) per weight, 1 FLOP per byte of bf16 "
        "weight, far below any GPU's ridge point, so the bandwidth and not the FLOP/s sets its time. "
        f"The KV cache is {fmt(100 * kv / (weights + kv))} % of the bytes at this context.")
    return Worked(prompt, {"step_ms": Part(step * 1e3, "ms", rel=0.02, what="decode-step time"),
                           "tokens_per_s": Part(1 / step, "tokens/s", rel=0.02, what="tokens per second")},
                  solution)


# --- 4. Prefill FLOP and its compute bound --------------------------------------------------------

@exercise("generation-ex4", variants={"model": ["qwen2.5-7b", "llama-3.1-8b", "llama-2-7b", "qwen3-8b"],
                                      "device": ["mi300x", "a100-sxm-80gb", "h200"],
                                      "prompt_len": [512, 2048, 8192]})
def prefill_by_hand(model: str = "qwen2.5-7b", device: str = "mi300x", prompt_len: int = 2048) -> Worked:
    """Prefill FLOP of one prompt and the time its arithmetic takes at the peak; why TTFT is longer."""
    c = llmperf.load_model(model)
    h = llmperf.get_hardware(device)
    pk = h.peak_for("bf16")
    pc = c.param_counts()
    T = prompt_len
    a = llmperf.analyze(model, device, batch=1, prompt_len=T, gen_len=1)
    flop = float(a.prefill.flops)
    ttft = a.summary["ttft_s"]
    body = pc["total"] - 2 * pc["embedding"]           # untied: the embedding table and the lm_head
    lin, head = 2.0 * body * T, 2.0 * pc["embedding"]
    attn = 4.0 * c.n_layers * c.n_heads * c.head_dim * T * (T + 1) / 2
    prompt = (f"{_name(model)} ({fmt(pc['total'])} parameters; its input embedding and its output "
              f"projection `lm_head` are separate $V \\times D$ matrices of {fmt(pc['embedding'])} parameters "
              f"each; {_cfg(model)}) prefills one prompt of $T = {_m(fmt(T))}$ tokens on an {h.display_name} "
              f"({fmt(pk / 1e12, 'sig4')} TFLOP/s dense bf16). Count the prefill's FLOP: 2 per weight per token for "
              "the layers' weights, the logits of the last token only, and causal attention, whose scores and "
              "weighted sum cost $4 H$ FLOP per query-key pair per query head. Give the FLOP (TFLOP) and the "
              "time they take at the peak rate (ms).")
    solution = (
        f"- layers' weights: $2 \\times {_m(fmt(body))} \\times {_m(fmt(T))} = {fmt(lin / 1e12)}$ TFLOP;\n"
        f"- logits of the last token: $2 V D = {fmt(head / 1e9)}$ GFLOP;\n"
        f"- attention: $4 H \\cdot L \\cdot N \\cdot T (T + 1) / 2 = {fmt(attn / 1e12)}$ TFLOP.\n\n"
        f"In all about {fmt((lin + head + attn) / 1e12)} TFLOP (llmperf, which adds norms, activations and "
        f"RoPE, counts {fmt(flop / 1e12, 'sig4')} TFLOP). At {fmt(pk / 1e12, 'sig4')} TFLOP/s that is "
        f"{fmt(flop / pk * 1e3, 'sig4')} ms.\n\n"
        f"llmperf's TTFT is {fmt(ttft * 1e3, 'sig4')} ms, {fmt(100 * (ttft * pk / flop - 1))} % more, "
        "because not every operator of the prefill is compute-bound: the norms, the activation function, RoPE "
        "and the residual additions do a few FLOP per element they read and write, so they are memory-bound "
        "(the book assumes no fusion), and so is the `lm_head` of one token. The matrix products are "
        f"compute-bound: each weight serves all {fmt(T)} tokens, an intensity of the order of $T$ FLOP/B.")
    return Worked(prompt, {"tflop": Part(flop / 1e12, "TFLOP", rel=0.02, what="prefill FLOP"),
                           "compute_ms": Part(flop / pk * 1e3, "ms", rel=0.02, what="time at peak FLOP/s")},
                  solution)


# --- 5. What batching buys in decode ------------------------------------------------------------

@exercise("generation-ex5", variants={"model": ["llama-2-7b", "llama-3.1-8b", "qwen2.5-7b"],
                                      "device": ["h100-sxm", "a100-sxm-80gb", "mi300x"], "batch": [8, 16]})
def batching_decode(model: str = "llama-2-7b", device: str = "h100-sxm", batch: int = 16,
                    context: int = 4096) -> Worked:
    """Decode-step time at batch 1 and B, the decode-throughput gain, and the batch where KV equals weights."""
    h = llmperf.get_hardware(device)
    bw = h.memory_bandwidth_bytes_per_s
    t1 = float(llmperf.decode_step(model, device, batch=1, context=context).time_s)
    tb = float(llmperf.decode_step(model, device, batch=batch, context=context).time_s)
    weights, kv1, pc = _decode_reads(model, context)
    equal = weights / kv1
    prompt = (f"{_name(model)} ({fmt(pc['total'])} parameters, $V \\cdot D = {_m(fmt(pc['embedding']))}$ of "
              f"them in the embedding table; {_cfg(model)}) decodes on an {h.display_name} "
              f"({fmt(bw / 1e12, 'sig3')} TB/s), everything in bf16; every sequence has $S = {_m(fmt(context))}$ "
              "tokens cached. Assume a decode step reads every weight except the embedding table once, whatever "
              f"the batch, plus each sequence's KV cache. Estimate the step time at $B = 1$ and at $B = {batch}$ "
              f"(ms), how many times more tokens per second the batch of {batch} generates, and the batch at which "
              "the KV cache read equals the weight read.")
    solution = (
        f"Weights: {fmt(weights / 1e9)} GB per step; KV cache: {fmt(kv1 / 1e9)} GB per sequence "
        f"($2 L K H \\cdot 2 \\cdot S$).\n\n"
        f"- $B = 1$: $({fmt(weights / 1e9)} + {fmt(kv1 / 1e9)})\\ \\text{{GB}} / {fmt(bw / 1e12, 'sig3')}\\ "
        f"\\text{{TB/s}} \\approx {fmt(t1 * 1e3)}$ ms (llmperf: {fmt(t1 * 1e3, 'sig4')} ms);\n"
        f"- $B = {batch}$: $({fmt(weights / 1e9)} + {batch} \\times {fmt(kv1 / 1e9)})\\ \\text{{GB}} / "
        f"{fmt(bw / 1e12, 'sig3')}\\ \\text{{TB/s}} \\approx {fmt(tb * 1e3)}$ ms (llmperf: "
        f"{fmt(tb * 1e3, 'sig4')} ms);\n"
        f"- tokens per second: $B / t$ grows by ${batch} \\times {fmt(t1 * 1e3, 'sig4')} / {fmt(tb * 1e3, 'sig4')}"
        f" = {fmt(batch * t1 / tb)}$ times;\n"
        f"- the KV read equals the weight read at $B = {fmt(weights / 1e9)} / {fmt(kv1 / 1e9)} = {fmt(equal)}$.\n\n"
        "Why the gain: the weights are read once per step and serve every sequence of the batch, while each "
        f"sequence brings its own KV cache. The gain falls short of {batch} because the KV traffic grows with "
        "the batch. "
        + ("With multi-head attention ($K = N$) the cache per token is large, so the KV read catches up with the "
           "weights at a small batch." if llmperf.load_model(model).n_kv_heads == llmperf.load_model(model).n_heads
           else "Grouped-query attention keeps the cache per token small, so the weights dominate up to a large "
                "batch."))
    return Worked(prompt, {"step_b1_ms": Part(t1 * 1e3, "ms", rel=0.02, what="step time at B = 1"),
                           "step_b_ms": Part(tb * 1e3, "ms", rel=0.02, what=f"step time at B = {batch}"),
                           "speedup": Part(batch * t1 / tb, "", rel=0.02, what="tokens-per-second gain"),
                           "kv_equals_weights_batch": Part(equal, "", rel=0.02,
                                                           what="batch where KV read = weight read")},
                  solution)


# --- 6. The largest batch that fits ---------------------------------------------------------------

@exercise("generation-ex6", variants={"model": ["qwen2.5-14b", "llama-3.1-8b", "llama-2-7b", "qwen3-8b"],
                                      "device": ["l40s", "a100-sxm-80gb", "h100-sxm", "mi300x"],
                                      "context": [4096, 8192, 32768]})
def largest_batch(model: str = "qwen2.5-14b", device: str = "l40s", context: int = 8192) -> Worked:
    """Weights, KV cache per sequence and the largest batch whose cache fits next to the weights."""
    c = llmperf.load_model(model)
    h = llmperf.get_hardware(device)
    pc = c.param_counts()
    cap = h.memory_bytes
    weights = 2 * pc["total"]
    per_seq = float(llmperf.kv_cache_bytes(model, context, 1))
    per_token = int(per_seq) // context
    max_batch = int((cap - weights) // per_seq)
    prompt = (f"{_name(model)} ({fmt(pc['total'])} parameters; {_cfg(model)}) serves requests on an "
              f"{h.display_name} with {fmt(cap / GiB, '.0f')} GiB of memory; weights and KV cache in bf16. "
              f"Every sequence holds $S = {_m(fmt(context))}$ tokens at the end of its generation. Ignoring "
              "activations, how many GiB do the weights take, how many GiB of KV cache does one sequence need, "
              "and what is the largest batch whose KV cache fits next to the weights?")
    solution = (
        f"Weights: $M_w = 2 P = {_m(fmt(weights))}$ bytes $= {fmt(weights / GiB)}$ GiB.\n\n"
        f"KV cache per sequence: $2 L K H \\cdot 2 \\cdot S = {_m(fmt(per_token))} \\times {_m(fmt(context))} = "
        f"{_m(fmt(int(per_seq)))}$ bytes $= {fmt(per_seq / GiB)}$ GiB.\n\n"
        f"Largest batch: $\\lfloor ({fmt(cap / GiB, '.0f')}\\ \\text{{GiB}} - {fmt(weights / GiB)}\\ \\text{{GiB}})"
        f" / {fmt(per_seq / GiB)}\\ \\text{{GiB}} \\rfloor = {max_batch}$.\n\n"
        "The largest batch falls as $1 / S$: at long contexts the memory for the cache, not the bandwidth, "
        "limits how many sequences share each read of the weights. (llmperf's `analyze` also counts the "
        f"activations of prefilling a {fmt(context)}-token prompt: its largest batch for this case is {llmperf.analyze(model, device, batch=1, prompt_len=context, gen_len=1).memory['max_batch']}.)")
    return Worked(prompt, {"weights_gib": Part(weights / GiB, "GiB", rel=0.01, what="weight memory"),
                           "kv_per_seq_gib": Part(per_seq / GiB, "GiB", rel=0.01, what="KV cache per sequence"),
                           "max_batch": Part(max_batch, "sequences", rel=0, what="largest batch")},
                  solution)


# --- 7. Open design question ------------------------------------------------------------------------

DESIGN_DEVICES = ("a100-sxm-80gb", "h100-sxm", "l40s", "mi300x")
DESIGN_DTYPES = ("bf16", "fp8", "int4")


def design_verdict(design, model, prompt_len, gen_len, ttft_ms, tpot_ms, throughput) -> str | None:
    """None if ``design`` ({'device', 'weight_dtype', 'batch'}) meets the targets and fits, else a hint."""
    if not isinstance(design, dict) or set(design) != {"device", "weight_dtype", "batch"}:
        return "submit a dict with the keys 'device', 'weight_dtype' and 'batch'"
    dev, wd, b = design["device"], design["weight_dtype"], design["batch"]
    if dev not in DESIGN_DEVICES:
        return f"the device must be one of {', '.join(DESIGN_DEVICES)}"
    if wd not in DESIGN_DTYPES:
        return f"the weight dtype must be one of {', '.join(DESIGN_DTYPES)}"
    if isinstance(b, bool) or not isinstance(b, (int, np.integer)) or b < 1:
        return "the batch must be a whole number of requests, at least 1"
    a = llmperf.analyze(model, dev, batch=int(b), prompt_len=prompt_len, gen_len=gen_len, weight_dtype=wd)
    s = a.summary
    bad = []
    if not a.fits:
        bad.append(f"it does not fit in memory ({fmt(s['memory_total_bytes'] / GiB)} GiB needed)")
    if s["ttft_s"] * 1e3 > ttft_ms:
        bad.append(f"TTFT is {fmt(s['ttft_s'] * 1e3)} ms, above {fmt(ttft_ms)} ms: the batch's prompts are "
                   "prefilled together, so TTFT grows with the batch")
    if s["tpot_s"] * 1e3 > tpot_ms:
        bad.append(f"TPOT is {fmt(s['tpot_s'] * 1e3)} ms, above {fmt(tpot_ms)} ms")
    if s["throughput_tokens_per_s"] < throughput:
        bad.append(f"the throughput is {fmt(s['throughput_tokens_per_s'])} tokens/s, below {fmt(throughput)}")
    return None if not bad else "; ".join(bad)


def _best_design(model, prompt_len, gen_len, ttft_ms, tpot_ms, throughput):
    """A design meeting the targets: the first device/dtype (in catalog order) that can, at its largest batch."""
    for dev in DESIGN_DEVICES:
        for wd in DESIGN_DTYPES:
            bm = gen.batch_metrics(model, dev, 2 ** np.arange(0, 11), prompt_len, gen_len, weight_dtype=wd)
            ok = bm["Fits"] & (bm["TTFT (ms)"] <= ttft_ms) & (bm["TPOT (ms)"] <= tpot_ms)
            if not ok.any():
                continue
            lo = int(bm.loc[ok, "Batch"].max())            # the largest power of two meeting the bounds
            hi = 2 * lo                                     # the next one fails (or is out of the grid)
            while hi - lo > 1:                              # bisect for the largest whole batch
                mid = (lo + hi) // 2
                if design_verdict({"device": dev, "weight_dtype": wd, "batch": mid}, model, prompt_len, gen_len,
                                  ttft_ms, tpot_ms, 0.0) is None:
                    lo = mid
                else:
                    hi = mid
            d = {"device": dev, "weight_dtype": wd, "batch": lo}
            if design_verdict(d, model, prompt_len, gen_len, ttft_ms, tpot_ms, throughput) is None:
                return d
    raise ValueError("no design in the catalog meets these targets")


@exercise("generation-ex7", variants={"model": ["qwen2.5-14b", "llama-3.1-8b", "qwen3-8b"],
                                      "ttft_ms": [1000, 2000], "throughput": [1500, 2000]})
def design_a_service(model: str = "qwen2.5-14b", prompt_len: int = 2048, gen_len: int = 512, ttft_ms: float = 1000,
                     tpot_ms: float = 20, throughput: float = 1500) -> Worked:
    """Open design: a device, a weight dtype and a batch that meet TTFT, TPOT and throughput targets."""
    best = _best_design(model, prompt_len, gen_len, ttft_ms, tpot_ms, throughput)
    a = llmperf.analyze(model, best["device"], batch=best["batch"], prompt_len=prompt_len, gen_len=gen_len,
                        weight_dtype=best["weight_dtype"])
    s = a.summary
    one = llmperf.analyze(model, best["device"], batch=1, prompt_len=prompt_len, gen_len=gen_len,
                          weight_dtype=best["weight_dtype"]).summary
    h = llmperf.get_hardware(best["device"])
    names = ", ".join(llmperf.get_hardware(d).display_name for d in DESIGN_DEVICES)
    prompt = (f"A chat service runs {_name(model)}. Requests arrive in batches that start together (static "
              f"batching): every request has a prompt of $T = {_m(fmt(prompt_len))}$ tokens and an answer of "
              f"$G = {gen_len}$ tokens, and a batch's prompts are prefilled together. The targets are "
              f"TTFT $\\le$ {fmt(ttft_ms)} ms, TPOT $\\le$ {fmt(tpot_ms)} ms and a throughput of at least "
              f"{fmt(throughput)} generated tokens per second on one device. Choose a device (one of: {names}), "
              f"a weight dtype (bf16, fp8 or int4; activations and KV cache stay in bf16) and a batch that meet "
              "the three targets and fit in memory, and justify the choice.")
    solution = (
        f"One design that works: **{h.display_name}, {best['weight_dtype']} weights, batch {best['batch']}** "
        + f'(submitted as `{{"design": {{"device": "{best["device"]}", "weight_dtype": "{best["weight_dtype"]}", '
        f'"batch": {best["batch"]}}}}}`).\n\n'
        f"- TTFT: the prefill is compute-bound, so it grows in proportion to the batch: "
        f"{fmt(one['ttft_s'] * 1e3)} ms for one prompt, {fmt(s['ttft_s'] * 1e3)} ms for {best['batch']}. "
        f"The TTFT target caps the batch near {fmt(ttft_ms)} / {fmt(one['ttft_s'] * 1e3)} "
        f"$\\approx$ {fmt(ttft_ms / (one['ttft_s'] * 1e3))} requests.\n"
        f"- TPOT: the decode is memory-bound, so it depends on the bytes read per step: "
        f"{fmt(s['tpot_s'] * 1e3)} ms, within the target. Smaller weights (fp8, int4) shorten it.\n"
        f"- Throughput: $B \\cdot G / (\\text{{TTFT}} + (G - 1)\\,\\text{{TPOT}}) = {best['batch']} \\times "
        f"{gen_len} / {fmt(s['e2e_latency_s'])}\\ \\text{{s}} = {_m(fmt(s['throughput_tokens_per_s']))}$ tokens/s.\n"
        f"- Memory: {fmt(s['memory_total_bytes'] / GiB)} GiB of {fmt(h.memory_bytes / GiB, '.0f')} GiB.\n\n"
        "The throughput needs a large batch, the TTFT target a small one: the device must prefill fast "
        "(high FLOP/s) to leave room for the batch, and read its weights fast (high bandwidth, fewer bytes) to "
        "keep TPOT low. Other designs pass too; check yours with "
        f"`check(\"generation-ex7\", {{\"design\": {{...}}}})`. Continuous batching, which admits a new request "
        "as soon as one finishes instead of prefilling a whole batch at once, relaxes the TTFT constraint; "
        "so does a shorter prompt.")
    accept = lambda d: design_verdict(d, model, prompt_len, gen_len, ttft_ms, tpot_ms, throughput)  # noqa: E731
    return Worked(prompt, {"design": Part(best, "", what="design", accept=accept)}, solution)
