"""Answers to the exercises of the chapter "Roofline Basics" (labels ``roofline-ex1`` ...)."""
from __future__ import annotations

import llmperf
from llmperf import rooflines as R
from llmperf.dtypes import dtype_bytes

from . import exercise


@exercise("roofline-ex1")
def ridge_from_datasheet() -> dict:
    """MI300X: ridge = dense peak / bandwidth, for bf16 and fp8 (FLOP/B)."""
    bw = 5.3e12                                  # HBM3, bytes/s
    return {"bf16": float(llmperf.ridge_point(1307.4e12, bw)),
            "fp8": float(llmperf.ridge_point(2614.9e12, bw))}


@exercise("roofline-ex2")
def attention_bound() -> dict:
    """Fused decode attention of Llama-3.1-8B, batch 256, 4096 cached tokens, H100 SXM, bf16."""
    r = llmperf.decode_step("llama-3.1-8b", "h100-sxm", batch=256, context=4096)
    i = r.ops.names.index("attention (fused)")
    return {"intensity": float(r.op_intensity[i]), "bound": str(r.op_bound[i])}


@exercise("roofline-ex3")
def critical_batch_l4() -> dict:
    """Smallest batch that makes gate_proj ([B, 4096] x [4096, 14336], bf16) compute-bound on an L4."""
    ridge = llmperf.ridge_point(121e12, 300e9)   # dense bf16 peak / GDDR6 bandwidth
    cb = R.critical_batch(n=14336, k=4096, ridge=ridge, weight_bytes_per_element=2)
    return {"min_batch": int(cb["min_batch"]), "approx": float(cb["approx"])}


@exercise("roofline-ex4")
def fp8_versus_int4() -> dict:
    """H100 SXM: the fp8 ridge, and gate_proj's critical batch under fp8 W8A8 and int4 weights."""
    h = llmperf.get_hardware("h100-sxm")
    k, n = 4096, 14336                            # Llama-3.1-8B gate_proj
    out = {"ridge_fp8": h.ridge_point_for("fp8")}
    for scheme, key in (("fp8 W8A8", "fp8"), ("int4 weight-only", "int4")):
        wd, ad, cd = R.SCHEMES[scheme]
        cb = R.critical_batch(n, k, h.ridge_point_for(cd), dtype_bytes(wd), dtype_bytes(ad))
        out[f"critical_batch_{key}"] = float(cb["exact"])
    return out


@exercise("roofline-ex5")
def gemm_lower_bound() -> dict:
    """[8192, 8192] x [8192, 28672] in bf16 on an A100 SXM4 80GB: the roofline lower bound."""
    g = R.gemm_bound(8192, 28672, 8192, "a100-sxm-80gb", "bf16")
    return {"intensity": g["intensity"], "time_ms": g["time_s"] * 1e3, "bound": g["bound"]}


@exercise("roofline-ex6")
def edge_int4_decode() -> dict:
    """Llama-3.2-1B, int4 weight-only, batch 1, 1024 cached tokens, Jetson Orin NX 16GB."""
    s = R.decode_step_summary("llama-3.2-1b", "jetson-orin-nx-16gb", batch=1, context=1024,
                              scheme="int4 weight-only")
    k, n = R.matmul_dims("llama-3.2-1b", "gate_proj")
    cb = R.critical_batch(n, k, s["ridge"], weight_bytes_per_element=0.5, act_bytes_per_element=2)
    return {"step_ms": s["time_s"] * 1e3, "tokens_per_s": 1 / s["time_s"],
            "critical_batch": int(cb["min_batch"])}
