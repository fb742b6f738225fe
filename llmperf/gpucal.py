"""Strength 1 of the "expected" mode on GPUs, fitted and judged on published per-operator profiles.

The numbers are Vidur's (Agrawal et al., MLSys 2024; https://github.com/microsoft/vidur,
MIT licence, ``llmperf/data/measurements/VIDUR_LICENSE``): the median GPU time of every
operator of one decoder layer, in fp16, at 259 token counts from 1 to 4096 (on to 32,768 for Llama-3) and
tensor-parallel degrees 1, 2, 4 and 8, on "a100" and "h100" machines, for the seven
Llama-shaped models of :data:`MODELS` (five on the H100: Vidur has no Llama-3 profile there).
The extract ``vidur_mlp.csv.gz`` keeps Vidur's rows as they are (``scripts/extract_vidur.py``
regenerates it); times are in milliseconds, as Vidur records them.

What Vidur times (``vidur/profiling/mlp/mlp_impl.py``): one layer of a reference model built
from sarathi-serve's layers with the dimensions of ``vidur/config/model_config.py`` (copied
into :data:`MODELS`), fp16, random weights, on one GPU with each weight already split ``tp``
ways (no communication): the fused QKV projection ``attn_pre_proj``, RoPE on q and k, the
output projection ``attn_post_proj``, the two RMSNorms, the fused gate and up projection
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
compute-bound, one that is memory-bound, or an elementwise operator, and ``t0`` is a fixed cost
per kernel (one kernel per operator). One more effect is physical and large on a GPU: **tile
quantization**. A GEMM kernel computes its output in tiles of ``tile`` rows; a product of
``n`` token rows runs ``ceil(n / tile)`` row tiles, so its arithmetic is that of
``ceil(n / tile) * tile`` rows (NVIDIA, *Matrix Multiplication Background User's Guide*,
"Tile Quantization"). The roofline of a product is taken at that padded row count (its bytes
are unchanged); ``tile = 1`` is the plain roofline. :func:`fit` fits the three efficiencies and
``t0`` for each candidate tile in :data:`TILES` by least squares on the **relative** error of
each layer sum (``0 < e <= 1``, ``t0 >= 0``; it calls :func:`llmperf.measure.fit_efficiencies`
with one case per layer sum, as a CPU fit has one case per step) and keeps the tile whose layer
sums fit the training set best. :func:`held_out` fits on one model, Llama-2-7B (at every ``tp``),
and judges the six other models, per device: it never sees their shapes.

What no class model can follow: cuBLAS picks a kernel (tile shape, split-K) per shape by
heuristics, and its choice changes at some token counts, in steps that differ from model to
model and from A100 to H100; the worst held-out errors sit at those steps.
"""
from __future__ import annotations

from functools import lru_cache
from importlib import resources

import numpy as np

__all__ = ["VIDUR_COMMIT", "SOURCE", "DATA_FILE", "DEVICES", "MODELS", "LABELS", "OPS", "CLASS_NAMES", "TILES",
           "TRAIN", "load_vidur", "vidur_config", "op_table", "tiled_roofline", "fit", "predict", "layer_sums",
           "held_out", "held_out_summary", "held_out_table", "expected_layer"]

VIDUR_COMMIT = "7d47513363ec447a741ac5e47241580b47724fbf"
DATA_FILE = "vidur_mlp.csv.gz"
SOURCE = (f"Vidur (Agrawal et al., MLSys 2024), github.com/microsoft/vidur @ {VIDUR_COMMIT[:12]}, "
          f"data/profiling/compute/*/*/mlp.csv (MIT licence), extract llmperf/data/measurements/{DATA_FILE}")

#: Vidur's device folders -> llmperf catalog devices (see the module docstring).
DEVICES = {"a100": "a100-sxm-80gb", "h100": "h100-sxm"}


def _dims(layers, heads, kv_heads, d_model, d_ff, vocab, rope_theta, qkv_bias=False):
    return {"num_hidden_layers": layers, "num_attention_heads": heads, "num_key_value_heads": kv_heads,
            "hidden_size": d_model, "intermediate_size": d_ff, "vocab_size": vocab, "rope_theta": rope_theta,
            "qkv_bias": qkv_bias}


#: Vidur's model ids -> the dimensions Vidur profiled them with (``vidur/config/model_config.py`` at
#: :data:`VIDUR_COMMIT`: layers, q heads, kv heads, embedding dim, MLP hidden dim, vocabulary, RoPE theta,
#: QKV bias). Every one is a Llama-shaped layer (RMSNorm, gated SiLU MLP, RoPE); Vidur's Qwen config adds
#: a bias to the QKV projection. The vocabulary does not enter a layer.
MODELS = {
    "meta-llama/Llama-2-7b-hf": _dims(32, 32, 32, 4096, 11008, 32768, 10000.0),
    "meta-llama/Llama-2-70b-hf": _dims(80, 64, 8, 8192, 28672, 32768, 10000.0),
    "meta-llama/Meta-Llama-3-8B": _dims(32, 32, 8, 4096, 14336, 128256, 500000.0),
    "meta-llama/Meta-Llama-3-70B": _dims(80, 64, 8, 8192, 28672, 128256, 500000.0),
    "codellama/CodeLlama-34b-Instruct-hf": _dims(48, 64, 8, 8192, 22016, 32768, 1000000.0),
    "internlm/internlm-20b": _dims(60, 40, 40, 5120, 13824, 103168, 10000.0),
    "Qwen/Qwen-72B": _dims(80, 64, 64, 8192, 24576, 152064, 1000000.0, qkv_bias=True),
}
#: Short names for tables.
LABELS = {"meta-llama/Llama-2-7b-hf": "Llama-2-7B", "meta-llama/Llama-2-70b-hf": "Llama-2-70B",
          "meta-llama/Meta-Llama-3-8B": "Llama-3-8B", "meta-llama/Meta-Llama-3-70B": "Llama-3-70B",
          "codellama/CodeLlama-34b-Instruct-hf": "CodeLlama-34B", "internlm/internlm-20b": "InternLM-20B",
          "Qwen/Qwen-72B": "Qwen-72B"}
#: Vidur's operators of one layer -> the llmperf operators each one fuses.
OPS = {"input_layernorm": ("input norm",), "attn_pre_proj": ("q_proj", "k_proj", "v_proj"),
       "attn_rope": ("rope",), "attn_post_proj": ("o_proj",), "post_attention_layernorm": ("post-attention norm",),
       "mlp_up_proj": ("gate_proj", "up_proj"), "mlp_act": ("silu x up",), "mlp_down_proj": ("down_proj",),
       "add": ("residual add (MLP)",)}
DTYPE = "fp16"  # Vidur profiles in torch.float16
CLASS_NAMES = {"linear, compute-bound": "GEMM, compute-bound", "linear, memory-bound": "GEMM, memory-bound",
               "other": "elementwise"}
#: Candidate GEMM row tiles (tokens); 1 is the plain roofline.
TILES = (1, 16, 32, 64, 128, 256)
#: What :func:`held_out` fits on: (model label, tp degrees).
TRAIN = ("Llama-2-7B", (1, 2, 4, 8))


def load_vidur():
    """The stored extract, one row per Vidur row (times in ms, as Vidur records them)."""
    import pandas as pd

    with resources.files("llmperf").joinpath("data", "measurements", DATA_FILE).open("rb") as f:
        return pd.read_csv(f, compression="gzip")


def vidur_config(model: str) -> dict:
    """A Hugging Face style ``config.json`` dict of the layer Vidur profiled as ``model`` (a key of
    :data:`MODELS`), for :func:`llmperf.models.load_model`."""
    d = dict(MODELS[model])
    qkv_bias = d.pop("qkv_bias")
    base = {"model_type": "qwen2", "use_sliding_window": False} if qkv_bias else \
        {"model_type": "llama", "attention_bias": False, "mlp_bias": False}
    return {**base, **d, "head_dim": d["hidden_size"] // d["num_attention_heads"], "hidden_act": "silu",
            "rms_norm_eps": 1e-5, "max_position_embeddings": 4096, "tie_word_embeddings": False,
            "torch_dtype": "float16"}


def _mapped(model: str, tp: int, tokens: np.ndarray) -> dict:
    """FLOP and bytes of each Vidur operator at each token count, from llmperf's operator list."""
    from .models import load_model
    from .ops import build_ops

    o = build_ops(load_model(vidur_config(model)), 1, np.asarray(tokens, float), 0, phase="prefill",
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
            frames.append(pd.DataFrame({
                "device": device, "hardware": DEVICES[device], "model": LABELS[model], "tp": int(tp),
                "num_tokens": g["num_tokens"].to_numpy(int), "op": op, "kind": x["kind"],
                "flops": np.broadcast_to(x["flops"], tokens.shape),
                "bytes": np.broadcast_to(x["bytes"], tokens.shape),
                "peak_flop_per_s": peak, "bandwidth_bytes_per_s": bw,
                "roofline_s": r["time_s"], "measured_s": g[f"{op}_ms"].to_numpy(float) * 1e-3}))
    return pd.concat(frames, ignore_index=True)


def op_table():
    """Every (device, model, tp, num_tokens, operator): its FLOP, bytes, the catalog device's fp16 peak and
    bandwidth, its roofline time there and Vidur's measured time (``measured_s``, seconds)."""
    return _op_table_cached().copy()


def tiled_roofline(rows, tile: int):
    """The roofline time of each operator in ``rows`` (of :func:`op_table`) with tile quantization, and its class.

    A matrix product of ``n`` token rows does the arithmetic of ``ceil(n / tile) * tile`` rows; its bytes are
    unchanged. Returns ``(time_s, cls)``: ``cls`` is ``"linear, compute-bound"`` or ``"linear, memory-bound"``
    (by the padded roofline) for a product and ``"other"`` for an elementwise operator."""
    n = rows["num_tokens"].to_numpy(float)
    mm = (rows["kind"] == "matmul").to_numpy()
    pad = np.where(mm, np.ceil(n / tile) * tile / n, 1.0)
    compute_s = rows["flops"].to_numpy(float) * pad / rows["peak_flop_per_s"].to_numpy(float)
    memory_s = rows["bytes"].to_numpy(float) / rows["bandwidth_bytes_per_s"].to_numpy(float)
    cls = np.where(~mm, "other", np.where(compute_s >= memory_s, "linear, compute-bound", "linear, memory-bound"))
    return np.maximum(compute_s, memory_s), cls


def _parts(rows, tile: int) -> list:
    t, cls = tiled_roofline(rows, tile)
    return [{"name": op, "repeats": 1.0, "roofline_s": float(x), "cls": c, "key": None}
            for op, x, c in zip(rows["op"], t, cls)]


def _fit_tile(train, tile: int) -> dict:
    from .measure import fit_efficiencies

    parts = _parts(train, tile)
    # one case per layer sum (the operators of one (model, tp, tokens) together), as on a CPU one case is a step
    key = list(zip(train["model"], train["tp"], train["num_tokens"]))
    groups, measured = {}, {}
    for k, p, m in zip(key, parts, train["measured_s"].to_numpy(float)):
        groups.setdefault(k, []).append(p)
        measured[k] = measured.get(k, 0.0) + m
    eff, t0 = fit_efficiencies(list(groups.values()), [measured[k] for k in groups])
    return {"efficiency": eff, "overhead_s": t0, "tile_tokens": int(tile)}


def fit(train, tiles=TILES) -> dict:
    """Fit strength 1 on the operators of ``train`` (rows of :func:`op_table`).

    For each candidate tile: least squares on the relative error of each layer sum (the operators of one
    (model, tp, num_tokens) together), ``(predicted - measured) / measured``, with ``0 < e <= 1`` and
    ``t0 >= 0`` (:func:`llmperf.measure.fit_efficiencies`). The tile kept is the one whose layer sums have
    the smallest root-mean-square relative error on ``train``. Returns
    ``{"efficiency": {class: e}, "overhead_s": t0, "tile_tokens": tile, "source": ...}`` in the classes
    of :data:`llmperf.measure.CLASSES` (attention, not profiled here, keeps 1)."""
    best, best_err = None, np.inf
    for tile in tiles:
        p = _fit_tile(train, tile)
        s = layer_sums(train, p)
        err = float(np.sqrt(np.mean(s["error"].to_numpy() ** 2)))
        if err < best_err:
            best, best_err = p, err
    return {**best, "source": SOURCE}


def predict(rows, params: dict) -> np.ndarray:
    """Strength 1's time of each operator in ``rows``: ``tiled roofline / e_class + t0``."""
    t, cls = tiled_roofline(rows, params.get("tile_tokens", 1))
    e = params["efficiency"]
    eff = np.array([e[c] for c in cls])
    return t / eff + params["overhead_s"]


def layer_sums(rows, params: dict | None = None):
    """Per (device, model, tp, num_tokens): the measured sum of the nine operators of one layer, its
    roofline and, with ``params``, strength 1's prediction and its relative error."""
    r = rows.copy()
    if params is not None:
        r["expected_s"] = predict(r, params)
    cols = ["measured_s", "roofline_s"] + (["expected_s"] if params is not None else [])
    s = r.groupby(["device", "hardware", "model", "tp", "num_tokens"], as_index=False, sort=False)[cols].sum()
    s["measured_over_roofline"] = s["measured_s"] / s["roofline_s"]
    if params is not None:
        s["error"] = s["expected_s"] / s["measured_s"] - 1.0
    return s


def expected_layer(rows, params: dict) -> float:
    """The same prediction for the operators of one layer (``rows``, one per operator) through
    :func:`llmperf.measure.expected_times`, strength 1: the fitted numbers go in unchanged."""
    from .measure import expected_times

    return expected_times(_parts(rows, params.get("tile_tokens", 1)), efficiency=params["efficiency"],
                          overhead_s=params["overhead_s"])["expected_s"]


def _sel(t, device, model, tps):
    return t[(t.device == device) & (t.model == model) & t.tp.isin(list(tps))]


def _worst(s):
    i = int(np.argmax(s["error"].abs().to_numpy()))
    return int(s["tp"].to_numpy()[i]), int(s["num_tokens"].to_numpy()[i])


@lru_cache(maxsize=None)
def _held_out_cached(tiles: tuple):
    import pandas as pd

    t = _op_table_cached()
    fm, ftp = TRAIN
    fit_on = f"{fm}, tp {'/'.join(map(str, ftp))}"
    fits, sums = [], []
    for device in DEVICES:
        train = _sel(t, device, fm, ftp)
        p = fit(train, tiles)
        fits.append({"device": device, "hardware": DEVICES[device], "fit on": fit_on,
                     **{CLASS_NAMES[c]: p["efficiency"][c] for c in CLASS_NAMES},
                     "overhead_s": p["overhead_s"], "tile_tokens": p["tile_tokens"], "params": p, "source": SOURCE})
        d = t[t.device == device]
        s = layer_sums(d, p)
        s["held_out"] = ~((s.model == fm) & s.tp.isin(list(ftp)))
        s["fit on"] = fit_on
        sums.append(s)
    return pd.DataFrame(fits), pd.concat(sums, ignore_index=True)


def held_out(tiles=TILES):
    """Fit on one model (:data:`TRAIN`: Llama-2-7B at every tp), judge on the six others, per device.

    Returns ``(params, sums)``: ``params`` one row per device with the fitted efficiencies (columns named by
    class), ``overhead_s``, the chosen ``tile_tokens`` and the raw ``params`` dict; ``sums`` one row per
    (device, model, tp, num_tokens) with the measured layer sum, its roofline, strength 1's prediction, the
    relative ``error`` and ``held_out`` (False on the training set). ``tiles=(1,)`` fits the plain roofline,
    without tile quantization. Every params row names its ``source``."""
    p, s = _held_out_cached(tuple(tiles))
    return p.copy(), s.copy()


def held_out_summary(tiles=TILES, by=("device", "model")):
    """Held-out errors of strength 1, one row per group of ``by`` (columns of :func:`held_out`'s sums):
    the number of layer sums, the median and worst absolute relative error, where the worst is (tp, tokens),
    the share of layer sums within 10 % and the median measured-over-roofline ratio. Fractions, not percent."""
    import pandas as pd

    _, s = held_out(tiles)
    s = s[s.held_out]
    rows = []
    for key, g in s.groupby(list(by), sort=False):
        key = key if isinstance(key, tuple) else (key,)
        e = g["error"].abs()
        tp, n = _worst(g)
        rows.append({**dict(zip(by, key)), "layer_sums": len(g), "median_error": float(e.median()),
                     "worst_error": float(e.max()), "worst_tp": tp, "worst_tokens": n,
                     "within_10pct": float((e <= 0.10).mean()),
                     "median_roofline_ratio": float(g["measured_over_roofline"].median())})
    return pd.DataFrame(rows)


def held_out_table(tiles=TILES, by=("device", "model")):
    """:func:`held_out_summary` for a reader: the catalog device, errors in per cent, where the worst one is,
    indexed by ``by`` (the device and the judged model by default)."""
    s = held_out_summary(tiles, by=by)
    s["device"] = s["device"].map(DEVICES)
    out = s.rename(columns={"device": "Device", "model": "Judged model", "layer_sums": "Layer sums"})
    out["Median error (%)"] = 100 * s["median_error"]
    out["Worst error (%)"] = 100 * s["worst_error"]
    out["Within 10 % (%)"] = 100 * s["within_10pct"]
    out["Worst at"] = [f"tp {a}, {b:,} tokens" for a, b in zip(s["worst_tp"], s["worst_tokens"])]
    out["Measured / roofline (median)"] = s["median_roofline_ratio"]
    index = [{"device": "Device", "model": "Judged model"}.get(b, b) for b in by]
    cols = ["Layer sums", "Median error (%)", "Worst error (%)", "Within 10 % (%)", "Worst at",
            "Measured / roofline (median)"]
    return out.set_index(index)[cols]
