"""Answers to the exercises of the chapter "Edge-Device Exercises" (labels edge-ex1 ...).

edge-ex1 to edge-ex8 rework the exercises of the source text (its 2.1 to 2.8)
with every constant stated; edge-ex9 onwards are new. Each function computes
its answer with llmperf; the chapter shows some of them with literalinclude.
"""
from __future__ import annotations

import numpy as np

from .. import edge
from ..analysis import decode_step, prefill_step
from ..conventions import Conventions
from ..hardware import get_hardware
from ..models import load_model, textbook_model
from ..ops import build_ops
from ..roofline import matmul_intensity, ridge_point, roofline
from . import exercise

GB, GiB = 1e9, 2.0 ** 30


@exercise("edge-ex1")
def ridge_of_a_small_gpu():
    """1.2 TFLOP/s fp16, 48 GB/s: ridge point, the bound of a 15 FLOP/B op, and batch-1 decode."""
    peak, bw = 1.2e12, 48e9
    ridge = float(ridge_point(peak, bw))
    op = roofline(15.0, 1.0, peak, bw)                 # any op of intensity 15: 15 FLOP per byte
    decode = roofline(1.0, 1.0, peak, bw)              # batch-1 fp16 decode: about 1 FLOP/B
    return {"ridge_flop_per_byte": ridge, "bound": str(op["bound"]),
            "attainable_tflop_per_s": float(op["attainable_flop_per_s"]) / 1e12,
            "decode_fraction_of_peak": float(decode["attainable_flop_per_s"]) / peak}


def _layer_matmul_flops(model, tokens, mode):
    """Matmul FLOP of one layer's attention (projections + QK^T + SV) and MLP in a prefill."""
    ops = build_ops(model, 1, tokens, 0, phase="prefill",
                    conventions=Conventions(attention_flops=mode, flash_attention=False))
    f = dict(zip(ops.names, ops.data["flops"]))
    attn = sum(float(f[k]) for k in ("q_proj", "k_proj", "v_proj", "o_proj", "qk_matmul", "sv_matmul"))
    mlp = float(f["fc1"] + f["fc2"])
    return attn, mlp


@exercise("edge-ex2")
def attention_share_one_layer():
    """D=2048, 16 heads, plain 4D MLP, T=1024, B=1: attention's share of one layer's matmul FLOP."""
    m = textbook_model(d_model=2048, n_layers=1, n_heads=16)
    out = {}
    for mode in ("full", "causal"):
        attn, mlp = _layer_matmul_flops(m, 1024, mode)
        out[mode] = {"attention_gflop": attn / 1e9, "mlp_gflop": mlp / 1e9, "share": attn / (attn + mlp)}
    return out


@exercise("edge-ex3")
def bandwidth_for_ten_tokens_per_s():
    """Llama-3.2-3B, int8 weights, fp16 KV, 2048-token context, 10 tokens/s: bandwidth needed."""
    model, tps, ctx, eff = "llama-3.2-3b", 10.0, 2048, 0.7
    w = edge.weight_bytes_per_token(model, "int8")
    kv = float(edge.kv_bytes_per_token(model, ctx, "fp16"))
    need = tps * (w + kv)
    short = [d for d in edge.edge_devices() if get_hardware(d).memory_bandwidth_bytes_per_s * eff < need]
    return {"weights_gb": w / GB, "kv_gb": kv / GB, "sustained_gb_per_s": need / GB,
            "peak_needed_at_70pct_gb_per_s": need / eff / GB, "devices_too_slow": short}


@exercise("edge-ex4")
def flash_attention_intensity():
    """Llama-2-7B attention (N=K=32, H=128), fp16, on a Jetson Orin NX: flash vs unfused, prefill and decode."""
    model, hw, T = "llama-2-7b", "jetson-orin-nx-16gb", 2048
    out = {}
    for phase in ("prefill", "decode"):
        res = {}
        for flash in (True, False):
            if phase == "prefill":
                r = prefill_step(model, hw, 1, T, weight_dtype="fp16", act_dtype="fp16", flash_attention=flash)
            else:
                r = decode_step(model, hw, 1, T, weight_dtype="fp16", act_dtype="fp16", flash_attention=flash)
            core = [i for i, g in enumerate(r.ops.groups) if g == "attention" and r.ops.kinds[i] != "matmul"
                    and r.ops.names[i] != "rope"]
            flops = sum(float(r.ops.data["flops"][i]) for i in core)
            moved = sum(float(r.ops.bytes_read[i] + r.ops.bytes_written[i]) for i in core)
            res["flash" if flash else "unfused"] = flops / moved
        res["gain"] = res["flash"] / res["unfused"]
        out[phase] = res
    out["ridge_fp16"] = get_hardware(hw).ridge_point_for("fp16")
    return out


@exercise("edge-ex5")
def same_flop_different_time():
    """Three fp16 matmuls of 2 x 1024^3 FLOP on a Jetson Orin NX, and where the knee of a sweep lies."""
    hw = get_hardware("jetson-orin-nx-16gb")
    peak, bw = hw.peak_for("fp16"), hw.memory_bandwidth_bytes_per_s
    n = 1024
    shapes = {"square [1024,1024]x[1024,1024]": (n, n, n), "row [1,1024]x[1024,1048576]": (1, n, n * n),
              "column [1048576,1024]x[1024,1]": (n * n, n, 1)}  # (m, k, n)
    out = {}
    for name, (m, k, nn) in shapes.items():
        flops = 2.0 * m * k * nn
        moved = 2.0 * (m * k + k * nn + m * nn)
        r = roofline(flops, moved, peak, bw)
        out[name] = {"intensity": float(r["intensity"]), "time_ms": float(r["time_s"]) * 1e3,
                     "bound": str(r["bound"])}
    m = np.arange(1, 4097)
    knee = int(m[np.argmax(matmul_intensity(m, 4096, 4096, 2.0) >= hw.ridge_point_for("fp16"))])
    out["knee_m_for_4096x4096_weight"] = knee
    return out


def _edge_50():
    """The source text's device: 50 GB/s; the rest stated by us (16 GiB, 4 TFLOP/s fp16)."""
    return get_hardware("snapdragon-8-gen-3").replace(
        name="edge-50gbs", display_name="hypothetical edge device, 50 GB/s, 16 GiB, 4 TFLOP/s fp16",
        memory_bandwidth_bytes_per_s=50e9, peak_flop_per_s={"fp16": 4e12}, memory_bytes=16 * GiB)


@exercise("edge-ex6")
def seven_b_at_100_ms():
    """Mistral-7B, 2048-token context, on a 50 GB/s device: TPOT in fp16 and int4 against 100 ms."""
    hw, model, ctx = _edge_50(), "mistral-7b", 2048
    kw = dict(act_dtype="fp16", kv_dtype="fp16")
    fp16 = float(decode_step(model, hw, 1, ctx, weight_dtype="fp16", **kw).time_s)
    int4 = float(decode_step(model, hw, 1, ctx, weight_dtype="int4", **kw).time_s)
    int4_70 = float(decode_step(model, hw, 1, ctx, weight_dtype="int4", memory_efficiency=0.7, **kw).time_s)
    int4_scales_70 = 1.0 / (hw.memory_bandwidth_bytes_per_s * 0.7
                            / float(edge.bytes_per_token(model, ctx, "int4", "fp16", bits_per_weight=4.5)))
    fits_fp16 = edge.memory_needed(model, ctx, "fp16")["total"] <= 0.5 * hw.memory_bytes
    return {"fp16_ms": fp16 * 1e3, "int4_ms": int4 * 1e3, "int4_ms_at_70pct": int4_70 * 1e3,
            "int4_4p5bit_ms_at_70pct": int4_scales_70 * 1e3, "fp16_fits_half_of_16gib": bool(fits_fp16)}


@exercise("edge-ex7")
def seven_b_to_seventy_b():
    """Llama-2-7B vs Llama-2-70B, batch-1 decode at 1024 context on a Jetson AGX Orin 64GB."""
    hw, ctx, usable = "jetson-agx-orin-64gb", 1024, 0.9
    out = {}
    for model in ("llama-2-7b", "llama-2-70b"):
        for dt in ("fp16", "int4"):
            r = decode_step(model, hw, 1, ctx, weight_dtype=dt, act_dtype="fp16")
            mem = edge.memory_needed(model, ctx, dt)["total"]
            out[f"{model} {dt}"] = {"intensity": float(r.intensity), "tpot_ms": float(r.time_s) * 1e3,
                                    "memory_gib": mem / GiB,
                                    "fits": bool(mem <= usable * get_hardware(hw).memory_bytes)}
    return out


@exercise("edge-ex8")
def kv_heads_and_decode_intensity():
    """Llama-2-7B's shape with 32 (MHA), 8 (GQA) or 1 (MQA) KV heads; decode at 4096 context."""
    base, hw, ctx = load_model("llama-2-7b"), "snapdragon-8-gen-3", 4096
    out = {}
    for kv in (32, 8, 1):
        m = base.replace(n_kv_heads=kv, name=f"llama-2-7b-kv{kv}")
        r = decode_step(m, hw, 1, ctx, weight_dtype="int4", act_dtype="fp16")
        i = r.ops.names.index("attention (fused)")
        out[kv] = {"attention_intensity": float(r.op_intensity[i]),
                   "kv_gb_per_step": float(edge.kv_bytes_per_token(m, ctx)) / GB,
                   "step_intensity": float(r.intensity), "tpot_ms": float(r.time_s) * 1e3}
    return out


@exercise("edge-ex9")
def largest_model_on_a_pixel():
    """Tensor G3 (12 GiB), int4 weights, 4096-token context, half the memory usable."""
    name = edge.largest_fitting("tensor-g3", "int4", context=4096, usable_fraction=0.5)
    return {"model": name, "ceiling_tokens_per_s": float(edge.bandwidth_ceiling(name, "tensor-g3", 4096, "int4"))}


@exercise("edge-ex10")
def raspberry_pi_claim():
    """'Llama-3.1-8B at 25 tokens/s on a Raspberry Pi 5 (int4)': ratio to the ceiling, and what would fit the claim."""
    r = edge.check_claim("llama-3.1-8b", "raspberry-pi-5", 25.0, "int4", context=1024)
    ok = [m for m in edge.EDGE_MODELS
          if 0.8 * edge.bandwidth_ceiling(m, "raspberry-pi-5", 1024, "int4") >= 25.0]
    return {"ceiling_tokens_per_s": r["ceiling_tokens_per_s"], "ratio": r["ratio"],
            "largest_plausible_model": ok[-1] if ok else None}


@exercise("edge-ex11")
def achieved_bandwidth():
    """Qwen2.5-3B, int4 with scales (4.5 bits/weight), 512-token context, 30 tokens/s measured on a phone."""
    bpt = float(edge.bytes_per_token("qwen2.5-3b", 512, "int4", "fp16", bits_per_weight=4.5))
    achieved = 30.0 * bpt
    return {"bytes_per_token_gb": bpt / GB, "achieved_gb_per_s": achieved / GB,
            "fraction_of_76_8": achieved / get_hardware("snapdragon-8-gen-3").memory_bandwidth_bytes_per_s,
            "fraction_of_68_3": achieved / 68.3e9}


@exercise("edge-ex12")
def prefill_on_a_phone():
    """Qwen2.5-3B, int4 weights, fp16 compute, 1024-token prompt on a Dimensity 9300."""
    t = edge.prefill_table("qwen2.5-3b", ["dimensity-9300"], 1024, "int4").iloc[0]
    return {"ttft_s": float(t["TTFT (s)"]), "bound": t["prefill bound"], "tpot_ms": float(t["TPOT (ms)"]),
            "decode_steps_equal_to_ttft": float(t["decode steps = TTFT"])}


@exercise("edge-ex13")
def moe_on_a_laptop():
    """Qwen3-30B-A3B (MoE) vs Qwen3-32B (dense), int4, 4096 context, on an M2 Max 64GB, 75 % usable."""
    out = {}
    for m in ("qwen3-30b-a3b", "qwen3-32b"):
        mem = edge.memory_needed(m, 4096, "int4")["total"]
        out[m] = {"memory_gib": mem / GiB, "fits": bool(mem <= 0.75 * get_hardware("apple-m2-max").memory_bytes),
                  "ceiling_tokens_per_s": float(edge.bandwidth_ceiling(m, "apple-m2-max", 4096, "int4"))}
    out["speed_ratio"] = out["qwen3-30b-a3b"]["ceiling_tokens_per_s"] / out["qwen3-32b"]["ceiling_tokens_per_s"]
    return out


@exercise("edge-ex14")
def speculative_decoding_on_a_laptop():
    """Llama-3.1-8B drafted by Llama-3.2-1B (both int4) on an Apple M2: 4 drafts, 3 tokens kept per pass."""
    r = edge.speculative_speedup("llama-3.1-8b", "apple-m2", draft_tokens=4, accepted_per_pass=3.0,
                                 context=1024, draft_model="llama-3.2-1b")
    r["ceiling_tokens_per_s"] = float(edge.bandwidth_ceiling("llama-3.1-8b", "apple-m2", 1024, "int4"))
    return r
