"""The engineer's one-page report: one self-contained, offline HTML file per workload.

``python -m llmperf report --model M --hardware H [workload flags] --out report.html``
writes a page with the summary, memory and the largest batch that fits,
breakdown charts of parameters, FLOP, bytes and time by operator group (prefill
and decode), the layer graph of one decoder layer, the per-operator tables of
prefill and of the first decode step, and, when asked, the serving figures.

Everything the page needs is inside it: the Vega libraries are inlined (from
the JavaScript that vl-convert-python carries), styles are inline, and nothing
is loaded from the network. Needs the ``book`` extras (Altair, vl-convert).
"""
from __future__ import annotations

import functools
import html
import json

import numpy as np

from .analysis import analyze
from .book import significant, tidy

__all__ = ["report_html", "write_report"]

_CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
h1{font-size:1.6em} h2{font-size:1.25em;margin-top:2em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:.85em;margin:.5em 0} td,th{border:1px solid #ddd;padding:2px 6px;text-align:right}
th{background:#f4f4f4} td:first-child,th:first-child{text-align:left}
.warn{background:#fff3cd;border:1px solid #e0c060;padding:.5em 1em} .ok{background:#e8f5e9;border:1px solid #8bc34a;padding:.5em 1em}
.note{color:#555;font-size:.9em} .scroll{overflow-x:auto}
"""


def _fmt_bytes(x):
    return f"{significant(x / 1e9)} GB" if x >= 1e8 else f"{significant(x / 1e6)} MB"


def _fmt_time(s):
    return f"{significant(s * 1e3)} ms" if s >= 1e-3 else f"{significant(s * 1e6)} µs"


def _summary_rows(a) -> list[tuple[str, str]]:
    s = a.summary
    rows = [
        ("Model", str(s["model"])), ("Device", str(s["hardware"])),
        ("Workload", f"batch {s['batch']}, prompt {s['prompt_len']:,} tokens, {s['gen_len']:,} generated"),
        ("Parameters (total / active)", f"{int(s['params_total']):,} / {int(s['params_active']):,}"),
        ("Data types", f"weights {s['weight_dtype']}, activations {s['act_dtype']}, KV cache {s['kv_dtype']}"),
        ("Weight memory", f"{significant(s['weight_bytes'] / 2**30)} GiB"),
        ("KV cache per token", f"{significant(s['kv_cache_bytes_per_token'] / 2**10)} KiB"),
        ("KV cache (whole batch, final length)", f"{significant(s['kv_cache_bytes'] / 2**30)} GiB"),
        ("Activation peak", f"{significant(s['activation_peak_bytes'] / 2**30)} GiB"),
        ("Memory needed / capacity (per device)",
         f"{significant(s['memory_total_bytes'] / 2**30)} / {significant(s['memory_capacity_bytes'] / 2**30)} GiB"),
        ("Largest batch that fits", f"{int(s['max_batch']):,}"),
        ("TTFT (prefill)", _fmt_time(s["ttft_s"])),
        ("TPOT (mean decode step)", _fmt_time(s["tpot_s"])),
        ("TPOT first / last step", f"{_fmt_time(s['tpot_first_s'])} / {_fmt_time(s['tpot_last_s'])}"),
        ("End-to-end latency", _fmt_time(s["e2e_latency_s"])),
        ("Throughput (generated tokens/s)", significant(s["throughput_tokens_per_s"])),
        ("Times are", str(s["time_basis"])),
    ]
    conv = s.get("conventions")
    if isinstance(conv, dict):
        rows.append(("Conventions", ", ".join(f"{k}: {v}" for k, v in conv.items())))
    elif conv:
        rows.append(("Conventions", str(conv)))
    return rows


def _table_html(rows) -> str:
    body = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in rows)
    return f"<table>{body}</table>"


def _op_table(df) -> str:
    out = df[["Operator", "Group", "Shape", "Repeats"]].copy()
    out["GFLOP"] = df["FLOP"] / 1e9
    out["Weights read (MB)"] = df["Weights read (B)"] / 1e6
    out["Activations read (MB)"] = df["Activations read (B)"] / 1e6
    out["KV read (MB)"] = df["KV read (B)"] / 1e6
    out["Written (MB)"] = df["Written (B)"] / 1e6
    out["Intensity (FLOP/B)"] = df["Intensity (FLOP/B)"]
    out["Bound"] = df["Bound"]
    out["Time (µs)"] = df["Time (s)"] * 1e6
    out["Total time (µs)"] = df["Total time (s)"] * 1e6
    shown = tidy(out, digits=3, int_columns=["Repeats"])
    return '<div class="scroll">' + shown.to_html(index=False, escape=True, border=0) + "</div>"


def _group_totals(df) -> dict:
    """Per operator group: FLOP, bytes moved, time and weight bytes of the whole step (repeats counted)."""
    rep = df["Repeats"].to_numpy(dtype=float)
    moved = (df["Weights read (B)"] + df["Activations read (B)"] + df["KV read (B)"] + df["Written (B)"]).to_numpy()
    fields = {"FLOP": df["FLOP"].to_numpy(), "Bytes moved": moved, "Time": df["Time (s)"].to_numpy(),
              "Weight bytes": df["Weights read (B)"].to_numpy()}
    out = {}
    for g in dict.fromkeys(df["Group"]):
        mask = (df["Group"] == g).to_numpy()
        out[g] = {k: float(np.sum(rep[mask] * v[mask])) for k, v in fields.items()}
    return out


def _group_scale(groups):
    """The same colour for an operator group in every chart of the page."""
    import altair as alt

    from .charts import PALETTE

    groups = list(dict.fromkeys(groups))
    return alt.Scale(domain=groups, range=[PALETTE[i % len(PALETTE)] for i in range(len(groups))])


def _breakdown_spec(a) -> dict:
    import altair as alt
    import pandas as pd

    rows = []
    tables = [("prefill", a.prefill_table())]
    if a.decode is not None:
        tables.append(("decode (first step)", a.decode_table("first")))
    for phase, table in tables:
        for g, vals in _group_totals(table).items():
            for metric, v in vals.items():
                if metric == "Weight bytes":
                    metric = "Weights (bytes)"
                rows.append({"phase": phase, "group": g, "metric": metric, "value": v})
    df = pd.DataFrame(rows)
    df["share"] = df["value"] / df.groupby(["phase", "metric"])["value"].transform("sum").replace(0, np.nan)
    df["share"] = df["share"].fillna(0.0)
    pick = alt.param(name="metric_pick", value="Time",
                     bind=alt.binding_select(options=["Time", "FLOP", "Bytes moved", "Weights (bytes)"],
                                             name="Breakdown of "))
    chart = alt.Chart(df).mark_bar().encode(
        y=alt.Y("phase:N", title=None),
        x=alt.X("sum(share):Q", title="share of the step", axis=alt.Axis(format="%")),
        color=alt.Color("group:N", title="operator group", scale=_group_scale(a.prefill_table()["Group"])),
        tooltip=["phase", "group", "metric", alt.Tooltip("value:Q", format=".4~s"), alt.Tooltip("share:Q", format=".1%")],
    ).add_params(pick).transform_filter("datum.metric == metric_pick").properties(width=700, height=90)
    return chart.to_dict()


def _layer_graph_spec(table) -> dict:
    """One decoder layer as a graph: its operators top to bottom, data flow and residual connections."""
    import altair as alt
    import pandas as pd

    layer = table[table["Repeats"] > 1] if (table["Repeats"] > 1).any() else table
    rows, seen = [], set()
    for _, r in layer.iterrows():  # operators of one layer, in order
        if r["Operator"] in seen:
            break
        seen.add(r["Operator"])
        rows.append(r)
    names = [str(r["Operator"]) for r in rows]
    n = len(names)
    nodes = pd.DataFrame({"y": np.arange(n), "x": 0.0, "name": names, "shape": [str(r["Shape"]) for r in rows],
                          "group": [str(r["Group"]) for r in rows]})
    edges = [{"y": i, "y2": i + 1, "x": 0.0, "x2": 0.0, "kind": "data flow"} for i in range(n - 1)]
    last_input, k = -0.5, 0  # the residual stream enters the layer above its first operator
    for i, nm in enumerate(names):
        if "residual" in nm:
            x = 0.5 + 0.15 * (k % 2)
            edges.append({"y": last_input, "y2": i, "x": x, "x2": x, "kind": "residual"})
            last_input, k = i, k + 1
    ed = pd.DataFrame(edges)
    ys = alt.Scale(domain=[-1, n], reverse=True)
    xs = alt.Scale(domain=[-1.5, 1.5])
    flow = alt.Chart(ed).mark_rule(strokeWidth=2).encode(
        x=alt.X("x:Q", axis=None, scale=xs), x2="x2:Q", y=alt.Y("y:Q", axis=None, scale=ys), y2="y2:Q",
        color=alt.Color("kind:N", title="edge", scale=alt.Scale(domain=["data flow", "residual"],
                                                                   range=["#999999", "#d62728"])))
    boxes = alt.Chart(nodes).mark_point(shape="square", size=250, filled=True, opacity=1).encode(
        x=alt.X("x:Q", axis=None, scale=xs), y=alt.Y("y:Q", axis=None, scale=ys),
        fill=alt.Fill("group:N", title="operator group", scale=_group_scale(table["Group"])),
        tooltip=["name", "shape", "group"])
    labels = alt.Chart(nodes).mark_text(align="left", dx=12, fontSize=12).encode(
        x=alt.X("x:Q", axis=None, scale=xs), y=alt.Y("y:Q", axis=None, scale=ys), text="name:N")
    shapes_t = alt.Chart(nodes).mark_text(align="right", dx=-12, fontSize=10, color="#555").encode(
        x=alt.X("x:Q", axis=None, scale=xs), y=alt.Y("y:Q", axis=None, scale=ys), text="shape:N")
    return alt.layer(flow, boxes, labels, shapes_t).properties(width=800, height=26 * n + 40).to_dict()


def _memory_spec(a) -> dict:
    import altair as alt
    import pandas as pd

    s = a.summary
    df = pd.DataFrame({"part": ["weights", "KV cache", "activations"],
                       "GiB": [s["weight_bytes"] / 2**30, s["kv_cache_bytes"] / 2**30,
                               s["activation_peak_bytes"] / 2**30]})
    cap = s["memory_capacity_bytes"] / 2**30
    bars = alt.Chart(df).mark_bar().encode(x=alt.X("sum(GiB):Q", title="GiB per device"), color="part:N",
                                            tooltip=["part", alt.Tooltip("GiB:Q", format=".3~f")])
    rule = alt.Chart(pd.DataFrame({"cap": [cap]})).mark_rule(color="black", strokeWidth=2).encode(x="cap:Q")
    return alt.layer(bars, rule).properties(width=700, height=60).to_dict()


@functools.lru_cache(maxsize=1)
def _vega_script() -> str:
    from .charts.bundle import build_bundle

    return build_bundle().replace("</script", "<\\/script")


def _embed(div_id: str, spec: dict) -> str:
    return (f'<div id="{div_id}"></div>\n<script>vegaEmbed("#{div_id}", {json.dumps(spec)}, '
            '{"actions": false, "renderer": "svg"}).catch(function (e) { console.error(e); });</script>')


def report_html(model, hardware, *, batch: int = 1, prompt_len: int = 1024, gen_len: int = 128,
                serving_rates=None, **opts) -> str:
    """The report page for one workload, as a string (see the module docstring)."""
    a = analyze(model, hardware, batch=batch, prompt_len=prompt_len, gen_len=gen_len, **opts)
    s = a.summary
    title = f"llmperf report: {s['model']} on {s['hardware']}"
    parts = [f"<h1>{html.escape(title)}</h1>"]
    fit_msg = a.memory_message()
    parts.append(f'<p class="{"ok" if a.fits else "warn"}">{html.escape(fit_msg)}</p>')
    for w in getattr(a, "warnings", []) or []:
        parts.append(f'<p class="warn">{html.escape(str(w))}</p>')
    parts += ["<h2>Summary</h2>", _table_html(_summary_rows(a)),
              '<p class="note">Memory in GiB (2<sup>30</sup> bytes); bytes moved in decimal MB/GB. '
              'TPOT is the mean decode-step time over the generated tokens after the first.</p>',
              "<h2>Memory</h2>", '<p class="note">Per device; the black line is the device memory.</p>',
              _embed("memory", _memory_spec(a)),
              "<h2>Where the work goes</h2>",
              '<p class="note">Share of each operator group in the prefill and in the first decode step; '
              'choose the quantity in the dropdown.</p>', _embed("breakdown", _breakdown_spec(a)),
              "<h2>One decoder layer</h2>",
              '<p class="note">Operators of the first decoder layer, top to bottom, with their shapes (per device); '
              'dashed red lines are the residual connections.</p>', _embed("layer", _layer_graph_spec(a.prefill_table())),
              "<h2>Prefill, per operator</h2>", _op_table(a.prefill_table())]
    if a.decode is not None:
        parts += ["<h2>First decode step, per operator</h2>", _op_table(a.decode_table("first"))]
    if serving_rates is not None:
        from .serving import continuous_batching

        step_opts = {k: v for k, v in opts.items() if k != "memory_fraction"}  # a step has no memory budget
        r = continuous_batching(model, hardware, serving_rates, prompt_len, gen_len, **step_opts)
        import pandas as pd

        t = pd.DataFrame({"Arrival rate (requests/s)": r["arrival_rate"], "Running sequences": r["batch"],
                          "TPOT (ms)": r["step_s"] * 1e3, "TTFT (ms)": r["ttft_s"] * 1e3,
                          "Generated tokens/s": np.where(r["stable"], r["tokens_per_s"], np.nan),
                          "Stable": np.where(r["stable"], "yes", "no (queue grows)")})
        parts += ["<h2>Serving a stream of requests (continuous batching)</h2>",
                  tidy(t).to_html(index=False, border=0),
                  '<p class="note">A dash: the device cannot keep up at that rate. Assumptions: '
                  + html.escape("; ".join(r.assumptions)) + ".</p>"]
    bundle = _vega_script()
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(title)}</title><style>{_CSS}</style>\n<script>{bundle}</script></head>\n"
            "<body>\n" + "\n".join(parts) + "\n</body></html>\n")


def write_report(path, model, hardware, **kw) -> str:
    """Write :func:`report_html` to ``path``; returns the path."""
    text = report_html(model, hardware, **kw)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return str(path)
