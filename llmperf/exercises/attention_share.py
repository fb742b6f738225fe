"""Exercises of the chapter "Attention Share" (labels ``share-ex1`` ...).

Each function takes the exercise's numbers as keyword arguments (defaults: the
book's version) and returns a :class:`~llmperf.exercises.Worked` whose parts
and worked solution llmperf computes. Shares are of a decoder layer's
attention + MLP FLOP (the chapter's definition), in percent.
"""
from __future__ import annotations

import math
import re

import numpy as np

from ..analysis import analyze
from ..book import fmt
from ..models import load_model
from ..regimes import max_decode_batch
from ..share import (crossover_numeric, layer_coefficients, part_flops, shares, textbook_ratio, textbook_share,
                     time_vs_flop_share)
from ..hardware import get_hardware
from . import Part, Worked, exercise


def _math(text: str) -> str:
    """Digit-group commas inside $...$ as ``{,}`` (TeX would space them as a list)."""
    return re.sub(r"\$[^$]+\$", lambda mt: re.sub(r"(?<=\d),(?=\d{3})", "{,}", mt.group(0)), text)


def _W(prompt: str, parts: dict, solution: str) -> Worked:
    return Worked(_math(prompt), parts, _math(solution))


def _title(name: str) -> str:
    """Catalog name to a display name: ``llama-3.1-8b`` -> ``Llama-3.1-8B``."""
    head, *rest = name.split("-")
    return "-".join([head[:1].upper() + head[1:]] + [r.upper() if re.fullmatch(r"[\d.]+b|a[\d.]+b|\d+x\d+b", r)
                                                     else r for r in rest])


def _pct(x) -> float:
    return 100.0 * float(x)


def _sizes(m) -> str:
    mlp = "SiLU-gated MLP" if m.mlp == "gated" else "plain MLP"
    return (f"$D = {m.d_model:,}$, $F = {m.d_ff:,}$ ({mlp}), $N = {m.n_heads}$, $K = {m.n_kv_heads}$, "
            f"$H = {m.head_dim}$, $L = {m.n_layers}$")


# --- 1: the textbook ratio against the share --------------------------------------------

@exercise("share-ex1", variants={"D": [2048, 3072, 5120, 8192], "S": [3072, 12288, 49152]})
def textbook_ratio_and_share(D: int = 8192, S: int = 12288) -> Worked:
    """Textbook layer of width D at S keys: ratio, share, and the context where the share is 75 %."""
    r, sh = float(textbook_ratio(S, D)), float(textbook_share(S, D))
    s75 = 10 * D                          # (2D + S) / (6D + S) = 3/4  <=>  S = 10 D
    assert abs(float(textbook_share(s75, D)) - 0.75) < 1e-12
    prompt = (f"A GPT-style layer of width $D = {D:,}$ (multi-head attention, a plain MLP of width $4D$, every query "
              f"seeing all $S$ keys, matrix multiplications only) runs at $S = {S:,}$ keys per query. "
              "Compute (a) the textbook ratio of attention to MLP FLOP, (b) attention's share of the layer's FLOP, "
              "and (c) the context $S$ at which attention's share reaches 75 %.")
    solution = (
        "Per token and layer the projections cost $8D^2$, the core $4SD$ and the MLP $16D^2$ FLOP.\n\n"
        f"(a) Ratio: $r = \\tfrac12 + S/(4D) = 0.5 + {S:,} / (4 \\times {D:,}) = {fmt(r, 'sig4')}$.\n\n"
        f"(b) Share: $r/(1 + r) = {fmt(r, 'sig4')} / {fmt(1 + r, 'sig4')} = {fmt(100 * sh)}$ %, "
        f"that is $(2D + S)/(6D + S)$. Reading the ratio as a share would claim {fmt(100 * r)} %.\n\n"
        "(c) Setting $(2D + S)/(6D + S) = 3/4$ gives $8D + 4S = 18D + 3S$, so "
        f"$S = 10D = {s75:,}$ tokens. The share only approaches 100 % as $S \\to \\infty$: "
        "the projections and the MLP never shrink, while the core grows linearly in $S$.")
    return _W(prompt, {"ratio": Part(r, "", rel=0.01, what="attention/MLP ratio"),
                           "share": Part(100 * sh, "%", rel=0.01, what="attention share"),
                           "S75": Part(s75, "tokens", rel=0, what="context for a 75 % share")}, solution)


# --- 2: where the core overtakes the MLP, for another model -------------------------------

@exercise("share-ex2", variants={"model": ["llama-2-13b", "qwen2.5-14b", "llama-3.2-3b", "llama-3.2-1b"]})
def core_crossover(model: str = "llama-2-13b") -> Worked:
    """First cached context (decode) and first prompt length (causal prefill) where core FLOP >= MLP FLOP."""
    m = load_model(model)
    co = layer_coefficients(m)
    c, mlp = co["core_per_key"], co["mlp"]
    dec = int(crossover_numeric(m, "decode", "core"))
    pre = int(crossover_numeric(m, "prefill", "core"))
    a = 4 if m.activation == "silu" else 8
    prompt = (f"{_title(m.name)} has {_sizes(m)}. With llmperf's counts (softmax 5 FLOP per score, the activation "
              f"{a} and the gating multiply 1 FLOP per element), find (a) the first number of cached tokens $S$ at which "
              "the attention core of a decode step does at least as many FLOP as the MLP, and (b) the first prompt "
              "length $T$ at which it does in a causal prefill with an empty cache.")
    solution = (
        "Per token and layer the MLP costs $m = 6DF + (a + 1)F$ FLOP (three matrices, the activation and the "
        f"gating multiply): $m = {fmt(mlp / 1e6, 'sig4')}$ MFLOP. The core costs $c = (4H + 5)N = {fmt(c, ',.0f')}$ "
        "FLOP per key it sees.\n\n"
        f"(a) A decode token sees $S + 1$ keys, so the core equals the MLP at $S^* = m/c - 1 = "
        f"{fmt(mlp / c - 1, 'sig4')}$: the first integer is $S = {dec:,}$ cached tokens.\n\n"
        f"(b) The queries of a causal prompt of $T$ tokens see $(T + 1)/2$ keys on average, so "
        f"$T^* = 2m/c - 1 = {fmt(2 * mlp / c - 1, 'sig4')}$: the first integer is $T = {pre:,}$ tokens, about twice "
        f"the decode crossover. Both are near $1.5F \\cdot D/(NH)$ and $3F \\cdot D/(NH)$ "
        f"($1.5F D/(NH) = {fmt(1.5 * m.d_ff * m.d_model / (m.n_heads * m.head_dim), 'sig4')}$).")
    return _W(prompt, {"decode": Part(dec, "tokens", rel=0.01, what="decode crossover S"),
                           "prefill": Part(pre, "tokens", rel=0.01, what="prefill crossover T")}, solution)


# --- 3: what GQA changes ------------------------------------------------------------------

@exercise("share-ex3", variants={"model": ["llama-3.1-8b", "qwen2.5-7b", "qwen2.5-14b", "llama-3.1-70b"],
                                 "T": [3000, 6000, 24000]})
def gqa_effect(model: str = "llama-3.1-8b", T: int = 6000) -> Worked:
    """Attention share of a causal prefill of T tokens, as the model is (GQA) and with K = N (MHA)."""
    gqa = load_model(model)
    mha = gqa.replace(n_kv_heads=gqa.n_heads, name=f"{gqa.name}-mha")
    sg = _pct(shares(part_flops(gqa, T, "prefill"))["attention_share"])
    sm = _pct(shares(part_flops(mha, T, "prefill"))["attention_share"])
    cg, cm = layer_coefficients(gqa), layer_coefficients(mha)
    core = cg["core_per_key"] * (T + 1) / 2
    prompt = (f"Take {_title(gqa.name)} ({_sizes(gqa)}) and give it $K = N = {gqa.n_heads}$ key-value heads (multi-head "
              "attention), everything else unchanged (`model.replace(n_kv_heads=model.n_heads)`). Compute attention's "
              f"share of the layer FLOP in a causal prefill of $T = {T:,}$ tokens for the real model and for the "
              "multi-head one. Which part of attention does GQA change, and which does it leave alone?")
              
    solution = (
        f"Per token and layer (llmperf's counts): the MLP costs $m = {fmt(cg['mlp'] / 1e6, 'sig4')}$ MFLOP; the core "
        f"costs $c\\,(T + 1)/2 = {fmt(cg['core_per_key'], ',.0f')} \\times {(T + 1) / 2:,.1f} = "
        f"{fmt(core / 1e6, 'sig4')}$ MFLOP in both models, because every query head still takes $4H$ FLOP per key "
        "whichever KV head it reads. Only `k_proj` and `v_proj` change: $[D, KH]$ instead of $[D, NH]$, so the "
        f"projections (with RoPE) cost $p = {fmt(cg['proj'] / 1e6, 'sig4')}$ MFLOP with GQA and "
        f"${fmt(cm['proj'] / 1e6, 'sig4')}$ MFLOP with MHA.\n\n"
        f"Share $= (p + c(T+1)/2) / (p + c(T+1)/2 + m)$: **{fmt(sg)} %** with GQA and **{fmt(sm)} %** with MHA. "
        "GQA shrinks the K and V projections (and the KV cache, by $N/K$); it leaves the core's FLOP and the MLP "
        "alone, so its effect on the share fades as $T$ grows and the core dominates.")
    return _W(prompt, {"gqa": Part(sg, "%", rel=0.01, what="share with GQA"),
                           "mha": Part(sm, "%", rel=0.01, what="share with MHA")}, solution)


# --- 4: the share climbs during a generation ---------------------------------------------

@exercise("share-ex4", variants={"model": ["llama-2-13b", "qwen2.5-14b", "llama-3.2-3b", "llama-3.2-1b"],
                                 "prompt_len": [1024, 8192], "gen_len": [4096, 32768]})
def share_over_generation(model: str = "qwen2.5-14b", prompt_len: int = 1024, gen_len: int = 32768) -> Worked:
    """Attention's FLOP share of the first and of the last decode step of a generation."""
    m = load_model(model)
    first_s, last_s = prompt_len, prompt_len + gen_len - 2   # cached tokens before the first / last decode step
    sh = shares(part_flops(m, np.array([first_s, last_s], dtype=float), "decode"))["attention_share"]
    first, last = _pct(sh[0]), _pct(sh[1])
    co = layer_coefficients(m)
    p, mlp, c = co["proj"], co["mlp"], co["core_per_key"]
    prompt = (f"{_title(m.name)} ({_sizes(m)}) reads a prompt of {prompt_len:,} tokens and generates $G = {gen_len:,}$ "
              "tokens, batch 1: the prefill makes the first token and $G - 1$ decode steps follow. Compute attention's "
              "share of the layer FLOP in the first decode step and in the last one. Why does it climb?")
              
    solution = (
        f"Per token and layer: projections and RoPE $p = {fmt(p / 1e6, 'sig4')}$ MFLOP, MLP "
        f"$m = {fmt(mlp / 1e6, 'sig4')}$ MFLOP, core $c = {fmt(c, ',.0f')}$ FLOP per key. A decode step after $S$ "
        "cached tokens sees $S + 1$ keys: share $= (p + c(S+1)) / (p + c(S+1) + m)$.\n\n"
        f"- First step: $S = {first_s:,}$ (the prompt), share **{fmt(first)} %**.\n"
        f"- Last step: $S = {prompt_len:,} + {gen_len:,} - 2 = {last_s:,}$ (the prompt and every generated token but "
        f"the one being fed), share **{fmt(last)} %**.\n\n"
        "It climbs because each step attends one more key than the step before, while the projections and the MLP "
        "cost the same for every token.")
    return _W(prompt, {"first": Part(first, "%", rel=0.01, what="share of the first decode step"),
                           "last": Part(last, "%", rel=0.01, what="share of the last decode step")}, solution)


# --- 5: the causal mask --------------------------------------------------------------------

@exercise("share-ex5", variants={"model": ["llama-3.1-8b", "qwen2.5-7b", "llama-2-13b"], "T": [3000, 6000, 24000]})
def causal_vs_full(model: str = "llama-3.1-8b", T: int = 6000) -> Worked:
    """Query-key pairs per head with and without the causal mask, and the attention share under each."""
    m = load_model(model)
    full = part_flops(m, T, "prefill", attention_flops="full")
    causal = part_flops(m, T, "prefill", attention_flops="causal")
    sf, sc = _pct(shares(full)["attention_share"]), _pct(shares(causal)["attention_share"])
    pf, pc = T * T, T * (T + 1) // 2
    ratio = float(full["core"] / causal["core"])
    prompt = (f"A causal prefill of $T = {T:,}$ tokens of {_title(m.name)} ({_sizes(m)}), empty cache. Count the query-key "
              "pairs per head with full (unmasked) attention and with the causal mask, and attention's share of the "
              "layer FLOP under each convention (`attention_flops=\"full\"` or `\"causal\"`). Why is the causal share "
              "smaller, and why is the ratio of the core's FLOP under the two conventions not exactly 2?")
              
    solution = (
        f"Full attention: every query sees every key, $T^2 = {pf:,}$ pairs per head. Causal: query $i$ sees keys "
        f"$1 \\dots i$, $T(T+1)/2 = {pc:,}$ pairs.\n\n"
        f"Attention's share is **{fmt(sf)} %** with full attention and **{fmt(sc)} %** with the mask. The mask "
        "removes almost half of the core's FLOP while the projections and the MLP, which do not depend on the other "
        "tokens, stay the same: the numerator shrinks and so does the share.\n\n"
        f"The core's FLOP ratio is $T^2 / (T(T+1)/2) = 2T/(T+1) = {ratio:.6f}$, not 2: the diagonal (each "
        "query with its own key) is kept by the mask, so the causal count is half the square *plus* half the diagonal.")
    return _W(prompt, {"pairs_full": Part(pf, "pairs", rel=0, what="pairs per head, full"),
                           "pairs_causal": Part(pc, "pairs", rel=0, what="pairs per head, causal"),
                           "share_full": Part(sf, "%", rel=0.01, what="share, full attention"),
                           "share_causal": Part(sc, "%", rel=0.01, what="share, causal")}, solution)


# --- 6: a share of time, and whether the workload fits --------------------------------------

@exercise("share-ex6", variants={"device": ["h100-sxm", "a100-sxm-80gb", "l40s", "h200"], "batch": [2, 16, 64],
                                 "context": [12000, 24000, 48000]})
def time_share_and_fit(model: str = "llama-3.1-8b", device: str = "l40s", batch: int = 16,
                       context: int = 24000) -> Worked:
    """Core FLOP share and roofline-time share of a decode step, and whether its KV cache fits."""
    m, hw = load_model(model), get_hardware(device)
    row = time_vs_flop_share(m, hw, batch, context).iloc[0]
    fs, ts = _pct(row["core_flop_share"]), _pct(row["core_time_share"])
    ci, mi = float(row["core_intensity"]), float(row["mlp_intensity"])
    mb = int(max_decode_batch(m, hw, context))
    fits = batch <= mb
    kv_gb = 2 * m.n_layers * m.n_kv_heads * m.head_dim * 2 * (context + 1) * batch / 1e9
    prompt = (f"One decode step of {_title(m.name)} ({_sizes(m)}), batch $B = {batch}$, $S = {context:,}$ cached tokens per "
              f"sequence, bf16 weights and KV cache, on an {hw.display_name} (roofline lower bounds). Compute the "
              "attention core's share of the layers' FLOP and of their roofline time, say whether the weights and the "
              "KV cache fit in the device's memory, and give the largest batch that fits at this context. Why do "
              "the two shares differ?")
    flag = ("fits" if fits else
            f"**does not fit**: the analysis above describes a step this device cannot run; at most {mb} sequences "
            "of this length fit (serve it with a smaller batch, an fp8 KV cache or more devices)")
    solution = (
        f"FLOP: the core does $c(S+1)$ per token and layer against $p + m$ for the rest, the same for every sequence, "
        f"so its FLOP share, **{fmt(fs)} %**, does not depend on $B$.\n\n"
        f"Time: the weight matmuls run at about $2B/b_w = {fmt(mi)}$ FLOP/B (all $B$ tokens share each weight), the "
        f"core at about $N/K = {fmt(ci)}$ FLOP/B (each sequence reads its own cache). Both are memory-bound, so the "
        f"part with the lower intensity takes more time per FLOP: the core's time share is **{fmt(ts)} %**, "
        + ("above" if ts > fs else "below") + " its FLOP share (it is above once $B$ exceeds about $N/K$).\n\n"
        f"Memory: the KV cache alone is $2LKH\\,b_{{kv}}\\,(S+1)\\,B = {fmt(kv_gb)}$ GB beside "
        f"{fmt(analyze(m, hw, 1, 1, 1).summary['weight_bytes'] / 1e9)} GB of weights on {fmt(hw.memory_bytes / 2 ** 30)} GiB: "
        f"the workload {flag}. Largest batch that fits: **{mb}**.")
    return _W(prompt, {"flop_share": Part(fs, "%", rel=0.01, what="core FLOP share"),
                           "time_share": Part(ts, "%", rel=0.02, what="core time share"),
                           "fits": Part(bool(fits), rel=0, what="fits in memory"),
                           "max_batch": Part(mb, "sequences", rel=0, what="largest batch that fits")}, solution)


# --- 7: an open design question: choose a sliding window -----------------------------------

def _window_share(model, window: int, context: int) -> float:
    m = load_model(model)
    mw = m.replace(windows=(int(window),) * m.n_layers, name=f"{m.name}-w{window}")
    return _pct(shares(part_flops(mw, context, "decode"))["attention_share"])


@exercise("share-ex7", variants={"model": ["llama-3.1-8b", "qwen2.5-7b", "llama-2-7b"], "target": [40, 45, 50],
                                 "min_window": [1024, 2048]})
def choose_a_window(model: str = "llama-3.1-8b", target: float = 40, min_window: int = 1024,
                    context: int = 131072) -> Worked:
    """Design: a sliding window omega >= min_window that keeps a long decode step's attention share <= target."""
    m = load_model(model)
    # the largest window that meets the target: the share grows with omega, so bisect
    lo, hi = 1, context + 1
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if _window_share(m, mid, context) <= target:
            lo = mid
        else:
            hi = mid
    best = lo
    feasible = best >= min_window
    if not feasible:
        raise ValueError(f"share-ex7: no window >= {min_window} meets {target} % for {model}")
    co = layer_coefficients(m)
    p, mlp, c = co["proj"], co["mlp"], co["core_per_key"]
    t = target / 100

    def accept(given):
        try:
            w = float(given)
        except (TypeError, ValueError):
            return "give the window as a number of tokens"
        if not w.is_integer() or w < 1:
            return "a window is a positive whole number of tokens"
        w = int(w)
        if w < min_window:
            return f"{w:,} tokens is shorter than the {min_window:,}-token dependencies the model must keep"
        if w > context:
            return f"a window longer than the {context:,} cached tokens changes nothing"
        s = _window_share(m, w, context)
        if s > target:
            return f"with ω = {w:,} attention is {fmt(s)} % of the layer FLOP, above {fmt(target)} %: shorten it"
        return None

    prompt = (f"You may give every layer of {_title(m.name)} ({_sizes(m)}) a sliding window of $\\omega$ tokens. The model must "
              f"still see at least {min_window:,} tokens back, and in a decode step with $S = {context:,}$ cached tokens "
              f"attention may take at most {fmt(target)} % of the layer FLOP. Choose a window $\\omega$ (in tokens) "
              "that meets both, and say why a window caps the share. Any window that meets both is accepted.")
    solution = (
        "With a window, a decode token sees $\\min(S + 1, \\omega)$ keys, so the share is "
        "$(p + c\\,\\omega)/(p + c\\,\\omega + m)$ once $S \\ge \\omega$, whatever the context: the window caps the "
        "core's work per token, and with it the share and the KV cache.\n\n"
        f"Here $p = {fmt(p / 1e6, 'sig4')}$ MFLOP, $m = {fmt(mlp / 1e6, 'sig4')}$ MFLOP and $c = {fmt(c, ',.0f')}$ FLOP "
        f"per key. The share stays at or below $t$ = {fmt(target)} % while $\\omega \\le (t\\,m - (1-t)\\,p) / ((1-t)\\,c) = "
        f"{(t * mlp - (1 - t) * p) / ((1 - t) * c):,.1f}$: any whole window from {min_window:,} to "
        f"**{best:,}** tokens works (llmperf's count at $\\omega = {best:,}$: "
        f"{fmt(_window_share(m, best, context))} %). The largest keeps the most context; a smaller one saves "
        "FLOP and KV memory at the cost of range.")
    return _W(prompt, {"window": Part(best, "tokens", rel=0, what="window ω", accept=accept)}, solution)
