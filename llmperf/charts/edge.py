"""Charts of the edge chapter: the decode ceiling per device, and what fits in memory.

Both draw tables that :mod:`llmperf.edge` computed beforehand; the dropdowns and
sliders are Altair parameters, so they work in the static page.
"""
from __future__ import annotations

import altair as alt
import pandas as pd

from . import dropdown, log_scale, slider


def ceiling_chart(table: pd.DataFrame, width: int = 360, height: int = 320) -> alt.LayerChart:
    """Tokens/s ceiling against model size, one line per device.

    ``table`` is :func:`llmperf.edge.ceiling_table`. A dropdown picks the weight
    precision, a slider scales the ceiling by the bandwidth efficiency actually
    sustained (tokens/s = efficiency x bandwidth / bytes per token), and a
    second slider draws a target speed as a horizontal rule. A configuration
    that does not fit in the usable memory (``fits`` False) is drawn as a
    cross instead of a dot and says so in its tooltip: its ceiling is a number on paper.
    """
    table = table.assign(fits=table["fits"].map({True: "yes", False: "no"}))
    data = table[["model", "Params (billions)", "device", "weights", "weights read (GB)", "KV read (GB)",
                  "ceiling (tokens/s)", "fits"]].rename(columns={
                      "Params (billions)": "params_b", "weights read (GB)": "weights_gb", "KV read (GB)": "kv_gb",
                      "ceiling (tokens/s)": "ceiling"})
    dtypes = list(dict.fromkeys(data["weights"]))
    prec = dropdown("weights", dtypes, value="int4" if "int4" in dtypes else dtypes[0], label="weights ")
    eff = slider("efficiency", 0.3, 1.0, 0.05, 1.0, label="bandwidth efficiency ")
    target = slider("target", 1, 100, 1, 20, label="target tokens/s ")
    devices = list(dict.fromkeys(data["device"]))
    base = alt.Chart(data).transform_filter(alt.datum.weights == prec).transform_calculate(
        tps=alt.datum.ceiling * eff)
    x = alt.X("params_b:Q", title="parameters (billions)", scale=log_scale([0.3, 20]))
    y = alt.Y("tps:Q", title="batch-1 decode ceiling (tokens/s)", scale=log_scale([0.1, 2000]))
    # 20 distinct colours (the book's 10-colour palette would repeat for 11 devices)
    color = alt.Color("device:N", scale=alt.Scale(domain=devices, scheme="tableau20"),
                      legend=alt.Legend(labelLimit=150, title="device"))
    tooltip = ["model:N", "device:N", "weights:N",
               alt.Tooltip("params_b:Q", title="params (billions)", format=".2f"),
               alt.Tooltip("weights_gb:Q", title="weights read (GB)", format=".2f"),
               alt.Tooltip("kv_gb:Q", title="KV read (GB)", format=".3f"),
               alt.Tooltip("tps:Q", title="tokens/s", format=".1f"),
               alt.Tooltip("fits:N", title="fits in usable memory")]
    line = base.mark_line(clip=True).encode(x=x, y=y, color=color)
    points = base.mark_point(clip=True, size=45, filled=True).encode(
        x=x, y=y, color=color, tooltip=tooltip,
        shape=alt.Shape("fits:N", scale=alt.Scale(domain=["yes", "no"], range=["circle", "cross"]),
                        legend=alt.Legend(title="fits in usable memory")))
    lines = alt.layer(line, points)
    rule = alt.Chart(pd.DataFrame({"one": [0]})).transform_calculate(t=str(target.name)).mark_rule(
        strokeDash=[6, 4], color="black").encode(y=alt.Y("t:Q", scale=log_scale([0.1, 2000])))
    return alt.layer(lines, rule).add_params(prec, eff, target).properties(
        width=width, height=height,
        title="Batch-1 decode ceiling: bandwidth x efficiency / (weights + KV read per token)")


def fits_chart(table: pd.DataFrame, width: int = 420, height: int = 330) -> alt.LayerChart:
    """Which model fits which device: a grid coloured by fits / does not fit.

    ``table`` is :func:`llmperf.edge.fits_table` (memory needed per model, dtype
    and device). A dropdown picks the weight precision, a slider the usable
    share of device memory; a cell fits when needed <= share x device memory,
    the same test as ``analyze(..., memory_fraction=share).summary['fits']``.
    """
    data = table[["model", "Params (billions)", "weights", "device", "needed (GiB)", "device memory (GiB)"]].rename(
        columns={"Params (billions)": "params_b", "needed (GiB)": "needed", "device memory (GiB)": "mem"})
    dtypes = list(dict.fromkeys(data["weights"]))
    prec = dropdown("fit_weights", dtypes, value="int4" if "int4" in dtypes else dtypes[0], label="weights ")
    frac = slider("usable", 0.2, 1.0, 0.05, 0.5, label="usable share of memory ")
    models = list(dict.fromkeys(data["model"]))
    devices = list(dict.fromkeys(data["device"]))
    base = alt.Chart(data).transform_filter(alt.datum.weights == prec).transform_calculate(
        usable=alt.datum.mem * frac,
        fits=alt.expr.if_(alt.datum.needed <= alt.datum.mem * frac, "fits", "does not fit"))
    enc = dict(x=alt.X("device:N", sort=devices, title=None, axis=alt.Axis(labelAngle=-40)),
               y=alt.Y("model:N", sort=models, title=None))
    cells = base.mark_rect(stroke="white").encode(
        **enc, color=alt.Color("fits:N", scale=alt.Scale(domain=["fits", "does not fit"],
                                                          range=["#2ca02c", "#dddddd"]), title=None),
        tooltip=["model:N", "device:N", "weights:N", alt.Tooltip("needed:Q", title="needed (GiB)", format=".2f"),
                 alt.Tooltip("usable:Q", title="usable (GiB)", format=".2f")])
    text = base.mark_text(fontSize=9).encode(**enc, text=alt.Text("needed:Q", format=".1f"))
    return alt.layer(cells, text).add_params(prec, frac).properties(
        width=width, height=height, title="Memory needed (GiB, in each cell) against the usable share of memory")
