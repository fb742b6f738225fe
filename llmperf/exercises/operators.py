"""Answers to the exercises of the chapter "Operator Tables" (``book/operators.ipynb``)."""
from __future__ import annotations

from ..hardware import get_hardware
from ..tables import (GiB, attention_intensity, decode_bytes_split, kv_cache_bytes, kv_equals_weights_context,
                      operator_table, step, with_kv_heads)
from . import exercise


@exercise("operators-ex1")
def kv_cache_llama2_70b():
    """KV cache of Llama-2-70B (bf16) holding 4096 tokens for each of 8 sequences, in GiB."""
    return float(kv_cache_bytes("llama-2-70b", context=4096, batch=8, kv_dtype="bf16")) / GiB


@exercise("operators-ex2")
def q_proj_prefill_gflop():
    """FLOP of one q_proj of Qwen2.5-3B in the prefill of a 1024-token prompt (batch 1), in GFLOP."""
    table = operator_table("qwen2.5-3b", "h100-sxm", "prefill", batch=1, prompt_len=1024)
    return float(table.loc["q_proj", "MFLOP"]) / 1e3


@exercise("operators-ex3")
def llama2_70b_decode_bound():
    """Step intensity of the first decode step of Llama-2-70B (batch 1, 1024 cached) against the H100 ridge."""
    r = step("llama-2-70b", "h100-sxm", "decode", batch=1, prompt_len=1024)
    return {"intensity_flop_per_byte": float(r.intensity),
            "ridge_flop_per_byte": float(get_hardware("h100-sxm").ridge_point_for("bf16")),
            "bound": str(r.bound)}


@exercise("operators-ex4")
def kv_share_at_4096():
    """KV share (%) of the bytes of a decode step with 4096 cached tokens, batch 1."""
    return {name: 100 * float(decode_bytes_split(name, "h100-sxm", batch=1, context=4096)["kv_share"])
            for name in ("llama-2-7b", "qwen2.5-7b")}


@exercise("operators-ex5")
def llama2_70b_as_mha():
    """Llama-2-70B with K = N = 64 (MHA) against the real K = 8: KV cache at 8 x 4096 tokens and decode attention intensity."""
    mha = with_kv_heads("llama-2-70b", 64)
    return {
        "kv_gqa_gib": float(kv_cache_bytes("llama-2-70b", 4096, 8)) / GiB,
        "kv_mha_gib": float(kv_cache_bytes(mha, 4096, 8)) / GiB,
        "attention_intensity_gqa": attention_intensity("llama-2-70b", "h100-sxm", "decode", 8, 4096),
        "attention_intensity_mha": attention_intensity(mha, "h100-sxm", "decode", 8, 4096),
    }


@exercise("operators-ex6")
def llama2_7b_kv_equals_weights():
    """Cached tokens per sequence at which a decode step of Llama-2-7B at batch 16 reads as many KV bytes as weight bytes."""
    return kv_equals_weights_context("llama-2-7b", batch=16)
