"""Roofline basics: the computations behind the book's first chapter.

Everything here builds on the engine's pure core (:mod:`llmperf.roofline`):
the ridge points of the catalog devices, the intensity of a matrix product
and its limits, the batch at which a decode matmul crosses a device's ridge,
and the operators of a real decode step placed on a device's roof for a
range of batch sizes. Functions take scalars or numpy arrays and return
numbers or DataFrames whose headers carry their units.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .analysis import decode_step
from .dtypes import dtype_bytes
from .hardware import Hardware, HardwareError, get_hardware, hardware_names
from .models import load_model, require_standard_attention
from .roofline import matmul_intensity, roofline

#: Precision schemes for a linear layer: (weight dtype, activation dtype, compute dtype).
#: Weight-only quantization dequantizes to bf16 and multiplies in bf16; W8A8
#: feeds 8-bit weights and activations to the 8-bit tensor cores.
SCHEMES: dict[str, tuple[str, str, str]] = {
    "bf16": ("bf16", "bf16", "bf16"),
    "int8 weight-only": ("int8", "bf16", "bf16"),
    "int4 weight-only": ("int4", "bf16", "bf16"),
    "fp8 W8A8": ("fp8", "fp8", "fp8"),
}

#: Devices the book's decode roofline chart offers (datacenter to edge).
CHART_DEVICES = ("h100-sxm", "a100-sxm-80gb", "l4", "b200", "jetson-agx-orin-64gb", "apple-m2-max")


# -- the roof ------------------------------------------------------------------

def attainable_flop_per_s(intensity, peak_flop_per_s, bandwidth_bytes_per_s):
    """The roof: ``min(peak, intensity * bandwidth)`` in FLOP/s (broadcasts)."""
    i = np.asarray(intensity, dtype=float)
    return np.minimum(peak_flop_per_s, i * bandwidth_bytes_per_s)


def peak_for(hw: "Hardware | str", dtype: str) -> float:
    """Dense peak of ``dtype`` on ``hw``; bf16 and fp16 stand in for each other
    (as in :func:`llmperf.decode_step`) when a device lists only one of them."""
    hw = get_hardware(hw)
    return hw.peak_for(hw.effective_dtype(dtype))


def ridge_for(hw: "Hardware | str", dtype: str) -> float:
    """Ridge point (FLOP/B) of ``dtype`` work on ``hw``: peak / bandwidth."""
    hw = get_hardware(hw)
    return peak_for(hw, dtype) / hw.memory_bandwidth_bytes_per_s


def roof_line(hw: "Hardware | str", dtype: str = "bf16", i_min: float = 0.1, i_max: float = 1e4) -> pd.DataFrame:
    """Three points that draw the roof of ``hw`` on log-log axes:
    ``(i_min, i_min * bw)``, the ridge ``(peak / bw, peak)`` and ``(i_max, peak)``."""
    hw = get_hardware(hw)
    bw, peak = hw.memory_bandwidth_bytes_per_s, peak_for(hw, dtype)
    ridge = peak / bw
    xs = np.array([i_min, ridge, i_max], dtype=float)
    return pd.DataFrame({"device": hw.name, "order": [0, 1, 2], "Intensity (FLOP/B)": xs,
                         "Attainable (TFLOP/s)": attainable_flop_per_s(xs, peak, bw) / 1e12})


def roof_lines(devices=CHART_DEVICES, dtype: str = "bf16", i_min: float = 0.1, i_max: float = 1e4) -> pd.DataFrame:
    """:func:`roof_line` for several devices, stacked."""
    return pd.concat([roof_line(d, dtype, i_min, i_max) for d in devices], ignore_index=True)


# -- ridge points of the catalog -------------------------------------------------

def ridge_table(names=None) -> pd.DataFrame:
    """Ridge points of catalog devices, highest 16-bit ridge first.

    ``16-bit`` is the bf16 peak (fp16 where the device has no bf16), as in
    :attr:`Hardware.ridge_point`; fp8 and int8 columns are empty where the
    device lists no such peak (int8 peaks are integer OP/s, so its ridge is in OP/B).
    """
    rows = []
    for name in (names or hardware_names()):
        h = get_hardware(name)
        p = h.peak_flop_per_s
        bw = h.memory_bandwidth_bytes_per_s
        rows.append({
            "Device": h.display_name, "name": h.name, "Category": h.category,
            "Bandwidth (GB/s)": bw / 1e9,
            "16-bit peak (TFLOP/s)": peak_for(h, "bf16") / 1e12,
            "Ridge 16-bit (FLOP/B)": h.ridge_point,
            "Ridge fp8 (FLOP/B)": p["fp8"] / bw if "fp8" in p else np.nan,
            "Ridge int8 (OP/B)": p["int8"] / bw if "int8" in p else np.nan,
        })
    df = pd.DataFrame(rows)
    return df.sort_values("Ridge 16-bit (FLOP/B)", ascending=False, ignore_index=True)


def ridge_long(names=None) -> pd.DataFrame:
    """:func:`ridge_table` in long form for a chart: one row per device and precision."""
    t = ridge_table(names)
    cols = {"Ridge 16-bit (FLOP/B)": "16-bit (bf16/fp16)", "Ridge fp8 (FLOP/B)": "fp8",
            "Ridge int8 (OP/B)": "int8"}
    long = t.melt(id_vars=["Device", "name", "Category"], value_vars=list(cols), var_name="column",
                  value_name="Ridge (FLOP/B)").dropna(subset=["Ridge (FLOP/B)"])
    long["Precision"] = long.pop("column").map(cols)
    return long.reset_index(drop=True)


# -- matrix products -----------------------------------------------------------

def matmul_table(m, n, k, bytes_per_element=2.0, weight_bytes_per_element=None) -> pd.DataFrame:
    """FLOP, bytes and intensity of ``[m, k] @ [k, n]``, one row per broadcast point.

    A (``[m, k]``) and C (``[m, n]``) take ``bytes_per_element``; B, the weight
    (``[k, n]``), takes ``weight_bytes_per_element`` (default: the same).
    Each matrix is read or written once: the lower bound on traffic.
    """
    a = float(bytes_per_element)
    w = a if weight_bytes_per_element is None else float(weight_bytes_per_element)
    m, n, k = np.broadcast_arrays(*(np.atleast_1d(np.asarray(x, dtype=float)) for x in (m, n, k)))
    flops = 2 * m * n * k
    nbytes = a * m * k + w * k * n + a * m * n
    return pd.DataFrame({"M": m.astype(int), "N": n.astype(int), "K": k.astype(int), "FLOP": flops,
                         "Bytes (B)": nbytes, "Weight share of bytes": w * k * n / nbytes,
                         "Intensity (FLOP/B)": matmul_intensity(m, n, k, a, w)})


def matmul_intensity_limits(n, k, bytes_per_element=2.0, weight_bytes_per_element=None) -> dict:
    """Closed-form limits of :func:`llmperf.matmul_intensity` for a ``[k, n]`` weight.

    - ``m_one``: one token (batch-1 decode), ``2nk / (a k + w k n + a n)``;
    - ``small_m_slope``: for ``m << k, n`` the intensity is about ``2 m / w``
      FLOP/B: the slope per token is ``2 / w``;
    - ``m_infinite``: ``m -> inf``, the weight's bytes no longer count:
      ``2 k n / (a (k + n))``, the most a weight of this shape allows.
    """
    a = float(bytes_per_element)
    w = a if weight_bytes_per_element is None else float(weight_bytes_per_element)
    n, k = float(n), float(k)
    return {"m_one": 2 * n * k / (a * k + w * k * n + a * n), "small_m_slope": 2 / w,
            "m_infinite": 2 * k * n / (a * (k + n))}


def square_matmul_intensity(n, bytes_per_element=2.0):
    """Intensity of ``[n, n] @ [n, n]`` with one dtype: ``2n^3 / (3 a n^2) = 2n / (3a)`` (n/3 in 16-bit)."""
    return 2 * np.asarray(n, dtype=float) / (3 * float(bytes_per_element))


def critical_batch(n, k, ridge, weight_bytes_per_element=2.0, act_bytes_per_element=None) -> dict:
    """Tokens ``m`` at which ``[m, k] @ [k, n]`` reaches intensity ``ridge``.

    Setting ``2mkn / (a m k + w k n + a m n) = R`` and solving for ``m``:
    ``m* = R w k n / (2 k n - R a (k + n))`` (``exact``; infinite when even
    ``m -> inf`` stays below the ridge). Dropping the activation bytes
    (``m << k, n``) gives ``approx = R w / 2``. ``min_batch`` is the smallest
    whole batch at or above ``exact``. Arrays broadcast.
    """
    w = float(weight_bytes_per_element)
    a = w if act_bytes_per_element is None else float(act_bytes_per_element)
    n, k, r = (np.asarray(x, dtype=float) for x in (n, k, ridge))
    den = 2 * k * n - r * a * (k + n)
    with np.errstate(divide="ignore"):
        exact = np.where(den > 0, r * w * k * n / np.where(den > 0, den, 1.0), np.inf)
    return {"exact": exact, "approx": r * w / 2, "min_batch": np.ceil(exact)}


def gemm_bound(m, n, k, hw: "Hardware | str", dtype: str = "bf16") -> dict:
    """Roofline of one ``[m, k] @ [k, n]`` product in ``dtype`` on ``hw``:
    FLOP, bytes, intensity, ridge, compute/memory/lower-bound time and bound."""
    hw = get_hardware(hw)
    b = dtype_bytes(dtype)
    peak, bw = peak_for(hw, dtype), hw.memory_bandwidth_bytes_per_s
    flops = 2.0 * m * n * k
    nbytes = b * (m * k + k * n + m * n)
    r = roofline(flops, nbytes, peak, bw)
    return {"flops": flops, "bytes": nbytes, "intensity": float(r["intensity"]), "ridge": peak / bw,
            "compute_s": float(r["compute_s"]), "memory_s": float(r["memory_s"]),
            "time_s": float(r["time_s"]), "bound": str(r["bound"])}


def scheme_curves(n, k, m_values, schemes=None) -> pd.DataFrame:
    """Intensity of ``[m, k] @ [k, n]`` over ``m_values`` for each precision scheme."""
    schemes = schemes or list(SCHEMES)
    m = np.asarray(m_values, dtype=float)
    frames = []
    for s in schemes:
        wd, ad, _ = SCHEMES[s]
        frames.append(pd.DataFrame({"Scheme": s, "Tokens M": m.astype(int),
                                    "Intensity (FLOP/B)": matmul_intensity(m, n, k, dtype_bytes(ad),
                                                                           dtype_bytes(wd))}))
    return pd.concat(frames, ignore_index=True)


def _runnable_schemes(h: Hardware, schemes=None):
    """``(scheme, weight dtype, activation dtype, compute dtype, ridge)`` for each scheme ``h`` can run
    (a scheme whose compute dtype the device lacks, fp8 on an A100, is left out)."""
    for s in schemes or list(SCHEMES):
        wd, ad, cd = SCHEMES[s]
        try:
            yield s, wd, ad, cd, ridge_for(h, cd)
        except HardwareError:
            continue


def scheme_ridges(n, k, devices=CHART_DEVICES, schemes=None) -> pd.DataFrame:
    """Per device and scheme: the compute dtype's ridge and the critical batch of a ``[k, n]`` weight.

    A scheme whose compute dtype the device lacks (fp8 on an A100) is left out.
    """
    rows = []
    for d in devices:
        h = get_hardware(d)
        for s, wd, ad, cd, r in _runnable_schemes(h, schemes):
            cb = critical_batch(n, k, r, dtype_bytes(wd), dtype_bytes(ad))
            rows.append({"device": h.name, "Scheme": s, "Compute dtype": cd, "Ridge (FLOP/B)": r,
                         "Critical batch (exact)": float(cb["exact"]), "Critical batch (R w / 2)": float(cb["approx"])})
    return pd.DataFrame(rows)


# -- a real decode step on the roof ---------------------------------------------

def decode_points(model="llama-3.1-8b", devices=CHART_DEVICES, batches=2 ** np.arange(11), context=1024,
                  scheme: str = "bf16", step_row: bool = True) -> pd.DataFrame:
    """Every operator of one decode step, for each device and batch, placed on the roof.

    One row per (device, batch, operator) with the operator's intensity, its
    attainable rate (FLOP/time: on the roof by construction, since times are
    roofline lower bounds), bound, the time it adds to the step (all layers)
    and that time's share of the step. Operators that do no arithmetic (the
    embedding lookup) are left out; ``step_row`` adds the whole step as an
    operator named ``whole step``.
    """
    wd, ad, cd = SCHEMES[scheme]
    b = np.asarray(batches)
    frames = []
    for d in devices:
        r = decode_step(model, d, b, context, weight_dtype=wd, act_dtype=ad, kv_dtype=ad, compute_dtype=cd)
        ops = r.ops
        rep = ops.repeats[:, None]
        flops = ops.data["flops"]
        nbytes = ops.bytes_read + ops.bytes_written
        step_time = r.time_s[None, :]
        n_ops = len(ops)
        with np.errstate(divide="ignore", invalid="ignore"):
            frame = pd.DataFrame({
                "device": d,
                "batch": np.tile(b, n_ops).astype(int),
                "operator": np.repeat(ops.names, len(b)),
                "group": np.repeat(ops.groups, len(b)),
                "kind": np.repeat(ops.kinds, len(b)),
                "Intensity (FLOP/B)": r.op_intensity.ravel(),
                "Attainable (TFLOP/s)": (flops / r.op_time_s).ravel() / 1e12,
                "Bound": r.op_bound.ravel(),
                "Time in step (µs)": (rep * r.op_time_s).ravel() * 1e6,
                "Share of step time": (rep * r.op_time_s / step_time).ravel(),
                "flops": (rep * flops).ravel(),
                "bytes": (rep * nbytes).ravel(),
            })
        frames.append(frame[frame["flops"] > 0])
        if step_row:
            frames.append(pd.DataFrame({
                "device": d, "batch": b.astype(int), "operator": "whole step", "group": "step", "kind": "step",
                "Intensity (FLOP/B)": r.intensity, "Attainable (TFLOP/s)": r.flops / r.time_s / 1e12,
                "Bound": r.bound, "Time in step (µs)": r.time_s * 1e6, "Share of step time": 1.0,
                "flops": r.flops, "bytes": r.bytes}))
    out = pd.concat(frames, ignore_index=True)
    out["log2 batch"] = np.log2(out["batch"]).round().astype(int)
    return out


def batch_sweep_table(model="llama-3.1-8b", device="h100-sxm", batches=2 ** np.arange(0, 11, 2), context=1024,
                      scheme: str = "bf16", operators=None) -> pd.DataFrame:
    """Operator intensity (FLOP/B) with batch across the columns (the book's sweep-table layout)."""
    p = decode_points(model, (device,), batches, context, scheme)
    t = p.pivot_table(index="operator", columns="batch", values="Intensity (FLOP/B)", sort=False)
    if operators is not None:
        t = t.loc[list(operators)]
    t.columns = [f"B={c}" for c in t.columns]
    t.columns.name = "Intensity (FLOP/B)"
    return t


def decode_step_summary(model="llama-3.1-8b", device="h100-sxm", batch=1, context=1024, scheme="bf16") -> dict:
    """FLOP, bytes, intensity and the two time bounds of one decode step (SI units)."""
    wd, ad, cd = SCHEMES[scheme]
    r = decode_step(model, device, batch, context, weight_dtype=wd, act_dtype=ad, kv_dtype=ad, compute_dtype=cd)
    h = get_hardware(device)
    return {"flops": float(r.flops), "bytes": float(r.bytes), "intensity": float(r.intensity),
            "compute_s": float(r.compute_s), "memory_s": float(r.memory_s), "time_s": float(r.time_s),
            "ridge": ridge_for(h, cd), "peak_flop_per_s": peak_for(h, cd),
            "bandwidth_bytes_per_s": h.memory_bandwidth_bytes_per_s, "bound": str(r.bound)}


def scheme_table(model="llama-3.1-8b", device="h100-sxm", batch=1, context=1024, schemes=None,
                 operator="gate_proj") -> pd.DataFrame:
    """How each precision scheme moves a decode step and one of its matmuls on the roof."""
    h = get_hardware(device)
    m = load_model(model)
    rows = []
    for s, wd, ad, cd, ridge in _runnable_schemes(h, schemes):
        r = decode_step(m, h, batch, context, weight_dtype=wd, act_dtype=ad, kv_dtype=ad, compute_dtype=cd)
        i = r.ops.names.index(operator)
        k_dim, n_dim = _matmul_dims(m, operator)
        cb = critical_batch(n_dim, k_dim, ridge, dtype_bytes(wd), dtype_bytes(ad))
        rows.append({"Scheme": s, "Weights": wd, "Activations": ad, "Compute": cd,
                     "Peak (TFLOP/s)": peak_for(h, cd) / 1e12, "Ridge (FLOP/B)": ridge,
                     f"{operator} intensity (FLOP/B)": float(r.op_intensity[i]),
                     f"{operator} critical batch": float(cb["exact"]),
                     "Step intensity (FLOP/B)": float(r.intensity), "Step time (ms)": float(r.time_s) * 1e3,
                     "Step bound": str(r.bound)})
    return pd.DataFrame(rows)


def _matmul_dims(model, operator: str) -> tuple[int, int]:
    """(K, N) of a dense decoder's linear layer, from the model config."""
    if operator in ("q_proj", "k_proj", "v_proj", "o_proj"):
        require_standard_attention(model, f"the dimensions of {operator}")
    D, F = model.d_model, model.d_ff
    qo, ko = model.n_heads * model.head_dim, model.n_kv_heads * model.head_dim
    dims = {"q_proj": (D, qo), "k_proj": (D, ko), "v_proj": (D, ko), "o_proj": (qo, D),
            "gate_proj": (D, F), "up_proj": (D, F), "down_proj": (F, D), "fc1": (D, F), "fc2": (F, D),
            "lm_head": (D, model.vocab_size)}
    if operator not in dims:
        raise ValueError(f"{operator!r} is not a linear layer; choose one of {', '.join(dims)}")
    return dims[operator]


def matmul_dims(model, operator: str) -> tuple[int, int]:
    """(K, N) of linear layer ``operator`` of ``model`` (a name or a ModelConfig)."""
    return _matmul_dims(load_model(model), operator)


def operator_table(model="llama-3.1-8b", device="h100-sxm", batch=1, context=1024,
                   scheme: str = "bf16") -> pd.DataFrame:
    """One decode step's operators on one device: intensity against the ridge, bound and time.

    ``Intensity / ridge`` is the operator's intensity divided by the ridge of the
    scheme's compute dtype: below 1 the operator is memory-bound.
    """
    if scheme not in SCHEMES:
        raise ValueError(f"unknown scheme {scheme!r}; choose one of {', '.join(SCHEMES)}")
    ridge = ridge_for(device, SCHEMES[scheme][2])
    p = decode_points(model, (device,), np.array([batch]), context, scheme)
    return pd.DataFrame({
        "Operator": p["operator"], "Intensity (FLOP/B)": p["Intensity (FLOP/B)"],
        "Intensity / ridge": p["Intensity (FLOP/B)"] / ridge, "Bound": p["Bound"],
        "Time in step (µs)": p["Time in step (µs)"], "Share of step time": p["Share of step time"],
    }).reset_index(drop=True)


# -- does it fit? ----------------------------------------------------------------------

def decode_memory(model="llama-3.1-8b", device="h100-sxm", batch=1, context=1024, scheme: str = "bf16") -> dict:
    """Memory a decode step needs on one device: the weights plus the KV cache of ``batch``
    sequences holding ``context + 1`` tokens (the cache plus the new token), in bytes.

    Activations of a decode step are a few MB and are left out; ``fits`` compares
    weights + KV cache with the device's capacity, so ``fits == False`` is certain.
    ``message`` is one sentence for a reader (binary GiB: a capacity).
    """
    if scheme not in SCHEMES:
        raise ValueError(f"unknown scheme {scheme!r}; choose one of {', '.join(SCHEMES)}")
    wd, ad, cd = SCHEMES[scheme]
    h = get_hardware(device)
    mem = analyze_memory(model, h, batch, context, wd, ad, cd)
    need = mem["weight_bytes"] + mem["kv_cache_bytes"]
    cap = float(h.memory_bytes)
    fits = bool(need <= cap)
    gib = 2.0 ** 30
    words = (f"weights {mem['weight_bytes'] / gib:.3g} GiB + KV cache {mem['kv_cache_bytes'] / gib:.3g} GiB "
             f"= {need / gib:.3g} GiB")
    message = (f"fits: {words} of the {cap / gib:.3g} GiB of the {h.display_name}" if fits else
               f"DOES NOT FIT: {words}, more than the {cap / gib:.3g} GiB of the {h.display_name}; "
               "the times are those of a device with enough memory (or of tensor parallelism)")
    return {"weight_bytes": mem["weight_bytes"], "kv_cache_bytes": mem["kv_cache_bytes"], "needed_bytes": need,
            "capacity_bytes": cap, "fits": fits, "message": message}


def analyze_memory(model, hw, batch, context, weight_dtype="bf16", act_dtype="bf16", compute_dtype="bf16") -> dict:
    """The engine's memory accounting (:attr:`llmperf.Analysis.memory`) after ``context`` cached tokens
    and one decode step (``gen_len = 2``: the cache ends holding ``context + 1`` tokens)."""
    from .analysis import analyze
    return analyze(model, hw, int(batch), int(context), 2, weight_dtype=weight_dtype, act_dtype=act_dtype,
                   kv_dtype=act_dtype, compute_dtype=compute_dtype).memory


def operator_table_with_fit(model="llama-3.1-8b", device="h100-sxm", batch=1, context=1024,
                            scheme: str = "bf16"):
    """:func:`operator_table` and the :func:`decode_memory` sentence (for the explorer)."""
    return operator_table(model, device, batch, context, scheme), decode_memory(model, device, batch, context,
                                                                                 scheme)


def decode_fit_table(model="llama-3.1-8b", devices=CHART_DEVICES, batches=2 ** np.arange(11), context=1024,
                     scheme: str = "bf16") -> pd.DataFrame:
    """Whether the weights and KV cache fit (:func:`decode_memory`), per device and batch:
    columns ``device``, ``batch``, ``log2 batch``, ``Memory needed (GiB)``, ``fits``."""
    rows = []
    for d in devices:
        for b in np.asarray(batches):
            m = decode_memory(model, d, int(b), context, scheme)
            rows.append({"device": get_hardware(d).name, "batch": int(b), "log2 batch": int(round(np.log2(b))),
                         "Memory needed (GiB)": m["needed_bytes"] / 2 ** 30, "fits": m["fits"]})
    return pd.DataFrame(rows)
