"""Answers to the exercises of the attention-share chapter (labels ``share-ex1`` ...)."""
from __future__ import annotations

import math

import numpy as np

from ..models import load_model
from ..share import (crossover_context, part_flops, shares, textbook_ratio, textbook_share,
                     time_vs_flop_share)
from . import exercise


@exercise("share-ex1")
def textbook_at_2048():
    """Textbook ratio and share for S = 2048, D = 4096."""
    S, D = 2048, 4096
    return {"ratio": float(textbook_ratio(S, D)), "share": float(textbook_share(S, D))}


@exercise("share-ex2")
def llama31_prefill_crossover():
    """First prompt length at which Llama-3.1-8B's attention core does as many FLOPs as its MLP (causal prefill)."""
    return int(math.ceil(crossover_context("llama-3.1-8b", "prefill", "core")))


@exercise("share-ex3")
def gqa_effect():
    """Attention share (%) of Llama-3.1-8B's prefill at S = 8192, as it is (GQA-4) and with K = N = 32 (MHA)."""
    gqa = load_model("llama-3.1-8b")
    mha = gqa.replace(n_kv_heads=gqa.n_heads, name="llama-3.1-8b-mha")
    out = {}
    for key, m in (("gqa", gqa), ("mha", mha)):
        out[key] = 100 * float(shares(part_flops(m, 8192, "prefill"))["attention_share"])
    return out


@exercise("share-ex4")
def decode_share_32k():
    """Attention share (%) of a decode step at S = 32768 for Llama-3.1-8B and Mistral-7B (window 4096)."""
    return {name: 100 * float(shares(part_flops(name, 32768, "decode"))["attention_share"])
            for name in ("llama-3.1-8b", "mistral-7b")}


@exercise("share-ex5")
def causal_vs_full():
    """Llama-3.1-8B prefill at S = 8192: core FLOPs full / causal, and the attention share (%) under each."""
    S = 8192
    full = part_flops("llama-3.1-8b", S, "prefill", attention_flops="full")
    causal = part_flops("llama-3.1-8b", S, "prefill", attention_flops="causal")
    return {"core_ratio": float(full["core"] / causal["core"]),
            "share_full": 100 * float(shares(full)["attention_share"]),
            "share_causal": 100 * float(shares(causal)["attention_share"])}


@exercise("share-ex6")
def batch_where_time_share_wins():
    """Smallest power-of-two batch at which the core's roofline-time share of a Llama-3.1-8B decode step
    at S = 32768 on an H100 SXM exceeds its FLOP share."""
    batches = 2 ** np.arange(0, 10)
    df = time_vs_flop_share("llama-3.1-8b", "h100-sxm", batches, 32768)
    wins = df[df["core_time_share"] > df["core_flop_share"]]
    return int(wins["batch"].min())
