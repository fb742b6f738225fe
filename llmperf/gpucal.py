"""Strength 1 of the "expected" mode on GPUs, fitted and judged on published per-operator profiles.

The numbers are Vidur's (Agrawal et al., MLSys 2024; https://github.com/microsoft/vidur,
MIT licence, ``llmperf/data/measurements/VIDUR_LICENSE``): the median GPU time of every
operator of one Llama-2 decoder layer, in fp16, at 259 token counts from 1 to 4096 and
tensor-parallel degrees 1, 2, 4 and 8, on "a100" and "h100" machines. The extract
``vidur_llama2_mlp.csv`` keeps Vidur's rows as they are (``scripts/extract_vidur.py``
regenerates it); times are in milliseconds, as Vidur records them.

What Vidur times (``vidur/profiling/mlp/mlp_impl.py``): one layer of a reference model built
from sarathi-serve's layers, fp16, random weights, on one GPU with each weight already split
``tp`` ways (no communication): the fused QKV projection ``attn_pre_proj``, RoPE on q and k,
the output projection ``attn_post_proj``, the two RMSNorms, the fused gate and up projection
``mlp_up_proj``, SiLU-and-multiply ``mlp_act``, ``mlp_down_proj`` and the residual add after
the MLP. The attention core is replaced by random numbers and the residual add after the
attention is not timed, so the **layer sum** here is the sum of these nine operators, not a
whole layer. The time of an operator is the sum of the GPU durations of the kernels it
launched (the profiler's ``record_function`` method, Vidur's default), so launch gaps are not
in it; it is recorded to the microsecond.

The machines: Vidur says (``docs/profiling.md``) its "a100" compute profiles serve both its
A100 DGX node (SXM4 80GB) and its Azure NC96ads A100 v4 node (A100 80GB PCIe), without saying
which one ran them; its README's device table names "A100 80GB DGX" and "H100 DGX" (H100 SXM5).
The catalog devices used are ``a100-sxm-80gb`` and ``h100-sxm``; the A100 PCIe part has the
same peak and 5 % less bandwidth (the SXM roof is the lower bound of the two).

Each operator is mapped to llmperf's operator model (:func:`llmperf.ops.build_ops` at batch 1,
``tokens = num_tokens``, fp16, the same ``tp``): the norms, RoPE, SiLU-and-multiply and the
residual add are its operators as they are; a fused projection is the sum of its parts (q, k
and v; gate and up) with the shared input read once. Its roofline time on the catalog device
is ``max(FLOP / peak, bytes / bandwidth)``.

The model (strength 1 of :func:`llmperf.measure.expected_times`, with the same classes): an
operator takes ``roofline / e_class + t0``, where the class is a matrix product that is
compute-bound at the roofline, one that is memory-bound, or an elementwise operator, and
``t0`` is a fixed cost per kernel (one kernel per operator). :func:`fit` fits the three
efficiencies and ``t0`` on the operators of a training set by least squares on the
**relative** error of each operator (``0 < e <= 1``, ``t0 >= 0``; it calls
:func:`llmperf.measure.fit_efficiencies`). :func:`held_out` judges the fitted numbers on
layer sums of a test set it never saw: fit on Llama-2-7B at ``tp = 1``, judge on Llama-2-70B
at each ``tp``, on each device separately.
"""
from __future__ import annotations

from functools import lru_cache
from importlib import resources

import numpy as np

__all__ = ["VIDUR_COMMIT", "SOURCE", "DATA_FILE", "DEVICES", "MODELS", "OPS", "CLASS_NAMES", "SPLITS",
           "load_vidur", "op_table", "fit", "predict", "layer_sums", "held_out", "held_out_summary", "expected_layer"]

VIDUR_COMMIT = "7d47513363ec447a741ac5e47241580b47724fbf"
DATA_FILE = "vidur_llama2_mlp.csv"
SOURCE = (f"Vidur (Agrawal et al., MLSys 2024), github.com/microsoft/vidur @ {VIDUR_COMMIT[:12]}, "
          f"data/profiling/compute/*/meta-llama/Llama-2-*-hf/mlp.csv (MIT licence), "
          f"extract llmperf/data/measurements/{DATA_FILE}")

#: Vidur's device folders -> llmperf catalog devices (see the module docstring).
DEVICES = {"a100": "a100-sxm-80gb", "h100": "h100-sxm"}
#: Vidur's model ids -> llmperf catalog models.
MODELS = {"meta-llama/Llama-2-7b-hf": "llama-2-7b", "meta-llama/Llama-2-70b-hf": "llama-2-70b"}
#: Vidur's operators of one layer -> the llmperf operators each one fuses.
OPS = {"input_layernorm": ("input norm",), "attn_pre_proj": ("q_proj", "k_proj", "v_proj"),
       "attn_rope": ("rope",), "attn_post_proj": ("o_proj",), "post_attention_layernorm": ("post-attention norm",),
       "mlp_up_proj": ("gate_proj", "up_proj"), "mlp_act": ("silu x up",), "mlp_down_proj": ("down_proj",),
       "add": ("residual add (MLP)",)}
DTYPE = "fp16"  # Vidur profiles in torch.float16
CLASS_NAMES = {"linear, compute-bound": "GEMM, compute-bound", "linear, memory-bound": "GEMM, memory-bound",
               "other": "elementwise"}


def load_vidur():
    """The stored extract, one row per Vidur row (times in ms, as Vidur records them)."""
    import pandas as pd

    with resources.files("llmperf").joinpath("data", "measurements", DATA_FILE).open() as f:
        return pd.read_csv(f)


def _mapped(model: str, tp: int, tokens: np.ndarray) -> dict:
    """FLOP and bytes of each Vidur operator at each token count, from llmperf's operator list."""
    from .models import load_model
    from .ops import build_ops

    o = build_ops(load_model(MODELS[model]), 1, np.asarray(tokens, float), 0, phase="prefill",
                  weight_dtype=DTYPE, act_dtype=DTYPE, kv_dtype=DTYPE, tp=int(tp))
    idx = {n: i for i, n in enumerate(o.names) if o.scopes[i] == "layer"}
    d = o.data
    out = {}
    for op, parts in OPS.items():
        rows = [idx[p] for p in parts]
        flops = sum(d["flops"][i] for i in rows)
        read = sum(d["weight_bytes"][i] + d["act_bytes_read"][i] + d["kv_bytes_read"][i] for i in rows)
        written = sum(d["act_bytes_written"][i] + d["kv_bytes_written"][i] for i in rows)
        if len(rows) > 1:  # a fused projection reads its input once, not once per part
            read = read - (len(rows) - 1) * d["act_bytes_read"][rows[0]]
        out[op] = {"kind": o.kinds[rows[0]], "flops": flops, "bytes": read + written}
    return out


@lru_cache(maxsize=None)
def _op_table_cached():
    import pandas as pd

    from .hardware import get_hardware
    from .roofline import roofline

    raw = load_vidur()
    # Vidur's token grid repeats 2048 and 4096: average the two rows
    v = raw.groupby(["device", "model", "tp", "num_tokens"], as_index=False, sort=False).mean()
    frames = []
    for (device, model, tp), g in v.groupby(["device", "model", "tp"], sort=False):
        hw = get_hardware(DEVICES[device])
        peak, bw = hw.peak_for(DTYPE), hw.memory_bandwidth_bytes_per_s
        tokens = g["num_tokens"].to_numpy(float)
        m = _mapped(model, tp, tokens)
        for op, x in m.items():
            r = roofline(x["flops"], x["bytes"], peak, bw)
            if x["kind"] == "matmul":
                cls = np.where(r["bound"] == "compute", "linear, compute-bound", "linear, memory-bound")
            else:
                cls = np.full(len(tokens), "other")
            frames.append(pd.DataFrame({
                "device": device, "hardware": DEVICES[device], "model": MODELS[model], "tp": int(tp),
                "num_tokens": g["num_tokens"].to_numpy(int), "op": op, "kind": x["kind"], "cls": cls,
                "flops": np.broadcast_to(x["flops"], tokens.shape),
                "bytes": np.broadcast_to(x["bytes"], tokens.shape),
                "roofline_s": r["time_s"], "measured_s": g[f"{op}_ms"].to_numpy(float) * 1e-3}))
    return pd.concat(frames, ignore_index=True)


def op_table():
    """Every (device, model, tp, num_tokens, operator): its FLOP, bytes, roofline time on the catalog
    device at the fp16 peak, its class and Vidur's measured time (``measured_s``, seconds)."""
    return _op_table_cached().copy()


def _parts(rows) -> list:
    return [{"name": op, "repeats": 1.0, "roofline_s": float(t), "cls": c, "key": None}
            for op, t, c in zip(rows["op"], rows["roofline_s"], rows["cls"])]


def fit(train) -> dict:
    """Fit strength 1 on the operators of ``train`` (rows of :func:`op_table`).

    Least squares on the relative error of each operator, ``(predicted - measured) / measured``,
    with ``0 < e <= 1`` and ``t0 >= 0`` (:func:`llmperf.measure.fit_efficiencies` with each operator
    as its own case). Returns ``{"efficiency": {class: e}, "overhead_s": t0}`` in the classes of
    :data:`llmperf.measure.CLASSES` (attention, not profiled here, keeps 1)."""
    from .measure import fit_efficiencies

    parts = _parts(train)
    eff, t0 = fit_efficiencies([[p] for p in parts], train["measured_s"].to_numpy(float))
    return {"efficiency": eff, "overhead_s": t0}


def predict(rows, params: dict) -> np.ndarray:
    """Strength 1's time of each operator in ``rows``: ``roofline / e_class + t0``."""
    e = params["efficiency"]
    eff = np.array([e[c] for c in rows["cls"]])
    return rows["roofline_s"].to_numpy(float) / eff + params["overhead_s"]


def layer_sums(rows, params: dict | None = None):
    """Per (device, model, tp, num_tokens): the measured sum of the nine operators of one layer, its
    roofline and, with ``params``, strength 1's prediction and its relative error."""
    r = rows.copy()
    if params is not None:
        r["expected_s"] = predict(r, params)
    cols = ["measured_s", "roofline_s"] + (["expected_s"] if params is not None else [])
    s = r.groupby(["device", "hardware", "model", "tp", "num_tokens"], as_index=False)[cols].sum()
    s["measured_over_roofline"] = s["measured_s"] / s["roofline_s"]
    if params is not None:
        s["error"] = s["expected_s"] / s["measured_s"] - 1.0
    return s


def expected_layer(rows, params: dict) -> float:
    """The same prediction for the operators of one layer (``rows``, one per operator) through
    :func:`llmperf.measure.expected_times`, strength 1: the fitted numbers go in unchanged."""
    from .measure import expected_times

    return expected_times(_parts(rows), efficiency=params["efficiency"], overhead_s=params["overhead_s"])["expected_s"]


#: The splits: (device, what is fitted, what is judged). Fit on Llama-2-7B at tp 1, judge on Llama-2-70B.
SPLITS = [(dev, ("llama-2-7b", (1,)), ("llama-2-70b", (1, 2, 4, 8))) for dev in DEVICES]


def _sel(t, device, model, tps):
    return t[(t.device == device) & (t.model == model) & t.tp.isin(list(tps))]


def _worst_at(s) -> int:
    return int(s["num_tokens"].to_numpy()[np.argmax(s["error"].abs().to_numpy())])


@lru_cache(maxsize=None)
def _held_out_cached():
    import pandas as pd

    t = _op_table_cached()
    fits, rows = [], []
    for device, (fm, ftp), (jm, jtp) in SPLITS:
        train = _sel(t, device, fm, ftp)
        p = fit(train)
        fit_on = f"{fm}, tp {'/'.join(map(str, ftp))}"
        fits.append({"device": device, "hardware": DEVICES[device], "fit on": fit_on,
                     **{CLASS_NAMES[c]: p["efficiency"][c] for c in CLASS_NAMES},
                     "overhead_s": p["overhead_s"], "params": p, "source": SOURCE})
        ins = layer_sums(train, p)
        rows.append({"device": device, "hardware": DEVICES[device], "fit on": fit_on,
                     "judged on": fit_on + " (in sample)",
                     "tp": ",".join(map(str, ftp)), "n": len(ins), "median_error": ins.error.abs().median(),
                     "worst_error": ins.error.abs().max(), "worst_at_tokens": _worst_at(ins),
                     "median_roofline_ratio": ins.measured_over_roofline.median(), "held_out": False, "source": SOURCE})
        for tp in jtp:
            s = layer_sums(_sel(t, device, jm, (tp,)), p)
            rows.append({"device": device, "hardware": DEVICES[device], "fit on": fit_on,
                         "judged on": f"{jm}, tp {tp}", "tp": str(tp), "n": len(s),
                         "median_error": s.error.abs().median(), "worst_error": s.error.abs().max(),
                         "worst_at_tokens": _worst_at(s),
                         "median_roofline_ratio": s.measured_over_roofline.median(), "held_out": True,
                         "source": SOURCE})
    return pd.DataFrame(fits), pd.DataFrame(rows)


def held_out():
    """Fit on Llama-2-7B (tp 1), judge on Llama-2-70B (tp 1, 2, 4, 8), per device.

    Returns ``(params, errors)``: ``params`` one row per device with the fitted efficiencies (columns
    named by class), ``overhead_s`` and the raw ``params`` dict; ``errors`` one row per (device, judged
    set) with the median and worst absolute relative error of the layer sums over the token counts
    (``median_error``, ``worst_error`` at ``worst_at_tokens`` tokens; the in-sample row is marked
    ``held_out=False``) and the median ratio of the measured layer sum to its roofline. Every row
    names its ``source``."""
    p, e = _held_out_cached()
    return p.copy(), e.copy()


def held_out_summary():
    """A tidy table for the book: per device and judged set, the held-out errors of strength 1 and the
    measured-over-roofline ratio (the error of the bound itself)."""
    _, e = held_out()
    e = e[e.held_out]
    out = e.assign(Device=e.hardware, **{"Fit on": e["fit on"], "Judged on": e["judged on"]})
    out = out.rename(columns={"median_error": "Median error", "worst_error": "Worst error",
                              "median_roofline_ratio": "Measured / roofline (median)", "n": "Token counts"})
    out["Worst at (tokens)"] = e["worst_at_tokens"]
    return out[["Device", "Fit on", "Judged on", "Token counts", "Median error", "Worst error", "Worst at (tokens)",
                "Measured / roofline (median)"]].reset_index(drop=True)
