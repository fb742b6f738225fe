"""Answers to the exercises of "From Memory-Bound to Compute-Bound" (``book/memory_compute.ipynb``)."""
from __future__ import annotations

from ..dtypes import dtype_bytes
from ..hardware import get_hardware
from ..analysis import decode_step
from ..regimes import (PRECISIONS, critical_batch, first_compute_bound_batch, max_compute_bound_context,
                       smallest_compute_bound_chunk)
from . import exercise


@exercise("regimes-ex1")
def h100_critical_batch_bf16_vs_fp8():
    """Critical batch R w / 2 on an H100 SXM: bf16 weights and compute vs fp8 weights and compute."""
    h = get_hardware("h100-sxm")
    bf16 = critical_batch(h.ridge_point_for("bf16"), dtype_bytes("bf16"))
    fp8 = critical_batch(h.ridge_point_for("fp8"), dtype_bytes("fp8"))
    return {"bf16": round(float(bf16), 1), "fp8": round(float(fp8), 1)}


@exercise("regimes-ex2")
def llama70b_tp8_compute_bound():
    """Llama-3.1-70B, tp=8 on H100 SXM, bf16, 4096 cached tokens: when do gate_proj and the step turn compute-bound?"""
    opts = dict(context=4096, tp=8)
    gate = first_compute_bound_batch("llama-3.1-70b", "h100-sxm", op="gate_proj", **opts)
    step = first_compute_bound_batch("llama-3.1-70b", "h100-sxm", op=None, **opts)   # None: never
    s_max = max_compute_bound_context("llama-3.1-70b", "h100-sxm", tp=8)
    return {"gate_proj batch": gate, "step batch": step, "max context": round(s_max)}


@exercise("regimes-ex3")
def int4_weights_effect():
    """Llama-3.1-8B on H100 SXM at 4096 cached tokens: int4 weights (bf16 compute) against bf16."""
    crit = first_compute_bound_batch("llama-3.1-8b", "h100-sxm", op="gate_proj", context=4096,
                                     **PRECISIONS["int4 weights (W4A16)"])
    t16 = float(decode_step("llama-3.1-8b", "h100-sxm", 1, 4096).time_s)
    t4 = float(decode_step("llama-3.1-8b", "h100-sxm", 1, 4096, weight_dtype="int4").time_s)
    return {"gate_proj batch": crit, "batch-1 speedup": round(t16 / t4, 2)}


@exercise("regimes-ex4")
def tokens_per_s_batch64():
    """Decode tokens/s of Llama-3.1-8B on H100 SXM, batch 64, 4096 cached tokens: bf16 KV and fp8 KV."""
    out = {}
    for kv in ("bf16", "fp8"):
        r = decode_step("llama-3.1-8b", "h100-sxm", 64, 4096, kv_dtype=kv)
        out[f"{kv} KV"] = round(64 / float(r.time_s))
    return out


@exercise("regimes-ex5")
def l4_smallest_busy_chunk():
    """Smallest prefill chunk of Llama-3.1-8B (bf16) after 4096 cached tokens that is compute-bound on an L4."""
    return smallest_compute_bound_chunk("llama-3.1-8b", "l4", past=4096)


@exercise("regimes-ex6")
def max_context_bf16_vs_fp8_kv():
    """Context beyond which no batch makes a Llama-3.1-8B decode step compute-bound on H100 SXM (closed form)."""
    return {kv: round(max_compute_bound_context("llama-3.1-8b", "h100-sxm", kv_dtype=kv)) for kv in ("bf16", "fp8")}
