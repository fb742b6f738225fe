"""The KV cache of each attention architecture: bytes per token and the decode intensity of attention.

Closed forms over numpy arrays for one layer's cache and one decode step's
attention, by architecture:

========================  ======================================================
architecture              cached elements per token per layer
========================  ======================================================
MHA (multi-head)          ``2 N H`` (a key and a value per query head)
GQA (grouped-query)       ``2 K H`` (K shared key-value heads)
MQA (multi-query)         ``2 H`` (one key-value head)
MLA (multi-head latent)   ``d_c + d_r`` (one latent shared by keys and values,
                          plus the decoupled rotary key; DeepSeek-V2)
========================  ======================================================

Cross-layer sharing (CLA) keeps one cache for every ``s`` layers: divide by
``s``. A sliding window or a chunk of ``ω`` tokens caps the cached tokens of a
layer at ``min(S, ω)``. A quantized cache (int8, fp8, int4) stores ``b_kv``
bytes per element plus one scale (2 bytes, fp16) per group of ``g`` elements.

Decode attention of one new token over ``S`` cached ones costs ``4 N H S`` FLOP
(scores and the weighted sum of values, 2 FLOP per multiply-add) and reads the
cache, so its intensity is about ``4 N H / (elements × b_kv)``: for GQA in
bf16, ``N / K`` FLOP per byte, the number of query heads that share each
key-value head. MLA's absorbed form attends in the latent space: ``2 N S (d_c
+ d_r)`` FLOP for the scores and ``2 N S d_c`` for the values, over a cache of
``d_c + d_r`` elements per token: all ``N`` heads share one latent, so the
intensity is about ``N`` times that of MHA.
"""
from __future__ import annotations

import numpy as np

from .analysis import WorkloadError
from .dtypes import dtype_bytes

__all__ = ["SCALE_BYTES", "kv_elements_per_token", "kv_bytes_per_element", "kv_bytes_per_token",
           "decode_attention_intensity", "architecture_table"]

#: Bytes of one quantization scale (fp16).
SCALE_BYTES = 2.0


def _pos(name, v):
    a = np.asarray(v, dtype=float)
    if not np.all(np.isfinite(a)) or np.any(a <= 0):
        raise WorkloadError(f"{name} must be a positive number")
    return a


def kv_elements_per_token(kind: str, *, n_heads=None, n_kv_heads=None, head_dim=None, kv_lora_rank=None,
                          rope_dim=None):
    """Cached elements per token per layer for ``kind`` in MHA, GQA, MQA, MLA."""
    kind = kind.upper()
    if kind == "MHA":
        return 2 * _pos("n_heads", n_heads) * _pos("head_dim", head_dim)
    if kind == "GQA":
        return 2 * _pos("n_kv_heads", n_kv_heads) * _pos("head_dim", head_dim)
    if kind == "MQA":
        return 2 * _pos("head_dim", head_dim)
    if kind == "MLA":
        return _pos("kv_lora_rank", kv_lora_rank) + _pos("rope_dim", rope_dim)
    raise WorkloadError(f"unknown attention kind {kind!r}: use MHA, GQA, MQA or MLA")


def kv_bytes_per_element(kv_dtype: str = "bf16", group_size=None) -> float:
    """Bytes per cached element, with one fp16 scale per ``group_size`` elements for quantized caches."""
    b = dtype_bytes(kv_dtype)
    if group_size is None:
        return b
    g = float(_pos("group_size", group_size))
    return b + SCALE_BYTES / g


def kv_bytes_per_token(kind: str, n_layers, *, kv_dtype="bf16", group_size=None, share_layers=1, window=None,
                       context=None, **dims):
    """KV-cache bytes per token of context, all layers.

    ``share_layers`` s: one cache per s layers (cross-layer attention). With
    ``window`` ω and ``context`` S, each layer caches ``min(S, ω)`` tokens; the
    result is then the cache of the whole context divided by S (bytes per
    token of context, averaged).
    """
    L = _pos("n_layers", n_layers)
    s = _pos("share_layers", share_layers)
    per_layer = kv_elements_per_token(kind, **dims) * kv_bytes_per_element(kv_dtype, group_size)
    out = per_layer * L / s
    if window is not None:
        if context is None:
            raise WorkloadError("a window needs the context length S to say how many tokens are cached")
        S = _pos("context", context)
        out = out * np.minimum(S, _pos("window", window)) / S
    return out


def decode_attention_intensity(kind: str, *, n_heads, kv_dtype="bf16", group_size=None, **dims):
    """FLOP per byte of cache read, for one decode token's attention (large S; query and output ignored)."""
    N = _pos("n_heads", n_heads)
    b = kv_bytes_per_element(kv_dtype, group_size)
    if kind.upper() == "MLA":
        dc, dr = _pos("kv_lora_rank", dims.get("kv_lora_rank")), _pos("rope_dim", dims.get("rope_dim"))
        flop = 2 * N * (dc + dr) + 2 * N * dc
        return flop / ((dc + dr) * b)
    H = _pos("head_dim", dims.get("head_dim"))
    elements = kv_elements_per_token(kind, n_heads=N, head_dim=H, n_kv_heads=dims.get("n_kv_heads"))
    return 4 * N * H / (elements * b)


def architecture_table(n_layers, n_heads, head_dim, *, n_kv_heads=8, kv_lora_rank=512, rope_dim=64,
                       share_layers=2, window=4096, context=32768, kv_dtype="bf16"):
    """One row per cache design for a model of ``n_layers`` × ``n_heads`` × ``head_dim``.

    Columns: elements and bytes per token (all layers), bytes relative to
    MHA, decode attention intensity (FLOP/B). A pandas DataFrame.
    """
    import pandas as pd

    dims = dict(n_heads=n_heads, n_kv_heads=n_kv_heads, head_dim=head_dim, kv_lora_rank=kv_lora_rank,
                rope_dim=rope_dim)
    rows = []

    def add(label, kind, **kw):
        per_tok = kv_bytes_per_token(kind, n_layers, kv_dtype=kw.get("kv_dtype", kv_dtype),
                                     group_size=kw.get("group_size"), share_layers=kw.get("share", 1),
                                     window=kw.get("window"), context=context if kw.get("window") else None,
                                     **dims)
        inten = decode_attention_intensity(kind, kv_dtype=kw.get("kv_dtype", kv_dtype),
                                           group_size=kw.get("group_size"), **dims)
        rows.append({"Design": label, "KV bytes per token": float(per_tok), "Decode intensity (FLOP/B)": float(inten)})

    add("MHA", "MHA")
    add(f"GQA, K = {n_kv_heads}", "GQA")
    add("MQA", "MQA")
    add(f"MLA, d_c = {kv_lora_rank}, d_r = {rope_dim}", "MLA")
    add(f"GQA + cross-layer sharing (every {share_layers} layers)", "GQA", share=share_layers)
    add(f"GQA + window of {window:,} tokens (S = {context:,})", "GQA", window=window)
    add("GQA, int8 cache (scale per 64)", "GQA", kv_dtype="int8", group_size=64)
    add("GQA, int4 cache (scale per 64)", "GQA", kv_dtype="int4", group_size=64)
    df = pd.DataFrame(rows)
    df["Relative to MHA"] = df["KV bytes per token"] / df["KV bytes per token"].iloc[0]
    return df
