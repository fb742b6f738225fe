"""Operator tables: the per-operator workload of a model, prefill against decode.

The functions of the book's chapter "Operator Tables" (``book/operators.ipynb``).
Each one takes catalog names (or :class:`~llmperf.models.ModelConfig` objects)
and returns a pandas DataFrame whose headers carry their units. Everything is
computed by the engine (:func:`llmperf.prefill_step`, :func:`llmperf.decode_step`,
:func:`llmperf.analyze`) or from a model's ``config.json`` sizes; nothing is typed in.

Units: inside, SI (FLOP, bytes, seconds). Displayed bytes *moved* use decimal
prefixes (MB, GB); KV-cache *capacity* uses binary prefixes (KiB, MiB, GiB),
and each header says which.

Conventions: llmperf's defaults (``book/notation.md``): causal attention FLOPs,
logits for the last prompt token only, fused (flash) attention, tied embeddings
counted once, and a decode step after ``S`` cached tokens attends ``S + 1`` keys.
Times are roofline lower bounds at the device's peak rates.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .analysis import analyze, decode_step, prefill_step
from .analysis import step as _engine_step
from .dtypes import dtype_bytes
from .hardware import get_hardware
from .models import ModelConfig, kv_bytes_per_token_layer, kv_cache_bytes, load_model

#: The six models of the chapter, by catalog name.
SEED_MODELS = ("qwen2.5-1.5b", "qwen2.5-3b", "qwen2.5-7b", "llama-3.2-1b", "llama-2-7b", "llama-2-70b")
#: Devices offered in the chapter's interactive chart.
CHART_DEVICES = ("h100-sxm", "a100-sxm-80gb", "rtx-4090", "apple-m2-max")
DEFAULT_DEVICE = "h100-sxm"
PROMPT_LEN = 1024

KiB, MiB, GiB = 2.0 ** 10, 2.0 ** 20, 2.0 ** 30


def fmt(v) -> str:
    """Display format for table floats: thousands separators, about four significant digits."""
    if v is None or (isinstance(v, float) and not np.isfinite(v)):
        return "-"
    a = abs(v)
    if a >= 1000:
        return f"{v:,.0f}"
    if a == 0:
        return "0"
    if a >= 0.01:
        return f"{v:.4g}"
    return f"{v:.3g}"


# --- parameters ---------------------------------------------------------------

def op_parameters(model, ops) -> np.ndarray:
    """Parameters held by one run of each operator of ``ops`` (an :class:`~llmperf.ops.OpSet`).

    Each count is the operator's weight bytes divided by 4 in a step with fp32
    weights and so many tokens (``max(2**20, V)``) that it reads every row of
    the embedding table and every expert of a mixture of experts (a short step
    reads fewer rows than the operator owns), biases included. A tied lm_head
    counts 0: its parameters are the embedding's. Sum ``repeats x parameters``
    to get the model's total.
    """
    m = load_model(model)
    # a step of so many tokens that it reads every embedding row and every expert (4-byte weights)
    n = max(2 ** 20, m.vocab_size)
    by_name = {}
    for ref in (prefill_step(m, DEFAULT_DEVICE, 1, n, weight_dtype="fp32").ops,
                decode_step(m, DEFAULT_DEVICE, n, 1, weight_dtype="fp32").ops):  # MLA decode absorbs kv_b_proj
        by_name.update(zip(ref.names, ref.data["weight_bytes"] / dtype_bytes("fp32")))
    out = []
    for name in ops.names:
        if name == "lm_head" and m.tie_embeddings:
            p = 0  # its parameters are the embedding's
        else:
            p = by_name.get(name, 0.0)
        out.append(int(round(p)))
    return np.asarray(out, dtype=np.int64)


def model_facts(models=SEED_MODELS) -> pd.DataFrame:
    """One row per model: the sizes that set every cost, in the book's notation, and exact parameters."""
    rows = []
    for name in models:
        m = load_model(name)
        rows.append({
            "Model": m.name, "L": m.n_layers, "D": m.d_model, "F": m.d_ff, "N": m.n_heads, "K": m.n_kv_heads,
            "H": m.head_dim, "N·H": m.n_heads * m.head_dim, "V": m.vocab_size, "Attention": m.attention_kind,
            "QKV bias": m.qkv_bias, "Tied embeddings": m.tie_embeddings, "Parameters": float(m.params_total),
            "Parameters (B)": m.params_total / 1e9,
        })
    return pd.DataFrame(rows).set_index("Model")


def parameter_breakdown(models=SEED_MODELS) -> pd.DataFrame:
    """Where the parameters sit: embedding, attention, MLP, norms, lm_head (billions), and their sum."""
    rows = []
    for name in models:
        m = load_model(name)
        ops = prefill_step(m, DEFAULT_DEVICE, 1, 1).ops
        p = op_parameters(m, ops) * ops.repeats
        groups = np.asarray(ops.groups)
        rows.append({
            "Model": m.name,
            "Embedding (B)": p[groups == "embedding"].sum() / 1e9,
            "Attention (B)": p[groups == "attention"].sum() / 1e9,
            "MLP (B)": p[np.isin(groups, ["mlp", "moe"])].sum() / 1e9,
            "Norms (B)": p[groups == "norm"].sum() / 1e9,
            "lm_head (B)": p[groups == "lm_head"].sum() / 1e9,
            "Sum of operators": float(p.sum()),
            "Model total": float(m.params_total),
        })
    return pd.DataFrame(rows).set_index("Model")


# --- one model, one step --------------------------------------------------------

def step(model, hardware=DEFAULT_DEVICE, phase="prefill", batch=1, prompt_len=PROMPT_LEN, **opts):
    """The engine's :class:`~llmperf.analysis.StepResult` for a phase of a request.

    ``phase='prefill'``: the forward pass over ``prompt_len`` prompt tokens.
    ``phase='decode'``: the first decode step after it, with ``prompt_len``
    tokens cached (it attends ``prompt_len + 1`` keys).
    """
    return _engine_step(model, hardware, batch, prompt_len, phase, **opts)


def operator_table(model, hardware=DEFAULT_DEVICE, phase="prefill", batch=1, prompt_len=PROMPT_LEN,
                   **opts) -> pd.DataFrame:
    """One row per operator of a step, in display units.

    Per-operator numbers are for one run of the operator (one layer); ``Repeats``
    says how many runs the step has, ``Step time (µs)`` and ``Share (%)`` count
    all of them. Bytes are decimal MB (bytes moved); times are roofline lower bounds.
    """
    r = step(model, hardware, phase, batch, prompt_len, **opts)
    ops, d = r.ops, r.ops.data
    rep = ops.repeats
    total_us = r.op_time_s * rep * 1e6
    return pd.DataFrame({
        "Operator": ops.names,
        "Shape": [ops.shape_at(i) for i in range(len(ops))],
        "Repeats": rep.astype(int),
        "Parameters": op_parameters(r.setup.model, ops).astype(float),   # float: printed with separators
        "MFLOP": d["flops"] / 1e6,
        "Weights (MB)": d["weight_bytes"] / 1e6,
        "Activations read (MB)": d["act_bytes_read"] / 1e6,
        "KV read (MB)": d["kv_bytes_read"] / 1e6,
        "Written (MB)": (d["act_bytes_written"] + d["kv_bytes_written"]) / 1e6,
        "Intensity (FLOP/B)": r.op_intensity,
        "Bound": r.op_bound,
        "Time (µs)": r.op_time_s * 1e6,
        "Step time (µs)": total_us,
        "Share (%)": 100 * total_us / total_us.sum(),
    }).set_index("Operator")


#: Columns of :func:`operator_table` that describe the work, whatever the device.
WORKLOAD_COLUMNS = ["Shape", "Repeats", "Parameters", "MFLOP", "Weights (MB)", "Activations read (MB)", "KV read (MB)",
                    "Written (MB)"]
#: Columns of :func:`operator_table` that depend on the device.
DEVICE_COLUMNS = ["Intensity (FLOP/B)", "Bound", "Time (µs)", "Step time (µs)", "Share (%)"]


def step_totals(model, hardware=DEFAULT_DEVICE, batch=1, prompt_len=PROMPT_LEN, **opts) -> pd.DataFrame:
    """Prefill and the first decode step side by side: FLOP, bytes by kind, intensity, time."""
    rows = []
    for phase in ("prefill", "decode"):
        r = step(model, hardware, phase, batch, prompt_len, **opts)
        ops = r.ops
        tot = {f: float(ops.total(f)) for f in ("flops", "weight_bytes", "act_bytes_read", "kv_bytes_read",
                                                "act_bytes_written", "kv_bytes_written")}
        rows.append({
            "Phase": phase,
            "GFLOP": tot["flops"] / 1e9,
            "Weights read (GB)": tot["weight_bytes"] / 1e9,
            "KV read (GB)": tot["kv_bytes_read"] / 1e9,
            "Activations read (GB)": tot["act_bytes_read"] / 1e9,
            "Written (GB)": (tot["act_bytes_written"] + tot["kv_bytes_written"]) / 1e9,
            "Bytes (GB)": float(r.bytes) / 1e9,
            "Intensity (FLOP/B)": float(r.intensity),
            "Compute time (ms)": float(r.compute_s) * 1e3,
            "Memory time (ms)": float(r.memory_s) * 1e3,
            "Time (ms)": float(r.time_s) * 1e3,
            "Bound": str(r.bound),
        })
    return pd.DataFrame(rows).set_index("Phase")


# --- KV cache ---------------------------------------------------------------------

def kv_cache_table(models=SEED_MODELS, context=PROMPT_LEN, batch=1, kv_dtype="bf16") -> pd.DataFrame:
    """KV cache per token, per layer and in total at ``context`` tokens (binary units: capacity)."""
    rows = []
    for name in models:
        m = load_model(name)
        per = kv_bytes_per_token_layer(m, kv_dtype)
        rows.append({
            "Model": m.name, "Attention": m.attention_kind, "L": m.n_layers, "K": m.n_kv_heads, "H": m.head_dim,
            "Per token per layer (KiB)": per / KiB,
            "Per token, all layers (KiB)": m.n_layers * per / KiB,
            f"Per layer at S={context} (MiB)": batch * context * per / MiB,
            f"Total at S={context} (MiB)": float(kv_cache_bytes(m, context, batch, kv_dtype)) / MiB,
            "If MHA (K=N), total (MiB)": float(kv_cache_bytes(m.replace(n_kv_heads=m.n_heads), context, batch,
                                                              kv_dtype)) / MiB,
        })
    return pd.DataFrame(rows).set_index("Model")


# --- what a decode step reads ---------------------------------------------------------

def decode_bytes_split(model, hardware=DEFAULT_DEVICE, batch=1, context=PROMPT_LEN, **opts) -> dict:
    """Bytes of one decode step by kind (arrays broadcast over ``batch`` and ``context``).

    Returns a dict of arrays: ``weights``, ``kv`` (cache read), ``other``
    (activations read and everything written), ``total`` and ``kv_share``.
    """
    r = decode_step(model, hardware, batch, context, **opts)
    ops = r.ops
    w, kv = ops.total("weight_bytes"), ops.total("kv_bytes_read")
    total = np.asarray(r.bytes)
    return {"weights": w, "kv": kv, "other": total - w - kv, "total": total, "kv_share": kv / total}


def kv_equals_weights_context(model, batch=1, kv_dtype="bf16", weight_dtype="bf16") -> float:
    """Cached tokens per sequence at which a decode step reads as many KV bytes as weight bytes.

    Weights read per step are all parameters except the embedding table's
    unused rows; the KV read per step is ``B (S + 1) L 2 K H`` bytes-per-element.
    """
    m = load_model(model)
    ops = decode_step(m, DEFAULT_DEVICE, batch, 1, weight_dtype=weight_dtype, kv_dtype=kv_dtype).ops
    weights = float(ops.total("weight_bytes"))
    per_token = batch * m.n_layers * kv_bytes_per_token_layer(m, kv_dtype)
    return weights / per_token - 1.0       # the step attends S + 1 keys


# --- across models ------------------------------------------------------------------

def cross_model_summary(models=SEED_MODELS, hardware=DEFAULT_DEVICE, batch=1, prompt_len=PROMPT_LEN,
                        **opts) -> pd.DataFrame:
    """Prefill of ``prompt_len`` tokens and the first decode step after it, one row per model."""
    hw = get_hardware(hardware)
    rows = []
    for name in models:
        a = analyze(name, hw, batch, prompt_len, 2, **opts)
        s = a.summary
        pre, dec = a.prefill, a.decode
        split = decode_bytes_split(name, hw, batch, prompt_len, **opts)
        rows.append({
            "Model": s["model"],
            "Prefill (TFLOP)": s["prefill_flops"] / 1e12,
            "Decode step (GFLOP)": s["decode_flops_first_step"] / 1e9,
            "Prefill bytes (GB)": float(pre.bytes) / 1e9,
            "Decode bytes (GB)": float(dec.bytes[0]) / 1e9,
            "Decode weights (GB)": float(split["weights"]) / 1e9,
            "Decode KV read (MB)": float(split["kv"]) / 1e6,
            "KV share of decode bytes (%)": 100 * float(split["kv_share"]),
            "FLOP ratio prefill/decode": s["prefill_flops"] / s["decode_flops_first_step"],
            "Bytes ratio prefill/decode": float(pre.bytes) / float(dec.bytes[0]),
            "TTFT (ms)": s["ttft_s"] * 1e3,
            "Prefill bound": str(pre.bound),
            "TPOT (ms)": s["tpot_first_s"] * 1e3,
            "Decode bound": str(dec.bound[0]),
            "Memory (GiB)": s["memory_total_bytes"] / GiB,
            "Fits": s["fits"],
        })
    return pd.DataFrame(rows).set_index("Model")


# --- GQA against MHA ----------------------------------------------------------------------

def with_kv_heads(model, n_kv_heads: int, name: str | None = None) -> ModelConfig:
    """A hypothetical variant of ``model`` with ``n_kv_heads`` key/value heads (all else equal)."""
    m = load_model(model)
    kind = "MHA" if n_kv_heads == m.n_heads else ("MQA" if n_kv_heads == 1 else f"GQA-{m.n_heads // n_kv_heads}")
    return m.replace(n_kv_heads=n_kv_heads, name=name or f"{m.name} as {kind} (K={n_kv_heads})")


def attention_intensity(model, hardware=DEFAULT_DEVICE, phase="decode", batch=1, prompt_len=PROMPT_LEN,
                        **opts) -> float:
    """Arithmetic intensity (FLOP/B) of the fused attention operator(s) of a step."""
    r = step(model, hardware, phase, batch, prompt_len, **opts)
    att = np.asarray([k == "attention" for k in r.ops.kinds])
    d, rep = r.ops.data, r.ops.repeats[att]
    flops = (rep * d["flops"][att]).sum()
    byts = (rep * (r.ops.bytes_read + r.ops.bytes_written)[att]).sum()
    return float(flops / byts)


def gqa_comparison(models, hardware=DEFAULT_DEVICE, batch=1, context=PROMPT_LEN, **opts) -> pd.DataFrame:
    """KV cache, decode attention intensity and decode time for models (or variants) side by side."""
    hw = get_hardware(hardware)
    rows = []
    for model in models:
        m = load_model(model)
        r = decode_step(m, hw, batch, context, **opts)
        split = decode_bytes_split(m, hw, batch, context, **opts)
        rows.append({
            "Model": m.name, "N": m.n_heads, "K": m.n_kv_heads, "N/K": m.group_size,
            "Parameters (B)": m.params_total / 1e9,
            "KV per token (KiB)": m.n_layers * kv_bytes_per_token_layer(m) / KiB,
            f"KV at B={batch}, S={context} (GiB)": float(kv_cache_bytes(m, context, batch)) / GiB,
            "Decode attention intensity (FLOP/B)": attention_intensity(m, hw, "decode", batch, context, **opts),
            "Decode KV read (GB)": float(split["kv"]) / 1e9,
            "KV share of decode bytes (%)": 100 * float(split["kv_share"]),
            "TPOT (ms)": float(r.time_s) * 1e3,
        })
    return pd.DataFrame(rows).set_index("Model")


# --- long tables for the charts ---------------------------------------------------------------

def operator_time_long(models=SEED_MODELS, devices=CHART_DEVICES, phases=("prefill", "decode"), batch=1,
                       prompt_len=PROMPT_LEN) -> pd.DataFrame:
    """One row per (model, device, phase, operator): step time over all layers, share, bound, intensity."""
    frames = []
    for name in models:
        for dev in devices:
            for phase in phases:
                r = step(name, dev, phase, batch, prompt_len)
                t = r.op_time_s * r.ops.repeats
                frames.append(pd.DataFrame({
                    "model": name, "device": dev, "phase": phase, "operator": r.ops.names,
                    "order": np.arange(len(r.ops)), "group": r.ops.groups, "bound": r.op_bound,
                    "intensity": r.op_intensity, "time_us": t * 1e6, "share": 100 * t / t.sum(),
                    "step_ms": float(t.sum()) * 1e3,
                }))
    return pd.concat(frames, ignore_index=True)


def kv_share_long(models=SEED_MODELS, hardware=DEFAULT_DEVICE, log2_batches=range(0, 9),
                  contexts=None) -> pd.DataFrame:
    """KV share of a decode step's bytes over a grid of batch (powers of two) and context."""
    contexts = np.unique(np.round(np.geomspace(128, 131072, 31))).astype(int) if contexts is None else np.asarray(
        contexts)
    lb = np.asarray(list(log2_batches))
    bb, ss = np.meshgrid(2.0 ** lb, contexts.astype(float), indexing="ij")
    frames = []
    for name in models:
        s = decode_bytes_split(name, hardware, bb, ss)
        frames.append(pd.DataFrame({
            "model": name, "log2_batch": np.repeat(lb, len(contexts)), "batch": bb.ravel().astype(int),
            "context": ss.ravel().astype(int), "kv_share": 100 * s["kv_share"].ravel(),
            "weights_gb": np.broadcast_to(s["weights"], bb.shape).ravel() / 1e9, "kv_gb": s["kv"].ravel() / 1e9,
        }))
    return pd.concat(frames, ignore_index=True)
