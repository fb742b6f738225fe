"""Turning an :class:`~llmperf.analysis.Analysis` into JSON and readable text.

Internally everything is SI (FLOP, bytes, seconds). Conversion happens only
here, for display: decimal MB/GB for bytes moved, GiB for memory capacity.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

GiB = 2.0 ** 30


def _clean(v):
    """JSON-able scalar: numpy to Python, NaN/inf to None."""
    if isinstance(v, (np.generic, np.ndarray)):
        v = np.asarray(v).item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def _column(arr) -> list:
    """A numpy column as a list of Python values, NaN/inf as None."""
    a = np.asarray(arr)
    vals = a.tolist()
    if a.dtype.kind == "f":
        finite = np.isfinite(a)
        if not finite.all():
            vals = [v if f else None for v, f in zip(vals, finite.tolist())]
    return vals


def _ops_list(step, index=None):
    ops = step.ops
    sel = (slice(None),) if index is None else (slice(None), index)
    d = ops.data
    cols = {
        "flops": d["flops"][sel], "weight_bytes": d["weight_bytes"][sel], "act_bytes_read": d["act_bytes_read"][sel],
        "kv_bytes_read": d["kv_bytes_read"][sel], "bytes_read": ops.bytes_read[sel],
        "bytes_written": ops.bytes_written[sel], "kv_bytes_written": d["kv_bytes_written"][sel],
        "comm_bytes": d["comm_bytes"][sel], "intensity": step.op_intensity[sel], "bound": step.op_bound[sel],
        "time_s": step.op_time_s[sel], "time_peak_s": step.op_time_peak_s[sel],
    }
    bound = cols.pop("bound")
    stacked = np.stack([np.asarray(v, dtype=float) for v in cols.values()])   # one conversion for every column
    if np.isfinite(stacked).all():
        lists = dict(zip(cols, stacked.tolist()))
    else:
        lists = {k: _column(v) for k, v in zip(cols, stacked)}
    lists["bound"] = np.asarray(bound).tolist()
    repeats = [int(r) for r in ops.repeats.tolist()]
    keys = list(lists)
    out = []
    for i, row in enumerate(zip(*lists.values())):
        item = {"name": ops.names[i], "group": ops.groups[i], "kind": ops.kinds[i], "shape": ops.shape_at(i, sel[1:]),
                "scope": ops.scopes[i], "repeats": repeats[i]}
        item.update(zip(keys, row))
        if ops.kinds[i] == "comm":
            item["intensity"] = None
        t = item["time_s"]
        item["time_total_s"] = None if t is None else t * repeats[i]
        out.append(item)
    return out


def _totals(step, index=None) -> dict:
    """The rows of :meth:`StepResult.totals` as plain dicts (numpy only: no DataFrame for JSON)."""
    ops = step.ops
    sel = (slice(None),) if index is None else (slice(None), index)
    d = ops.data
    keys = ("flops", "bytes_read", "bytes_written", "comm_bytes", "time_s")
    F = np.stack([d["flops"][sel], ops.bytes_read[sel], ops.bytes_written[sel], d["comm_bytes"][sel],
                  step.op_time_s[sel]], axis=1)                                     # (n_ops, 5)
    layer = np.fromiter((sc == "layer" for sc in ops.scopes), bool, len(ops))
    rep = ops.repeats
    W = np.stack([rep * layer / step.setup.model.n_layers, rep * layer, rep * ~layer, rep])   # (4, n_ops)
    out = {}
    for label, row in zip(("one_layer", "all_layers", "embedding_and_head", "whole_step"), (W @ F).tolist()):
        item = dict(zip(keys, row))
        moved = item["bytes_read"] + item["bytes_written"]
        item["intensity"] = item["flops"] / moved if moved > 0 else None
        out[label] = {k: _clean(v) for k, v in item.items()}
    return out


def analysis_to_dict(a) -> dict:
    from . import __version__
    conv = a.conventions.to_dict()
    conv["description"] = a.conventions.describe()
    pre = a.prefill
    prefill = {"tokens": a.prompt_len, "past": 0, "flops": _clean(pre.flops), "bytes": _clean(pre.bytes),
               "time_s": _clean(pre.time_s), "bound": str(pre.bound), "totals": _totals(pre),
               "ops": _ops_list(pre)}
    ds = a.decode_summary
    if ds is not None:
        first, last = ds.first, ds.last
        ops = _ops_list(first)
        last_t = _column(last.op_time_s)
        all_t = _column(ds.op_time_total_s * first.ops.repeats)
        for i, item in enumerate(ops):
            item["time_s_last_step"] = last_t[i]
            item["time_total_all_steps_s"] = all_t[i]
        decode = {"steps": a.n_decode_steps, "ops_at": "first decode step (per-op time_s); see time_s_last_step",
                  "context_first": int(first.past), "context_last": int(last.past),
                  "flops_first": _clean(first.flops), "bytes_first": _clean(first.bytes),
                  "time_s_first": _clean(first.time_s), "time_s_last": _clean(last.time_s),
                  "time_s_mean": _clean(ds.time_total_s / ds.n_steps), "bound_first": str(first.bound),
                  "totals_first": _totals(first), "ops": ops}
    else:
        decode = {"steps": 0, "ops": []}
    return {
        "llmperf_version": __version__,
        "conventions": conv,
        "setup": {k: _clean(v) for k, v in a.setup.to_dict().items()},
        "notes": a.setup.notes,
        "warnings": a.warnings,
        "parallelism": parallel_formulas(a.setup),
        "summary": {k: _clean(v) for k, v in a.summary.items()},
        "memory_message": a.memory_message(),
        "prefill": prefill,
        "decode": decode,
    }


def parallel_formulas(setup) -> list[str]:
    """One sentence per kind of parallelism in use, with its communication formula."""
    link = setup.hardware.interconnect_bandwidth_bytes_per_s
    lk = f"over a {link / 1e9:.0f} GB/s link (per direction, efficiency {setup.comm_efficiency:g})" if link else ""
    m = setup.model
    out = []
    if setup.tp > 1:
        out.append(f"tensor parallel over {setup.tp} devices: after attention and after the MLP of every layer an "
                   f"all-reduce of B*T*D activations sends 2(tp-1)/tp of their bytes per device (ring) {lk}")
        if setup.tp > m.n_kv_heads:
            out.append(f"tp={setup.tp} is wider than the {m.n_kv_heads} KV heads: each KV head is replicated on "
                       f"tp/K = {setup.tp // m.n_kv_heads} devices; every device keeps one head's k/v weights and cache")
    if setup.pp > 1:
        from .parallel import bubble_fraction, pipeline_stage_layers
        out.append(f"pipeline parallel over {setup.pp} stages of at most {pipeline_stage_layers(m.n_layers, setup.pp)} "
                   f"layers: a step adds pp-1 = {setup.pp - 1} point-to-point sends of the B*T*D activations {lk}; "
                   f"with one batch in flight the bubble idles (pp-1)/(m+pp-1) = "
                   f"{bubble_fraction(setup.pp, 1):.3g} of device time (m = 1 micro-batch)")
    if setup.ep > 1:
        out.append(f"expert parallel over {setup.ep} devices (data-parallel attention, B/ep sequences each): every MoE "
                   f"layer's all-to-all sends (ep-1)/ep of the B/ep*T*k*D routed activations per device, dispatch and "
                   f"combine {lk}; each device holds E/ep = {m.n_experts // setup.ep} experts")
    return out


def _si(x, unit):
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "-"
    for f, p in ((1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= f:
            return f"{x / f:.3g} {p}{unit}"
    return f"{x:.3g} {unit}"


def _time(x):
    if x is None or not math.isfinite(x):
        return "-"
    if x >= 1:
        return f"{x:.3g} s"
    if x >= 1e-3:
        return f"{x * 1e3:.3g} ms"
    return f"{x * 1e6:.3g} µs"


def display_table(df: pd.DataFrame) -> pd.DataFrame:
    """An operator table with display units: MFLOP, MB (decimal), µs."""
    out = pd.DataFrame({
        "Operator": df["Operator"], "Shape": df["Shape"], "Repeats": df["Repeats"],
        "MFLOP": df["FLOP"] / 1e6,
        "Weights (MB)": df["Weights read (B)"] / 1e6, "Activations (MB)": df["Activations read (B)"] / 1e6,
        "KV read (MB)": df["KV read (B)"] / 1e6, "Written (MB)": df["Written (B)"] / 1e6,
        "Intensity (FLOP/B)": df["Intensity (FLOP/B)"].where(df["Bound"] != "link"),
        "Bound": df["Bound"], "Time (µs)": df["Time (s)"] * 1e6, "Total (ms)": df["Total time (s)"] * 1e3,
    })
    if not np.allclose(df["Time at peak (s)"], df["Time (s)"]):
        out.insert(out.columns.get_loc("Time (µs)"), "At peak (µs)", df["Time at peak (s)"] * 1e6)
    if (df["Link (B)"] > 0).any():
        out.insert(8, "Link (MB)", df["Link (B)"] / 1e6)
    return out


def _totals_text(df: pd.DataFrame) -> str:
    out = pd.DataFrame({"GFLOP": df["FLOP"] / 1e9, "Read (MB)": df["Bytes read (B)"] / 1e6,
                        "Written (MB)": df["Bytes written (B)"] / 1e6,
                        "Intensity (FLOP/B)": df["Intensity (FLOP/B)"], "Time (ms)": df["Time (s)"] * 1e3})
    return out.to_string()


def format_report(a) -> str:
    s = a.summary
    par = ", ".join(f"{k}={s[k]}" for k in ("tp", "pp", "ep") if k == "tp" or s.get(k, 1) > 1)
    lines = [f"llmperf: {s['model']} on {s['hardware']} ({par}), batch {s['batch']}, prompt {s['prompt_len']}, "
             f"generate {s['gen_len']} tokens; weights {s['weight_dtype']}, activations {s['act_dtype']}, "
             f"KV {s['kv_dtype']}",
             f"conventions: {a.conventions.describe()}",
             f"times: {s['time_basis']}; bytes in decimal MB, memory in GiB"]
    lines += parallel_formulas(a.setup)
    lines += [f"note: {n}" for n in a.setup.notes]
    lines += [f"warning: {w}" for w in a.warnings]
    if not a.fits:
        lines.append(f"WARNING: {a.memory_message()}")
    with pd.option_context("display.width", 250, "display.max_columns", 30, "display.max_colwidth", 48,
                           "display.float_format", lambda v: f"{v:,.4g}"):
        lines += ["", "PREFILL (one forward pass over the prompt; per-layer ops repeat L times)",
                  display_table(a.prefill_table()).to_string(index=False), "",
                  _totals_text(a.prefill.totals())]
        if a.decode_summary is not None:
            first = a.decode_summary.first
            lines += ["", f"DECODE, first step (context {int(first.past)} cached tokens)",
                      display_table(first.table()).to_string(index=False), "",
                      _totals_text(first.totals())]
    lines += ["", "SUMMARY",
              f"  parameters            {s['params_total'] / 1e9:.4g} B total, {s['params_active'] / 1e9:.4g} B active per token",
              f"  weights               {s['weight_bytes'] / GiB:.3f} GiB per device",
              f"  KV cache              {s['kv_cache_bytes_per_token'] / 2**10:.4g} KiB per token; "
              f"{s['kv_cache_bytes'] / GiB:.3f} GiB at {s['kv_cache_context_tokens']} tokens x batch {s['batch']}",
              f"  activation peak       {s['activation_peak_bytes'] / GiB:.3f} GiB",
              f"  memory                {a.memory_message()}",
              f"  prefill FLOPs         {_si(s['prefill_flops'], 'FLOP')}",
              f"  decode FLOPs (step 1) {_si(s['decode_flops_first_step'], 'FLOP')}",
              f"  TTFT                  {_time(s['ttft_s'])}",
              f"  TPOT                  mean {_time(s['tpot_s'])}, first {_time(s['tpot_first_s'])}, "
              f"last {_time(s['tpot_last_s'])} ({s['decode_steps']} decode steps)",
              f"  end-to-end latency    {_time(s['e2e_latency_s'])}",
              f"  throughput            {s['throughput_tokens_per_s']:.4g} tokens/s (generated tokens / end-to-end)",
              f"  max batch             {s['max_batch']}"]
    return "\n".join(lines)
