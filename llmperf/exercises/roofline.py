"""Exercises of the chapter "Roofline Basics" (labels ``roofline-ex1`` ...).

Each function takes the exercise's numbers as keyword arguments (the defaults
are the book's version, ``variants`` the values a per-student variant draws
from) and returns a :class:`~llmperf.exercises.Worked`: statement, parts to
submit and worked solution, every number computed here by llmperf.
"""
from __future__ import annotations

import math
import re

import llmperf
from llmperf import rooflines as R
from llmperf.book import fmt
from llmperf.dtypes import dtype_bytes

from . import Part, Worked, exercise

GiB = 2.0 ** 30


def pretty(model) -> str:
    """A catalog slug as a reader writes it: ``llama-3.1-8b`` -> ``Llama-3.1-8B``."""
    parts = str(getattr(model, "name", model)).split("-")
    parts[0] = parts[0][:1].upper() + parts[0][1:]
    return "-".join(p.upper() if re.fullmatch(r"\d+(\.\d+)?b", p) else p for p in parts)


def math_commas(text: str) -> str:
    """Thousands separators inside ``$...$`` and ``$$...$$`` math as ``{,}`` (MathJax spaces a bare comma)."""
    fix = lambda m: re.sub(r"(?<=\d),(?=\d{3})", "{,}", m.group(0))  # noqa: E731
    return re.sub(r"\$\$.*?\$\$|\$[^$]*\$", fix, text, flags=re.S)


def worked_md(prompt: str, parts: dict, solution: str) -> Worked:
    """:class:`Worked` with the math of its prompt and solution cleaned by :func:`math_commas`."""
    return Worked(math_commas(prompt), parts, math_commas(solution))


def fit_sentence(mem: dict, device_name: str) -> str:
    """Weights + KV cache against the capacity, in one sentence (binary GiB)."""
    w, kv, cap = mem["weight_bytes"] / GiB, mem["kv_cache_bytes"] / GiB, mem["capacity_bytes"] / GiB
    need = w + kv
    verdict = "fit" if mem["fits"] else "do **not** fit"
    return (f"weights {fmt(w)} GiB + KV cache {fmt(kv)} GiB = {fmt(need)} GiB, which {verdict} in the "
            f"{fmt(cap)} GiB of the {device_name}")


def _tflops(x):
    return fmt(x / 1e12, "sig4")


def _tbs(x):
    return fmt(x / 1e12, "sig3")


@exercise("roofline-ex1", variants={"device": ["mi300x", "h200", "b200", "h100-pcie", "l40s"],
                                    "compute_efficiency": [0.7, 0.8],
                                    "memory_efficiency": [0.8, 0.9]})
def ridge_from_datasheet(device: str = "mi300x", compute_efficiency: float = 0.7,
                         memory_efficiency: float = 0.9) -> Worked:
    """A device's ridge from the rates kernels actually reach: a fraction of each datasheet peak."""
    h = llmperf.get_hardware(device)
    bw = h.memory_bandwidth_bytes_per_s
    pk16, pk8 = h.peak_for("bf16"), h.peak_for("fp8")
    ec, em = compute_efficiency, memory_efficiency
    r16, r8 = pk16 / bw, pk8 / bw
    a16, a8 = ec * pk16 / (em * bw), ec * pk8 / (em * bw)
    prompt = (f"The {h.display_name} datasheet gives {_tflops(pk16)} TFLOP/s of dense bf16, "
              f"{_tflops(pk8)} TFLOP/s of dense fp8 and {_tbs(bw)} TB/s of memory bandwidth. "
              f"Measured, a large matrix product reaches {ec:.0%} of either peak and a streaming copy "
              f"{em:.0%} of the bandwidth. "
              "Compute the bf16 and fp8 ridge points of the rates actually reached, and say whether "
              "an operation at the datasheet bf16 ridge is compute- or memory-bound at those rates.")
    solution = (
        "The ridge point is the compute rate divided by the bandwidth, $R = \\pi / \\beta$. "
        "With the rates actually reached, $R' = (\\eta_c \\pi) / (\\eta_m \\beta) = (\\eta_c / \\eta_m) R$:\n\n"
        f"- datasheet: ${_tflops(pk16)} \\times 10^{{12}} / {_tbs(bw)} \\times 10^{{12}} = {fmt(r16)}$ FLOP/B "
        f"(bf16) and ${fmt(r8)}$ FLOP/B (fp8);\n"
        f"- reached: bf16 ${ec:g} \\times {_tflops(pk16)} \\times 10^{{12}} / ({em:g} \\times {_tbs(bw)} "
        f"\\times 10^{{12}}) = {fmt(a16)}$ FLOP/B, fp8 ${fmt(a8)}$ FLOP/B.\n\n"
        f"The factor $\\eta_c / \\eta_m = {fmt(ec / em)}$ "
        + ("lowers" if ec < em else "raises") +
        " the ridge. "
        + (f"An operation at the datasheet bf16 ridge ({fmt(r16)} FLOP/B) is then above the reached ridge "
           f"({fmt(a16)} FLOP/B): compute-bound. " if r16 >= a16 else
           f"An operation at the datasheet bf16 ridge ({fmt(r16)} FLOP/B) is then below the reached ridge "
           f"({fmt(a16)} FLOP/B): memory-bound. ")
        + "The fp8 ridge stays twice the bf16 one, because the fp8 peak doubles while the bandwidth stays: "
          "a kernel needs twice the reuse per byte to keep fp8 units busy.")
    return worked_md(prompt, {"bf16": Part(a16, "FLOP/B", rel=0.01, what="bf16 ridge at the reached rates"),
                           "fp8": Part(a8, "FLOP/B", rel=0.01, what="fp8 ridge at the reached rates")}, solution)


@exercise("roofline-ex2", variants={"model": ["llama-3.1-8b", "qwen2.5-7b", "llama-2-7b"],
                                    "batch": [64, 256], "context": [4096, 8192],
                                    "device": ["h100-sxm", "h200"]})
def attention_bound(model: str = "llama-3.1-8b", batch: int = 256, context: int = 4096,
                    device: str = "h100-sxm") -> Worked:
    """Fused decode attention: intensity and bound, and whether the batch fits in memory at all."""
    m = llmperf.load_model(model)
    h = llmperf.get_hardware(device)
    r = llmperf.decode_step(m, h, batch=batch, context=context)
    i = r.ops.names.index("attention (fused)")
    inten, bound = float(r.op_intensity[i]), str(r.op_bound[i])
    r4 = llmperf.decode_step(m, h, batch=4 * batch, context=context)
    inten4 = float(r4.op_intensity[r4.ops.names.index("attention (fused)")])
    mem = R.decode_memory(m, h, batch, context)
    N, K, H = m.n_heads, m.n_kv_heads, m.head_dim
    ridge = h.ridge_point_for("bf16")
    prompt = (f"{pretty(m)} ($N = {N}$ query heads, $K = {K}$ KV heads, $H = {H}$) decodes a batch of "
              f"$B = {batch}$ sequences with $S = {fmt(context)}$ cached tokens each on the {h.display_name}, "
              "everything in bf16. Is its fused attention operator compute- or memory-bound, and what is its "
              f"intensity? Would a batch of {4 * batch} change the answer, and why? Do the weights and the KV "
              "cache of this batch fit in the device's memory?")
    fit_words = ("The step can run as stated" if mem["fits"] else
                 "This step cannot run on one device as stated: its times would describe a device with enough "
                 "memory, or the batch split over several devices; the intensity and the bound do not depend "
                 "on that")
    solution = (
        f"Per sequence, layer and cached key, attention does $4NH$ FLOP (scores and weighted sum, "
        f"plus about $5N$ for the softmax) and reads $2KH$ elements of $b_{{kv}} = 2$ bytes (a key and a value):\n\n"
        f"$$I \\approx \\frac{{4NH}}{{2 \\cdot 2KH}} = \\frac{{N}}{{K}} = {fmt(N / K)}\\ \\text{{FLOP/B}}.$$\n\n"
        f"llmperf counts {fmt(inten)} FLOP/B (the softmax adds a little, the query and output a little traffic), "
        f"far below the bf16 ridge of {fmt(ridge)} FLOP/B: **{bound}-bound**.\n\n"
        f"A batch of {4 * batch} gives {fmt(inten4)} FLOP/B: no change. Each sequence reads its own keys and "
        "values, so FLOP and bytes both grow as $B S$ and their ratio stays; only the linear layers, whose "
        "weights all sequences share, climb with the batch.\n\n"
        f"Memory: {fit_sentence(mem, h.display_name)}. {fit_words}.")
    return worked_md(prompt, {"intensity": Part(inten, "FLOP/B", rel=0.02, what="attention intensity"),
                           "bound": Part(bound, rel=0, what="bound ('compute' or 'memory')"),
                           "fits": Part(mem["fits"], rel=0, what="fits in memory (True or False)")}, solution)


@exercise("roofline-ex3", variants={"device": ["l4", "l40s", "a100-sxm-80gb", "rtx-4090"],
                                    "model": ["llama-3.1-8b", "qwen2.5-7b"]})
def critical_batch(device: str = "l4", model: str = "llama-3.1-8b") -> Worked:
    """Smallest batch that makes a model's gate_proj compute-bound on a device, in bf16."""
    h = llmperf.get_hardware(device)
    pk, bw = h.peak_for("bf16"), h.memory_bandwidth_bytes_per_s
    ridge = pk / bw
    k, n = R.matmul_dims(model, "gate_proj")
    cb = R.critical_batch(n=n, k=k, ridge=ridge, weight_bytes_per_element=2)
    exact, b, approx = float(cb["exact"]), int(cb["min_batch"]), float(cb["approx"])
    name = pretty(model)
    prompt = (f"The {h.display_name} has a dense bf16 peak of {_tflops(pk)} TFLOP/s and "
              f"{fmt(bw / 1e9, 'sig4')} GB/s of memory bandwidth. What is the smallest batch $B$ that makes the "
              f"`gate_proj` of {name} ($[B, {k}] \\times [{k}, {n}]$, bf16) compute-bound on it, and what does the "
              "approximation $R\\,b_w/2$ give?")
    solution = (
        f"The ridge is $R = {_tflops(pk)} \\times 10^{{12}} / {fmt(bw / 1e9, 'sig4')} \\times 10^{{9}} = "
        f"{fmt(ridge, 'sig4')}$ FLOP/B. Setting the product's intensity to $R$ and solving for $B$, with "
        "$b_w = b_a = 2$:\n\n"
        f"$$B^{{*}} = \\frac{{R\\,b_w\\,KN}}{{2KN - R\\,b_a\\,(K + N)}} = {fmt(exact, 'sig4')},$$\n\n"
        f"so the smallest whole batch is **{b}**. The approximation $R\\,b_w/2 = {fmt(approx, 'sig4')}$ drops the "
        f"activation bytes $b_a B (K + N)$, which add traffic: the exact value is {fmt(100 * (exact / approx - 1))} % "
        "higher. A device with a higher ridge needs a larger batch before its arithmetic, not its memory, "
        "sets the pace.")
    return worked_md(prompt, {"min_batch": Part(b, "sequences", rel=0, what="smallest compute-bound batch"),
                           "approx": Part(approx, "sequences", rel=0.01, what="R b_w / 2")}, solution)


# -- an open design question --------------------------------------------------------------

DESIGN_DEVICES = ("l4", "l40s", "a100-sxm-80gb", "h100-sxm", "h200")
DESIGN_BATCH_MAX = 4096


def _design_metrics(model, device, scheme, batch, context):
    s = R.decode_step_summary(model, device, batch=batch, context=context, scheme=scheme)
    mem = R.decode_memory(model, device, batch, context, scheme)
    return s["time_s"], batch / s["time_s"], mem


def _design_verdict(model, context, max_step_s, min_tokens_per_s, design):
    """None when ``(device, scheme, batch)`` meets the targets, else a hint."""
    if not isinstance(design, (tuple, list)) or len(design) != 3:
        return "submit a tuple (device, scheme, batch), e.g. ('h100-sxm', 'bf16', 8)"
    device, scheme, batch = design
    if device not in llmperf.hardware_names():
        return f"unknown device {device!r}: use a name from llmperf.hardware_names()"
    if scheme not in R.SCHEMES:
        return f"unknown scheme {scheme!r}: use one of {', '.join(R.SCHEMES)}"
    try:
        b = float(batch)
    except (TypeError, ValueError):
        return "the batch must be a whole number of sequences"
    if not b.is_integer() or b < 1:
        return "the batch must be a whole number of sequences, at least 1"
    try:
        t, tps, mem = _design_metrics(model, device, scheme, int(b), context)
    except (llmperf.HardwareError, ValueError) as e:
        return f"{device} cannot run {scheme}: {e}"
    if not mem["fits"]:
        return f"it does not fit: {mem['message']}"
    if t > max_step_s:
        return f"a decode step takes at least {fmt(t * 1e3)} ms, over the {fmt(max_step_s * 1e3)} ms target"
    if tps < min_tokens_per_s:
        return f"it serves at most {fmt(tps)} tokens/s, under the {fmt(min_tokens_per_s)} tokens/s target"
    return None


def _design_search(model, context, max_step_s, min_tokens_per_s):
    """One good design: the first device of DESIGN_DEVICES (cheapest first) that meets the targets,
    with its best scheme and the largest batch that meets them (the highest throughput)."""
    for device in DESIGN_DEVICES:
        best = None
        for scheme in R.SCHEMES:
            lo, hi = 0, DESIGN_BATCH_MAX + 1      # largest b with time and memory within bounds
            while hi - lo > 1:
                mid = (lo + hi) // 2
                try:
                    t, _, mem = _design_metrics(model, device, scheme, mid, context)
                except (llmperf.HardwareError, ValueError):
                    lo = 0
                    break
                if mem["fits"] and t <= max_step_s:
                    lo = mid
                else:
                    hi = mid
            if lo == 0:
                continue
            t, tps, mem = _design_metrics(model, device, scheme, lo, context)
            if tps >= min_tokens_per_s and (best is None or tps > best[3]):
                best = (device, scheme, lo, tps, t, mem)
        if best is not None:
            return best
    raise ValueError("no design in DESIGN_DEVICES meets these targets")


@exercise("roofline-ex4", variants={"model": ["llama-3.1-8b", "qwen2.5-7b"], "context": [2048, 4096],
                                    "max_step_ms": [20, 40], "min_tokens_per_s": [2000, 4000]})
def serving_design(model: str = "llama-3.1-8b", context: int = 4096, max_step_ms: float = 20,
                   min_tokens_per_s: float = 4000) -> Worked:
    """Open design: a device, a precision scheme and a batch that meet a step-time and a throughput target."""
    m = llmperf.load_model(model)
    max_s = max_step_ms / 1e3
    device, scheme, batch, tps, t, mem = _design_search(m, context, max_s, min_tokens_per_s)
    h = llmperf.get_hardware(device)
    wd, ad, cd = R.SCHEMES[scheme]
    k, n = R.matmul_dims(m, "gate_proj")
    cb = float(R.critical_batch(n, k, R.ridge_for(h, cd), dtype_bytes(wd), dtype_bytes(ad))["exact"])
    kv_seq = mem["kv_cache_bytes"] / batch
    bound = R.decode_step_summary(m, h, batch=batch, context=context, scheme=scheme)["bound"]
    prompt = (f"You serve {pretty(m)} to many users; each sequence holds $S = {fmt(context)}$ cached tokens. "
              f"Choose a device from llmperf's catalog, one of the four precision schemes of this chapter "
              f"({', '.join(R.SCHEMES)}) and a batch $B$ so that the roofline lower bound of one decode step "
              f"is at most {fmt(max_step_ms)} ms, the batch generates at least {fmt(min_tokens_per_s)} tokens/s "
              "($B$ divided by the step time), and the weights and KV cache fit in the device's memory. "
              "Justify the choice with the critical batch and the bytes a step reads.")
    solution = (
        f"One design that works: **{h.display_name} (`{device}`), {scheme}, $B = {batch}$**, submitted as "
        f"`(\"{device}\", \"{scheme}\", {batch})` (others work too).\n\n"
        f"- Step time: the step is {bound}-bound (its linear layers need $B \\ge {fmt(cb)}$ to reach the "
        f"{cd} ridge of {fmt(R.ridge_for(h, cd))} FLOP/B, and attention never does), so its time is about "
        f"the bytes it reads over the bandwidth: the weights once plus $B$ KV caches of "
        f"{fmt(kv_seq / 2 ** 20)} MiB. llmperf gives {fmt(t * 1e3)} ms, within {fmt(max_step_ms)} ms.\n"
        f"- Throughput: $B / t = {batch} / {fmt(t, 'sig4')}\\ \\text{{s}} = {fmt(tps)}$ tokens/s, above "
        f"{fmt(min_tokens_per_s)}.\n"
        f"- Memory: {fit_sentence(mem, h.display_name)}.\n\n"
        f"Why this way: below the critical batch, each extra sequence adds only its KV cache to the bytes, so "
        "throughput grows almost in proportion to $B$ until the step-time target or the memory runs out. "
        f"{'An 8-bit KV cache (fp8 W8A8) halves the bytes each sequence adds, so more sequences fit in the same step time. ' if scheme == 'fp8 W8A8' else ''}"
        f"This $B = {batch}$ is the largest batch that meets both the time target and the memory on this "
        f"device with {scheme}; a device with more bandwidth or memory allows more.")
    part = Part((device, scheme, batch), rel=0, what="design (device, scheme, batch)",
                accept=lambda d: _design_verdict(m, context, max_s, min_tokens_per_s, d))
    return worked_md(prompt, {"answer": part}, solution)


@exercise("roofline-ex5", variants={"device": ["a100-sxm-80gb", "h100-sxm", "l40s", "mi300x"],
                                    "tokens": [128, 8192]})
def gemm_lower_bound(device: str = "a100-sxm-80gb", tokens: int = 8192) -> Worked:
    """[M, 8192] x [8192, 28672] in bf16 on a device: intensity, roofline lower bound and bound."""
    h = llmperf.get_hardware(device)
    M, K, N = tokens, 8192, 28672
    g = R.gemm_bound(M, N, K, h, "bf16")
    pk, bw = h.peak_for("bf16"), h.memory_bandwidth_bytes_per_s
    prompt = (f"A prefill of {fmt(M)} tokens multiplies $[{M}, {K}]$ activations by a $[{K}, {N}]$ weight "
              f"(the MLP of a 70B model), all in bf16, on the {h.display_name} ({_tflops(pk)} TFLOP/s dense bf16, "
              f"{fmt(bw / 1e9, 'sig4')} GB/s). What are its intensity and its roofline lower bound on time, "
              "and which roof sets it?")
    solution = (
        f"FLOP: $C = 2MNK = 2 \\cdot {M} \\cdot {N} \\cdot {K} = {fmt(g['flops'] / 1e12, 'sig4')}$ TFLOP. "
        f"Bytes, each matrix once at 2 bytes: $Q = 2(MK + KN + MN) = {fmt(g['bytes'] / 1e6, 'sig4')}$ MB. "
        f"Intensity $I = C/Q = {fmt(g['intensity'], 'sig4')}$ FLOP/B against a ridge of "
        f"$R = {fmt(g['ridge'], 'sig4')}$ FLOP/B.\n\n"
        f"- compute bound $C/\\pi = {fmt(g['compute_s'] * 1e3, 'sig4')}$ ms;\n"
        f"- memory bound $Q/\\beta = {fmt(g['memory_s'] * 1e3, 'sig4')}$ ms.\n\n"
        f"The lower bound is the larger, **{fmt(g['time_s'] * 1e3, 'sig4')} ms**: the product is "
        f"**{g['bound']}-bound**, because its intensity is "
        + ("above" if g["bound"] == "compute" else "below") +
        " the ridge. "
        + ("With this many tokens each weight element is reused thousands of times." if g["bound"] == "compute"
           else "With few tokens the weight's bytes dominate: $I \\approx M$ FLOP/B in bf16."))
    return worked_md(prompt, {"intensity": Part(g["intensity"], "FLOP/B", rel=0.01, what="intensity"),
                           "time_ms": Part(g["time_s"] * 1e3, "ms", rel=0.01, what="lower bound on time"),
                           "bound": Part(g["bound"], rel=0, what="bound ('compute' or 'memory')")}, solution)


@exercise("roofline-ex6", variants={"device": ["jetson-orin-nx-16gb", "jetson-agx-orin-64gb", "apple-m2-pro"],
                                    "model": ["llama-3.2-1b", "qwen2.5-1.5b"], "context": [1024, 4096]})
def edge_int4_decode(device: str = "jetson-orin-nx-16gb", model: str = "llama-3.2-1b",
                     context: int = 1024) -> Worked:
    """An int4 weight-only model decoding at batch 1 on an edge device: step time, tokens/s, critical batch."""
    h = llmperf.get_hardware(device)
    m = llmperf.load_model(model)
    s = R.decode_step_summary(m, h, batch=1, context=context, scheme="int4 weight-only")
    k, n = R.matmul_dims(m, "gate_proj")
    cb = R.critical_batch(n, k, s["ridge"], weight_bytes_per_element=0.5, act_bytes_per_element=2)
    b = int(cb["min_batch"])
    mem = R.decode_memory(m, h, 1, context, "int4 weight-only")
    pk, bw = s["peak_flop_per_s"], s["bandwidth_bytes_per_s"]
    dt = "bf16" if "bf16" in h.peak_flop_per_s else "fp16"
    step_ms = s["time_s"] * 1e3
    prompt = (f"The {h.display_name} ({_tflops(pk)} TFLOP/s dense {dt}, {fmt(bw / 1e9, 'sig4')} GB/s) runs "
              f"{pretty(m)} with int4 weights and {dt} activations, KV cache and compute, at batch 1 with "
              f"{fmt(context)} cached tokens. What is the lower bound on one decode step, and the tokens per second "
              f"it allows? From which batch on would its `gate_proj` ($[B, {k}] \\times [{k}, {n}]$) be "
              "compute-bound?")
    solution = (
        f"At batch 1 the step is {s['bound']}-bound (intensity {fmt(s['intensity'])} FLOP/B against a ridge of "
        f"{fmt(s['ridge'])}): its time is its bytes over the bandwidth, "
        f"$Q/\\beta = {fmt(s['bytes'] / 1e6, 'sig4')}\\ \\text{{MB}} / {fmt(bw / 1e9, 'sig4')}\\ \\text{{GB/s}} = "
        f"{fmt(step_ms, 'sig4')}$ ms. Those bytes are the int4 weights, half a byte each (the lm_head among "
        f"them), plus the {dt} KV cache of {fmt(context)} tokens. One token per step gives "
        f"$1 / {fmt(step_ms, 'sig4')}\\ \\text{{ms}} = {fmt(1e3 / step_ms, 'sig4')}$ tokens/s.\n\n"
        f"Critical batch with $b_w = 0.5$, $b_a = 2$: "
        f"$B^{{*}} = R\\,b_w KN / (2KN - R\\,b_a(K + N)) = {fmt(float(cb['exact']), 'sig4')}$, so **{b}**, "
        f"about a quarter of the ridge ($R b_w / 2 = {fmt(float(cb['approx']), 'sig4')}$): with int4 weights "
        "small batches (or several draft tokens verified at once) already use the device's compute.\n\n"
        f"Memory: {fit_sentence(mem, h.display_name)}.")
    return worked_md(prompt, {"step_ms": Part(step_ms, "ms", rel=0.01, what="decode step lower bound"),
                           "tokens_per_s": Part(1e3 / step_ms, "tokens/s", rel=0.01, what="tokens per second"),
                           "critical_batch": Part(b, "sequences", rel=0, what="critical batch of gate_proj")},
                  solution)
