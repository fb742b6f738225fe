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


# --- the catalog's models (the chapter "The KV Cache and Its Variants") -------------------------------

def _attention_label(m) -> str:
    """The model's attention kind (:attr:`ModelConfig.attention_kind`), with GQA's sharing spelled out."""
    kind = m.attention_kind
    return f"GQA ({m.group_size} heads per KV head)" if kind.startswith("GQA") else kind


def _pattern(m) -> str:
    w = [x for x in m.windows]
    chunks = getattr(m, "chunks", None) or ()
    chunked = [c for c in chunks if c]
    if chunked:
        return f"{len(chunked)} of {m.n_layers} layers chunked ({chunked[0]:,} tokens)"
    local = [x for x in w if x is not None]
    if not local:
        return "full attention"
    if len(local) == m.n_layers:
        return f"every layer windowed ({local[0]:,} tokens)"
    return f"{len(local)} of {m.n_layers} layers windowed ({local[0]:,} tokens)"


def catalog_table(models=None, context: int = 32768, kv_dtype: str = "bf16"):
    """KV cache of one sequence for every catalog model: per token at the start, averaged over ``context``
    tokens (windows and chunks cap some layers), the whole context, and against the weights.

    A pandas DataFrame, one row per model, smallest cache per token first.
    """
    import pandas as pd

    from .dtypes import dtype_bytes as _db
    from .models import kv_cache_bytes, load_model, model_names

    rows = []
    for name in (models or model_names()):
        m = load_model(name)
        first = float(kv_cache_bytes(m, 1, 1, kv_dtype))
        whole = float(kv_cache_bytes(m, context, 1, kv_dtype))
        weights = m.params_total * _db("bf16") if not callable(m.params_total) else m.params_total() * _db("bf16")
        rows.append({"Model": name, "Attention": _attention_label(m), "Layers": _pattern(m),
                     "KV per token, first token (KiB)": first / 2**10,
                     f"KV per token, averaged over {context:,} (KiB)": whole / context / 2**10,
                     f"KV of {context:,} tokens (GiB)": whole / 2**30,
                     "KV / bf16 weights": whole / weights})
    df = pd.DataFrame(rows)
    return df.sort_values(f"KV per token, averaged over {context:,} (KiB)").reset_index(drop=True)


def max_sequences(models, hardware, contexts, kv_dtype: str = "bf16", weight_dtype: str = "bf16"):
    """Largest number of sequences of each context length whose KV caches fit beside the weights.

    One row per model, one column per context (the engine's memory model: weights, KV cache and activation
    peak per device). A pandas DataFrame of whole numbers; 0 means not even one sequence fits.
    """
    import pandas as pd

    from .analysis import analyze

    out = {}
    for name in models:
        row = {}
        for s in contexts:
            a = analyze(name, hardware, batch=1, prompt_len=int(s), gen_len=1, kv_dtype=kv_dtype,
                        weight_dtype=weight_dtype)
            row[f"S={int(s):,}"] = int(a.summary["max_batch"]) if a.fits else 0
        out[name] = row
    return pd.DataFrame(out).T


def window_curve(models, contexts, kv_dtype: str = "bf16"):
    """KV bytes per token of context against the context length (long format, for a chart)."""
    import pandas as pd

    from .models import kv_cache_bytes, load_model

    S = np.unique(np.round(np.asarray(contexts, dtype=float)))  # whole numbers of tokens
    frames = []
    for name in models:
        m = load_model(name)
        frames.append(pd.DataFrame({"Model": name, "Context (tokens)": S,
                                    "KV per token (KiB)": kv_cache_bytes(m, S, 1, kv_dtype) / S / 2**10,
                                    "KV cache (GiB)": kv_cache_bytes(m, S, 1, kv_dtype) / 2**30}))
    return pd.concat(frames, ignore_index=True)


def attention_intensity_table(models, hardware, batch: int = 8, context: int = 4096):
    """Intensity of the fused decode attention of each model (from the engine) against the sharing factor N/K."""
    import pandas as pd

    from .analysis import decode_step
    from .models import load_model

    rows = []
    for name in models:
        m = load_model(name)
        r = decode_step(m, hardware, batch=batch, context=context)
        names = list(r.ops.names)
        i = next(j for j, n in enumerate(names) if n.startswith("attention (fused)"))
        inten = float(np.asarray(r.op_intensity)[i].reshape(-1)[0])
        # MLA caches one latent for all heads: it has no key-value heads to share (NaN, shown as a dash)
        share = float("nan") if getattr(m, "is_mla", False) else m.n_heads / m.n_kv_heads
        rows.append({"Model": name, "Attention": _attention_label(m), "N / K": share,
                     "Decode attention intensity (FLOP/B)": inten})
    return pd.DataFrame(rows)


def mla_decode_compare(model, hardware, contexts, batch: int = 1, tp: int = 1):
    """Decode attention of an MLA model, absorbed (latent space) against expanded (transformers' code).

    Per context: FLOP and bytes of the attention block of one decode step (all layers) and the step time,
    for both conventions. A pandas DataFrame.
    """
    import pandas as pd

    from .analysis import decode_step

    rows = []
    for conv in ("absorbed", "expanded"):
        for s in contexts:
            r = decode_step(model, hardware, batch=batch, context=int(s), tp=tp, mla=conv)
            groups = list(r.ops.groups)
            rep = np.asarray(r.ops.repeats, dtype=float)
            mask = np.array([g == "attention" for g in groups])
            flops = float(np.sum(rep[mask] * np.asarray(r.ops.data["flops"]).reshape(len(groups), -1)[mask, 0]))
            moved = float(np.sum(rep[mask] * np.asarray(r.op_bytes).reshape(len(groups), -1)[mask, 0]))
            rows.append({"Decode": conv, "Context (tokens)": int(s), "Attention GFLOP": flops / 1e9,
                         "Attention GB moved": moved / 1e9, "Step time (ms)": float(np.ravel(r.time_s)[0]) * 1e3})
    return pd.DataFrame(rows)
