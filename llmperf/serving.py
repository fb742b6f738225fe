"""Serving many requests: speculative decoding, paged KV cache, prefix caching, continuous batching.

Closed forms over numpy arrays (every function broadcasts), built on the
per-step roofline of :mod:`llmperf.analysis`. Each result says which
assumptions it used (``assumptions``), like the rest of the engine.

Sources of the formulas:

- speculative decoding: Leviathan, Kalman and Matias (2023), "Fast Inference
  from Transformers via Speculative Decoding", eq. (1) and Theorem 3.8;
- paged KV cache: Kwon et al. (2023), "Efficient Memory Management for Large
  Language Model Serving with PagedAttention" (vLLM), section 3 and 4.2;
- Little's law: the mean number of requests in a stable system equals the
  arrival rate times the mean time each spends in it (L = λ W).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .analysis import WorkloadError, decode_step, make_setup, prefill_step
from .models import kv_cache_bytes, load_model

__all__ = ["expected_tokens_per_step", "speculative_speedup", "speculative_decoding", "paged_kv",
           "static_batching_utilization", "parallel_plans", "kv_memory_usage",
           "prefix_caching", "continuous_batching", "ServingResult"]


def _prob(name, p):
    a = np.asarray(p, dtype=float)
    if not np.all(np.isfinite(a)) or np.any((a < 0) | (a > 1)):
        raise WorkloadError(f"{name} must be a probability between 0 and 1")
    return a


def _count(name, v, minimum=0):
    a = np.asarray(v)
    if a.dtype.kind not in "iuf" or not np.all(np.isfinite(a)) or np.any(a < minimum) or np.any(a != np.round(a)):
        raise WorkloadError(f"{name} must be a whole number >= {minimum}")
    if np.any(a > 2**40):
        raise WorkloadError(f"{name} is too large (at most 2**40)")
    return a.astype(np.int64) if a.dtype.kind != "f" else a


def expected_tokens_per_step(alpha, gamma):
    """Expected tokens produced per target-model step with ``gamma`` drafted tokens.

    Leviathan et al. (2023), eq. (1): each drafted token is accepted with
    probability ``alpha`` (i.i.d.), the run stops at the first rejection, and
    the target always adds one token of its own: ``(1 - alpha**(gamma+1)) / (1 - alpha)``,
    which is ``gamma + 1`` when ``alpha = 1``.
    """
    a = _prob("alpha (acceptance rate)", alpha)
    g = _count("gamma (draft length)", gamma)
    with np.errstate(divide="ignore", invalid="ignore"):
        e = (1 - a ** (g + 1)) / (1 - a)
    return np.where(a == 1, g + 1.0, e)


def speculative_speedup(alpha, gamma, cost_ratio):
    """Walltime improvement factor of speculative decoding (Leviathan et al. 2023, Theorem 3.8).

    ``cost_ratio`` c is the time of one draft step over the time of one target
    step; the target's verification of ``gamma + 1`` tokens is assumed to cost
    one target step (true while the step is memory-bound):
    ``(1 - alpha**(gamma+1)) / ((1 - alpha) * (gamma * c + 1))``.
    """
    c = np.asarray(cost_ratio, dtype=float)
    if not np.all(np.isfinite(c)) or np.any(c < 0):
        raise WorkloadError("cost_ratio must be a finite number >= 0")
    return expected_tokens_per_step(alpha, gamma) / (np.asarray(gamma, dtype=float) * c + 1)


@dataclass(frozen=True)
class ServingResult:
    """A table of results (dict of equal-length arrays) with the assumptions it rests on."""

    columns: dict
    assumptions: tuple = field(default_factory=tuple)

    def table(self):
        import pandas as pd

        return pd.DataFrame({k: np.ravel(v) for k, v in self.columns.items()})

    def __getitem__(self, key):
        return self.columns[key]


def speculative_decoding(target, draft, hardware, alpha, gamma=np.arange(0, 9), batch=1, context=1024,
                         **opts) -> ServingResult:
    """Speculative decoding of ``target`` with ``draft`` on one device, per draft length ``gamma``.

    The draft runs ``gamma`` decode steps; the target verifies ``gamma + 1``
    tokens in one pass (a prefill chunk of ``gamma + 1`` tokens after
    ``context`` cached ones), both from llmperf's roofline. Time per generated
    token is their sum over the expected tokens per step. ``gamma = 0`` is
    plain decoding. Returns columns ``gamma``, ``expected_tokens``,
    ``draft_s``, ``verify_s``, ``time_per_token_s``, ``speedup`` (against
    plain decoding of the target).
    """
    g = _count("gamma (draft length)", np.atleast_1d(gamma))
    e = expected_tokens_per_step(alpha, g)
    plain = decode_step(target, hardware, batch=batch, context=context, **opts).time_s
    draft_step = decode_step(draft, hardware, batch=batch, context=context, **opts).time_s
    verify = np.where(g == 0, plain,
                      prefill_step(target, hardware, batch=batch, prompt_len=np.maximum(g, 1) + 1, past=context,
                                   **opts).time_s)
    draft_s = g * draft_step
    per_token = (draft_s + verify) / e
    return ServingResult(
        {"gamma": g, "expected_tokens": e, "draft_s": draft_s, "verify_s": verify, "time_per_token_s": per_token,
         "speedup": plain / per_token},
        ("each drafted token accepted independently with probability alpha (Leviathan et al. 2023)",
         "target verification = one forward pass over gamma + 1 tokens (roofline)",
         "draft and target on the same device, run one after the other",
         f"batch {int(np.max(batch))}, {int(np.max(context))} cached tokens"))


def paged_kv(model, prompt_len, output_len, *, block_size=16, max_len=None, kv_dtype="bf16", tp=1,
             kv_memory_bytes=None) -> ServingResult:
    """KV-cache memory per sequence with paged blocks against contiguous allocation to the maximum length.

    ``prompt_len`` and ``output_len`` are arrays of the requests' lengths (a
    sample of the workload's distribution). A sequence that ends with
    ``n = prompt + output`` tokens holds ``ceil(n / block_size)`` blocks when
    paged (internal fragmentation: the unused tail of its last block) and
    ``max_len`` token slots when allocated contiguously up front, as systems
    before vLLM did. Returns per-scheme bytes per sequence, the share of
    reserved memory that holds tokens, and, given ``kv_memory_bytes``, how
    many such sequences fit at once.
    """
    p = _count("prompt_len", np.atleast_1d(prompt_len))
    o = _count("output_len", np.atleast_1d(output_len))
    n = np.asarray(p + o, dtype=float)
    b = int(_count("block_size", block_size, minimum=1))
    top = float(n.max()) if max_len is None else float(_count("max_len", max_len, minimum=1))
    if np.any(n > top):
        raise WorkloadError(f"a sequence of {int(n.max())} tokens is longer than max_len={int(top)}")
    m = load_model(model)
    per_token = float(kv_cache_bytes(m, 1, 1, kv_dtype, tp))
    used = n * per_token
    paged = np.ceil(n / b) * b * per_token
    contiguous = np.full_like(n, top) * per_token
    cols = {"scheme": np.array(["used by tokens", f"paged ({b}-token blocks)", f"contiguous to {int(top)} tokens"]),
            "bytes_per_sequence": np.array([used.mean(), paged.mean(), contiguous.mean()]),
            "token_share": np.array([1.0, used.sum() / paged.sum(), used.sum() / contiguous.sum()])}
    if kv_memory_bytes is not None:
        mem = float(kv_memory_bytes)
        if not np.isfinite(mem) or mem <= 0:
            raise WorkloadError("kv_memory_bytes must be a positive number of bytes")
        cols["sequences_fit"] = np.floor(mem / cols["bytes_per_sequence"])
    return ServingResult(cols, (
        "full-attention layers; a sliding-window layer keeps at most its window (llmperf.kv_cache_bytes)",
        "every sequence's cache grows to prompt + output tokens; the mean over the sample is reported",
        "contiguous allocation reserves max_len tokens per sequence (pre-vLLM systems)",
        "paged allocation wastes only the unused tail of the last block (internal fragmentation)"))


def prefix_caching(model, hardware, prompt_len, prefix_len, hit_rate, *, batch=1, sharing_sequences=1,
                   **opts) -> ServingResult:
    """A shared prompt prefix of ``prefix_len`` tokens, found in the cache with probability ``hit_rate``.

    On a hit the prefill computes only the ``prompt_len - prefix_len`` new
    tokens after the cached prefix. The expected TTFT mixes both cases. The
    prefix's KV cache is stored once for ``sharing_sequences`` concurrent
    sequences instead of once each.
    """
    P = _count("prompt_len", prompt_len, minimum=1)
    p = _count("prefix_len", prefix_len)
    h = _prob("hit_rate", hit_rate)
    if np.any(p >= P):
        raise WorkloadError("prefix_len must be shorter than prompt_len (at least one new token is computed)")
    n = _count("sharing_sequences", sharing_sequences, minimum=1)
    full = prefill_step(model, hardware, batch=batch, prompt_len=P, **opts).time_s
    hit = prefill_step(model, hardware, batch=batch, prompt_len=P - p, past=p, **opts).time_s
    setup = make_setup(model, hardware, **opts)
    per_token = float(kv_cache_bytes(setup.model, 1, 1, setup.kv_dtype, setup.tp))
    saved = (n - 1) * p * per_token
    return ServingResult(
        {"ttft_miss_s": full, "ttft_hit_s": hit, "ttft_expected_s": h * hit + (1 - h) * full,
         "kv_bytes_saved": np.asarray(saved, dtype=float)},
        ("a hit skips the prefix's prefill entirely; the rest attends the cached prefix",
         "the prefix's KV cache is shared by all sequences that use it (stored once)"))


def continuous_batching(model, hardware, arrival_rate, prompt_len, output_len, *, chunk_tokens=2048,
                        max_batch=None, iterations=200, **opts) -> ServingResult:
    """Steady state of a device serving a Poisson-like stream of requests with continuous batching.

    Each step decodes one token for every running sequence and prefills
    up to ``chunk_tokens`` prompt tokens of waiting requests (chunked prefill), in
    one forward pass whose time is llmperf's roofline of the combined work
    (weights read once). In steady state the step must prefill
    ``rate * prompt_len`` tokens and decode ``rate * output_len`` tokens per
    second, and by Little's law the number of running sequences is
    ``B = rate * output_len * step_time`` (each stays ``output_len`` steps).
    That fixed point is solved for every rate at once (vectorized
    iteration). A rate whose prompts need more than ``chunk_tokens`` per step,
    or whose batch exceeds memory or ``max_batch``, is unstable: the queue
    grows without bound (``stable`` is False, and no throughput is reported).

    Returns per rate: ``batch`` (running sequences), ``step_s`` (the mean
    step time, which is the TPOT), ``ttft_s`` (the prompt prefilled in chunks of
    up to ``chunk_tokens``, one per step beside the running decodes, without
    queueing delay), ``tokens_per_s`` (generated), ``stable``.
    """
    lam = np.atleast_1d(np.asarray(arrival_rate, dtype=float))
    if not np.all(np.isfinite(lam)) or np.any(lam <= 0):
        raise WorkloadError("arrival_rate must be positive requests per second")
    P = float(_count("prompt_len", prompt_len, minimum=1))
    G = float(_count("output_len", output_len, minimum=1))
    setup = make_setup(model, hardware, **opts)
    # largest batch the memory allows at the mean context
    mean_ctx = P + G / 2
    from .analysis import analyze

    cap = analyze(setup.model, setup.hardware, batch=1, prompt_len=int(P), gen_len=int(G),
                  weight_dtype=setup.weight_dtype, act_dtype=setup.act_dtype, kv_dtype=setup.kv_dtype,
                  tp=setup.tp).summary["max_batch"]
    cap = min(cap, max_batch) if max_batch is not None else cap

    d1 = decode_step(None, None, batch=1, context=mean_ctx, setup=setup)
    w = float(np.sum(d1.ops.repeats * d1.ops.data["weight_bytes"].reshape(len(d1.ops), -1)[:, 0]))

    def step_time(B, c):
        dec = decode_step(None, None, batch=np.maximum(B, 1), context=mean_ctx, setup=setup)
        pre = prefill_step(None, None, batch=1, prompt_len=np.maximum(c, 1), past=P / 2, setup=setup)
        flops = dec.flops * (B > 0) + pre.flops * (c > 0)
        bytes_ = dec.bytes * (B > 0) + pre.bytes * (c > 0) - w * ((B > 0) & (c > 0))
        return np.maximum(flops / setup.effective_flop_per_s, bytes_ / setup.effective_bandwidth_bytes_per_s)

    cap_chunk = float(_count("chunk_tokens", chunk_tokens, minimum=1))
    B = np.ones_like(lam)
    tau = np.zeros_like(lam)
    for _ in range(int(iterations)):  # fixed point over all rates at once
        chunk = np.minimum(np.ceil(lam * P * tau), cap_chunk)
        tau = step_time(np.round(B), chunk)
        B_new = np.minimum(np.maximum(lam * G * tau, 1.0), 2 * cap + 1)
        if np.allclose(B_new, B, rtol=1e-9):
            B = B_new
            break
        B = B_new
    demand = lam * P * tau                     # prompt tokens arriving per step
    stable = (B <= cap) & (demand <= cap_chunk)
    # a new prompt is prefilled in chunks of up to cap_chunk tokens, one chunk per step, beside the decodes
    first = min(P, cap_chunk)
    ttft = np.ceil(P / cap_chunk) * step_time(np.round(B), np.full_like(lam, first))
    return ServingResult(
        {"arrival_rate": lam, "batch": B, "step_s": tau, "ttft_s": ttft, "tokens_per_s": np.where(stable, lam * G, np.nan),
         "stable": stable},
        ("steady state, every request with the mean prompt and output length",
         "each step: one decode token per running sequence plus a chunk of waiting prompts, weights read once",
         f"at most {int(cap_chunk)} prompt tokens per step (chunked prefill)",
         "Little's law: running sequences = arrival rate x output length x step time",
         "TTFT without queueing delay (a lower bound on the mean)",
         f"memory allows at most {int(cap)} running sequences at mean context {mean_ctx:.0f}"))


def static_batching_utilization(output_len, batch) -> np.ndarray:
    """Share of decode slots doing useful work when a batch runs until its longest request ends.

    ``output_len`` is a sample of output lengths (whole numbers); it is cut
    into consecutive batches of ``batch`` requests (a partial last batch is
    dropped). A static batch keeps all its ``batch`` slots for ``max(G)``
    steps but generates only ``sum(G)`` tokens; continuous batching refills a
    slot as soon as its request ends, so its utilization is 1 in steady state.
    Returns one utilization per batch size (``batch`` may be an array).
    """
    g = np.asarray(_count("output_len", np.atleast_1d(output_len), minimum=1), dtype=float)
    sizes = np.atleast_1d(_count("batch", batch, minimum=1))
    out = np.empty(sizes.shape, dtype=float)
    for i, b in enumerate(sizes.astype(int)):  # one reshape per batch size, not per request
        n = (len(g) // b) * b
        if n == 0:
            raise WorkloadError(f"a sample of {len(g)} output lengths cannot fill a batch of {b}")
        groups = g[:n].reshape(-1, b)
        out[i] = groups.sum() / (groups.max(axis=1).sum() * b)
    return out


def parallel_plans(model, hardware, n_devices: int, *, tpot_target_s: float, prompt_len: int = 1024,
                   gen_len: int = 256, batches=None, **opts):
    """Ways to use ``n_devices`` for one model: tensor (tp), pipeline (pp), expert (ep) parallel groups,
    and replicas.

    For every split ``tp × pp × ep × replicas = n_devices`` that fits in memory
    (expert parallelism only for a mixture of experts, and only with tp = 1, as
    the engine models it), the TPOT at batch 1 (the best latency it can give)
    and the largest generated tokens/s of all replicas at any batch in
    ``batches`` whose TPOT meets ``tpot_target_s``. A pipeline of ``pp`` stages
    keeps ``pp`` batches in flight (one per stage), so its throughput counts
    ``pp`` batches per step time while each sequence still waits for every
    stage; an expert-parallel group of ``ep`` devices serves one batch spread
    over them (each device runs attention for its share of the sequences and
    holds ``E / ep`` experts). ``batches`` defaults to 64 sizes from 1 to 4,096,
    evenly spaced on a log scale. "TPOT at batch 1" is at one sequence per
    device of an expert-parallel group. A pandas DataFrame, one row per plan,
    best throughput first.
    """
    import pandas as pd

    from .analysis import analyze
    from .models import load_model

    n = int(_count("n_devices", n_devices, minimum=1))
    if batches is None:  # 64 batch sizes from 1 to 4096, evenly spaced on a log scale
        batches = np.unique(np.round(np.geomspace(1, 4096, 64)))
    target = float(tpot_target_s)
    if not np.isfinite(target) or target <= 0:
        raise WorkloadError("tpot_target_s must be a positive number of seconds")
    moe = bool(load_model(model).is_moe)
    divisors = [d for d in range(1, n + 1) if n % d == 0]
    plans = [(tp, pp, 1) for tp in divisors for pp in divisors if n % (tp * pp) == 0]
    if moe:
        plans += [(1, pp, ep) for pp in divisors for ep in divisors if ep > 1 and n % (pp * ep) == 0]
    rows = []
    for tp, pp, ep in plans:
        reps = n // (tp * pp * ep)
        label = (f"tp {tp} × pp {pp}" + (f" × ep {ep}" if ep > 1 else "")
                 + f" × {reps} replica{'s' if reps > 1 else ''}")
        row = {"Plan": label, "tp": tp, "pp": pp, "ep": ep, "Replicas": reps, "Fits": False,
               "TPOT at batch 1 (s)": np.nan, "Best batch": np.nan, "Tokens/s at target": np.nan, "Note": ""}
        rows.append(row)
        par = dict(tp=tp, pp=pp, ep=ep)
        try:
            one = analyze(model, hardware, batch=ep, prompt_len=prompt_len, gen_len=gen_len, **par, **opts)
        except (WorkloadError, ValueError) as exc:  # heads not divisible, more stages than layers ...
            row["Note"] = str(exc).split("\n")[0]
            continue
        if not one.fits:
            row["Note"] = "does not fit in memory"
            continue
        cap = int(one.summary["max_batch"])
        b = np.asarray([x for x in np.atleast_1d(batches) if ep <= x <= cap and x % ep == 0], dtype=float)
        ctx = prompt_len + gen_len / 2
        t = decode_step(model, hardware, batch=b, context=ctx, **par, **opts).time_s if b.size else np.array([])
        ok = t <= target
        tput = np.where(ok, reps * pp * b / t, 0.0)
        best = int(np.argmax(tput)) if ok.any() else None
        row.update({"Fits": True, "TPOT at batch 1 (s)": float(one.summary["tpot_s"]),
                    "Best batch": float(b[best]) if best is not None else np.nan,
                    "Tokens/s at target": float(tput[best]) if best is not None else np.nan,
                    "Note": "" if best is not None else "misses the TPOT target at every batch"})
    df = pd.DataFrame(rows)
    return df.sort_values("Tokens/s at target", ascending=False, na_position="last").reset_index(drop=True)


def _ceil_sum(n, b):
    """sum_{i=1}^{n} ceil(i / b), elementwise over integer arrays ``n`` (closed form)."""
    q, r = np.divmod(n, b)
    return b * q * (q + 1) // 2 + r * (q + 1)


def kv_memory_usage(prompt_len, output_len, *, max_len, block_size=16) -> ServingResult:
    """Share of reserved KV-cache memory that holds token states, averaged over every decode step.

    Each request holds ``prompt + g`` tokens at its ``g``-th decode step
    (``g = 1 .. output``). Three ways to reserve memory for it:

    - contiguous to ``max_len`` tokens from the start (Orca "Max" in the vLLM paper);
    - contiguous to its own final length ``prompt + output`` (Orca "Oracle": the
      length known in advance, which no real system knows);
    - paged, in blocks of ``block_size`` tokens allocated as they fill (vLLM).

    The share is the sum over all requests and steps of the tokens held, over
    the sum of the slots reserved (closed forms, no per-step loop). This is
    the idealized share: no external fragmentation of the allocator, no
    preemption, every request alone in its reservation.
    """
    p = np.asarray(_count("prompt_len", np.atleast_1d(prompt_len), minimum=1), dtype=np.int64)
    g = np.asarray(_count("output_len", np.atleast_1d(output_len), minimum=1), dtype=np.int64)
    if p.shape != g.shape:
        raise WorkloadError("prompt_len and output_len must have the same length (one pair per request)")
    top = int(_count("max_len", max_len, minimum=1))
    if np.any(p + g > top):
        raise WorkloadError(f"a request of {int((p + g).max())} tokens is longer than max_len={top}")
    b = int(_count("block_size", block_size, minimum=1))
    held = (g * p + g * (g + 1) // 2).sum()
    reserved = {"contiguous to max_len (Orca Max)": (g * top).sum(),
                "contiguous to the final length (Orca Oracle)": (g * (p + g)).sum(),
                f"paged, {b}-token blocks (vLLM)": (b * (_ceil_sum(p + g, b) - _ceil_sum(p, b))).sum()}
    return ServingResult(
        {"scheme": np.array(list(reserved)), "token_share": np.array([held / v for v in reserved.values()])},
        ("averaged over every decode step of every request (time-weighted)",
         "idealized: no external fragmentation, no preemption, no swapping",
         f"max_len = {top} tokens"))
