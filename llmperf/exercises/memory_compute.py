"""Exercises of the chapter "From Memory-Bound to Compute-Bound" (labels ``regimes-ex1`` ...).

Each function takes the exercise's numbers as keyword arguments (defaults: the
book's version) and returns a :class:`~llmperf.exercises.Worked` whose parts
and worked solution llmperf computes. Times are roofline lower bounds.
"""
from __future__ import annotations

import math

import numpy as np

from ..analysis import analyze, decode_step
from ..book import fmt
from ..dtypes import dtype_bytes
from ..hardware import HardwareError, get_hardware
from ..models import kv_bytes_per_token_layer, load_model
from ..regimes import (PRECISIONS, critical_batch, critical_batch_exact, first_compute_bound_batch,
                       kv_bytes_read, matmul_params, max_compute_bound_context, max_decode_batch,
                       smallest_compute_bound_chunk, step_time_model, throughput_ceiling)
from . import Part, Worked, exercise
from .attention_share import _W, _sizes, _title

GiB = 2 ** 30


def _dev(hw) -> str:
    return hw.display_name


def _tflops(hw, dtype="bf16") -> str:
    return fmt(hw.peak_for(hw.effective_dtype(dtype)) / 1e12, "sig4")


def _gbs(hw) -> str:
    return fmt(hw.memory_bandwidth_bytes_per_s / 1e9, ",.0f")


# --- 1: the exact critical batch of one matmul --------------------------------------------

@exercise("regimes-ex1", variants={"device": ["a100-sxm-80gb", "h200", "l40s", "mi300x", "b200"],
                                   "model": ["qwen2.5-7b", "llama-2-13b", "qwen2.5-14b"]})
def exact_critical_batch(device: str = "l40s", model: str = "qwen2.5-14b") -> Worked:
    """Exact critical batch of gate_proj ([D, F]) on a device, bf16 weights and int4 weights (bf16 compute)."""
    m, hw = load_model(model), get_hardware(device)
    D, F = m.d_model, m.d_ff
    R = hw.peak_for(hw.effective_dtype("bf16")) / hw.memory_bandwidth_bytes_per_s
    approx16, approx4 = float(critical_batch(R, 2.0)), float(critical_batch(R, 0.5))
    ex16, ex4 = float(critical_batch_exact(R, D, F, 2.0, 2.0)), float(critical_batch_exact(R, D, F, 0.5, 2.0))
    corr = R * 2.0 * (D + F) / (2.0 * D * F)
    prompt = (f"`gate_proj` of {_title(m.name)} multiplies the decode batch's $\\text{{bf16}}[B, {D:,}]$ activations by a "
              f"$[{D:,}, {F:,}]$ weight on an {_dev(hw)} ({_tflops(hw)} TFLOP/s dense bf16, {_gbs(hw)} GB/s). Counting "
              "the weight, the input activations and the output activations as bytes moved, find the exact critical "
              "batch (the $B$ at which the matmul's intensity reaches the ridge point) with bf16 weights ($b_w = 2$) "
              "and with int4 weights dequantized to bf16 ($b_w = 0.5$, arithmetic at the bf16 peak), activations "
              "in bf16 ($b_a = 2$). Why is each above $R\\,b_w/2$?")
    solution = (
        f"The ridge point is $R = \\pi/\\beta = {_tflops(hw)} \\times 10^{{12}} / {_gbs(hw)} \\times 10^9 = "
        f"{fmt(R)}$ FLOP/B. The matmul does $2BDF$ FLOP and moves $b_w DF + b_a B(D + F)$ bytes; setting the "
        "intensity equal to $R$ and solving for $B$:\n\n"
        "$$B^\\ast = \\frac{R\\,b_w/2}{1 - R\\,b_a\\,(D + F)/(2DF)}, \\qquad "
        f"R\\,b_a (D+F)/(2DF) = {fmt(R, 'sig4')} \\times 2 \\times {D + F:,} / (2 \\times {D:,} \\times {F:,}) = "
        f"{fmt(corr, 'sig3')}.$$\n\n"
        f"- bf16 weights: $R\\,b_w/2 = {fmt(approx16, 'sig4')}$, exact $B^\\ast = {fmt(approx16, 'sig4')} / "
        f"(1 - {fmt(corr, 'sig3')}) =$ **{fmt(ex16, 'sig4')}** tokens;\n"
        f"- int4 weights: $R\\,b_w/2 = {fmt(approx4, 'sig4')}$, exact **{fmt(ex4, 'sig4')}** tokens.\n\n"
        "Both sit above $R\\,b_w/2$ because the activations read and written grow with $B$: each extra token adds "
        "$b_a(D+F)$ bytes, so it takes more tokens to reach the ridge. The relative correction is the same for both "
        "formats (it does not depend on $b_w$), so int4 keeps its fourfold lower critical batch.")
    return _W(prompt, {"bf16": Part(ex16, "tokens", rel=0.01, what="exact critical batch, bf16 weights"),
                       "int4": Part(ex4, "tokens", rel=0.01, what="exact critical batch, int4 weights")}, solution)


# --- 2: a 70B model under tensor parallelism --------------------------------------------------

@exercise("regimes-ex2", variants={"model": ["llama-3.1-70b", "qwen2.5-72b"], "tp": [4, 8],
                                   "context": [1024, 4096, 8192]})
def large_model_tp(model: str = "llama-3.1-70b", tp: int = 8, context: int = 4096) -> Worked:
    """70B-class model, tensor parallel on H100 SXMs, bf16: gate_proj's critical batch, S_max, and memory."""
    m, hw = load_model(model), get_hardware("h100-sxm")
    opts = dict(context=context, tp=tp)
    gate = first_compute_bound_batch(m, hw, op="gate_proj", **opts)
    step = first_compute_bound_batch(m, hw, op=None, **opts)
    s_max = float(max_compute_bound_context(m, hw, tp=tp))
    mb = int(max_decode_batch(m, hw, context, tp=tp))
    fits = gate <= mb
    R = hw.ridge_point_for("bf16")
    K, N = m.n_kv_heads // tp, m.n_heads // tp
    P = matmul_params(m, tp)
    prompt = (f"{_title(m.name)} ({_sizes(m)}) runs with tensor parallelism {tp} on H100 SXMs (80 GiB, "
              f"{_tflops(hw)} TFLOP/s dense bf16, {_gbs(hw)} GB/s each), bf16 weights and KV cache, with "
              f"{context:,} cached tokens per sequence. Find (a) the first batch at which llmperf calls `gate_proj` "
              "compute-bound, (b) the context $S_\\text{max}$ per device beyond which no batch makes a decode step "
              "compute-bound (closed form), (c) whether some batch up to 16,384 makes the whole step compute-bound "
              "at this context (llmperf), and (d) whether the batch of (a) fits in each device's memory.")
    flag = ("fits" if fits else f"**does not fit**: at most {mb:,} sequences of {context:,} tokens fit beside the "
            "weights, so the critical batch of (a) is out of reach on this many devices")
    solution = (
        f"(a) Each device holds $F/{tp}$ columns of `gate_proj`, a $[{m.d_model:,}, {m.d_ff // tp:,}]$ slice, so the "
        f"critical batch is about $R\\,b_w/2 = {fmt(R)}$ tokens plus the activation correction: llmperf first calls it "
        f"compute-bound at **$B = {gate:,}$**. Tensor parallelism does not move it much: it shrinks the weight and "
        "the FLOP per device alike.\n\n"
        f"(b) Per device the step streams $P = {fmt(P / 1e9, 'sig4')} \\times 10^9$ weights and holds $K/{tp} = {K}$ "
        f"KV head(s) and $N/{tp} = {N}$ query heads per layer: $S_\\text{{max}} = 2P / (2LH(R\\,K b_{{kv}} - 2N)) = $ "
        f"**{fmt(s_max, ',.0f')}** tokens.\n\n"
        f"(c) {'Yes' if step is not None else 'No'}: "
        + (f"llmperf finds the whole step compute-bound from $B = {step:,}$, since {context:,} is below $S_\\text{{max}}$."
           if step is not None else
           (f"at {context:,} cached tokens, above $S_\\text{{max}}$, every extra sequence adds more KV bytes than "
            "its FLOP can cover." if context > s_max else
            f"{context:,} cached tokens is below $S_\\text{{max}}$, but the activation bytes that llmperf counts "
            "and the closed form drops keep every batch up to 16,384 memory-bound.")) + "\n\n"
        f"(d) Memory per device: the weights take {fmt(analyze(m, hw, 1, 1, 1, tp=tp).summary['weight_bytes'] / GiB)} GiB "
        f"and each sequence's cache $2 L (K/{tp}) H\\,b_{{kv}} (S+1) = "
        f"{fmt(kv_bytes_per_token_layer(m, 'bf16', tp) * m.n_layers * (context + 1) / 2 ** 20)}$ MiB: the batch of "
        f"(a) {flag}.")
    return _W(prompt, {"gate_batch": Part(gate, "sequences", rel=0, what="gate_proj critical batch"),
                       "s_max": Part(s_max, "tokens", rel=0.01, what="S_max per device"),
                       "step_compute_bound": Part(step is not None, rel=0, what="some batch makes the step compute-bound"),
                       "fits": Part(bool(fits), rel=0, what="the batch of (a) fits")}, solution)


# --- 3: weight-only int4 at batch 1 ------------------------------------------------------------

@exercise("regimes-ex3", variants={"model": ["llama-3.1-8b", "qwen2.5-7b", "llama-2-13b"],
                                   "device": ["l40s", "a100-sxm-80gb", "h200"], "context": [1024, 16384]})
def int4_speedup(model: str = "qwen2.5-7b", device: str = "a100-sxm-80gb", context: int = 16384) -> Worked:
    """Batch-1 decode step with bf16 and with int4 weights (bf16 KV cache): times and speedup."""
    m, hw = load_model(model), get_hardware(device)
    r16 = decode_step(m, hw, 1, context)
    r4 = decode_step(m, hw, 1, context, weight_dtype="int4")
    t16, t4 = float(r16.time_s), float(r4.time_s)
    w16 = float(r16.ops.total("weight_bytes"))
    kv = float(kv_bytes_read(m, 1, context))
    bw = hw.memory_bandwidth_bytes_per_s
    ideal = (w16 + kv) / (w16 / 4 + kv)
    fits = bool(max_decode_batch(m, hw, context) >= 1)
    prompt = (f"{_title(m.name)} ({_sizes(m)}) decodes one sequence with {context:,} cached tokens on an {_dev(hw)} "
              f"({_gbs(hw)} GB/s), bf16 KV cache. Compute the decode step's time with bf16 weights and with int4 "
              "weights dequantized to bf16 (`weight_dtype=\"int4\"`), in ms, and the speedup. Why is it less than 4?")
    solution = (
        "At batch 1 every operator is memory-bound, so the step time is the bytes it moves over the bandwidth: "
        f"$t \\approx (M_w + M_{{kv}})/\\beta$ with $M_w = {fmt(w16 / 1e9, 'sig4')}$ GB of bf16 weights and "
        f"$M_{{kv}} = 2LKH\\,b_{{kv}}(S+1) = {fmt(kv / 1e9, 'sig4')}$ GB of KV cache read.\n\n"
        f"- bf16 weights: **{fmt(t16 * 1e3, 'sig4')} ms** (llmperf);\n"
        f"- int4 weights: the weight bytes fall fourfold, to {fmt(w16 / 4e9, 'sig4')} GB: **{fmt(t4 * 1e3, 'sig4')} ms**;\n"
        f"- speedup **{fmt(t16 / t4, 'sig3')}×**.\n\n"
        f"It is less than 4 because int4 shrinks only the weights: the KV cache ({fmt(100 * kv / (w16 + kv))} % of the "
        f"bf16 step's weight and KV bytes) and the activations are read at full size. The byte count alone predicts "
        f"$(M_w + M_{{kv}})/(M_w/4 + M_{{kv}}) = {fmt(ideal, 'sig3')}$; the longer the context, the smaller the gain."
        + ("" if fits else " (The cache of this one sequence does not even fit beside the weights: flag it.)"))
    return _W(prompt, {"t_bf16": Part(t16 * 1e3, "ms", rel=0.01, what="step time, bf16 weights"),
                       "t_int4": Part(t4 * 1e3, "ms", rel=0.01, what="step time, int4 weights"),
                       "speedup": Part(t16 / t4, "×", rel=0.01, what="speedup")}, solution)


# --- 4: TTFT, TPOT and end-to-end latency of a generation -----------------------------------

@exercise("regimes-ex4", variants={"model": ["llama-3.1-8b", "qwen2.5-14b"], "device": ["h200", "a100-sxm-80gb", "l40s"],
                                   "batch": [1, 16, 64], "prompt_len": [2048, 8192]})
def latency_of_a_generation(model: str = "llama-3.1-8b", device: str = "a100-sxm-80gb", batch: int = 16,
                            prompt_len: int = 2048, gen_len: int = 512) -> Worked:
    """TTFT, TPOT (mean decode step), end-to-end latency and memory fit of a batched generation."""
    m, hw = load_model(model), get_hardware(device)
    a = analyze(m, hw, batch, prompt_len, gen_len)
    s = a.summary
    ttft, tpot, e2e = s["ttft_s"], s["tpot_s"], s["e2e_latency_s"]
    first, last = s["tpot_first_s"], s["tpot_last_s"]
    fits = a.fits
    mem = a.memory
    prompt = (f"{_title(m.name)} serves a batch of {batch} requests on one {_dev(hw)}, each with a {prompt_len:,}-token "
              f"prompt and $G = {gen_len}$ generated tokens, bf16 weights and KV cache (`llmperf.analyze`). Give the "
              "TTFT (ms), the TPOT (the mean time of the $G - 1$ decode steps, in ms), the end-to-end latency (s), and "
              "whether the workload fits in the device's memory.")
    flag = ("The workload fits: " if fits else "**The workload does not fit**, so these times describe a run this "
            "device cannot make (lower the batch, quantize, or split the model over devices): ")
    solution = (
        f"- **TTFT** is the prefill of {batch} × {prompt_len:,} tokens: **{fmt(ttft * 1e3, 'sig4')} ms** "
        f"(prefill is {a.prefill.bound if isinstance(a.prefill.bound, str) else str(np.asarray(a.prefill.bound).item())}-bound).\n"
        f"- **TPOT** is the mean of the {gen_len - 1} decode steps, which attend {prompt_len:,} to "
        f"{prompt_len + gen_len - 2:,} cached tokens: **{fmt(tpot * 1e3, 'sig4')} ms**. The first step takes "
        f"{fmt(first * 1e3, 'sig4')} ms and the last {fmt(last * 1e3, 'sig4')} ms: the KV read grows each step, so "
        "the first step alone understates TPOT.\n"
        f"- **End-to-end latency** $= \\text{{TTFT}} + (G - 1)\\,\\text{{TPOT}} = {fmt(ttft * 1e3, 'sig4')}\\text{{ ms}} "
        f"+ {gen_len - 1} \\times {fmt(tpot * 1e3, 'sig4')}\\text{{ ms}} =$ **{fmt(e2e, 'sig4')} s**.\n\n"
        f"{flag}weights {fmt(mem['weight_bytes'] / GiB)} GiB + KV cache {fmt(mem['kv_cache_bytes'] / GiB)} GiB + "
        f"activations {fmt(mem['activation_peak_bytes'] / GiB)} GiB against {fmt(mem['memory_capacity_bytes'] / GiB)} "
        f"GiB (at most {mem['max_batch']:,} such requests fit).")
    return _W(prompt, {"ttft_ms": Part(ttft * 1e3, "ms", rel=0.01, what="TTFT"),
                       "tpot_ms": Part(tpot * 1e3, "ms", rel=0.01, what="TPOT (mean decode step)"),
                       "e2e_s": Part(e2e, "s", rel=0.01, what="end-to-end latency"),
                       "fits": Part(bool(fits), rel=0, what="fits in memory")}, solution)


# --- 5: the smallest compute-bound prefill chunk ---------------------------------------------

@exercise("regimes-ex5", variants={"device": ["l4", "l40s", "rtx-4090", "a10"], "past": [2048, 4096, 16384]})
def smallest_busy_chunk(device: str = "l4", past: int = 4096, model: str = "llama-3.1-8b") -> Worked:
    """Smallest prefill chunk after `past` cached tokens whose step is compute-bound (bf16, batch 1)."""
    m, hw = load_model(model), get_hardware(device)
    c = smallest_compute_bound_chunk(m, hw, past=past)
    c0 = smallest_compute_bound_chunk(m, hw, past=0)
    R = hw.ridge_point_for("bf16")
    b_crit = float(critical_batch_exact(R, m.d_model, m.d_ff, 2.0, 2.0))
    prompt = (f"{_title(m.name)} ({_sizes(m)}) prefills a long prompt in chunks of $\\omega$ tokens on an {_dev(hw)} "
              f"({_tflops(hw)} TFLOP/s dense bf16, {_gbs(hw)} GB/s), bf16, batch 1. What is the smallest chunk whose "
              f"prefill step, after $S_0 = {past:,}$ cached tokens, is compute-bound (llmperf's step totals)? Is it smaller or "
              "larger than the smallest such chunk at the start of the prompt, and why?")
    solution = (
        f"For the weight matmuls a chunk of $\\omega$ tokens is a batch of $\\omega$: they turn compute-bound near the "
        f"critical batch, {fmt(b_crit, 'sig4')} tokens for a $[{m.d_model:,}, {m.d_ff:,}]$ matmul on this device "
        f"($R = {fmt(R)}$ FLOP/B). Norms, RoPE and the activations add bytes and no reuse, so the whole step needs "
        f"a somewhat larger chunk: **{c0:,}** tokens at the start of the prompt.\n\n"
        f"After {past:,} cached tokens the smallest compute-bound chunk is **{c:,}** tokens, "
        + ("smaller" if c < c0 else "not smaller") + ". "
        "Each query of the chunk now also attends the cached keys: the chunk's attention does "
        "$4NH\\,\\omega(S_0 + \\omega/2)$ FLOP while reading each cached key and value once for all $\\omega$ queries, so "
        "its intensity grows with $\\omega$ like a matmul's, and its extra compute-bound FLOP tip the step's total "
        "sooner.")
    return _W(prompt, {"chunk": Part(int(c), "tokens", rel=0, what="smallest compute-bound chunk")}, solution)


# --- 6: open design: device, precision and batch for a latency target -----------------------

DESIGN_DEVICES = ("l4", "l40s", "a100-sxm-80gb", "h100-sxm")
BATCHES = tuple(int(b) for b in 2 ** np.arange(0, 10))


def _design_eval(model, device, precision, batch, prompt_len, gen_len):
    """(tpot_s, tokens_per_s, fits, memory message) of a design, or raise ValueError with a hint."""
    opts = PRECISIONS[precision]
    a = analyze(model, device, batch, prompt_len, gen_len, **opts)
    tpot = a.summary["tpot_s"]
    return tpot, batch / tpot, a.fits, a.memory_message()


@exercise("regimes-ex6", variants={"model": ["llama-3.1-8b", "qwen2.5-7b"], "tpot_ms": [8, 15, 30],
                                   "min_tokens_per_s": [1000, 3000]})
def design_for_a_latency_target(model: str = "llama-3.1-8b", tpot_ms: float = 15, min_tokens_per_s: float = 3000,
                                prompt_len: int = 4096, gen_len: int = 512) -> Worked:
    """Open design: a device, a precision scheme and a batch that meet a TPOT target and a throughput floor."""
    m = load_model(model)
    target_s = tpot_ms / 1e3
    rows, good = [], None
    for dev in DESIGN_DEVICES:
        hw = get_hardware(dev)
        for prec in PRECISIONS:
            try:
                hw.peak_for(hw.effective_dtype(PRECISIONS[prec]["act_dtype"]))
            except HardwareError:
                continue
            best = None   # the largest batch meeting the TPOT target and fitting
            for b in BATCHES:
                tpot, tps, fits, _ = _design_eval(m, hw, prec, b, prompt_len, gen_len)
                if fits and tpot <= target_s:
                    best = (b, tpot, tps)
            rows.append((dev, prec, best))
            if good is None and best is not None and best[2] >= min_tokens_per_s:
                good = {"device": dev, "precision": prec, "batch": best[0]}
    if good is None:
        raise ValueError(f"regimes-ex6: no design meets {tpot_ms} ms and {min_tokens_per_s} tokens/s for {model}")

    def accept(design):
        if not isinstance(design, dict) or set(design) != {"device", "precision", "batch"}:
            return "submit a dict with the keys 'device', 'precision' and 'batch'"
        dev, prec, b = design["device"], design["precision"], design["batch"]
        try:
            hw = get_hardware(dev)
        except Exception:
            return f"unknown device {dev!r}: use a name of llmperf.hardware_names()"
        if prec not in PRECISIONS:
            return f"precision must be one of {', '.join(repr(p) for p in PRECISIONS)}"
        if isinstance(b, bool) or not float(b).is_integer() or int(b) < 1:
            return "the batch is a positive whole number of sequences"
        try:
            tpot, tps, fits, msg = _design_eval(m, hw, prec, int(b), prompt_len, gen_len)
        except (HardwareError, ValueError) as e:
            return f"this device cannot run that precision: {e}"
        if not fits:
            return f"it does not fit in memory ({msg})"
        if tpot > target_s:
            return f"TPOT is {fmt(tpot * 1e3, 'sig3')} ms, above {fmt(tpot_ms)} ms: lower the batch or shrink the bytes"
        if tps < min_tokens_per_s:
            return (f"it decodes {fmt(tps, ',.0f')} tokens/s, below {fmt(min_tokens_per_s, ',.0f')}: raise the batch, "
                    "or use a faster device or smaller formats")
        return None

    names = {"l4": "NVIDIA L4", "l40s": "NVIDIA L40S", "a100-sxm-80gb": "NVIDIA A100 SXM 80GB",
             "h100-sxm": "NVIDIA H100 SXM"}
    table = ["| device | precision | largest batch with TPOT ≤ target that fits | TPOT (ms) | tokens/s |",
             "|---|---|---|---|---|"]
    for dev, prec, best in rows:
        if best is None:
            table.append(f"| {dev} | {prec} | none | – | – |")
        else:
            table.append(f"| {dev} | {prec} | {best[0]} | {fmt(best[1] * 1e3, 'sig3')} | {fmt(best[2], ',.0f')} |")
    g = good
    gt, gtps, _, gmsg = _design_eval(m, g["device"], g["precision"], g["batch"], prompt_len, gen_len)
    prompt = (f"You must serve {_title(m.name)} with prompts of {prompt_len:,} tokens and $G = {gen_len}$ generated tokens "
              f"per request on a single device chosen from {', '.join(names.values())}. Targets: TPOT (the mean "
              f"decode-step time) at most {fmt(tpot_ms)} ms, and at least {fmt(min_tokens_per_s, ',.0f')} generated "
              "tokens/s in aggregate ($B$/TPOT); the weights, KV caches and activations must fit (`llmperf.analyze`). "
              "Choose a device, a precision scheme from `llmperf.regimes.PRECISIONS` and a batch $B$, submitted as "
              "`{\"design\": {\"device\": ..., \"precision\": ..., \"batch\": ...}}`, and justify the choice. Any design "
              "that meets every target is accepted.")
    solution = (
        "TPOT grows with the batch (more KV cache to read, and eventually more FLOP) while throughput $B/\\text{TPOT}$ "
        "grows too, so for each device and precision the best batch is the largest whose TPOT meets the target and "
        "that fits. llmperf, batches $1, 2, 4, \\dots, 512$:\n\n" + "\n".join(table) + "\n\n"
        f"One design that meets both targets on the cheapest device that can: **{names[g['device']]}, "
        f"{g['precision']}, $B = {g['batch']}$**: TPOT {fmt(gt * 1e3, 'sig3')} ms, {fmt(gtps, ',.0f')} tokens/s "
        f"({gmsg.split(';')[0]}). Smaller formats help twice: fewer weight bytes cut the batch-independent part of "
        "TPOT, and an fp8 KV cache halves the part that grows with $B$ and with the context, so more sequences "
        "fit under the same TPOT.")
    return _W(prompt, {"design": Part(g, "{device, precision, batch}", rel=0, what="design", accept=accept)},
              solution)


# --- 7: the throughput ceiling against what fits ------------------------------------------------

@exercise("regimes-ex7", variants={"device": ["h200", "a100-sxm-80gb", "l40s", "mi300x"],
                                   "context": [10000, 20000, 40000], "kv_dtype": ["bf16", "fp8"]})
def ceiling_against_memory(device: str = "h200", context: int = 20000, kv_dtype: str = "bf16",
                           model: str = "llama-3.1-8b") -> Worked:
    """Throughput ceiling at a context, the largest batch that fits, and the share of the ceiling it reaches."""
    m, hw = load_model(model), get_hardware(device)
    opts = dict(kv_dtype=kv_dtype)
    ceil = float(throughput_ceiling(m, hw, context, kv_dtype=kv_dtype))
    mb = int(max_decode_batch(m, hw, context, **opts))
    tps = mb / float(decode_step(m, hw, mb, context, **opts).time_s)
    f = step_time_model(m, hw, 1, context, kv_dtype=kv_dtype)
    per_tok = m.n_layers * kv_bytes_per_token_layer(m, kv_dtype)
    prompt = (f"{_title(m.name)} ({_sizes(m)}) decodes on an {_dev(hw)} ({fmt(hw.memory_bytes / GiB, ',.0f')} GiB, "
              f"{_gbs(hw)} GB/s, {_tflops(hw)} TFLOP/s dense bf16) with {context:,} cached tokens per sequence, bf16 "
              f"weights and a {kv_dtype} KV cache. Find (a) the throughput ceiling that no batch can pass, from the "
              "step-time formula, (b) the largest batch whose KV caches fit beside the weights, (c) llmperf's "
              "tokens/s at that batch, and (d) that as a percentage of the ceiling.")
    solution = (
        f"(a) Past the critical batch each sequence adds its KV read, $(S+1) \\cdot 2LKH\\,b_{{kv}} = "
        f"{context + 1:,} \\times {per_tok:,.0f}$ B $= {fmt(float(f['kv_s']) * hw.memory_bandwidth_bytes_per_s / 1e6, 'sig4')}$ "
        f"MB, and its matmul FLOP, $2P$, to the step: tokens/s $\\to 1/\\big((S+1)\\,2LKH b_{{kv}}/\\beta + 2P/\\pi\\big) "
        f"= 1/({fmt(float(f['kv_s']) * 1e3, 'sig3')}\\text{{ ms}} + {fmt(float(f['compute_s']) * 1e3, 'sig3')}\\text{{ ms}}) =$ "
        f"**{fmt(ceil, ',.0f')}** tokens/s.\n\n"
        f"(b) The memory left beside the weights holds **{mb:,}** caches of {context + 1:,} tokens "
        f"({fmt(per_tok * (context + 1) / GiB, 'sig3')} GiB each).\n\n"
        f"(c) At $B = {mb:,}$ llmperf gives **{fmt(tps, ',.0f')}** tokens/s, (d) **{fmt(100 * tps / ceil)} %** of the "
        "ceiling. Beyond that batch the roofline keeps climbing toward the ceiling, but those batches do not fit: "
        "at long context capacity, not bandwidth, sets the throughput you can reach"
        + (", and an fp8 cache raises both the ceiling and the batch that fits." if kv_dtype == "bf16" else
           "; the fp8 cache already doubled both against bf16."))
    return _W(prompt, {"ceiling": Part(ceil, "tokens/s", rel=0.02, what="throughput ceiling"),
                       "max_batch": Part(mb, "sequences", rel=0, what="largest batch that fits"),
                       "tokens_per_s": Part(tps, "tokens/s", rel=0.01, what="tokens/s at that batch"),
                       "pct_of_ceiling": Part(100 * tps / ceil, "%", rel=0.02, what="share of the ceiling")}, solution)
