"""From memory-bound to compute-bound: where batching moves a decode step.

The computations of the book's chapter "From Memory-Bound to Compute-Bound"
(``book/memory_compute.ipynb``). Every function takes numpy arrays where a
size can vary and returns numbers or pandas DataFrames; the per-operator
truth always comes from :func:`llmperf.decode_step` / :func:`llmperf.prefill_step`,
and the closed forms here are the approximations the chapter derives and
checks against it.

Closed forms used (decode step, dense model, per device under tensor parallelism ``tp``):

* a ``[B, D] x [D, F]`` weight matmul with ``w`` bytes per weight and ``a``
  bytes per activation has intensity ``2BDF / (wDF + aB(D + F))``; it turns
  compute-bound at the **critical batch** ``B* = (R w / 2) / (1 - R a (D + F) / (2DF))``,
  which is ``R w / 2`` when activations are negligible (``R``: ridge point);
* decode attention reads each sequence's own K and V, so its intensity does
  not depend on the batch: about ``2 N / (K kv_bytes)`` (the GQA group size in 16-bit);
* the step time is about ``KV_bytes / BW + max(FLOP / peak, weight_bytes / BW)``.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from .analysis import analyze, decode_step, make_setup, prefill_step
from .dtypes import dtype_bytes
from .hardware import HardwareError, get_hardware, hardware_names
from .models import kv_cache_bytes, load_model, require_standard_attention
from .rooflines import critical_batch as _critical_batch

#: Precision schemes compared in the chapter: keyword arguments for llmperf.
#: The compute dtype is the activation dtype (llmperf's default).
PRECISIONS: dict[str, dict[str, str]] = {
    "bf16": dict(weight_dtype="bf16", act_dtype="bf16", kv_dtype="bf16"),
    "int4 weights (W4A16)": dict(weight_dtype="int4", act_dtype="bf16", kv_dtype="bf16"),
    "bf16 + fp8 KV": dict(weight_dtype="bf16", act_dtype="bf16", kv_dtype="fp8"),
    "fp8 (W8A8) + fp8 KV": dict(weight_dtype="fp8", act_dtype="fp8", kv_dtype="fp8"),
}

#: Weight/compute schemes of the critical-batch table: (weight dtype, compute dtype).
#: ``"16-bit"`` uses the bf16 peak, or the fp16 peak where a device has no bf16.
SCHEMES: dict[str, tuple[str, str]] = {
    "16-bit": ("bf16", "bf16"),
    "fp8 (W8A8)": ("fp8", "fp8"),
    "int8 (W8A8)": ("int8", "int8"),
    "int4 weights, 16-bit compute": ("int4", "bf16"),
}

#: Cost buckets of a step: compute-bound operators, memory-bound operators that
#: stream weights (and activations), and memory-bound attention (the KV cache).
COSTS = ("compute", "weights", "KV cache")


def _peak(hw, dtype: str) -> float:
    """Peak of ``dtype`` on ``hw``; 16-bit falls back from bf16 to fp16; NaN when absent."""
    try:
        return hw.peak_for(hw.effective_dtype(dtype))
    except HardwareError:
        return float("nan")


# -- the critical batch of a weight matmul -----------------------------------

def critical_batch(ridge, weight_bytes_per_element):
    """Tokens per step at which a decode matmul turns compute-bound, activations neglected.

    ``B`` tokens against a weight matrix do ``2B`` FLOP per weight and read it
    once (``w`` bytes), so the intensity is ``2B / w`` and reaches the ridge
    point ``R`` at ``B = R w / 2``.
    """
    return _critical_batch(1.0, 1.0, ridge, weight_bytes_per_element)["approx"]


def critical_batch_exact(ridge, d_in, d_out, weight_bytes_per_element, act_bytes_per_element=2.0):
    """Critical batch of a ``[B, d_in] x [d_in, d_out]`` matmul, counting activation bytes.

    Solves ``2 B d_in d_out = R (w d_in d_out + a B (d_in + d_out))`` for ``B``.
    Returns ``inf`` where the activations alone keep the matmul memory-bound
    (``R a (d_in + d_out) >= 2 d_in d_out``).
    """
    return _critical_batch(d_out, d_in, ridge, weight_bytes_per_element, act_bytes_per_element)["exact"]


def critical_batch_table(devices=None, d_in=None, d_out=None) -> pd.DataFrame:
    """Critical batch (tokens) for every device and weight/compute scheme in :data:`SCHEMES`.

    Without ``d_in``/``d_out`` the approximation ``R w / 2``; with them, the
    exact value for that matmul shape (activations in the compute dtype's
    bytes, 16-bit for weight-only int4). NaN where the device lists no peak for
    the compute dtype.
    """
    rows = []
    for name in devices or hardware_names():
        hw = get_hardware(name)
        bw = hw.memory_bandwidth_bytes_per_s
        row = {"device": hw.name, "category": hw.category, "bandwidth (GB/s)": bw / 1e9}
        for label, (wd, cd) in SCHEMES.items():
            R = _peak(hw, cd) / bw
            if d_in is None:
                b = critical_batch(R, dtype_bytes(wd))
            else:
                b = critical_batch_exact(R, d_in, d_out, dtype_bytes(wd), dtype_bytes(cd))
            row[f"{label} (tokens)"] = float(b)
        rows.append(row)
    return pd.DataFrame(rows).set_index("device")


def first_compute_bound_batch(model, hardware, op: str | None = "gate_proj", context=1024, max_batch=16384,
                              **opts):
    """Smallest batch at which llmperf calls operator ``op`` compute-bound (``op=None``: the whole step).

    Evaluates one vectorized :func:`llmperf.decode_step` over ``1 .. max_batch``.
    Returns ``None`` when no batch up to ``max_batch`` is compute-bound.
    """
    b = np.arange(1, max_batch + 1)
    r = decode_step(model, hardware, b, context, **opts)
    if op is None:
        hit = r.bound == "compute"
    else:
        if op not in r.ops.names:
            raise ValueError(f"no operator {op!r}; operators: {', '.join(r.ops.names)}")
        hit = r.op_bound[r.ops.names.index(op)] == "compute"
    return int(b[np.argmax(hit)]) if hit.any() else None


def critical_batch_check(model, devices, schemes=("16-bit", "fp8 (W8A8)", "int4 weights, 16-bit compute"),
                         op="gate_proj") -> pd.DataFrame:
    """The closed forms against llmperf: for each device and scheme, ``R w / 2``, the exact
    critical batch of ``op``'s shape, and the first batch llmperf calls ``op`` compute-bound.

    Only dense MLP projections (``gate_proj``, ``up_proj``, ``fc1``: a ``[D, F]`` weight)
    are supported. Schemes a device lacks the peak for are skipped.
    """
    m = load_model(model)
    if op not in ("gate_proj", "up_proj", "fc1"):
        raise ValueError("critical_batch_check supports the [D, F] projections gate_proj, up_proj, fc1")
    rows = []
    for dev in devices:
        hw = get_hardware(dev)
        for label in schemes:
            wd, cd = SCHEMES[label]
            peak = _peak(hw, cd)
            if np.isnan(peak):
                continue
            R = peak / hw.memory_bandwidth_bytes_per_s
            ad = "bf16" if cd in ("bf16", "fp16") else cd
            rows.append({
                "device": hw.name, "scheme": label, "ridge (FLOP/B)": R,
                "R b_w/2 (tokens)": float(critical_batch(R, dtype_bytes(wd))),
                "exact (tokens)": float(critical_batch_exact(R, m.d_model, m.d_ff, dtype_bytes(wd), dtype_bytes(ad))),
                "llmperf first batch": first_compute_bound_batch(m, hw, op=op, weight_dtype=wd, act_dtype=ad,
                                                                 kv_dtype="bf16"),
            })
    return pd.DataFrame(rows)


# -- decode attention: a batch of independent matrix-vector products ---------

def decode_attention_intensity(model, context, kv_dtype="bf16", act_dtype="bf16"):
    """Intensity (FLOP/B) of one decode step's fused attention, per layer, any batch.

    Per sequence and layer, with ``S + 1`` keys (the cache plus the new token):
    FLOP ``4 N H (S+1)`` (scores and weighted sum) ``+ 5 N (S+1)`` (softmax);
    bytes ``2 K H (S+1)`` elements of K and V plus the query and output
    (``2 N H`` activations). The batch multiplies both and cancels.
    """
    m = load_model(model)
    require_standard_attention(m, "the decode-attention intensity formula")
    N, K, H = m.n_heads, m.n_kv_heads, m.head_dim
    keys = np.asarray(context, dtype=float) + 1.0
    flops = 4.0 * N * H * keys + 5.0 * N * keys
    bytes_ = 2.0 * K * H * keys * dtype_bytes(kv_dtype) + 2.0 * N * H * dtype_bytes(act_dtype)
    return flops / bytes_


def attention_limit(model, kv_dtype="bf16"):
    """Long-context limit of :func:`decode_attention_intensity`: ``(2N/K)(1 + 5/(4H)) / kv_bytes``."""
    m = load_model(model)
    require_standard_attention(m, "the decode-attention intensity limit")
    return 2.0 * m.n_heads / m.n_kv_heads * (1.0 + 5.0 / (4.0 * m.head_dim)) / dtype_bytes(kv_dtype)


def intensity_vs_batch(model, hardware, batch, context=4096, ops=("gate_proj", "attention (fused)"),
                       **opts) -> pd.DataFrame:
    """llmperf's per-operator intensity and bound of a decode step over ``batch``, one row per batch."""
    b = np.atleast_1d(batch)
    r = decode_step(model, hardware, b, context, **opts)
    out = {"batch": b.astype(int)}
    for op in ops:
        i = r.ops.names.index(op)
        out[f"{op} intensity (FLOP/B)"] = r.op_intensity[i]
        out[f"{op} bound"] = r.op_bound[i]
    out["ridge (FLOP/B)"] = r.setup.effective_flop_per_s / r.setup.effective_bandwidth_bytes_per_s
    return pd.DataFrame(out)


# -- the step-time formula ---------------------------------------------------

def matmul_params(model, tp: int = 1) -> float:
    """Weights a decode step streams through matmuls, per device: every layer's
    projections and MLP plus the lm_head (the embedding is a lookup of B rows).

    Dense models only; biases and norm weights are left out (they are tiny).
    """
    m = load_model(model)
    if m.is_moe:
        raise ValueError(f"{m.name} is a mixture of experts: the closed form covers dense models only")
    require_standard_attention(m, "the step-time formula's weight count")
    D, F, N, K, H, L, V = m.d_model, m.d_ff, m.n_heads, m.n_kv_heads, m.head_dim, m.n_layers, m.vocab_size
    n_mats = 3 if m.mlp == "gated" else 2
    per_layer = 2 * D * N * H + 2 * D * K * H + n_mats * D * F
    return (L * per_layer + D * V) / tp


def kv_bytes_read(model, batch, context, kv_dtype="bf16", tp: int = 1):
    """KV-cache bytes one decode step reads per device: each layer reads K and V of
    its ``min(S + 1, window)`` keys for each of the ``B`` sequences."""
    return kv_cache_bytes(model, np.asarray(context, dtype=float) + 1.0, batch, kv_dtype, tp)


def step_time_model(model, hardware, batch, context, *, weight_dtype="bf16", act_dtype="bf16", kv_dtype=None,
                    tp: int = 1) -> dict:
    """The chapter's step-time formula ``t = KV/BW + max(FLOP/peak, W/BW)`` over a grid.

    ``FLOP`` are the matmul FLOP ``2 B P`` (``P`` = :func:`matmul_params`),
    ``W = P w`` the weight bytes and ``KV`` from :func:`kv_bytes_read`.
    Returns a dict of arrays: ``kv_s``, ``compute_s``, ``weight_s``, ``time_s``.
    """
    kv_dtype = kv_dtype or act_dtype
    hw = get_hardware(hardware)
    setup = make_setup(model, hw, weight_dtype=weight_dtype, act_dtype=act_dtype, kv_dtype=kv_dtype, tp=tp)
    peak, bw = setup.peak_flop_per_s, hw.memory_bandwidth_bytes_per_s
    P = matmul_params(model, tp)
    B = np.asarray(batch, dtype=float)
    kv_s, compute_s = np.broadcast_arrays(kv_bytes_read(model, B, context, kv_dtype, tp) / bw, 2.0 * B * P / peak)
    weight_s = np.full_like(kv_s, P * dtype_bytes(weight_dtype) / bw)
    return {"kv_s": kv_s, "compute_s": compute_s, "weight_s": weight_s,
            "time_s": kv_s + np.maximum(compute_s, weight_s)}


def step_time_check(model, hardware, batch, context, **opts) -> pd.DataFrame:
    """The formula against llmperf's per-operator sum, one row per (batch, context)."""
    b, s = np.meshgrid(np.atleast_1d(batch).astype(float), np.atleast_1d(context).astype(float), indexing="ij")
    f = step_time_model(model, hardware, b, s, **opts)
    r = decode_step(model, hardware, b, s, **opts)
    return pd.DataFrame({
        "batch": b.ravel().astype(int), "context": s.ravel().astype(int),
        "KV reads (ms)": f["kv_s"].ravel() * 1e3, "compute (ms)": f["compute_s"].ravel() * 1e3,
        "weight reads (ms)": f["weight_s"].ravel() * 1e3,
        "formula (ms)": f["time_s"].ravel() * 1e3, "llmperf (ms)": r.time_s.ravel() * 1e3,
        "error (%)": 100 * (f["time_s"] / r.time_s - 1).ravel(),
    })


def throughput_ceiling(model, hardware, context, *, weight_dtype="bf16", act_dtype="bf16", kv_dtype=None,
                       tp: int = 1):
    """Decode tokens/s as ``B`` grows without bound, from the step-time formula.

    Past the critical batch the step time is ``B (S' k / BW + 2P / peak)``: both
    terms grow like ``B``, so ``B / t`` tends to ``1 / (S' k / BW + 2P / peak)``,
    where ``S' k`` is one sequence's KV bytes read per step.
    """
    f = step_time_model(model, hardware, 1, context, weight_dtype=weight_dtype, act_dtype=act_dtype,
                        kv_dtype=kv_dtype, tp=tp)
    return 1.0 / (f["kv_s"] + f["compute_s"])


def max_compute_bound_context(model, hardware, *, act_dtype="bf16", kv_dtype=None, tp: int = 1) -> float:
    """Context beyond which no batch makes a decode step compute-bound (full-attention models).

    The step is compute-bound when ``B (2P + 4 L N H S) / peak >= (P w + B S k) / BW``
    (activations neglected, ``k`` KV bytes per cached token). Some batch satisfies
    it only while ``2P / peak > S (k / BW - 4LNH / peak)``,
    i.e. ``S_max = 2P / (2 L H (R K kv - 2N))`` per device. ``inf`` when attention
    itself is compute-bound (``2N / (K kv) >= R``).
    """
    kv_dtype = kv_dtype or act_dtype
    m, hw = load_model(model), get_hardware(hardware)
    require_standard_attention(m, "the closed form for S_max")
    if any(w is not None for w in m.windows):
        raise ValueError(f"{m.name} has sliding windows: S_max of the closed form assumes full attention")
    setup = make_setup(m, hw, act_dtype=act_dtype, kv_dtype=kv_dtype, tp=tp)
    R = setup.peak_flop_per_s / hw.memory_bandwidth_bytes_per_s
    N, K = m.n_heads // tp, m.n_kv_heads // tp
    excess = 2.0 * m.n_layers * m.head_dim * (R * K * dtype_bytes(kv_dtype) - 2.0 * N)
    return 2.0 * matmul_params(m, tp) / excess if excess > 0 else math.inf


# -- what bounds a step: a batch x context map ---------------------------------

def cost_split(result) -> dict:
    """Split a decode step's per-operator time (llmperf) into :data:`COSTS`.

    ``compute``: operators that are compute-bound; ``KV cache``: memory-bound
    attention; ``weights``: every other memory-bound operator (weight matmuls,
    norms, elementwise). Link time (tensor parallelism) is left out.
    Returns a dict of arrays (seconds) over the step's grid.
    """
    rep = result.ops.repeats.reshape((-1,) + (1,) * (result.op_time_s.ndim - 1))
    t = (result.op_time_s - result.op_comm_s) * rep
    is_attn = np.asarray([k == "attention" for k in result.ops.kinds]).reshape(rep.shape)
    comp = result.op_bound == "compute"
    mem = result.op_bound == "memory"
    return {"compute": (t * comp).sum(axis=0), "weights": (t * (mem & ~is_attn)).sum(axis=0),
            "KV cache": (t * (mem & is_attn)).sum(axis=0)}


def max_decode_batch(model, hardware, context, *, memory_fraction=1.0, **opts):
    """Most sequences whose KV cache (``context + 1`` tokens each) fits beside the weights.

    ``floor((capacity - weights) / (KV bytes per token * (S + 1)))`` with the
    weight bytes and KV bytes per token of :func:`llmperf.analyze`; activations
    (tens of MB in decode) are neglected. 0 when the weights alone do not fit.
    """
    hw = get_hardware(hardware)
    s = analyze(model, hw, 1, 1, 1, **opts).summary
    free = hw.memory_bytes * memory_fraction - s["weight_bytes"]
    per_seq = s["kv_cache_bytes_per_token"] * (np.asarray(context, dtype=float) + 1.0)
    return np.maximum(np.floor(free / per_seq), 0).astype(int)


def regime_map(model, devices, precisions=None, batch=2 ** np.arange(11), context=2 ** np.arange(7, 18),
               tp: int = 1) -> pd.DataFrame:
    """Decode-step time and what bounds it over ``batch x context``, per device and precision.

    One row per grid point: step time, tokens/s, llmperf's step bound, the
    dominant cost of :func:`cost_split` and its share, the largest batch that
    fits at that context and whether this one fits. Precisions are names of
    :data:`PRECISIONS`; a device that lacks the compute dtype's peak is skipped.
    """
    precisions = list(precisions or PRECISIONS)
    frames = []
    b, s = np.meshgrid(np.asarray(batch, float), np.asarray(context, float), indexing="ij")
    for dev in devices:
        hw = get_hardware(dev)
        for p in precisions:
            opts = dict(PRECISIONS[p], tp=tp)
            if np.isnan(_peak(hw, opts["act_dtype"])):
                continue
            r = decode_step(model, hw, b, s, **opts)
            split = cost_split(r)
            stack = np.stack([split[c] for c in COSTS])
            dom = np.asarray(COSTS)[stack.argmax(axis=0)]
            mb = max_decode_batch(model, hw, s, **opts)
            frames.append(pd.DataFrame({
                "device": hw.name, "precision": p, "batch": b.ravel().astype(int), "context": s.ravel().astype(int),
                "time_ms": r.time_s.ravel() * 1e3, "tokens_per_s": (b / r.time_s).ravel(),
                "bound": r.bound.ravel(), "dominant": dom.ravel(),
                "dominant_share": (stack.max(axis=0) / stack.sum(axis=0)).ravel(),
                "max_batch": mb.ravel(), "fits": (b <= mb).ravel(),
            }))
    return pd.concat(frames, ignore_index=True)


def batch_table(model, hardware, batch, context, **opts) -> pd.DataFrame:
    """Decode at one context over ``batch``, batch across the columns (the book's sweep layout)."""
    b = np.atleast_1d(batch).astype(float)
    r = decode_step(model, hardware, b, context, **opts)
    split = cost_split(r)
    stack = np.stack([split[c] for c in COSTS])
    mb = int(max_decode_batch(model, hardware, context, **opts))
    rows = {
        "Step time (ms)": r.time_s * 1e3,
        "Tokens/s": b / r.time_s,
        "Intensity (FLOP/B)": r.intensity,
        "Step bound": r.bound,
        "Compute share (%)": 100 * stack[0] / stack.sum(axis=0),
        "Weights share (%)": 100 * stack[1] / stack.sum(axis=0),
        "KV share (%)": 100 * stack[2] / stack.sum(axis=0),
        "Fits in memory": b <= mb,
    }
    df = pd.DataFrame({k: list(v) for k, v in rows.items()}, index=b.astype(int)).T
    df.columns.name = "batch"
    return df


# -- prefill in chunks ---------------------------------------------------------

def chunk_sizes_table(model, hardware, prompt_len, chunks, batch=1, **opts) -> pd.DataFrame:
    """Prefill of ``prompt_len`` tokens in chunks of ``C`` (each after the previous ones).

    For each chunk size: the number of chunks, the time to first token (sum of
    the chunk steps, llmperf per-operator roofline), prefill tokens/s, the
    share of chunk steps that are compute-bound, and the weight bytes re-read.
    Each chunk computes last-token logits (llmperf's ``logits='last'`` convention).
    """
    chunks = np.atleast_1d(chunks).astype(int)
    sizes, pasts, owner = [], [], []
    for j, c in enumerate(chunks):
        n = -(-int(prompt_len) // int(c))
        past = np.arange(n) * c
        sizes.append(np.minimum(c, prompt_len - past))
        pasts.append(past)
        owner.append(np.full(n, j))
    size, past, owner = (np.concatenate(x) for x in (sizes, pasts, owner))
    r = prefill_step(model, hardware, batch, size, past, **opts)
    time_s = np.bincount(owner, weights=r.time_s, minlength=len(chunks))
    n_chunks = np.bincount(owner, minlength=len(chunks))
    comp = np.bincount(owner, weights=(r.bound == "compute").astype(float), minlength=len(chunks))
    wbytes = np.bincount(owner, weights=r.ops.total("weight_bytes") + 0 * r.time_s, minlength=len(chunks))
    return pd.DataFrame({
        "chunk (tokens)": chunks, "chunks": n_chunks, "TTFT (ms)": time_s * 1e3,
        "prefill tokens/s": batch * prompt_len / time_s,
        "compute-bound chunks (%)": 100 * comp / n_chunks, "weights read (GB)": wbytes / 1e9,
    })


def smallest_compute_bound_chunk(model, hardware, past=0, batch=1, max_chunk=8192, **opts):
    """Smallest chunk ``C`` (tokens) whose prefill step after ``past`` cached tokens is compute-bound
    (step totals, llmperf's :attr:`StepResult.bound`); ``None`` if none up to ``max_chunk``."""
    c = np.arange(1, max_chunk + 1)
    r = prefill_step(model, hardware, batch, c, past + 0 * c, **opts)
    hit = r.bound == "compute"
    return int(c[np.argmax(hit)]) if hit.any() else None


# -- quantization: one row per precision scheme --------------------------------

def precision_table(model, hardware, context=4096, batches=(1, 64), precisions=None) -> pd.DataFrame:
    """How each scheme of :data:`PRECISIONS` moves the boundaries, for one model, device and context.

    Columns: the first batch at which llmperf calls ``gate_proj`` compute-bound,
    decode attention's intensity, the context beyond which no batch makes the
    step compute-bound (closed form), the largest batch whose KV cache fits,
    and llmperf's tokens/s at each batch in ``batches``.
    """
    rows = []
    for p in precisions or PRECISIONS:
        o = PRECISIONS[p]
        row = {"precision": p,
               "critical batch, gate_proj (tokens)": first_compute_bound_batch(model, hardware, context=context, **o),
               "attention intensity (FLOP/B)": float(decode_attention_intensity(model, context, o["kv_dtype"],
                                                                               o["act_dtype"])),
               "S_max (tokens)": max_compute_bound_context(model, hardware, act_dtype=o["act_dtype"],
                                                           kv_dtype=o["kv_dtype"]),
               "max batch that fits": int(max_decode_batch(model, hardware, context, **o))}
        for b in batches:
            row[f"tokens/s at B={b}"] = b / float(decode_step(model, hardware, b, context, **o).time_s)
        rows.append(row)
    return pd.DataFrame(rows).set_index("precision")
