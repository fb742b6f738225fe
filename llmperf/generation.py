"""How an LLM generates text: prefill, decode steps, the KV cache and the four latency metrics.

The computations of the chapter "How an LLM Generates Text" (numpy and pandas
only; every grid is evaluated in one vectorized call of the engine).

Generation follows the book's convention (Hugging Face ``generate()``): a
**prefill** pass over the prompt's ``T`` tokens produces the first generated
token; each of the next ``G - 1`` tokens takes one **decode step** that feeds
one token per sequence and attends everything cached so far. Hence

- TTFT = the prefill time;
- TPOT = the mean decode-step time over the ``G - 1`` decode steps;
- end-to-end latency = TTFT + (G - 1) * TPOT;
- throughput = generated tokens per second = B * G / end-to-end latency.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .analysis import analyze, decode_step, make_setup, prefill_step
from .hardware import get_hardware
from .models import kv_bytes_per_token_layer, kv_cache_bytes, load_model

__all__ = ["METRICS", "metrics", "metrics_of", "metrics_table", "kv_per_token", "kv_growth", "phase_comparison",
           "token_times", "batch_metrics", "batch_table", "decode_bytes_estimate"]

GiB = 2.0 ** 30

#: The four metrics, in the order the chapter defines them: (key, name, unit, definition).
METRICS = (
    ("ttft_s", "TTFT", "ms", "time of the prefill, until the first token"),
    ("tpot_s", "TPOT", "ms", "mean decode-step time over the G − 1 decode steps"),
    ("e2e_s", "End-to-end latency", "s", "TTFT + (G − 1) · TPOT"),
    ("throughput", "Throughput", "tokens/s", "B · G / end-to-end latency"),
)


def metrics(model, hardware, batch: int = 1, prompt_len: int = 1024, gen_len: int = 256, **opts) -> dict:
    """TTFT, TPOT, end-to-end latency and throughput of one request shape (see :func:`metrics_of`)."""
    return metrics_of(analyze(model, hardware, batch=batch, prompt_len=prompt_len, gen_len=gen_len, **opts))


def metrics_of(a) -> dict:
    """The four metrics of an :class:`~llmperf.analysis.Analysis`, by their definitions.

    Also returns the first and last decode-step times, the memory check and the
    analysis itself (key ``analysis``).
    """
    s = a.summary
    G = a.gen_len
    tpot = s["tpot_s"] if G > 1 else 0.0          # the mean over the G - 1 decode steps
    e2e = s["ttft_s"] + (G - 1) * tpot
    return {"ttft_s": s["ttft_s"], "tpot_s": tpot, "tpot_first_s": s["tpot_first_s"] if G > 1 else 0.0,
            "tpot_last_s": s["tpot_last_s"] if G > 1 else 0.0, "e2e_s": e2e, "throughput": a.batch * G / e2e,
            "fits": a.fits, "memory_message": a.memory_message(), "analysis": a}


def metrics_table(m: dict) -> pd.DataFrame:
    """The four metrics of :func:`metrics` as a display table (one row each, value in its unit)."""
    scale = {"ms": 1e3, "s": 1.0, "tokens/s": 1.0}
    rows = [{"Metric": name, "Definition": text, "Value": float(m[key]) * scale[unit], "Unit": unit}
            for key, name, unit, text in METRICS]
    return pd.DataFrame(rows).set_index("Metric")


def kv_per_token(model, kv_dtype: str = "bf16", tp: int = 1) -> dict:
    """KV-cache bytes one token adds: per layer (2 · K · H · b_kv) and over all L layers."""
    m = load_model(model)
    per_layer = float(kv_bytes_per_token_layer(m, kv_dtype, tp))
    return {"per_layer": per_layer, "all_layers": per_layer * m.n_layers, "layers": m.n_layers,
            "kv_heads": m.n_kv_heads, "head_dim": m.head_dim}


def kv_growth(model, prompt_len: int, gen_len: int, batch: int = 1, kv_dtype: str = "bf16",
              steps=None) -> pd.DataFrame:
    """The KV cache step by step: the prefill (step 0) then each decode step.

    One row per step (``steps``: the step numbers to show, default all ``gen_len``
    of them): tokens the step feeds per sequence, keys each new token attends,
    tokens cached after the step, and the cache's size for ``batch`` sequences (KiB, exact).
    """
    step = np.arange(gen_len) if steps is None else np.asarray(steps, dtype=int)
    if np.any(step < 0) or np.any(step >= gen_len):
        raise ValueError(f"steps must lie in 0 .. {gen_len - 1}")
    fed = np.where(step == 0, prompt_len, 1)
    cached_after = prompt_len + step               # prefill caches T; decode step j adds one
    attends = np.where(step == 0, prompt_len, cached_after)   # the last new token sees all of them
    size = kv_cache_bytes(model, cached_after, batch, kv_dtype)
    return pd.DataFrame({"Step": step, "Phase": np.where(step == 0, "prefill", "decode"),
                         "Tokens fed": fed, "Keys the last token attends": attends,
                         "Tokens cached after": cached_after,
                         "KV cache (KiB)": np.rint(size / 2 ** 10).astype(np.int64)})


def _kv_written(r) -> np.ndarray:
    return np.tensordot(r.ops.repeats, r.ops.data["kv_bytes_written"], axes=(0, 0))


def _kv_read(r) -> np.ndarray:
    return np.tensordot(r.ops.repeats, r.ops.data["kv_bytes_read"], axes=(0, 0))


def _weights_read(r) -> np.ndarray:
    return np.tensordot(r.ops.repeats, r.ops.data["weight_bytes"], axes=(0, 0))


def phase_comparison(model, hardware, batch: int = 1, prompt_len: int = 1024, **opts) -> pd.DataFrame:
    """What the prefill and the first decode step read, compute and write (one column each).

    Rows: tokens fed per sequence, FLOP, weights read, KV cache read and written,
    intensity, time and the bound of the step as a whole.
    """
    setup = make_setup(model, hardware, **opts)
    p = prefill_step(model, hardware, batch, prompt_len, setup=setup)
    d = decode_step(model, hardware, batch, prompt_len, setup=setup)
    cols = {}
    for name, r, fed in (("Prefill", p, prompt_len), ("First decode step", d, 1)):
        cols[name] = {
            "Tokens fed per sequence": fed,
            "FLOP (GFLOP)": float(r.flops) / 1e9,
            "Weights read (GB)": float(_weights_read(r)) / 1e9,
            "KV cache read (MB)": float(_kv_read(r)) / 1e6,
            "KV cache written (MB)": float(_kv_written(r)) / 1e6,
            "Intensity (FLOP/B)": float(r.intensity),
            "Time (ms)": float(r.time_s) * 1e3,
            "Time per token fed (µs)": float(r.time_s) / (batch * fed) * 1e6,
            "Bound": str(r.bound),
        }
    return pd.DataFrame(cols)


def decode_bytes_estimate(model, context, batch=1, weight_dtype: str = "bf16", kv_dtype: str = "bf16") -> np.ndarray:
    """Bytes a decode step must read at least: every weight but the embedding table, plus the KV cache.

    The embedding table is not read whole: a decode step looks up one row per
    sequence. Activations are ignored (kilobytes against gigabytes).
    """
    from .dtypes import dtype_bytes

    m = load_model(model)
    pc = m.param_counts()
    weights = (pc["total"] - pc["embedding"] * (0 if m.tie_embeddings else 1)) * dtype_bytes(weight_dtype)
    return weights + kv_cache_bytes(m, np.asarray(context, float), batch, kv_dtype)


def token_times(model, hardware, prompt_lens, gen_len: int, batches=1, every: int = 1, **opts) -> pd.DataFrame:
    """When each generated token appears, for a grid of prompt lengths and batches (long table).

    Token 1 appears at TTFT; token ``g > 1`` at TTFT plus the first ``g - 1``
    decode-step times. Evaluated in two vectorized calls (all prefills, all
    decode steps). ``every`` keeps token 1, every ``every``-th token and the
    last one (a lighter chart).
    """
    t = np.atleast_1d(np.asarray(prompt_lens, dtype=float))
    b = np.atleast_1d(np.asarray(batches, dtype=float))
    setup = make_setup(model, hardware, **opts)
    bb, tt = np.meshgrid(b, t, indexing="ij")                       # (nb, nt)
    ttft = np.broadcast_to(prefill_step(model, hardware, bb, tt, setup=setup).time_s, bb.shape)
    j = np.arange(gen_len - 1, dtype=float)                         # decode step j sees T + j cached tokens
    if gen_len > 1:
        step = decode_step(model, hardware, bb[..., None], tt[..., None] + j, setup=setup).time_s
        step = np.broadcast_to(step, bb.shape + (gen_len - 1,))
        decode_cum = np.cumsum(step, axis=-1)
    else:
        step = decode_cum = np.zeros(bb.shape + (0,))
    times = np.concatenate([ttft[..., None], ttft[..., None] + decode_cum], axis=-1)       # (nb, nt, G)
    step_s = np.concatenate([ttft[..., None], step], axis=-1)
    tpot = step.mean(axis=-1) if gen_len > 1 else np.zeros(bb.shape)
    g = np.arange(1, gen_len + 1)
    keep = (g == 1) | (g % every == 0) | (g == gen_len)
    G3 = np.broadcast_to(g, times.shape)
    B3 = np.broadcast_to(bb[..., None], times.shape)
    T3 = np.broadcast_to(tt[..., None], times.shape)
    sel = np.broadcast_to(keep, times.shape)
    return pd.DataFrame({
        "Batch": B3[sel].astype(int), "Prompt tokens": T3[sel].astype(int), "Token": G3[sel].astype(int),
        "Phase": np.where(G3[sel] == 1, "prefill", "decode"),
        "Step time (ms)": step_s[sel] * 1e3, "Time (ms)": times[sel] * 1e3,
        "TTFT (ms)": np.broadcast_to(ttft[..., None], times.shape)[sel] * 1e3,
        "TPOT (ms)": np.broadcast_to(tpot[..., None], times.shape)[sel] * 1e3,
    })


def batch_metrics(model, hardware, batches, prompt_len: int = 1024, gen_len: int = 256, **opts) -> pd.DataFrame:
    """The four metrics and the memory check over batch sizes, vectorized (one row per batch).

    Columns: TTFT (ms), TPOT (ms), end-to-end latency (s), throughput
    (tokens/s), KV cache (GiB), memory needed (GiB) and whether it fits on one
    device (weights + KV cache + the largest activation working set, as
    :func:`llmperf.analyze` counts them).
    """
    b = np.atleast_1d(np.asarray(batches, dtype=float))
    setup = make_setup(model, hardware, **opts)
    p = prefill_step(model, hardware, b, prompt_len, setup=setup)
    ttft = np.broadcast_to(p.time_s, b.shape)
    act = np.broadcast_to(p.activation_peak_bytes(), b.shape)
    if gen_len > 1:
        d = decode_step(model, hardware, b[:, None], prompt_len + np.arange(gen_len - 1, dtype=float), setup=setup)
        tpot = d.time_s.mean(axis=-1)
        act = np.maximum(act, np.max(d.activation_peak_bytes(), axis=-1))
    else:
        tpot = np.zeros_like(b)
    e2e = ttft + (gen_len - 1) * tpot
    weights = analyze(model, hardware, batch=1, prompt_len=prompt_len, gen_len=1, setup=setup).memory["weight_bytes"]
    kv = kv_cache_bytes(setup.model, prompt_len + gen_len - 1, b, setup.kv_dtype, setup.tp)
    need = weights + kv + act
    cap = get_hardware(hardware).memory_bytes if not hasattr(hardware, "memory_bytes") else hardware.memory_bytes
    return pd.DataFrame({
        "Batch": b.astype(int), "TTFT (ms)": ttft * 1e3, "TPOT (ms)": tpot * 1e3, "End-to-end (s)": e2e,
        "Throughput (tokens/s)": b * gen_len / e2e, "KV cache (GiB)": kv / GiB, "Memory needed (GiB)": need / GiB,
        "Fits": need <= cap,
    })


def batch_table(df: pd.DataFrame) -> pd.DataFrame:
    """:func:`batch_metrics` for display: one row per quantity, batch across the columns, fit as yes/no."""
    t = df.set_index("Batch").T
    t.columns = [f"B = {b}" for b in t.columns]
    t.loc["Fits"] = ["yes" if bool(v) else "no" for v in t.loc["Fits"]]
    t.index = ["Fits in memory" if i == "Fits" else i for i in t.index]
    return t
