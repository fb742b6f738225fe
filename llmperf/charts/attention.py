"""Charts of the attention-share chapter (``book/attention_share.ipynb``).

Both charts take tables precomputed by :mod:`llmperf.share`; their dropdowns
and sliders are Altair parameters that run in the reader's browser.
"""
from __future__ import annotations

import altair as alt
import pandas as pd

from . import PALETTE, dropdown, slider


def share_vs_context_chart(data: pd.DataFrame, width: int = 420, height: int = 300) -> alt.HConcatChart:
    """Attention share against context, one line per model.

    ``data``: :func:`llmperf.share.chart_data` (columns model, phase, definition,
    log2_context, context, share). A dropdown picks the phase, another the
    definition of attention; a slider over log2(context) marks one context and
    lists each model's share there, beside the plot.
    """
    phases = list(dict.fromkeys(data["phase"]))
    defs = list(dict.fromkeys(data["definition"]))
    lo, hi = float(data["log2_context"].min()), float(data["log2_context"].max())
    steps = sorted(set(data["log2_context"]))
    step = min(b - a for a, b in zip(steps, steps[1:])) if len(steps) > 1 else 1.0
    mid = steps[len(steps) // 2]
    phase = dropdown("phase", phases, phases[0], "phase ")
    definition = dropdown("definition", defs, defs[0], "attention = ")
    point = slider("log2_context", lo, hi, step, mid, "log2 of context S ")
    models = list(dict.fromkeys(data["model"]))
    color = alt.Color("model:N", scale=alt.Scale(domain=models, range=PALETTE[:len(models)]),
                      legend=None)  # the read-out names the models
    base = alt.Chart(data).transform_filter(
        (alt.datum.phase == phase) & (alt.datum.definition == definition))
    x = alt.X("context:Q", scale=alt.Scale(type="log", base=2), title="context S (tokens, log scale)",
              axis=alt.Axis(values=[2 ** k for k in range(int(lo), int(hi) + 1)],
                            labelExpr="datum.value >= 1024 ? datum.value / 1024 + 'k' : datum.value"))
    y = alt.Y("share:Q", axis=alt.Axis(format="%"), scale=alt.Scale(domain=[0, 1]),
              title="share of layer FLOP (attention + MLP)")
    lines = base.mark_line().encode(x=x, y=y, color=color,
                                    tooltip=["model:N", "context:Q", alt.Tooltip("share:Q", format=".1%")])
    at = base.transform_filter(alt.datum.log2_context == point)
    dots = at.mark_point(filled=True, size=60).encode(x=x, y=y, color=color,
                                                      tooltip=["model:N", "context:Q",
                                                               alt.Tooltip("share:Q", format=".1%")])
    rule = at.mark_rule(color="gray", strokeDash=[4, 3]).encode(x=x)
    half = alt.Chart(pd.DataFrame({"share": [0.5]})).mark_rule(color="black", opacity=0.4).encode(y="share:Q")
    main = alt.layer(lines, half, rule, dots).properties(width=width, height=height)
    # read-out beside the plot: each model's share at the marked context, largest first
    readout = at.transform_calculate(
        label=alt.expr.format(alt.datum.share, ".1%") + "  " + alt.datum.model,
        ctx="'S = ' + datum.context",
    ).mark_text(align="left", fontSize=12).encode(
        y=alt.Y("model:N", sort=alt.EncodingSortField("share", order="descending"), axis=None),
        x=alt.value(0), text="label:N", color=alt.Color("model:N", scale=alt.Scale(domain=models, range=PALETTE[:len(models)]),
                                        legend=None),
    ).properties(width=150, height=min(height, 24 * len(models)), title=alt.Title("share at the marked S", anchor="start"))
    return (alt.hconcat(main, readout).add_params(phase, definition, point)
            .properties(title="Attention share of layer FLOP against context (llmperf counts)"))


def time_vs_flop_chart(data: pd.DataFrame, title: str = "Decode: the core's time share against its FLOP share",
                       width: int = 480, height: int = 280) -> alt.Chart:
    """FLOP share and roofline-time share of the attention core in decode, against batch.

    ``data``: :func:`llmperf.share.time_vs_flop_share` over a batch x context
    grid plus a ``log2_context`` column. A slider picks the context; hollow
    points are batches whose KV cache does not fit in the device's memory
    (column ``fits``; all filled when the table has none).
    """
    data = data.copy()
    if "fits" not in data:
        data["fits"] = True
    data["memory"] = data["fits"].map({True: "fits", False: "does not fit"})
    long = data.melt(id_vars=["batch", "context", "log2_context", "memory"],
                     value_vars=["core_flop_share", "core_time_share"], var_name="measure", value_name="share")
    long["measure"] = long["measure"].map({"core_flop_share": "FLOP share", "core_time_share": "time share"})
    steps = sorted(set(long["log2_context"]))
    step = min(b - a for a, b in zip(steps, steps[1:])) if len(steps) > 1 else 1.0
    ctx = slider("log2_context_t", steps[0], steps[-1], step, steps[len(steps) // 2], "log2 of context S ")
    base = alt.Chart(long).transform_filter(alt.datum.log2_context == ctx)
    x = alt.X("batch:Q", scale=alt.Scale(type="log", base=2), title="batch B (log scale)",
              axis=alt.Axis(values=sorted(set(long["batch"]))))
    y = alt.Y("share:Q", axis=alt.Axis(format="%"), scale=alt.Scale(domain=[0, 1]),
              title="attention core, share of the layers")
    color = alt.Color("measure:N", scale=alt.Scale(domain=["FLOP share", "time share"],
                                                   range=[PALETTE[7], PALETTE[3]]), title="")
    tooltip = ["batch:Q", "context:Q", "measure:N", alt.Tooltip("share:Q", format=".1%"),
               alt.Tooltip("memory:N", title="KV cache")]
    line = base.mark_line().encode(x=x, y=y, color=color)
    points = base.mark_point(size=50).encode(
        x=x, y=y, color=color, tooltip=tooltip,
        fill=alt.condition(alt.datum.memory == "fits",
                          alt.Color("measure:N", scale=alt.Scale(domain=["FLOP share", "time share"],
                                                                 range=[PALETTE[7], PALETTE[3]]), legend=None),
                          alt.value("white")))
    return (line + points).add_params(ctx).properties(
        width=width, height=height,
        title=alt.Title(title, subtitle="hollow points: the KV cache does not fit in the device's memory"))
