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
    out = []
    for i, name in enumerate(ops.names):
        item = {"name": name, "group": ops.groups[i], "kind": ops.kinds[i], "shape": ops.shape_at(i, sel[1:]),
                "scope": ops.scopes[i], "repeats": int(ops.repeats[i])}
        for k, arr in cols.items():
            item[k] = _clean(arr[i])
        if ops.kinds[i] == "comm":
            item["intensity"] = None
        item["time_total_s"] = item["time_s"] * item["repeats"]
        out.append(item)
    return out


def _totals(step, index=None) -> dict:
    keys = {"FLOP": "flops", "Bytes read (B)": "bytes_read", "Bytes written (B)": "bytes_written",
            "Link (B)": "comm_bytes", "Time (s)": "time_s", "Intensity (FLOP/B)": "intensity"}
    df = step.totals(index)
    return {row.replace(" (mean)", "").replace(" + ", "_and_").replace(" ", "_"):
            {keys[c]: _clean(df.loc[row, c]) for c in df.columns} for row in df.index}


def analysis_to_dict(a) -> dict:
    from . import __version__
    conv = a.conventions.to_dict()
    conv["description"] = a.conventions.describe()
    pre = a.prefill
    prefill = {"tokens": a.prompt_len, "past": 0, "flops": _clean(pre.flops), "bytes": _clean(pre.bytes),
               "time_s": _clean(pre.time_s), "bound": str(pre.bound), "totals": _totals(pre),
               "ops": _ops_list(pre)}
    if a.decode is not None:
        dec = a.decode
        ops = _ops_list(dec, 0)
        last = dec.op_time_s[:, -1]
        total = np.tensordot(np.ones(dec.op_time_s.shape[1]), dec.op_time_s.T, axes=(0, 0))
        for i, item in enumerate(ops):
            item["time_s_last_step"] = _clean(last[i])
            item["time_total_all_steps_s"] = _clean(total[i] * item["repeats"])
        decode = {"steps": a.n_decode_steps, "ops_at": "first decode step (per-op time_s); see time_s_last_step",
                  "context_first": int(dec.past[0]), "context_last": int(dec.past[-1]),
                  "flops_first": _clean(dec.flops[0]), "bytes_first": _clean(dec.bytes[0]),
                  "time_s_first": _clean(dec.time_s[0]), "time_s_last": _clean(dec.time_s[-1]),
                  "time_s_mean": _clean(dec.time_s.mean()), "bound_first": str(dec.bound[0]),
                  "totals_first": _totals(dec, 0), "ops": ops}
    else:
        decode = {"steps": 0, "ops": []}
    return {
        "llmperf_version": __version__,
        "conventions": conv,
        "setup": {k: _clean(v) for k, v in a.setup.to_dict().items()},
        "notes": a.setup.notes,
        "summary": {k: _clean(v) for k, v in a.summary.items()},
        "memory_message": a.memory_message(),
        "prefill": prefill,
        "decode": decode,
    }


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
    lines = [f"llmperf: {s['model']} on {s['hardware']} (tp={s['tp']}), batch {s['batch']}, prompt {s['prompt_len']}, "
             f"generate {s['gen_len']} tokens; weights {s['weight_dtype']}, activations {s['act_dtype']}, "
             f"KV {s['kv_dtype']}",
             f"conventions: {a.conventions.describe()}",
             f"times: {s['time_basis']}; bytes in decimal MB, memory in GiB"]
    if a.setup.tp > 1:
        link = a.setup.hardware.interconnect_bandwidth_bytes_per_s
        lines.append(f"tensor parallel over {a.setup.tp} devices: after attention and after the MLP of every layer an "
                     f"all-reduce of B*T*D activations sends 2(tp-1)/tp of their bytes per device (ring) over a "
                     f"{link / 1e9:.0f} GB/s link (per direction, efficiency {a.setup.comm_efficiency:g})")
    lines += [f"note: {n}" for n in a.setup.notes]
    if not a.fits:
        lines.append(f"WARNING: {a.memory_message()}")
    with pd.option_context("display.width", 250, "display.max_columns", 30, "display.max_colwidth", 48,
                           "display.float_format", lambda v: f"{v:,.4g}"):
        lines += ["", "PREFILL (one forward pass over the prompt; per-layer ops repeat L times)",
                  display_table(a.prefill_table()).to_string(index=False), "",
                  _totals_text(a.prefill.totals())]
        if a.decode is not None:
            lines += ["", f"DECODE, first step (context {int(a.decode.past[0])} cached tokens)",
                      display_table(a.decode_table("first")).to_string(index=False), "",
                      _totals_text(a.decode.totals(0))]
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
