"""Exercises of the chapter "Operator Tables" (``book/operators.ipynb``, labels ``operators-ex1`` ...).

Each function takes the exercise's numbers as keyword arguments (the defaults
are the book's version, ``variants`` the values a per-student variant draws
from) and returns a :class:`~llmperf.exercises.Worked` computed by llmperf.
"""
from __future__ import annotations

import math

from .. import rooflines as R
from ..book import fmt
from ..hardware import get_hardware
from ..models import kv_bytes_per_token_layer, load_model
from ..tables import (GiB, attention_intensity, decode_bytes_split, kv_cache_bytes, kv_equals_weights_context,
                      operator_table, step, with_kv_heads)
from . import Part, exercise
from .roofline import fit_sentence, pretty, worked_md


@exercise("operators-ex1", variants={"model": ["llama-2-70b", "qwen2.5-7b", "llama-3.1-8b"],
                                     "batch": [8, 32], "context": [4096, 32768]})
def kv_cache_size(model: str = "llama-2-70b", batch: int = 8, context: int = 4096):
    """KV cache (bf16) of ``batch`` sequences holding ``context`` tokens each, in GiB."""
    m = load_model(model)
    L, K, H = m.n_layers, m.n_kv_heads, m.head_dim
    per = kv_bytes_per_token_layer(m, "bf16")
    total = float(kv_cache_bytes(m, context, batch, "bf16"))
    gib = total / GiB
    prompt = (f"{pretty(m)} ($L = {L}$, $K = {K}$, $H = {H}$) serves {batch} sequences that each hold "
              f"{fmt(context)} tokens, with a bf16 cache. How many GiB does the KV cache take?")
    solution = (
        f"Each token leaves, in every layer, a key and a value vector per KV head: $2KH$ elements of "
        f"$b_{{kv}} = 2$ bytes, so $2 \\cdot {K} \\cdot {H} \\cdot 2 = {fmt(int(per))}$ bytes per token and layer. "
        f"Times $L B S$:\n\n"
        f"$$M_{{kv}} = 2KH\\,b_{{kv}} \\cdot L\\,B\\,S = {int(per)} \\cdot {L} \\cdot {batch} \\cdot {context} = "
        f"{fmt(int(total))}\\ \\text{{bytes}} = {fmt(gib, 'sig4')}\\ \\text{{GiB}}$$\n\n"
        f"(dividing by $2^{{30}}$: a capacity is counted in GiB). The cache grows linearly in both the batch and "
        "the context; with $K < N$ (grouped-query attention) it is $N/K$ times smaller than with one KV head "
        "per query head.")
    return worked_md(prompt, {"answer": Part(gib, "GiB", rel=0.01, what="KV cache")}, solution)


@exercise("operators-ex2", variants={"model": ["qwen2.5-3b", "qwen2.5-1.5b", "llama-3.2-1b", "llama-2-7b"],
                                     "prompt_len": [512, 1024, 2048]})
def q_proj_prefill_flop(model: str = "qwen2.5-3b", prompt_len: int = 1024):
    """FLOP of one q_proj (one layer) in the prefill of a prompt at batch 1: an exact count."""
    m = load_model(model)
    t = operator_table(m, "h100-sxm", "prefill", batch=1, prompt_len=prompt_len)
    flop = int(round(float(t.loc["q_proj", "MFLOP"]) * 1e6))
    D, N, H, T = m.d_model, m.n_heads, m.head_dim, prompt_len
    bias = bool(m.qkv_bias)
    mm = 2 * T * D * N * H
    b = T * N * H if bias else 0
    bias_words = f"and a bias on `q_proj`" if bias else "and no bias on `q_proj`"
    prompt = (f"{pretty(m)} has $D = {D}$, $N = {N}$, $H = {H}$ {bias_words}. How many FLOP does one `q_proj` "
              f"(one layer) do in the prefill of a {fmt(T)}-token prompt at batch 1? Give the exact count.")
    solution = (
        f"`q_proj` multiplies the $[T, D] = [{T}, {D}]$ activations by a $[D, NH] = [{D}, {N * H}]$ weight: "
        f"$2 T D \\cdot NH = 2 \\cdot {T} \\cdot {D} \\cdot {N * H} = {fmt(mm)}$ FLOP (a multiply-add is two FLOP)"
        + (f", plus one add per output element for the bias, $T \\cdot NH = {fmt(b)}$" if bias else "") +
        f". Total: **{fmt(flop)} FLOP** ({fmt(flop / 1e9, 'sig4')} GFLOP). "
        "The count grows linearly with the prompt: every token goes through the same weight.")
    return worked_md(prompt, {"answer": Part(flop, "FLOP", rel=0, what="q_proj FLOP")}, solution)


@exercise("operators-ex3", variants={"model": ["llama-2-70b", "llama-2-7b", "qwen2.5-7b"],
                                     "device": ["h100-sxm", "a100-sxm-80gb", "h200"]})
def decode_bound_why(model: str = "llama-2-70b", device: str = "h100-sxm"):
    """Why a batch-1 decode step is memory-bound: its intensity against the ridge, and whether it fits."""
    m = load_model(model)
    h = get_hardware(device)
    r = step(m, h, "decode", batch=1, prompt_len=1024)
    inten, bound = float(r.intensity), str(r.bound)
    ridge = h.ridge_point_for("bf16")
    mem = R.decode_memory(m, h, 1, 1024)
    pk, bw = h.peak_for("bf16"), h.memory_bandwidth_bytes_per_s
    prompt = (f"Why is the decode of {pretty(m)} memory-bound on the {h.display_name}? Give the arithmetic "
              "intensity of its first decode step (batch 1, 1024 cached tokens, bf16) and the device's bf16 ridge "
              f"point ({fmt(pk / 1e12, 'sig4')} TFLOP/s, {fmt(bw / 1e12, 'sig3')} TB/s), both in FLOP/B, the bound, "
              "and whether the weights and cache fit in the device's memory.")
    fits_words = ("They fit." if mem["fits"] else
                  "On one device this step cannot run: a real deployment splits the "
                  "model over several (tensor parallelism). Splitting divides FLOP and bytes alike, so the intensity "
                  "and the bound stay as computed here; only the time per device changes.")
    solution = (
        f"**Why:** at batch 1 every weight is read once per step and used for one multiply-add on one token: "
        f"2 FLOP for the 2 bytes of a bf16 weight, about 1 FLOP/B. The step reads all weights (but one row of "
        "the embedding table) plus the KV cache, and the cache adds bytes with few FLOP, so nothing raises it.\n\n"
        f"- Step intensity $I = C/Q = {fmt(float(r.flops) / 1e9, 'sig4')}\\ \\text{{GFLOP}} / "
        f"{fmt(float(r.bytes) / 1e9, 'sig4')}\\ \\text{{GB}} = {fmt(inten)}$ FLOP/B;\n"
        f"- ridge $R = \\pi / \\beta = {fmt(pk / 1e12, 'sig4')} \\times 10^{{12}} / {fmt(bw / 1e12, 'sig3')} \\times "
        f"10^{{12}} = {fmt(ridge)}$ FLOP/B.\n\n"
        f"$I$ is {fmt(ridge / inten)} times below $R$: **{bound}-bound**. Only more tokens per weight load "
        "(a larger batch) or fewer bytes per weight would move it towards the ridge.\n\n"
        f"Memory: {fit_sentence(mem, h.display_name)}. {fits_words}")
    return worked_md(prompt, {"intensity": Part(inten, "FLOP/B", rel=0.01, what="step intensity"),
                              "ridge": Part(ridge, "FLOP/B", rel=0.01, what="bf16 ridge"),
                              "bound": Part(bound, rel=0, what="bound ('compute' or 'memory')"),
                              "fits": Part(mem["fits"], rel=0, what="fits in memory (True or False)")}, solution)


@exercise("operators-ex4", variants={"batch": [1, 3, 6], "context": [3000, 6000, 12000]})
def kv_share(batch: int = 1, context: int = 6000):
    """KV share (%) of the bytes of a decode step, MHA Llama-2-7B against GQA Qwen2.5-7B."""
    out, lines = {}, []
    for key, name in (("mha", "llama-2-7b"), ("gqa", "qwen2.5-7b")):
        m = load_model(name)
        s = decode_bytes_split(m, "h100-sxm", batch=batch, context=context)
        share = 100 * float(s["kv_share"])
        out[key] = share
        lines.append(
            f"- {pretty(m)} ($L = {m.n_layers}$, $K = {m.n_kv_heads}$, $H = {m.head_dim}$): KV read "
            f"$B (S + 1) L \\cdot 2KH \\cdot 2 = {fmt(float(s['kv']) / 1e9, 'sig4')}$ GB, weights "
            f"{fmt(float(s['weights']) / 1e9, 'sig4')} GB, other {fmt(float(s['other']) / 1e6, 'sig3')} MB: "
            f"KV share {fmt(share, 'sig3')} %.")
    prompt = (f"At batch {batch} with {fmt(context)} cached tokens per sequence, what share of the bytes of a "
              "decode step is the KV cache, for Llama-2-7B (MHA) and for Qwen2.5-7B (GQA-7), both in bf16?")
    solution = (
        "The step reads every weight once (the embedding table only for its $B$ rows), the cache of every "
        "sequence ($S$ cached tokens plus the new one), and a few MB of activations. Share = KV bytes / all bytes:\n\n"
        + "\n".join(lines) + "\n\n"
        "The two models have about the same weights, but Llama-2-7B keeps $N/K = 1$ KV head per query head and "
        "Qwen2.5-7B one per seven (and fewer layers): its cache per token is much smaller, so the weights dominate "
        "its decode bytes much longer.")
    return worked_md(prompt, {"mha": Part(out["mha"], "%", rel=0.01, what="KV share, Llama-2-7B"),
                              "gqa": Part(out["gqa"], "%", rel=0.01, what="KV share, Qwen2.5-7B")}, solution)


@exercise("operators-ex5", variants={"model": ["qwen2.5-7b", "llama-3.1-8b", "qwen2.5-3b"],
                                     "batch": [4, 8], "context": [4096, 8192]})
def as_mha(model: str = "qwen2.5-7b", batch: int = 8, context: int = 4096):
    """A GQA model made multi-head (K = N): KV cache and decode attention intensity, both ways."""
    m = load_model(model)
    mha = with_kv_heads(m, m.n_heads)
    kv_g = float(kv_cache_bytes(m, context, batch)) / GiB
    kv_m = float(kv_cache_bytes(mha, context, batch)) / GiB
    i_g = attention_intensity(m, "h100-sxm", "decode", batch, context)
    i_m = attention_intensity(mha, "h100-sxm", "decode", batch, context)
    N, K = m.n_heads, m.n_kv_heads
    prompt = (f"Make {pretty(m)} multi-head: $K = N = {N}$ instead of $K = {K}$, everything else equal. For {batch} "
              f"sequences of {fmt(context)} tokens (bf16), how large is its KV cache in GiB, against the real "
              "model's, and what is the intensity of decode attention in each case? Why does the intensity change "
              "by that factor?")
    solution = (
        f"The cache holds $2KH$ elements per token and layer, so it scales with $K$: "
        f"{fmt(kv_g, 'sig4')} GiB with $K = {K}$, {fmt(kv_m, 'sig4')} GiB with $K = {N}$, "
        f"{fmt(kv_m / kv_g)} times more ($N/K = {fmt(N / K)}$).\n\n"
        f"Decode attention does $4NH$ FLOP per cached key (every query head against every key) and reads "
        f"$2KH \\cdot 2$ bytes for it, so $I \\approx N/K$: {fmt(i_g)} FLOP/B with $K = {K}$ and {fmt(i_m)} FLOP/B "
        "with $K = N$.\n\n"
        "**Why:** grouped-query attention does not change the FLOP (each query head still meets every key); it "
        "divides the bytes by $N/K$, because each key and value is read once and shared by $N/K$ query heads. "
        "Both stay far below any ridge: GQA makes decode attention cheaper, not compute-bound.")
    return worked_md(prompt, {"kv_gqa_gib": Part(kv_g, "GiB", rel=0.01, what="KV cache, real model"),
                              "kv_mha_gib": Part(kv_m, "GiB", rel=0.01, what="KV cache, MHA variant"),
                              "intensity_gqa": Part(i_g, "FLOP/B", rel=0.02, what="attention intensity, real"),
                              "intensity_mha": Part(i_m, "FLOP/B", rel=0.02, what="attention intensity, MHA")},
                     solution)


@exercise("operators-ex6", variants={"model": ["llama-2-7b", "qwen2.5-7b", "llama-3.2-1b"],
                                     "batch": [16, 32, 128]})
def kv_overtakes_weights(model: str = "llama-2-7b", batch: int = 16):
    """Smallest whole number of cached tokens at which a decode step reads more KV bytes than weight bytes."""
    m = load_model(model)
    s = kv_equals_weights_context(m, batch=batch)
    tokens = int(math.floor(s)) + 1
    split = decode_bytes_split(m, "h100-sxm", batch=batch, context=1)
    w = float(split["weights"])
    per = batch * m.n_layers * kv_bytes_per_token_layer(m)
    prompt = (f"{pretty(m)} decodes {batch} sequences at once, in bf16. From how many cached tokens per sequence "
              "on does a decode step read more KV bytes than weight bytes? Give the smallest whole number of "
              "tokens.")
    solution = (
        f"The step reads the weights once: {fmt(w / 1e9, 'sig4')} GB (all parameters but the unused rows of the "
        f"embedding table). It reads $B (S + 1)$ cached tokens' keys and values, "
        f"$B L \\cdot 2KH \\cdot 2 = {fmt(per / 1e6, 'sig4')}$ MB per token of context. Equal when\n\n"
        f"$$S + 1 = \\frac{{{fmt(w / 1e9, 'sig4')}\\ \\text{{GB}}}}{{{fmt(per / 1e6, 'sig4')}\\ \\text{{MB}}}}"
        f"\\quad\\Longrightarrow\\quad S = {fmt(s, ',.1f')},$$\n\n"
        f"so from **{fmt(tokens)} tokens** on the cache outweighs the weights. The crossover falls as $1/B$: "
        "weights are read once per step, caches once per sequence.")
    return worked_md(prompt, {"answer": Part(tokens, "tokens", rel=0, what="cached tokens")}, solution)
