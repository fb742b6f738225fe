"""Exercises of the chapter "Edge Devices" (labels ``edge-ex1`` ... ``edge-ex14``).

Each function states one exercise with its numbers (the defaults are the
book's version; ``variants`` lists what a per-student variant may draw from)
and works its solution with llmperf: the formula, the numbers with units, the
reasoning and the answer to every "why". All exercises are batch-1 decoding or
prefill on the edge devices of the catalog, unless they say otherwise.
"""
from __future__ import annotations

import re

import numpy as np

from .. import edge
from ..analysis import analyze, decode_step, prefill_step
from ..book import fmt
from ..conventions import Conventions
from ..hardware import get_hardware
from ..models import load_model, textbook_model
from ..ops import build_ops
from ..roofline import matmul_intensity, ridge_point, roofline
from . import Part, Worked, exercise

GB, GiB = 1e9, 2.0 ** 30


def _f(x, spec=None) -> str:
    return fmt(x, spec)


def _math_commas(text: str) -> str:
    """Thousands separators inside ``$...$`` as ``{,}`` (a bare comma in math adds a space)."""
    parts = text.split("$")
    for i in range(1, len(parts), 2):
        parts[i] = re.sub(r"(?<=\d),(?=\d{3})", "{,}", parts[i])
    return "$".join(parts)


def _W(prompt: str, parts, solution: str) -> Worked:
    return Worked(_math_commas(prompt), parts, _math_commas(solution))


def _pct(x) -> str:
    return f"{100 * float(x):.0f} %"


def _name(model) -> str:
    """A catalog model's name as a reader writes it (Llama-3.1-8B, Qwen2.5-3B ...)."""
    special = {"llama": "Llama", "qwen2.5": "Qwen2.5", "qwen3": "Qwen3", "mistral": "Mistral", "phi": "Phi"}
    name = load_model(model).name
    head, _, rest = name.partition("-")
    return special.get(head, head.capitalize()) + ("-" + rest.upper().replace("MINI", "mini") if rest else "")


def _dev(device) -> str:
    """A catalog device's short display name (before the first comma or parenthesis)."""
    d = get_hardware(device).display_name
    d = d.split(",")[0].split(" (")[0].strip()
    return d[:-len(" phone")] if d.endswith(" phone") else d


def _a(words: str) -> str:
    """``words`` with its indefinite article."""
    return ("an " if words[:1].lower() in "aeiou" or words.startswith("NVIDIA") else "a ") + words


def _fits(model, device, context, weight_dtype, usable):
    """llmperf's memory test for one sequence of ``context`` tokens: (fits, needed bytes, capacity bytes)."""
    s = analyze(model, device, 1, int(context), 1, weight_dtype=weight_dtype, act_dtype="fp16",
                memory_fraction=usable).summary
    return bool(s["fits"]), float(s["memory_total_bytes"]), float(s["memory_capacity_bytes"])


def _fit_sentence(model, device, context, weight_dtype, usable) -> str:
    ok, need, cap = _fits(model, device, context, weight_dtype, usable)
    verdict = "fits" if ok else "**does not fit**"
    return (f"{_name(model)} with {weight_dtype} weights and {_f(context)} cached tokens needs "
            f"{_f(need / GiB)} GiB (weights, KV cache, activations) against {_f(cap / GiB)} GiB usable: it {verdict}.")


def _model_facts(model) -> str:
    m = load_model(model)
    tied = "tied" if m.tie_embeddings else "untied"
    return (f"{_f(m.params_total / 1e9, 'sig3')} B parameters, {tied} embeddings, $L = {m.n_layers}$, "
            f"$K = {m.n_kv_heads}$, $H = {m.head_dim}$")


# --- 1 ---------------------------------------------------------------------------
@exercise("edge-ex1", variants={"peak_tflops": [1.2, 2.0, 4.0], "bandwidth_gbs": [48, 64, 100],
                                "intensity": [15, 60]})
def ridge_of_a_small_gpu(peak_tflops: float = 1.2, bandwidth_gbs: float = 48, intensity: float = 15) -> Worked:
    """Ridge point of a small GPU, the bound of one operation, and what batch-1 decode can use of the peak."""
    peak, bw = peak_tflops * 1e12, bandwidth_gbs * 1e9
    r = float(ridge_point(peak, bw))
    op = roofline(float(intensity), 1.0, peak, bw)          # an op of intensity I: I FLOP per byte
    bound = str(op["bound"])
    att = float(op["attainable_flop_per_s"])
    dec = float(roofline(1.0, 1.0, peak, bw)["attainable_flop_per_s"])   # batch-1 fp16 decode: about 1 FLOP/B
    frac = dec / peak
    prompt = (f"An edge GPU peaks at {_f(peak_tflops)} TFLOP/s in fp16 and reads its memory at "
              f"{_f(bandwidth_gbs)} GB/s. (a) What is its ridge point? (b) An operation does {_f(intensity)} "
              "FLOP per byte it moves: is it memory-bound or compute-bound, and what FLOP/s can it attain at best? "
              "(c) Batch-1 decoding with fp16 weights does about 1 FLOP per byte: what fraction of the peak can "
              "it use, and why does that fraction decide which device figure matters for decoding?")
    below = "below" if bound == "memory" else "above"
    solution = (
        f"(a) The ridge point is the peak over the bandwidth: $R = \\pi / \\beta = {_f(peak_tflops)} \\times 10^{{12}}"
        f" / {_f(bandwidth_gbs)} \\times 10^{{9}} = {_f(r)}$ FLOP/B.\n\n"
        f"(b) $I = {_f(intensity)}$ FLOP/B is {below} $R$, so the operation is **{bound}-bound**. "
        f"Its attainable rate is $\\min(\\pi, I \\beta) = \\min({_f(peak_tflops)},\\ {_f(intensity)} \\times "
        f"{_f(bandwidth_gbs / 1e3)})$ TFLOP/s $= {_f(att / 1e12)}$ TFLOP/s.\n\n"
        f"(c) At 1 FLOP/B the attainable rate is $1 \\times \\beta = {_f(dec / 1e12)}$ TFLOP/s, a fraction "
        f"$\\beta / \\pi = {_f(frac)}$ of the peak ({_f(100 * frac)} %). "
        "Batch-1 decoding, the workload an edge device runs most, sits this far below the ridge: the arithmetic "
        "units wait for memory almost all the time, so its speed follows the memory bandwidth, not the TFLOP/s "
        "on the datasheet.")
    return _W(prompt, {"ridge": Part(r, "FLOP/B", rel=0.01, what="ridge point"),
                           "bound": Part(bound, 'words: "memory" or "compute"', rel=0, what="memory or compute"),
                           "attainable": Part(att / 1e12, "TFLOP/s", rel=0.01, what="attainable rate"),
                           "fraction": Part(frac, "fraction of the peak (0 to 1)", rel=0.01,
                                            what="decode's fraction of the peak")}, solution)


# --- 2 ---------------------------------------------------------------------------
def _layer_matmul_flops(model, tokens, mode):
    """Matmul FLOP of one layer in a prefill: (projections, score products, MLP)."""
    ops = build_ops(model, 1, tokens, 0, phase="prefill",
                    conventions=Conventions(attention_flops=mode, flash_attention=False))
    f = dict(zip(ops.names, ops.data["flops"]))
    proj = sum(float(f[k]) for k in ("q_proj", "k_proj", "v_proj", "o_proj"))
    scores = float(f["qk_matmul"]) + float(f["sv_matmul"])
    mlp = float(f["fc1"]) + float(f["fc2"])
    return proj, scores, mlp


@exercise("edge-ex2", variants={"d_model": [1024, 2048, 4096], "tokens": [512, 1024, 4096]})
def attention_share_one_layer(d_model: int = 2048, tokens: int = 1024) -> Worked:
    """One textbook layer: attention's share of the matmul FLOP, full score square against the causal half."""
    heads = d_model // 128
    m = textbook_model(d_model=d_model, n_layers=1, n_heads=heads)
    proj, full, mlp = _layer_matmul_flops(m, tokens, "full")
    _, causal, _ = _layer_matmul_flops(m, tokens, "causal")
    a_full, a_causal = proj + full, proj + causal
    s_full, s_causal = a_full / (a_full + mlp), a_causal / (a_causal + mlp)
    T, D = tokens, d_model
    prompt = (f"One transformer layer with $D = {_f(D)}$, {heads} heads of $H = 128$ (multi-head attention), a plain "
              f"MLP of width $F = 4D$ (two matrices, no gate), batch 1 and a {_f(T)}-token prompt. Count the "
              "matmul FLOP of attention (the Q, K, V and O projections and the two score products, $QK^\\top$ and "
              "scores × V) and of the MLP, and attention's share of their sum, (a) counting the full $T \\times T$ "
              "score square and (b) counting only the causal half, $T(T+1)/2$ query-key pairs per head. "
              "Why do the two shares differ, and which one should a FLOP count state?")
    solution = (
        "A product $[M, K] \\times [K, N]$ costs $2MKN$ FLOP. Per layer, with $T$ tokens:\n\n"
        f"- projections: four $[T, D] \\times [D, D]$ products, $8TD^2 = {_f(proj / 1e9)}$ GFLOP;\n"
        f"- score products, full square: $2 \\times 2T^2D = 4T^2D = {_f(full / 1e9)}$ GFLOP; causal half: "
        f"$4 \\cdot \\tfrac{{T(T+1)}}{{2}} D = {_f(causal / 1e9)}$ GFLOP;\n"
        f"- MLP: $[T, D] \\times [D, 4D]$ and back, $16TD^2 = {_f(mlp / 1e9)}$ GFLOP.\n\n"
        f"Attention is {_f(a_full / 1e9)} GFLOP counting the full square and {_f(a_causal / 1e9)} GFLOP counting "
        f"the causal half, so its share is (a) ${_f(a_full / 1e9)} / ({_f(a_full / 1e9)} + {_f(mlp / 1e9)}) = "
        f"{_f(s_full)}$ and (b) ${_f(s_causal)}$.\n\n"
        "The shares differ because the score products are the only term quadratic in $T$, and a causal mask leaves "
        "about half the query-key pairs; the gap grows with $T/D$. An eager kernel computes the whole square, a "
        "causal flash kernel skips the masked tiles: a FLOP count must say which it counts.")
    return _W(prompt, {
        "attention_full": Part(a_full / 1e9, "GFLOP", rel=0.01, what="attention FLOP, full square"),
        "attention_causal": Part(a_causal / 1e9, "GFLOP", rel=0.01, what="attention FLOP, causal half"),
        "mlp": Part(mlp / 1e9, "GFLOP", rel=0.01, what="MLP FLOP"),
        "share_full": Part(s_full, "fraction (0 to 1)", rel=0.01, what="attention share, full square"),
        "share_causal": Part(s_causal, "fraction (0 to 1)", rel=0.01, what="attention share, causal half")},
        solution)


# --- 3 ---------------------------------------------------------------------------
@exercise("edge-ex3", variants={"model": ["llama-3.2-3b", "qwen2.5-3b", "llama-3.2-1b"], "tokens_per_s": [10, 20],
                                "context": [2048, 8192]})
def bandwidth_for_a_target(model: str = "llama-3.2-3b", tokens_per_s: float = 10, context: int = 2048,
                           efficiency: float = 0.7) -> Worked:
    """Bytes per decode step of an int8 model, the bandwidth a tokens/s target needs, and who falls short."""
    m = load_model(model)
    ps = edge.streamed_weight_params(m)
    w = edge.weight_bytes_per_token(m, "int8")
    kv = float(edge.kv_bytes_per_token(m, context, "fp16"))
    sustained = tokens_per_s * (w + kv)
    peak = sustained / efficiency
    devices = edge.edge_devices()
    short = [d for d in devices if get_hardware(d).memory_bandwidth_bytes_per_s < peak]
    prompt = (f"{_name(m)} ({_model_facts(m)}) runs with int8 weights and an fp16 KV cache, batch 1, with "
              f"{_f(context)} tokens cached. (a) How many GB does one decode step read from the weights, and how "
              f"many from the KV cache? (b) What sustained memory bandwidth does {_f(tokens_per_s)} tokens/s need? "
              f"(c) If kernels sustain {_pct(efficiency)} of the peak bandwidth, what peak bandwidth is needed, and "
              f"how many of the catalog's {len(devices)} edge devices fall short of it?")
    emb = ("the embedding matrix is tied to the output projection, so it is read in full as the lm_head: "
           f"$P_s = P = {_f(ps / 1e9, 'sig4')}$ B" if m.tie_embeddings else
           "the input embedding is a lookup (one row per token), so its $VD$ parameters are not streamed: "
           f"$P_s = P - VD = {_f(ps / 1e9, 'sig4')}$ B")
    names = ", ".join(short) if short else "none"
    solution = (
        f"(a) A batch-1 decode step reads every streamed weight once; {emb}. At $b_w = 1$ byte that is "
        f"{_f(w / GB)} GB. It also reads the whole KV cache, $2LKH(S+1) b_{{kv}}$ with $S + 1 = {_f(context + 1)}$ "
        f"keys (the cached tokens and the new one): $2 \\cdot {m.n_layers} \\cdot {m.n_kv_heads} \\cdot {m.head_dim}"
        f" \\cdot {_f(context + 1)} \\cdot 2$ B $= {_f(kv / GB)}$ GB.\n\n"
        f"(b) Each token reads {_f((w + kv) / GB)} GB, so {_f(tokens_per_s)} tokens/s need "
        f"${_f(tokens_per_s)} \\times {_f((w + kv) / GB)} = {_f(sustained / GB)}$ GB/s sustained.\n\n"
        f"(c) At {_pct(efficiency)} of peak, the peak must be ${_f(sustained / GB)} / {efficiency:g} = "
        f"{_f(peak / GB)}$ GB/s. {len(short)} of the {len(devices)} edge devices {'has' if len(short) == 1 else 'have'} less ({names}).\n\n"
        "Multiplying a round parameter count by one byte and by the target misses two things: the KV cache, "
        "which grows with the context, and the gap between peak and sustained bandwidth.")
    return _W(prompt, {"weights_gb": Part(w / GB, "GB", rel=0.01, what="weight bytes per step"),
                           "kv_gb": Part(kv / GB, "GB", rel=0.01, what="KV-cache bytes per step"),
                           "sustained": Part(sustained / GB, "GB/s", rel=0.01, what="sustained bandwidth"),
                           "peak": Part(peak / GB, "GB/s", rel=0.01, what="peak bandwidth needed"),
                           "too_slow": Part(len(short), "devices", rel=0, what="devices that fall short")},
                  solution)


# --- 4 ---------------------------------------------------------------------------
def _core(r):
    """FLOP and bytes of the attention core (scores, softmax, scores x V) of a step."""
    idx = [i for i, g in enumerate(r.ops.groups) if g == "attention" and r.ops.kinds[i] != "matmul"
           and r.ops.names[i] != "rope"]
    flops = sum(float(r.ops.data["flops"][i]) for i in idx)
    moved = sum(float(r.ops.bytes_read[i] + r.ops.bytes_written[i]) for i in idx)
    return flops, moved


@exercise("edge-ex4", variants={"model": ["llama-2-7b", "llama-3.1-8b", "qwen2.5-7b"], "tokens": [1024, 2048, 4096],
                                "device": ["jetson-orin-nx-16gb", "jetson-agx-orin-64gb"]})
def flash_attention_intensity(model: str = "llama-2-7b", tokens: int = 2048,
                              device: str = "jetson-orin-nx-16gb") -> Worked:
    """Intensity of the attention core, fused and unfused, in a prefill and in a decode step."""
    m, hw = load_model(model), get_hardware(device)
    r16 = hw.ridge_point_for("fp16")
    kw = dict(weight_dtype="fp16", act_dtype="fp16")
    vals = {}
    for phase in ("prefill", "decode"):
        for flash in (True, False):
            if phase == "prefill":
                r = prefill_step(m, hw, 1, tokens, flash_attention=flash, **kw)
            else:
                r = decode_step(m, hw, 1, tokens, flash_attention=flash, **kw)
            c, q = _core(r)
            vals[phase, flash] = (c, q, c / q)
    N, K, H = m.n_heads, m.n_kv_heads, m.head_dim

    def line(phase, flash):
        c, q, i = vals[phase, flash]
        b = "compute" if i >= r16 else "memory"
        return (f"{'fused' if flash else 'unfused'}: $C = {_f(c / 1e9)}$ GFLOP, $Q = {_f(q / 1e6)}$ MB, "
                f"$I = {_f(i)}$ FLOP/B, {b}-bound")
    compute = [f"{ph} {'fused' if fl else 'unfused'}" for (ph, fl), (_, _, i) in vals.items() if i >= r16]
    prompt = (f"{_name(m)}'s attention has $N = {N}$ query heads, $K = {K}$ KV heads and $H = {H}$; it runs in fp16 "
              f"on {_a(_dev(hw))} (fp16 ridge point {_f(r16)} FLOP/B). Compare the arithmetic intensity of the "
              "attention core (scores, softmax, scores × V) fused, as flash attention runs it (the scores stay on "
              "chip), and unfused (three kernels: the $N \\times T \\times S$ score matrix is written, read and "
              f"written again by the softmax, and read once more), for (a) a prefill of {_f(tokens)} tokens and "
              f"(b) a decode step after {_f(tokens)} cached tokens. Which of the four cases are compute-bound on "
              "this device, and why does fusion help the prefill so much more than the decode step?")
    solution = (
        "Intensity is the core's FLOP over the bytes it moves, $I = C / Q$ (llmperf, causal prefill):\n\n"
        f"- prefill, {line('prefill', True)};\n- prefill, {line('prefill', False)};\n"
        f"- decode, {line('decode', True)};\n- decode, {line('decode', False)}.\n\n"
        f"Compute-bound (above {_f(r16)} FLOP/B): {', '.join(compute) if compute else 'none'}.\n\n"
        "Fused, a prefill reads Q, K and V and writes the output once, $2NTH + 2KSH$ elements, while its FLOP grow "
        "as $N T S H$: the intensity grows with the sequence length. Unfused, the score matrix adds about $4NTS$ "
        "elements of traffic, as many as the FLOP it carries, so the intensity collapses to a few FLOP/B whatever "
        f"the length. Fusion multiplies the prefill's intensity by {_f(vals['prefill', True][2] / vals['prefill', False][2])}. "
        "A decode step has one query row: its scores are $N \\times S$ elements, tiny next to the $2KSH$ elements of "
        f"cache it must read anyway, so fusion changes its intensity only {_f(vals['decode', True][2] / vals['decode', False][2], 'sig4')}-fold "
        f"and it stays near $N/K = {_f(N / K)}$ FLOP/B, memory-bound. Flash attention does not need the whole "
        "score matrix on chip either: it processes the scores in tiles.\n\n"
        f"Memory, with all of the board's memory usable: {_fit_sentence(m, hw, tokens, 'fp16', 1.0)}")
    return _W(prompt, {
        "prefill_fused": Part(vals["prefill", True][2], "FLOP/B", rel=0.02, what="prefill intensity, fused"),
        "prefill_unfused": Part(vals["prefill", False][2], "FLOP/B", rel=0.02, what="prefill intensity, unfused"),
        "decode_fused": Part(vals["decode", True][2], "FLOP/B", rel=0.02, what="decode intensity, fused"),
        "decode_unfused": Part(vals["decode", False][2], "FLOP/B", rel=0.02, what="decode intensity, unfused")},
        solution)


# --- 5 ---------------------------------------------------------------------------
@exercise("edge-ex5", variants={"device": ["jetson-orin-nx-16gb", "jetson-agx-orin-64gb", "apple-m2-max",
                                           "core-ultra-7-155h"]})
def same_flop_different_time(device: str = "jetson-orin-nx-16gb") -> Worked:
    """Three fp16 matmuls of equal FLOP, their roofline times, and where a sweep's knee lies."""
    hw = get_hardware(device)
    peak, bw = hw.peak_for("fp16"), hw.memory_bandwidth_bytes_per_s
    r16 = float(ridge_point(peak, bw))
    n = 1024
    shapes = {"square": (n, n, n), "row": (1, n, n * n), "column": (n * n, n, 1)}   # (M, K, N)
    res = {}
    for key, (mm, k, nn) in shapes.items():
        flops = 2.0 * mm * k * nn
        moved = 2.0 * (mm * k + k * nn + mm * nn)
        rr = roofline(flops, moved, peak, bw)
        res[key] = (flops, moved, float(rr["intensity"]), float(rr["time_s"]), str(rr["bound"]))
    ms = np.arange(1, 4097)
    knee = int(ms[np.argmax(matmul_intensity(ms, 4096, 4096, 2.0) >= r16)])
    prompt = (f"On {_a(_dev(hw))} ({_f(peak / 1e12)} TFLOP/s fp16, {_f(bw / GB)} GB/s), three fp16 matrix products "
              "do the same $2 \\cdot 1024^3$ FLOP: square $[1024, 1024] \\times [1024, 1024]$, row "
              "$[1, 1024] \\times [1024, 1048576]$ and column $[1048576, 1024] \\times [1024, 1]$. "
              "(a) Predict each one's time at the roofline, reading each input and writing the output once. "
              "Why do equal FLOP take such different times? (b) You time $[M, 4096] \\times [4096, 4096]$ for "
              "$M = 1, 2, 3, \\ldots$: from which $M$ on should the measured FLOP/s stop growing?")

    def line(key):
        flops, moved, i, t, b = res[key]
        return (f"{key}: $Q = {_f(moved / 1e6)}$ MB, $I = {_f(i)}$ FLOP/B, {b}-bound, "
                f"$t = {_f(t * 1e3)}$ ms")
    solution = (
        f"Each product does $C = 2MKN = {_f(res['square'][0] / 1e9)}$ GFLOP and moves $Q = 2(MK + KN + MN)$ bytes "
        f"in fp16; its time is $\\max(C / \\pi, Q / \\beta)$, and the ridge is $R = {_f(r16)}$ FLOP/B.\n\n"
        f"(a) {line('square')}; {line('row')}; {line('column')}.\n\n"
        "Equal FLOP, different bytes: the square product reuses every element about 1,024/3 times, the row and "
        "column products use each element of their big matrix once, so they sit near 1 FLOP/B, far below the "
        "ridge. A device is not memory- or compute-bound; an operation on it is.\n\n"
        f"(b) For $[M, 4096] \\times [4096, 4096]$, $I = 2 \\cdot M \\cdot 4096^2 / (2(4096M + 4096^2 + 4096M))"
        f" = 4096M / (2M + 4096)$, which reaches $R = {_f(r16)}$ at $M = {knee}$: from there on the product is "
        "compute-bound and the FLOP/s plateau. Two of the three equal-FLOP shapes have the same intensity, so "
        "they cannot locate this knee; a sweep over $M$ (medians of repeated runs after warm-up, achieved FLOP/s "
        "against intensity) measures the effective ridge, and its two plateaus the sustained bandwidth and compute.")
    return _W(prompt, {"square_ms": Part(res["square"][3] * 1e3, "ms", rel=0.01, what="square product time"),
                           "row_ms": Part(res["row"][3] * 1e3, "ms", rel=0.01, what="row product time"),
                           "column_ms": Part(res["column"][3] * 1e3, "ms", rel=0.01, what="column product time"),
                           "knee": Part(knee, "rows M", rel=0, what="first compute-bound M")}, solution)


# --- 6 ---------------------------------------------------------------------------
def _hypothetical(bandwidth_gbs):
    """A device with only the stated figures: the bandwidth, 16 GiB and 4 TFLOP/s fp16."""
    return get_hardware("snapdragon-8-gen-3").replace(
        name=f"edge-{bandwidth_gbs:g}gbs",
        display_name=f"hypothetical edge device, {bandwidth_gbs:g} GB/s, 16 GiB, 4 TFLOP/s fp16",
        memory_bandwidth_bytes_per_s=bandwidth_gbs * 1e9, peak_flop_per_s={"fp16": 4e12}, memory_bytes=16 * GiB)


@exercise("edge-ex6", variants={"model": ["mistral-7b", "llama-3.1-8b", "qwen2.5-7b"], "bandwidth_gbs": [40, 50, 60]})
def seven_b_at_100_ms(model: str = "mistral-7b", bandwidth_gbs: float = 50, context: int = 2048,
                      target_ms: float = 100) -> Worked:
    """A 7B-8B model on a 50 GB/s device at 100 ms per token: fp16, int4, sustained bandwidth, group scales."""
    m, hw = load_model(model), _hypothetical(bandwidth_gbs)
    bw = hw.memory_bandwidth_bytes_per_s
    kv = float(edge.kv_bytes_per_token(m, context))
    wb = {k: edge.weight_bytes_per_token(m, dt, bits) for k, dt, bits in
          (("fp16", "fp16", None), ("int4", "int4", None), ("int4s", "int4", 4.5))}
    t = {"fp16": (wb["fp16"] + kv) / bw, "int4": (wb["int4"] + kv) / bw,
         "int4_70": (wb["int4"] + kv) / (0.7 * bw), "int4s_70": (wb["int4s"] + kv) / (0.7 * bw)}
    need = edge.memory_needed(m, context, "fp16")["total"]
    fits16 = bool(need <= 0.5 * hw.memory_bytes)
    meet = [k for k, lab in (("fp16", "(a) fp16"), ("int4", "(a) int4"), ("int4_70", "(b)"), ("int4s_70", "(c)"))
            if t[k] * 1e3 <= target_ms]
    labels = {"fp16": "(a) fp16", "int4": "(a) int4", "int4_70": "(b)", "int4s_70": "(c)"}
    prompt = (f"A company wants {_name(m)} ({_f(m.params_total / 1e9, 'sig3')} B parameters) on an edge device with "
              f"{_f(bandwidth_gbs)} GB/s of memory bandwidth, 16 GiB of memory and 4 TFLOP/s of fp16 compute, at "
              f"no more than {_f(target_ms)} ms per token, batch 1, with {_f(context)} cached tokens and an fp16 KV "
              "cache. (a) What is the decode-step time at peak bandwidth with fp16 weights, and with int4 weights? "
              "(b) With int4 weights at 70 % of peak bandwidth? (c) With int4 weights that carry an fp16 scale and "
              "zero point per group of 64 weights (4.5 bits per weight), at 70 %? (d) Do fp16 weights fit in half of "
              "the 16 GiB? Which cases meet the target, and what would bring the others under it?")
    ps = edge.streamed_weight_params(m)
    solution = (
        "A batch-1 decode step is memory-bound, so its time is the bytes it reads over the bandwidth: "
        f"$t = (P_s b_w + 2LKH(S+1) b_{{kv}}) / \\beta$, with $P_s = {_f(ps / 1e9, 'sig4')}$ B streamed parameters "
        f"(the untied input embedding is a lookup) and a KV read of {_f(kv / GB)} GB.\n\n"
        f"(a) fp16: $({_f(wb['fp16'] / GB)} + {_f(kv / GB)})$ GB / {_f(bandwidth_gbs)} GB/s = {_f(t['fp16'] * 1e3)} ms; "
        f"int4: $({_f(wb['int4'] / GB)} + {_f(kv / GB)}) / {_f(bandwidth_gbs)}$ = {_f(t['int4'] * 1e3)} ms.\n\n"
        f"(b) At 70 %: {_f(t['int4'] * 1e3)} / 0.7 = {_f(t['int4_70'] * 1e3)} ms.\n\n"
        f"(c) 4.5 bits per weight is {_f(wb['int4s'] / GB)} GB of weights: "
        f"$({_f(wb['int4s'] / GB)} + {_f(kv / GB)}) / (0.7 \\times {_f(bandwidth_gbs)})$ = {_f(t['int4s_70'] * 1e3)} ms.\n\n"
        f"(d) fp16 needs {_f(need / GiB)} GiB against 8 GiB: "
        + ("it fits." if fits16 else "it **does not fit**, so the fp16 case (a) cannot run at all.") + "\n\n"
        f"Meeting {_f(target_ms)} ms: {', '.join(labels[k] for k in meet) if meet else 'none of the cases'}. "
        "Bare int4 at peak bandwidth is the optimistic case; real formats carry scales, kernels do not sustain the "
        "peak, and every step also reads the cache. What helps is fewer bytes per token (a smaller model, fewer "
        "bits, a smaller or quantized KV cache) or more tokens per pass over the weights (speculative decoding). "
        "Loading layers on demand or pipelining them does not: one device still reads every weight once per token.")
    return _W(prompt, {"fp16_ms": Part(t["fp16"] * 1e3, "ms", rel=0.01, what="fp16 step time"),
                           "int4_ms": Part(t["int4"] * 1e3, "ms", rel=0.01, what="int4 step time at peak"),
                           "int4_70_ms": Part(t["int4_70"] * 1e3, "ms", rel=0.01, what="int4 step time at 70 %"),
                           "int4_scaled_ms": Part(t["int4s_70"] * 1e3, "ms", rel=0.01,
                                                  what="4.5-bit step time at 70 %"),
                           "fp16_fits": Part(fits16, "True or False", rel=0, what="fp16 fits in 8 GiB")}, solution)


# --- 7 ---------------------------------------------------------------------------
_FAMILIES = {"llama-2": ("llama-2-7b", "llama-2-70b"), "llama-3.1": ("llama-3.1-8b", "llama-3.1-70b")}


@exercise("edge-ex7", variants={"family": ["llama-2", "llama-3.1"],
                                "device": ["jetson-agx-orin-64gb", "apple-m2-max", "apple-m3-max"],
                                "usable": [0.75, 0.9]})
def small_to_large(family: str = "llama-2", device: str = "jetson-agx-orin-64gb", usable: float = 0.9,
                   context: int = 1024) -> Worked:
    """From a 7-8B model to its 70B sibling: decode intensity, step time and memory on a 64 GiB device."""
    small, large = _FAMILIES[family]
    hw = get_hardware(device)
    kw = dict(act_dtype="fp16", kv_dtype="fp16")
    i_small = float(decode_step(small, hw, 1, context, weight_dtype="fp16", **kw).intensity)
    i_large = float(decode_step(large, hw, 1, context, weight_dtype="fp16", **kw).intensity)
    i_large4 = float(decode_step(large, hw, 1, context, weight_dtype="int4", **kw).intensity)
    t4 = float(decode_step(large, hw, 1, context, weight_dtype="int4", **kw).time_s)
    f16, need16, cap = _fits(large, hw, context, "fp16", usable)
    f4, need4, _ = _fits(large, hw, context, "int4", usable)
    ml = load_model(large)
    prompt = (f"From {_name(small)} to {_name(large)} ({_f(ml.params_total / 1e9, 'sig3')} B parameters) on a "
              f"{_dev(hw)} ({_f(hw.memory_bandwidth_bytes_per_s / GB)} GB/s, {_f(hw.memory_bytes / GiB)} GiB, of which "
              f"{_pct(usable)} is usable), batch-1 decode after {_f(context)} cached tokens, fp16 KV cache. "
              "(a) What is the decode step's arithmetic intensity with fp16 weights for each model: does it fall as "
              f"the model grows, and why? (b) What is the decode-step time of {_name(large)} with int4 weights at "
              "peak bandwidth? (c) Does the large model fit with fp16 weights, and with int4 weights?")
    solution = (
        "(a) A batch-1 decode step does about 2 FLOP per weight and reads each weight once, $b_w$ bytes: "
        "$I \\approx 2 / b_w$ FLOP/B whatever the size. llmperf counts every operator: "
        f"{_f(i_small)} FLOP/B for {_name(small)} and {_f(i_large)} FLOP/B for {_name(large)} with fp16 weights "
        f"({_f(i_large4)} with int4). The intensity does not fall with size: FLOP and bytes both scale with the "
        "parameters; only the KV cache, a larger share of a small model's bytes, moves it a little.\n\n"
        f"(b) {_name(large)} with int4 weights reads about {_f(edge.weight_bytes_per_token(large, 'int4') / GB)} GB "
        f"of weights per step: $t = {_f(t4 * 1e3)}$ ms, {_f(1 / t4)} tokens/s. What grows tenfold with the model is "
        "the time per token and the memory, not the intensity.\n\n"
        f"(c) With fp16 weights it needs {_f(need16 / GiB)} GiB against {_f(cap / GiB)} GiB usable: it "
        + ("fits" if f16 else "**does not fit**, so the fp16 intensity in (a) is a number on paper")
        + f". With int4 it needs {_f(need4 / GiB)} GiB: it " + ("fits." if f4 else "**does not fit** either."))
    return _W(prompt, {"small_intensity": Part(i_small, "FLOP/B", rel=0.01, what="small model, fp16"),
                           "large_intensity": Part(i_large, "FLOP/B", rel=0.01, what="large model, fp16"),
                           "large_int4_ms": Part(t4 * 1e3, "ms", rel=0.01, what="large model int4 step time"),
                           "large_fp16_fits": Part(f16, "True or False", rel=0, what="large model fits in fp16"),
                           "large_int4_fits": Part(f4, "True or False", rel=0, what="large model fits in int4")}, solution)


# --- 8 ---------------------------------------------------------------------------
@exercise("edge-ex8", variants={"context": [2048, 4096, 8192],
                                "device": ["snapdragon-8-gen-3", "apple-m2", "jetson-orin-nx-16gb"]})
def kv_heads_and_decode(context: int = 4096, device: str = "snapdragon-8-gen-3", usable: float = 0.5) -> Worked:
    """Llama-2-7B's shape with 32, 8 or 1 KV heads: attention intensity, KV bytes and decode-step time."""
    base, hw = load_model("llama-2-7b"), get_hardware(device)
    rows = {}
    for k in (32, 8, 1):
        m = base.replace(n_kv_heads=k, name=f"llama-2-7b-kv{k}")
        r = decode_step(m, hw, 1, context, weight_dtype="int4", act_dtype="fp16")
        i = r.ops.names.index("attention (fused)")
        ok, need, cap = _fits(m, hw, context, "int4", usable)
        rows[k] = dict(attn=float(r.op_intensity[i]), kv=float(edge.kv_bytes_per_token(m, context)),
                       w=edge.weight_bytes_per_token(m, "int4"), t=float(r.time_s), fits=ok, need=need, cap=cap)
    prompt = (f"Take Llama-2-7B's shape ($N = 32$ query heads, $H = 128$, $L = 32$) with $K = 32$ (multi-head), "
              "8 (grouped-query, groups of 4) or 1 (multi-query) KV heads; int4 weights, an fp16 KV cache, batch 1 "
              f"and {_f(context)} cached tokens on {_a(_dev(hw))}, of whose memory half is usable. For each $K$, "
              "what is the arithmetic intensity of the fused attention operator of a decode step, and the "
              "decode-step time? Why does the attention operator's intensity follow $N/K$, and why does the step "
              "time fall by less than the KV bytes?")

    def row(k):
        d = rows[k]
        fit = "fits" if d["fits"] else "**does not fit**"
        return (f"| {k} | {_f(d['attn'])} | {_f(d['kv'] / GB)} | {_f(d['t'] * 1e3)} | {_f(d['need'] / GiB)} ({fit}) |")
    solution = (
        "In a decode step each cached key and value is read once and serves the $N/K$ query heads of its group, "
        "with about 2 FLOP per element per head: $I_{\\text{attn}} \\approx 2 \\cdot (N/K) / b_{kv} = N/K$ FLOP/B "
        "in fp16. The step reads the int4 weights "
        f"({_f(rows[32]['w'] / GB)} GB, the same for every $K$ up to the K and V projections) plus the KV cache, "
        f"$2LKH(S+1) b_{{kv}}$:\n\n"
        "| $K$ | attention (FLOP/B) | KV read (GB) | step (ms) | memory (GiB) |\n| --- | --- | --- | --- | --- |\n"
        + "\n".join(row(k) for k in (32, 8, 1)) + "\n\n"
        f"The memory column is weights, KV cache and activations against {_f(rows[32]['cap'] / GiB)} GiB usable. "
        f"Going from $K = 32$ to 8 divides the KV bytes by 4 but the step time only by "
        f"{_f(rows[32]['t'] / rows[8]['t'])}, and $K = 1$ gains a further {_f(rows[8]['t'] / rows[1]['t'])}-fold: "
        "the weights, read in full every step, stay. The longer the context and the fewer the weight bytes, the "
        "more the KV heads matter.")
    return _W(prompt, {
        **{f"intensity_k{k}": Part(rows[k]["attn"], "FLOP/B", rel=0.02, what=f"attention intensity, K = {k}")
           for k in (32, 8, 1)},
        **{f"ms_k{k}": Part(rows[k]["t"] * 1e3, "ms", rel=0.01, what=f"step time, K = {k}") for k in (32, 8, 1)}},
        solution)


# --- 9: an open design question -------------------------------------------------
def _design_check(model, target, context, usable, efficiency):
    devices, dtypes = edge.edge_devices(), edge.WEIGHT_DTYPES

    def speed(device, dt):
        return float(edge.bandwidth_ceiling(model, device, context, dt, memory_efficiency=efficiency))

    def accept(design):
        if not isinstance(design, dict) or not {"device", "weight_dtype"} <= set(design):
            return "submit {'device': <a catalog edge device>, 'weight_dtype': 'fp16', 'int8' or 'int4'}"
        d, dt = design["device"], design["weight_dtype"]
        if d not in devices:
            return f"{d!r} is not one of the catalog's edge devices ({', '.join(devices)})"
        if dt not in dtypes:
            return f"weight_dtype must be one of {', '.join(dtypes)}"
        ok, need, cap = _fits(model, d, context, dt, usable)
        if not ok:
            return f"it does not fit: {fmt(need / GiB)} GiB needed, {fmt(cap / GiB)} GiB usable"
        v = speed(d, dt)
        if v < target:
            return f"too slow: at most {fmt(v)} tokens/s at {efficiency:.0%} of peak bandwidth, {fmt(target)} needed"
        return None
    return accept, speed


@exercise("edge-ex9", variants={"model": ["llama-3.1-8b", "qwen2.5-7b", "llama-3.2-3b"], "target": [10, 15, 25]})
def choose_a_device(model: str = "llama-3.1-8b", target: float = 15, context: int = 4096, usable: float = 0.5,
                    efficiency: float = 0.7) -> Worked:
    """Design: a catalog edge device and a weight precision that run a model at a target tokens/s, and fit."""
    accept, speed = _design_check(model, target, context, usable, efficiency)
    rows, good = [], []
    for d in edge.edge_devices():
        cells = []
        for dt in edge.WEIGHT_DTYPES:
            ok, _, _ = _fits(model, d, context, dt, usable)
            v = speed(d, dt)
            works = ok and v >= target
            cells.append(f"{_f(v)}{'' if ok else ' ✗'}{' ✓' if works else ''}")
            if works:
                good.append((dt, get_hardware(d).memory_bandwidth_bytes_per_s, d))
        rows.append(f"| {d} | " + " | ".join(cells) + " |")
    # one good answer: the widest weights (best quality), then the least bandwidth (the least capable device)
    order = {dt: i for i, dt in enumerate(edge.WEIGHT_DTYPES)}
    good.sort(key=lambda g: (order[g[0]], g[1]))
    dt0, _, d0 = good[0]
    prompt = (f"A note-taking app must run {_name(model)} on the user's own device, batch 1, with a {_f(context)}-token "
              f"context and an fp16 KV cache, at {_f(target)} tokens/s or more. Kernels sustain {_pct(efficiency)} "
              f"of the peak memory bandwidth, and the app may use {_pct(usable)} of the device's memory. Choose a "
              "device of the catalog's edge list and a weight precision (fp16, int8 or int4) that meet the target "
              "and fit, and justify the choice: among the designs that work, which would you ship?")
    solution = (
        "Two tests decide a design. **Speed**: a batch-1 decode step reads the streamed weights and the KV cache "
        f"once, so tokens/s $\\le {efficiency:g}\\,\\beta / (P_s b_w + 2LKH(S+1) b_{{kv}})$. **Memory**: weights, KV "
        "cache and activations within the usable share. The table gives the speed bound (tokens/s) per device and "
        "precision; ✗ marks a configuration that does not fit, ✓ one that passes both tests:\n\n"
        "| device | fp16 | int8 | int4 |\n| --- | --- | --- | --- |\n" + "\n".join(rows) + "\n\n"
        f"{len(good)} designs pass. One good choice is the **{d0}** with **{dt0}** weights: the widest weights "
        f"(the least quality lost to quantization) on the device with the least bandwidth that still reaches "
        f"{_f(target)} tokens/s ({_f(speed(d0, dt0))} at {_pct(efficiency)} of peak). "
        "Any design with a ✓ is accepted; a faster device buys headroom for longer contexts, narrower weights "
        "buy speed at some cost in quality.")
    return _W(prompt, {"design": Part({"device": d0, "weight_dtype": dt0}, "a dict of 'device' and 'weight_dtype'", rel=0, accept=accept,
                                          what="device and weight precision")}, solution)


# --- 10 --------------------------------------------------------------------------
@exercise("edge-ex10", variants={"model": ["llama-3.1-8b", "qwen2.5-7b", "mistral-7b"],
                                 "device": ["raspberry-pi-5", "tensor-g3", "core-ultra-7-155h"],
                                 "claim": [8, 25]})
def check_a_claim(model: str = "llama-3.1-8b", device: str = "raspberry-pi-5", claim: float = 25,
                  context: int = 4096) -> Worked:
    """A claimed batch-1 tokens/s against the bandwidth ceiling."""
    hw = get_hardware(device)
    r = edge.check_claim(model, device, claim, "int4", context=context)
    bpt, ceil, ratio = r["bytes_per_token"], r["ceiling_tokens_per_s"], r["ratio"]
    plausible = bool(ratio <= 0.8)
    prompt = (f"A post claims that {_name(model)} with int4 weights generates {_f(claim)} tokens/s on {_a(_dev(hw))} "
              f"({_f(hw.memory_bandwidth_bytes_per_s / GB)} GB/s, {_f(hw.memory_bytes / GiB)} GiB), batch 1, with "
              f"{_f(context)} cached tokens and an fp16 KV cache. (a) What is the bandwidth ceiling on tokens/s? "
              "(b) How many times the ceiling is the claim, and what bandwidth does it imply? (c) Is it plausible as "
              "plain batch-1 decoding, taking 80 % of the peak as the most a kernel sustains? If not, what could "
              "explain the number?")
    fit = ("The model fits in the device's memory" if r["fits_in_memory"] else
           "The model **does not fit** in the device's memory, which settles the question")
    solution = (
        f"(a) One token reads the streamed int4 weights and the KV cache of {_f(context + 1)} keys: "
        f"{_f(bpt / GB)} GB. The ceiling is $\\beta / {_f(bpt / GB)}$ GB = "
        f"{_f(hw.memory_bandwidth_bytes_per_s / GB)} / {_f(bpt / GB)} = {_f(ceil)} tokens/s.\n\n"
        f"(b) The claim is ${_f(claim)} / {_f(ceil)} = {_f(ratio)}$ times the ceiling; it implies "
        f"${_f(claim)} \\times {_f(bpt / GB)} = {_f(r['implied_bandwidth_bytes_per_s'] / GB)}$ GB/s of reads.\n\n"
        "(c) " + (f"Yes: it needs {_pct(ratio)} of the peak bandwidth, within what kernels sustain. "
                  if plausible else
                  f"No: it needs {_pct(ratio)} of the peak bandwidth. Not necessarily a lie, but not plain batch-1 "
                  "decoding of that model at that precision: speculative decoding (several tokens per pass over the "
                  "weights), a smaller model or fewer bits than stated, batching (aggregate tokens/s of several "
                  "users), or prompt tokens/s reported as generation speed. ")
        + fit + ".")
    return _W(prompt, {"ceiling": Part(ceil, "tokens/s", rel=0.01, what="bandwidth ceiling"),
                           "ratio": Part(ratio, "times the ceiling", rel=0.01, what="claim / ceiling"),
                           "implied": Part(r["implied_bandwidth_bytes_per_s"] / GB, "GB/s", rel=0.01,
                                           what="implied bandwidth"),
                           "plausible": Part(plausible, "True or False", rel=0, what="plausible")}, solution)


# --- 11 --------------------------------------------------------------------------
@exercise("edge-ex11", variants={"model": ["qwen2.5-3b", "llama-3.2-3b", "llama-3.2-1b"], "tokens_per_s": [20, 30],
                                 "context": [512, 2048]})
def achieved_bandwidth(model: str = "qwen2.5-3b", tokens_per_s: float = 30, context: int = 512) -> Worked:
    """From a measured tokens/s back to the bandwidth a phone sustains."""
    w = edge.weight_bytes_per_token(model, "int4", bits_per_weight=4.5)
    kv = float(edge.kv_bytes_per_token(model, context))
    bpt = w + kv
    achieved = tokens_per_s * bpt
    vmax = get_hardware("snapdragon-8-gen-3").memory_bandwidth_bytes_per_s
    shipped = 68.3e9
    prompt = (f"A benchmark measures {_f(tokens_per_s)} tokens/s for {_name(model)} ({_model_facts(model)}) on a "
              "Snapdragon 8 Gen 3 phone, with 4.5-bit weights (int4 plus an fp16 scale and zero point per 64 "
              f"weights), an fp16 KV cache and {_f(context)} cached tokens, batch 1. (a) How many GB does one token "
              "read? (b) What bandwidth does the phone sustain? (c) What fraction is that of 76.8 GB/s (the chip's "
              "maximum) and of 68.3 GB/s (LPDDR5X-8533, the memory many phones ship)? Which fraction describes "
              "the kernel, and why?")
    solution = (
        f"(a) Weights: $P_s \\times 4.5 / 8$ B = {_f(w / GB)} GB; KV cache: $2LKH(S+1) b_{{kv}}$ = {_f(kv / GB)} GB; "
        f"together {_f(bpt / GB)} GB per token.\n\n"
        f"(b) Tokens/s times bytes per token is the bandwidth achieved: ${_f(tokens_per_s)} \\times {_f(bpt / GB)}"
        f" = {_f(achieved / GB)}$ GB/s.\n\n"
        f"(c) {_f(achieved / GB)} / 76.8 = {_f(achieved / vmax)} of the chip's maximum, {_f(achieved / GB)} / 68.3 = "
        f"{_f(achieved / shipped)} of LPDDR5X-8533. The second describes the kernel: a phone cannot read faster "
        "than the memory fitted in it, and the chip's maximum is a figure for the fastest memory it supports. "
        "Dividing by the wrong peak makes a good kernel look mediocre.")
    return _W(prompt, {"gb_per_token": Part(bpt / GB, "GB", rel=0.01, what="bytes per token"),
                           "achieved": Part(achieved / GB, "GB/s", rel=0.01, what="achieved bandwidth"),
                           "fraction_max": Part(achieved / vmax, "fraction (0 to 1)", rel=0.01,
                                                what="fraction of 76.8 GB/s"),
                           "fraction_shipped": Part(achieved / shipped, "fraction (0 to 1)", rel=0.01,
                                                    what="fraction of 68.3 GB/s")}, solution)


# --- 12 --------------------------------------------------------------------------
@exercise("edge-ex12", variants={"model": ["qwen2.5-3b", "llama-3.2-3b", "phi-3-mini"],
                                 "device": ["dimensity-9300", "tensor-g3", "snapdragon-8-gen-3"],
                                 "prompt_len": [512, 1024, 2048]})
def prefill_on_a_phone(model: str = "qwen2.5-3b", device: str = "dimensity-9300", prompt_len: int = 1024) -> Worked:
    """TTFT of a prompt on a phone GPU, its bound, and the decode steps it equals."""
    hw = get_hardware(device)
    p = prefill_step(model, hw, 1, prompt_len, weight_dtype="int4", act_dtype="fp16")
    d = decode_step(model, hw, 1, prompt_len, weight_dtype="int4", act_dtype="fp16")
    ttft, tpot = float(p.time_s), float(d.time_s)
    bound = str(p.bound)
    steps = ttft / tpot
    peak = hw.peak_for("fp16")
    m = load_model(model)
    pc = m.param_counts()
    p_mm = pc["total"] - pc["embedding"]      # the lookup does no arithmetic, the lm_head runs for one token
    prompt = (f"{_name(model)} with int4 weights (dequantized to fp16 for the arithmetic) on {_a(_dev(hw))} phone GPU "
              f"({_f(peak / 1e12)} TFLOP/s fp16, an estimate; {_f(hw.memory_bandwidth_bytes_per_s / GB)} GB/s), "
              f"batch 1: (a) the TTFT of a {_f(prompt_len)}-token prompt at the roofline; (b) is the prefill "
              f"compute-bound or memory-bound, and why, when decoding is memory-bound? (c) the decode-step time "
              f"after the prompt ({_f(prompt_len)} cached tokens); (d) how many decode steps take as long as the "
              "prefill?")
    solution = (
        f"(a) Prefill multiplies all {_f(prompt_len)} tokens by each weight matrix at once: about "
        f"$2 P' T$ FLOP with $P' = {_f(p_mm / 1e9, 'sig3')}$ B parameters outside the embedding, plus attention. "
        f"llmperf counts $C = {_f(float(p.flops) / 1e12)}$ TFLOP and $Q = {_f(float(p.bytes) / GB)}$ GB, so "
        f"TTFT $= \\max(C / \\pi, Q / \\beta) = {_f(ttft)}$ s.\n\n"
        f"(b) Its intensity is {_f(float(p.intensity))} FLOP/B against a ridge of "
        f"{_f(peak / hw.memory_bandwidth_bytes_per_s)} FLOP/B: **{bound}-bound**. Each weight read serves "
        f"{_f(prompt_len)} tokens in a prefill and one token in a decode step, hence the difference.\n\n"
        f"(c) The decode step reads the int4 weights and the KV cache: {_f(tpot * 1e3)} ms.\n\n"
        f"(d) ${_f(ttft)} / {_f(tpot)}$ = {_f(steps)} decode steps. TTFT follows the compute peak, tokens/s the "
        "bandwidth; the phone's NPU, not modelled here, is built for the compute-bound part.\n\n"
        f"Memory, with half of the phone's memory usable: {_fit_sentence(model, hw, prompt_len, 'int4', 0.5)}")
    return _W(prompt, {"ttft_s": Part(ttft, "s", rel=0.01, what="TTFT"),
                           "bound": Part(bound, 'words: "compute" or "memory"', rel=0, what="compute or memory"),
                           "decode_ms": Part(tpot * 1e3, "ms", rel=0.01, what="decode-step time"),
                           "steps": Part(steps, "decode steps", rel=0.01, what="decode steps equal to TTFT")},
                  solution)


# --- 13 --------------------------------------------------------------------------
@exercise("edge-ex13", variants={"device": ["apple-m2-max", "apple-m3-max", "jetson-agx-orin-64gb"],
                                 "context": [4096, 16384]})
def moe_on_a_laptop(device: str = "apple-m2-max", context: int = 4096, usable: float = 0.75) -> Worked:
    """An MoE (Qwen3-30B-A3B) against a dense model (Qwen3-32B), int4, on a 64 GiB device."""
    hw = get_hardware(device)
    out = {}
    for m in ("qwen3-30b-a3b", "qwen3-32b"):
        ok, need, cap = _fits(m, hw, context, "int4", usable)
        out[m] = dict(fits=ok, need=need, cap=cap, ps=edge.streamed_weight_params(m),
                      w=edge.weight_bytes_per_token(m, "int4"), kv=float(edge.kv_bytes_per_token(m, context)),
                      v=float(edge.bandwidth_ceiling(m, hw, context, "int4")))
    moe, dense = out["qwen3-30b-a3b"], out["qwen3-32b"]
    bw = hw.memory_bandwidth_bytes_per_s / GB
    prompt = (f"On {_a(_dev(hw))} ({_f(bw)} GB/s, {_f(hw.memory_bytes / GiB)} GiB, {_pct(usable)} usable), compare "
              "Qwen3-30B-A3B (a mixture of experts: 30.5 B parameters, 3.35 B active per token, 8 of 128 experts "
              f"per layer) with the dense Qwen3-32B, both with int4 weights, an fp16 KV cache and {_f(context)} cached "
              "tokens, batch 1: the memory each needs (GiB), whether each fits, and the bandwidth ceiling on "
              "tokens/s. Why is one so much faster than the other while their memory is alike?")

    def fit(d):
        return "fits" if d["fits"] else "**does not fit**"
    solution = (
        f"Memory counts every parameter; bandwidth only those a token reads. Qwen3-30B-A3B needs "
        f"{_f(moe['need'] / GiB)} GiB and Qwen3-32B {_f(dense['need'] / GiB)} GiB, against {_f(moe['cap'] / GiB)} GiB "
        f"usable: the MoE {fit(moe)}, the dense model {fit(dense)}.\n\n"
        f"Per token the MoE streams {_f(moe['ps'] / 1e9, 'sig3')} B parameters (its 8 routed experts, attention, "
        f"the lm_head): {_f(moe['w'] / GB)} GB of int4 weights plus {_f(moe['kv'] / GB)} GB of KV cache, so its "
        f"ceiling is {_f(bw)} / {_f((moe['w'] + moe['kv']) / GB)} = {_f(moe['v'])} tokens/s. The dense model streams "
        f"{_f(dense['ps'] / 1e9, 'sig3')} B: {_f(dense['w'] / GB)} + {_f(dense['kv'] / GB)} GB, "
        f"{_f(dense['v'])} tokens/s, {_f(moe['v'] / dense['v'])} times slower.\n\n"
        "At batch 1 an MoE costs memory like its total size and bandwidth like its active size: on a device with "
        "plenty of memory and little bandwidth, that is the trade an edge deployment wants.")
    return _W(prompt, {"moe_gib": Part(moe["need"] / GiB, "GiB", rel=0.01, what="MoE memory"),
                           "dense_gib": Part(dense["need"] / GiB, "GiB", rel=0.01, what="dense memory"),
                           "moe_tokens_per_s": Part(moe["v"], "tokens/s", rel=0.01, what="MoE ceiling"),
                           "dense_tokens_per_s": Part(dense["v"], "tokens/s", rel=0.01, what="dense ceiling")},
                  solution)


# --- 14 --------------------------------------------------------------------------
@exercise("edge-ex14", variants={"device": ["apple-m2", "apple-m2-pro", "snapdragon-8-gen-3"],
                                 "draft_tokens": [3, 4, 5], "accepted": [2.0, 3.0]})
def speculative_decoding(device: str = "apple-m2", draft_tokens: int = 4, accepted: float = 3.0,
                         context: int = 1024) -> Worked:
    """Llama-3.1-8B drafted by Llama-3.2-1B (both int4): tokens/s against plain decoding and the ceiling."""
    hw = get_hardware(device)
    target, draft = "llama-3.1-8b", "llama-3.2-1b"
    kw = dict(weight_dtype="int4", act_dtype="fp16")
    t1 = float(decode_step(target, hw, 1, context, **kw).time_s)
    tv = float(prefill_step(target, hw, 1, draft_tokens + 1, past=context, **kw).time_s)
    td = float(decode_step(draft, hw, 1, context, **kw).time_s)
    r = edge.speculative_speedup(target, hw, draft_tokens, accepted, context=context, draft_model=draft)
    tps, plain, speedup = r["tokens_per_s"], r["plain_tokens_per_s"], r["speedup"]
    ceil = float(edge.bandwidth_ceiling(target, hw, context, "int4"))
    per_pass = draft_tokens * td + tv
    _, need_t, cap = _fits(target, hw, context, "int4", 0.5)
    _, need_d, _ = _fits(draft, hw, context, "int4", 0.5)
    both = need_t + need_d
    prompt = (f"Speculative decoding on {_a(_dev(hw))} ({_f(hw.memory_bandwidth_bytes_per_s / GB)} GB/s): "
              f"Llama-3.2-1B drafts {draft_tokens} tokens for Llama-3.1-8B (both int4, same tokenizer), one decode "
              f"step each; Llama-3.1-8B then checks them in one {draft_tokens + 1}-token pass, and on average "
              f"{_f(accepted, '.1f')} tokens are kept per pass. With {_f(context)} cached tokens, batch 1, what "
              "tokens/s results, what does plain decoding of Llama-3.1-8B reach, and what is the speed-up? How can "
              "the result beat the bandwidth ceiling of plain decoding?")
    solution = (
        f"Step times from llmperf: a Llama-3.1-8B decode step {_f(t1 * 1e3)} ms, a Llama-3.2-1B decode step "
        f"{_f(td * 1e3)} ms, the {draft_tokens + 1}-token checking pass {_f(tv * 1e3)} ms.\n\n"
        f"One pass costs $n\\,t_{{\\text{{draft}}}} + t_{{\\text{{check}}}} = {draft_tokens} \\times {_f(td * 1e3)} + "
        f"{_f(tv * 1e3)} = {_f(per_pass * 1e3)}$ ms and yields {_f(accepted, '.1f')} tokens: "
        f"{_f(accepted, '.1f')} / {_f(per_pass)} s = {_f(tps)} tokens/s. Plain decoding reaches "
        f"$1 / {_f(t1)}$ s = {_f(plain)} tokens/s, so the speed-up is {_f(speedup)}.\n\n"
        f"The ceiling of plain decoding, {_f(ceil)} tokens/s, assumes one token per read of the weights. The "
        f"checking pass reads the 8B weights once for {draft_tokens + 1} tokens, so it costs about one decode step "
        f"({_f(tv / t1)} of one); several tokens share each weight read. A claim above the ceiling can be honest, "
        "if it says it uses speculative decoding.\n\n"
        f"Memory: both models stay loaded, {_f(both / GiB)} GiB with their caches and activations, against "
        f"{_f(cap / GiB)} GiB (half the device's memory): " + ("they fit." if both <= cap else "they **do not fit**."))
    return _W(prompt, {"tokens_per_s": Part(tps, "tokens/s", rel=0.01, what="speculative tokens/s"),
                           "plain_tokens_per_s": Part(plain, "tokens/s", rel=0.01, what="plain decoding tokens/s"),
                           "speedup": Part(speedup, "times", rel=0.01, what="speed-up")}, solution)
