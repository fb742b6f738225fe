"""Exercises of the chapter "Serving Many Requests" (labels ``serving-ex1`` ...)."""
from __future__ import annotations

import math

import numpy as np

import llmperf
from llmperf import serving as sv
from llmperf.book import fmt

from . import Part, Worked, exercise


def _name(model) -> str:
    return llmperf.load_model(model).name if hasattr(llmperf.load_model(model), "name") else str(model)


@exercise("serving-ex1", variants={"rate": [4, 8, 12, 20], "gen": [128, 200, 400], "tpot_ms": [15, 25, 40]})
def littles_law(rate: float = 12, gen: int = 200, tpot_ms: float = 25) -> Worked:
    """Little's law: running sequences = arrival rate x time in the decode phase."""
    b = rate * gen * tpot_ms / 1e3
    prompt = (f"A server receives {fmt(rate)} requests per second. Each request generates {fmt(gen)} tokens, "
              f"and every decode step takes {fmt(tpot_ms)} ms (the TPOT) at the load the server runs at. "
              "How many sequences are in the decode phase at any moment, on average?")
    solution = (
        "Little's law: the mean number of requests in a stable system is the arrival rate times the mean time "
        "each spends in it. A request spends $G$ steps of $\\tau$ seconds decoding, so\n\n"
        f"$$B = \\lambda\\, G\\, \\tau = {fmt(rate)}\\ \\text{{s}}^{{-1}} \\times {fmt(gen)} \\times "
        f"{fmt(tpot_ms / 1e3)}\\ \\text{{s}} = {fmt(b)}\\ \\text{{sequences}}.$$\n\n"
        "The batch is not a setting of continuous batching: it is what the arrival rate and the step time make "
        "it. A slower step (a larger model, a longer context) means more sequences in flight for the same load, "
        "and so a larger KV cache.")
    return Worked(prompt, {"answer": Part(b, "sequences", rel=0.01, what="running sequences")}, solution)


@exercise("serving-ex2", variants={"tokens": [17, 100, 1000, 1500], "block": [8, 16, 32],
                                   "model": ["llama-3.1-8b", "qwen2.5-7b", "mistral-7b"]})
def paged_blocks(tokens: int = 1000, block: int = 16, model: str = "llama-3.1-8b") -> Worked:
    """Blocks, wasted slots and KV bytes of one paged sequence."""
    m = llmperf.load_model(model)
    blocks = math.ceil(tokens / block)
    waste = blocks * block - tokens
    per_token = float(llmperf.kv_cache_bytes(m, 1))
    reserved = blocks * block * per_token
    prompt = (f"A sequence of {fmt(tokens)} tokens of {model} (bf16 KV cache) is stored in a paged KV cache "
              f"with blocks of {block} tokens. How many blocks does it hold, how many token slots of its last "
              "block are unused, and how many MiB of KV cache does it reserve?")
    solution = (
        f"Blocks: $\\lceil {tokens} / {block} \\rceil = {blocks}$, holding {blocks * block} token slots, so "
        f"{waste} slots of the last block are unused.\n\n"
        f"One token's keys and values over all layers take {fmt(per_token / 2**10)} KiB for {model} "
        f"($2 L K H b_{{kv}}$ = 2 × {m.n_layers} × {m.n_kv_heads} × {m.head_dim} × 2 bytes), so the sequence "
        f"reserves {blocks * block} × {fmt(per_token / 2**10)} KiB = {fmt(reserved / 2**20)} MiB.\n\n"
        "The waste of paging is at most one block per sequence (under "
        f"{fmt(100 * (block - 1) / max(tokens, 1))} % here), while reserving the maximum length up front wastes "
        "everything the sequence never uses.")
    return Worked(prompt, {"blocks": Part(blocks, "blocks", rel=0, what="number of blocks"),
                           "unused_slots": Part(waste, "token slots", rel=0, what="unused slots"),
                           "reserved_mib": Part(reserved / 2**20, "MiB", rel=0.01, what="reserved KV cache")},
                  solution)


@exercise("serving-ex3", variants={"alpha": [0.6, 0.7, 0.8, 0.9], "gamma": [2, 4, 6], "c": [0.05, 0.1, 0.2]})
def speculative_expected(alpha: float = 0.7, gamma: int = 4, c: float = 0.1) -> Worked:
    """Expected tokens per target step and the walltime speedup (Leviathan et al. 2023)."""
    e = float(sv.expected_tokens_per_step(alpha, gamma))
    s = float(sv.speculative_speedup(alpha, gamma, c))
    prompt = (f"A draft model proposes $\\gamma = {gamma}$ tokens per step; each is accepted with probability "
              f"$\\alpha = {alpha}$, independently, and a draft step costs $c = {c}$ of a target step. "
              "The target verifies all drafted tokens in one pass that costs one target step. What is the "
              "expected number of tokens per target pass, and the speedup over plain decoding?")
    solution = (
        "The run of accepted tokens stops at the first rejection, and the target always adds one token of its "
        "own, so the expected number of tokens per pass is a geometric sum:\n\n"
        f"$$E = \\frac{{1 - \\alpha^{{\\gamma + 1}}}}{{1 - \\alpha}} = \\frac{{1 - {alpha}^{{{gamma + 1}}}}}"
        f"{{1 - {alpha}}} = {fmt(e)}\\ \\text{{tokens}}.$$\n\n"
        f"Each pass costs $\\gamma c + 1 = {fmt(gamma * c + 1)}$ target steps, so the speedup is "
        f"$E / (\\gamma c + 1) = {fmt(s)}$.\n\n"
        "This assumes verifying $\\gamma + 1$ tokens costs what one decode step costs: true while the target's "
        "step is memory-bound (reading the weights dominates). At a large batch the verification pass does "
        "$\\gamma + 1$ times the arithmetic of a decode step and the gain shrinks.")
    return Worked(prompt, {"expected_tokens": Part(e, "tokens", rel=0.01, what="expected tokens per pass"),
                           "speedup": Part(s, "×", rel=0.01, what="speedup")}, solution)


@exercise("serving-ex4", variants={"alpha": [0.6, 0.7, 0.8, 0.9], "c": [0.02, 0.05, 0.1, 0.2]})
def best_draft_length(alpha: float = 0.8, c: float = 0.05) -> Worked:
    """The draft length that maximises the speedup."""
    g = np.arange(0, 41)
    s = sv.speculative_speedup(alpha, g, c)
    best = int(g[np.argmax(s)])
    prompt = (f"With acceptance rate $\\alpha = {alpha}$ and a draft step costing $c = {c}$ of a target step "
              "(verification costs one target step), which draft length $\\gamma$ between 0 and 40 maximises "
              "the speedup of speculative decoding, and what speedup does it give?")
    rows = " · ".join(f"γ = {int(x)}: {fmt(float(y))}" for x, y in zip(g[max(best - 2, 0):best + 3],
                                                                       s[max(best - 2, 0):best + 3]))
    solution = (
        "The speedup $\\dfrac{1 - \\alpha^{\\gamma+1}}{(1 - \\alpha)(\\gamma c + 1)}$ first grows with "
        "$\\gamma$ (more tokens per pass) and then falls (each extra drafted token is accepted with "
        "probability $\\alpha^{\\gamma}$, ever smaller, but always costs $c$). Evaluating it around the "
        f"maximum: {rows}.\n\n"
        f"The best draft length is $\\gamma = {best}$, with a speedup of {fmt(float(s[best]))}. "
        "A cheaper draft (smaller $c$) or a better one (larger $\\alpha$) moves the optimum to longer drafts.")
    return Worked(prompt, {"gamma": Part(best, "tokens", rel=0, what="best draft length"),
                           "speedup": Part(float(s[best]), "×", rel=0.01, what="best speedup")}, solution)


@exercise("serving-ex5", variants={"lengths": [(50, 120, 300, 530), (10, 20, 40, 800), (100, 100, 100, 400),
                                                (64, 256, 128, 512)]})
def static_utilization(lengths: tuple = (50, 120, 300, 530)) -> Worked:
    """Useful share of decode slots in a static batch."""
    g = np.asarray(lengths, dtype=float)
    u = float(sv.static_batching_utilization(g, len(g))[0])
    prompt = (f"A static batch of {len(g)} requests generates {', '.join(str(int(x)) for x in g)} tokens. "
              "The batch occupies its slots until its longest request finishes. What share of the decode slots "
              "(sequence × step) does useful work? How many steps does the batch run?")
    solution = (
        f"The batch runs $\\max G = {int(g.max())}$ steps with {len(g)} slots each: "
        f"{len(g)} × {int(g.max())} = {int(len(g) * g.max()):,} slot-steps, of which "
        f"$\\sum G = {int(g.sum()):,}$ produce a token, so the utilization is "
        f"{int(g.sum()):,} / {int(len(g) * g.max()):,} = {fmt(u)}.\n\n"
        "Continuous batching replaces a finished request by a waiting one at the next step, so in steady state "
        "every slot works and the same hardware serves about $1/u$ times as many tokens per second at the same "
        "step time.")
    return Worked(prompt, {"utilization": Part(u, "share", rel=0.01, what="utilization"),
                           "steps": Part(int(g.max()), "steps", rel=0, what="steps")}, solution)


@exercise("serving-ex6", variants={"model": ["llama-3.1-8b", "qwen2.5-7b"], "device": ["h100-sxm", "a100-sxm-80gb", "l40s"],
                                   "hit": [0.5, 0.8, 0.95]})
def prefix_ttft(model: str = "llama-3.1-8b", device: str = "h100-sxm", hit: float = 0.8,
                prompt_len: int = 4096, prefix_len: int = 3072) -> Worked:
    """Expected TTFT with a shared prompt prefix found in the cache with probability ``hit``."""
    r = sv.prefix_caching(model, device, prompt_len, prefix_len, hit)
    miss, hitt, exp = float(r["ttft_miss_s"]), float(r["ttft_hit_s"]), float(r["ttft_expected_s"])
    h = llmperf.get_hardware(device)
    prompt = (f"Every request to {model} on one {h.display_name} (bf16, batch 1) has a {fmt(prompt_len)}-token "
              f"prompt whose first {fmt(prefix_len)} tokens are a system prompt shared by all requests. With "
              f"prefix caching, the prefix's KV cache is found in memory for {fmt(100 * hit)} % of the requests. "
              "Using llmperf's roofline prefill times, what are the TTFT of a miss, of a hit, and the expected "
              "TTFT, in ms?")
    solution = (
        f"A miss prefills all {fmt(prompt_len)} tokens: {fmt(miss * 1e3)} ms. A hit prefills only the "
        f"{fmt(prompt_len - prefix_len)} new tokens, which still attend the {fmt(prefix_len)} cached ones: "
        f"{fmt(hitt * 1e3)} ms. The expected TTFT mixes them:\n\n"
        f"$${fmt(hit)} \\times {fmt(hitt * 1e3)} + {fmt(1 - hit)} \\times {fmt(miss * 1e3)} = "
        f"{fmt(exp * 1e3)}\\ \\text{{ms}}.$$\n\n"
        "Prefill is compute-bound, so its time follows the FLOP: skipping three quarters of the prompt removes "
        "about three quarters of the linear layers' work (attention of the new tokens over the whole prompt "
        "remains). The misses dominate the mean even at a high hit rate.")
    return Worked(prompt, {"miss_ms": Part(miss * 1e3, "ms", rel=0.01, what="TTFT of a miss"),
                           "hit_ms": Part(hitt * 1e3, "ms", rel=0.01, what="TTFT of a hit"),
                           "expected_ms": Part(exp * 1e3, "ms", rel=0.01, what="expected TTFT")}, solution)


def _plan_verdict(model, device, n, target, floor_tps, plan) -> str | None:
    try:
        tp, pp, reps = (int(x) for x in plan)
    except (TypeError, ValueError):
        return "submit (tp, pp, replicas) as three whole numbers"
    if tp * pp * reps != n or min(tp, pp, reps) < 1:
        return f"tp × pp × replicas must use exactly {n} devices"
    df = sv.parallel_plans(model, device, n, tpot_target_s=target)
    row = df[(df.tp == tp) & (df.pp == pp)]
    if row.empty or not bool(row.iloc[0]["Fits"]):
        return "this plan does not fit the model in memory"
    tps = row.iloc[0]["Tokens/s at target"]
    if not np.isfinite(tps):
        return "this plan misses the TPOT target at every batch"
    if tps < floor_tps:
        return f"this plan meets the target but serves only {fmt(float(tps))} tokens/s; find one with more"
    return None


@exercise("serving-ex7", variants={"target_ms": [20, 30, 50], "model": ["qwen2.5-32b", "qwen2.5-14b", "llama-3.1-70b"]})
def choose_plan(model: str = "qwen2.5-32b", device: str = "h100-sxm", n: int = 8,
                target_ms: float = 30) -> Worked:
    """Open design: a tp × pp × replicas split of 8 devices that maximises throughput within a TPOT target."""
    target = target_ms / 1e3
    df = sv.parallel_plans(model, device, n, tpot_target_s=target)
    best = df.iloc[0]
    floor = 0.9 * float(best["Tokens/s at target"])
    h = llmperf.get_hardware(device)
    prompt = (f"You have {n} {h.display_name} to serve {model} in bf16 (prompts of 1,024 tokens, 256 generated). "
              f"Every sequence must see a TPOT of at most {fmt(target_ms)} ms. Split the devices into "
              "tensor-parallel groups (tp), pipeline stages (pp) and independent replicas, "
              f"tp × pp × replicas = {n}, to serve as many generated tokens per second as possible "
              "(within 10 % of the best plan counts). Submit (tp, pp, replicas) and justify.")
    shown = df[["Plan", "TPOT at batch 1 (s)", "Best batch", "Tokens/s at target", "Note"]].head(6)
    lines = "\n".join(
        f"| {r['Plan']} | {fmt(r['TPOT at batch 1 (s)'] * 1e3) if np.isfinite(r['TPOT at batch 1 (s)']) else '–'} | "
        f"{int(r['Best batch']) if np.isfinite(r['Best batch']) else '–'} | "
        f"{fmt(r['Tokens/s at target']) if np.isfinite(r['Tokens/s at target']) else '–'} |"
        for _, r in shown.iterrows())
    solution = (
        f"llmperf evaluates every split (a dash: the plan cannot meet the target):\n\n"
        "| Plan | TPOT at batch 1 (ms) | Best batch | Tokens/s at target |\n|---|---|---|---|\n" + lines + "\n\n"
        f"The best is **{best['Plan']}**, submitted as `({int(best['tp'])}, {int(best['pp'])}, "
        f"{int(best['Replicas'])})`. Why: decode is memory-bound, so a step's time is the bytes each device "
        "reads over its bandwidth. Tensor parallelism divides those bytes (the latency falls), which lets a "
        "larger batch fit under the target; but once a group meets the target with room to spare, more devices "
        "in it add all-reduce traffic and idle bandwidth, and an independent replica serves more. Pipeline "
        "stages keep the latency of the whole model per token, add transfers, and let one copy keep several "
        "batches in flight with the memory of its stages: close to replicas in throughput, useful when a "
        "replica would not fit. Any plan within 10 % of the best counts as right.")
    part = Part((int(best["tp"]), int(best["pp"]), int(best["Replicas"])), "(tp, pp, replicas)", rel=0,
                what="plan (tp, pp, replicas)",
                accept=lambda p: _plan_verdict(model, device, n, target, floor, p))
    return Worked(prompt, {"answer": part}, solution)
