"""Charts of the roofline chapter, built from tables that :mod:`llmperf.rooflines` computed.

Every parameter (slider, dropdown) runs in the reader's browser: the charts
filter precomputed rows, so they stay interactive in the static book.
"""
from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd

from . import PALETTE, bound_scale, dropdown, slider
from .. import rooflines as R

#: Operators named on the decode roofline chart, with their label. The other
#: operators are drawn too, with a tooltip only.
LABELS = {"whole step": "whole step", "lm_head": "lm_head", "gate_proj": "gate/up/down_proj",
          "q_proj": "q/o_proj", "k_proj": "k/v_proj", "attention (fused)": "attention", "input norm": "norms"}
#: Vertical stagger of the labels (a factor on the log axis), so that labels of
#: operators sitting at the same intensity do not overprint.
_STAGGER = {"whole step": 0.42, "lm_head": 3.4, "gate_proj": 2.1, "q_proj": 1.35, "k_proj": 0.68,
            "attention (fused)": 1.0, "input norm": 1.0}
#: Labels drawn to the left of their point (the others go to the right).
_LEFT = ("input norm",)


def ridge_chart(table: pd.DataFrame | None = None, value: str = "16-bit (bf16/fp16)") -> alt.Chart:
    """Horizontal bars of every catalog device's ridge point, coloured by category,
    with a dropdown choosing the precision (from :func:`llmperf.rooflines.ridge_long`)."""
    long = R.ridge_long() if table is None else table
    prec = dropdown("precision", ["16-bit (bf16/fp16)", "fp8", "int8"], value, label="precision ")
    base = alt.Chart(long).transform_filter(alt.datum.Precision == prec)
    y = alt.Y("name:N", sort="-x", title=None)
    bars = base.mark_bar().encode(
        x=alt.X("Ridge (FLOP/B):Q", title="Ridge point (FLOP/B; OP/B for int8)"),
        y=y,
        color=alt.Color("Category:N", scale=alt.Scale(domain=["datacenter", "workstation", "edge"],
                                                     range=[PALETTE[0], PALETTE[4], PALETTE[1]])),
        tooltip=["Device:N", "Category:N", alt.Tooltip("Ridge (FLOP/B):Q", format=".0f")],
    )
    # Vega-Lite cannot union two field-sorted domains (it falls back to
    # alphabetical order): give the labels their own, identically sorted, hidden scale.
    text = base.mark_text(align="left", dx=3, fontSize=10).encode(
        x=alt.X("Ridge (FLOP/B):Q", axis=None), y=alt.Y("name:N", sort="-x", axis=None),
        text=alt.Text("Ridge (FLOP/B):Q", format=".0f"))
    return (bars + text).resolve_scale(y="independent").add_params(prec).properties(
        width=400, title="Ridge point = peak / bandwidth")


#: Columns of :func:`llmperf.rooflines.decode_points` the chart needs (the rest stays out of the page).
_COLUMNS = ["device", "batch", "log2 batch", "operator", "kind", "Intensity (FLOP/B)", "Attainable (TFLOP/s)",
            "Bound", "Time in step (µs)", "Share of step time"]


def _slim(points: pd.DataFrame) -> pd.DataFrame:
    """Only the columns the chart draws, numbers rounded to 4 significant digits (keeps the page small)."""
    out = points[_COLUMNS].copy()
    for c in ["Intensity (FLOP/B)", "Attainable (TFLOP/s)", "Time in step (µs)", "Share of step time"]:
        v = out[c].to_numpy(dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            mag = np.where(v > 0, np.floor(np.log10(np.abs(np.where(v > 0, v, 1.0)))), 0)
        out[c] = np.round(v / 10 ** (mag - 3)) * 10 ** (mag - 3)
    return out


def _labelled(points: pd.DataFrame) -> pd.DataFrame:
    lab = points[points["operator"].isin(list(LABELS))][["device", "log2 batch", "operator",
                                                         "Intensity (FLOP/B)", "Attainable (TFLOP/s)"]].copy()
    lab["label"] = lab["operator"].map(LABELS)
    lab["label_y"] = lab["Attainable (TFLOP/s)"] * lab["operator"].map(_STAGGER)
    return lab


def decode_roofline_chart(points: pd.DataFrame, roofs: pd.DataFrame, device: str = "h100-sxm",
                          log2_batch: int = 0, devices=None, model_label: str = "",
                          fits: pd.DataFrame | None = None) -> alt.LayerChart:
    """The decode step's operators on a device's roof, with a batch slider and a device dropdown.

    ``points`` comes from :func:`llmperf.rooflines.decode_points`, ``roofs``
    from :func:`llmperf.rooflines.roof_lines`. The slider moves over log2 of
    the batch; each operator's area is its share of the step time; the whole
    step is the hollow black diamond. ``fits`` (from
    :func:`llmperf.rooflines.decode_fit_table`) flags, next to the batch, the
    batches whose weights and KV cache do not fit in the device's memory.
    """
    points = _slim(points)
    devices = list(devices or points["device"].unique())
    lo, hi = int(points["log2 batch"].min()), int(points["log2 batch"].max())
    b = slider("log2_batch", lo, hi, 1, log2_batch, label="log2(batch) ")
    dev = dropdown("device", devices, device, label="device ")
    x = alt.X("Intensity (FLOP/B):Q", scale=alt.Scale(type="log", domain=[0.1, 1e4]),
              title="Arithmetic intensity (FLOP/B)")
    y = alt.Y("Attainable (TFLOP/s):Q", scale=alt.Scale(type="log"), title="Attainable (TFLOP/s)")
    on_dev = alt.datum.device == dev
    sel = on_dev & (alt.datum["log2 batch"] == b)
    roof = alt.Chart(roofs).mark_line(color="black", strokeWidth=2).encode(
        x=x, y=y, order="order:Q").transform_filter(on_dev)
    ridge_rows = roofs[roofs["order"] == 1]
    ridge = alt.Chart(ridge_rows).mark_rule(strokeDash=[4, 4], color="gray").encode(
        x="Intensity (FLOP/B):Q").transform_filter(on_dev)
    ridge_text = alt.Chart(ridge_rows).transform_filter(on_dev).transform_calculate(
        t="'ridge ' + format(datum['Intensity (FLOP/B)'], '.0f') + ' FLOP/B'").mark_text(
        align="left", dx=4, color="gray").encode(x="Intensity (FLOP/B):Q", y=alt.value(370), text="t:N")
    tooltip = ["operator:N", "batch:Q", alt.Tooltip("Intensity (FLOP/B):Q", format=".3g"),
               alt.Tooltip("Attainable (TFLOP/s):Q", format=".3g"), "Bound:N",
               alt.Tooltip("Time in step (µs):Q", format=".4g"), alt.Tooltip("Share of step time:Q", format=".1%")]
    ops = points[points["operator"] != "whole step"]
    step = points[points["operator"] == "whole step"]
    pts = alt.Chart(ops).transform_filter(sel).mark_point(filled=True, opacity=0.75).encode(
        x=x, y="Attainable (TFLOP/s):Q",
        color=alt.Color("Bound:N", scale=bound_scale(), title="bound", legend=alt.Legend(orient="bottom")),
        shape=alt.Shape("kind:N", title="operator kind",
                        scale=alt.Scale(domain=["matmul", "attention", "elementwise"],
                                        range=["circle", "triangle-up", "square"]),
                        legend=alt.Legend(orient="bottom")),
        size=alt.Size("Share of step time:Q", scale=alt.Scale(domain=[0, 0.5], range=[25, 700]),
                      legend=alt.Legend(format=".0%", values=[0.05, 0.2, 0.4], orient="bottom",
                                        title="share of step time")),
        tooltip=tooltip)
    step_pt = alt.Chart(step).transform_filter(sel).mark_point(
        shape="diamond", filled=False, color="black", size=260, strokeWidth=2).encode(
        x=x, y="Attainable (TFLOP/s):Q", tooltip=tooltip)
    lab = _labelled(points)
    right = alt.Chart(lab[~lab["operator"].isin(_LEFT)]).transform_filter(sel).mark_text(
        align="left", dx=10, fontSize=11).encode(x=x, y="label_y:Q", text="label:N")
    left = alt.Chart(lab[lab["operator"].isin(_LEFT)]).transform_filter(sel).mark_text(
        align="right", dx=-10, fontSize=11).encode(x=x, y="label_y:Q", text="label:N")
    # An invisible point at 4x the peak keeps each device's y range fixed while the slider moves.
    top = roofs[roofs["order"] == 2].assign(**{"Attainable (TFLOP/s)": lambda d: 4 * d["Attainable (TFLOP/s)"]})
    anchor = alt.Chart(top).transform_filter(on_dev).mark_point(opacity=0).encode(x=x, y="Attainable (TFLOP/s):Q")
    label_rows = step[["device", "log2 batch", "batch"]]
    if fits is not None:
        flags = fits[["device", "log2 batch", "fits", "Memory needed (GiB)"]].copy()
        flags["Memory needed (GiB)"] = flags["Memory needed (GiB)"].round(0)
        label_rows = label_rows.merge(flags, on=["device", "log2 batch"], how="left")
        label_rows["fits"] = label_rows["fits"].fillna(True).astype(bool)
        text = ("'batch B = ' + datum.batch + (datum.fits ? '' : ': DOES NOT FIT (weights + KV cache ' "
                "+ format(datum['Memory needed (GiB)'], ',.0f') + ' GiB)')")
    else:
        text = "'batch B = ' + datum.batch"
    batch_text = alt.Chart(label_rows).transform_filter(sel).transform_calculate(t=text).mark_text(
        align="left", fontSize=14, fontWeight="bold").encode(
        x=alt.value(8), y=alt.value(12), text="t:N",
        color=alt.condition("datum.fits === false", alt.value("#c0392b"), alt.value("black")))
    title = "Decode step on the roof" + (f": {model_label}" if model_label else "")
    return alt.layer(roof, anchor, ridge, ridge_text, pts, step_pt, right, left, batch_text).add_params(b, dev).properties(
        width=500, height=380, title=title)


def scheme_chart(curves: pd.DataFrame, ridges: pd.DataFrame, device: str = "h100-sxm",
                 devices=None, title: str = "") -> alt.LayerChart:
    """Matmul intensity against tokens M for each precision scheme (lines) and the
    device's ridge for each scheme's compute dtype (dashed rules), with a device dropdown.

    A line crosses the rule of its compute dtype at the critical batch (circled).
    ``curves`` from :func:`llmperf.rooflines.scheme_curves`, ``ridges`` from
    :func:`llmperf.rooflines.scheme_ridges`.
    """
    devices = list(devices or ridges["device"].unique())
    dev = dropdown("device_scheme", devices, device, label="device ")
    schemes = list(curves["Scheme"].unique())
    color = alt.Color("Scheme:N", scale=alt.Scale(domain=schemes, range=PALETTE[:len(schemes)]),
                      legend=alt.Legend(orient="bottom", columns=2))
    x = alt.X("Tokens M:Q", scale=alt.Scale(type="log"), title="Tokens in the product M (= batch in decode)")
    y = alt.Y("Intensity (FLOP/B):Q", scale=alt.Scale(type="log"), title="Intensity (FLOP/B)")
    lines = alt.Chart(curves).mark_line(strokeWidth=2).encode(x=x, y=y, color=color,
                                                               tooltip=["Scheme:N", "Tokens M:Q",
                                                                        alt.Tooltip("Intensity (FLOP/B):Q",
                                                                                    format=".3g")])
    per_dtype = ridges.drop_duplicates(["device", "Compute dtype"])[["device", "Compute dtype", "Ridge (FLOP/B)"]]
    rules = alt.Chart(per_dtype).transform_filter(alt.datum.device == dev).mark_rule(
        strokeDash=[6, 4], color="black").encode(
        y="Ridge (FLOP/B):Q", tooltip=["Compute dtype:N", alt.Tooltip("Ridge (FLOP/B):Q", format=".0f")])
    rule_text = alt.Chart(per_dtype).transform_filter(alt.datum.device == dev).transform_calculate(
        t="datum['Compute dtype'] + ' ridge ' + format(datum['Ridge (FLOP/B)'], '.0f') + ' FLOP/B'").mark_text(
        align="left", dy=-7, color="black").encode(x=alt.value(4), y="Ridge (FLOP/B):Q", text="t:N")
    finite = ridges[np.isfinite(ridges["Critical batch (exact)"])]
    cross = alt.Chart(finite).transform_filter(alt.datum.device == dev).mark_point(
        size=120, strokeWidth=2).encode(
        x=alt.X("Critical batch (exact):Q"), y="Ridge (FLOP/B):Q", color=color,
        tooltip=["Scheme:N", alt.Tooltip("Critical batch (exact):Q", format=".0f"),
                 alt.Tooltip("Ridge (FLOP/B):Q", format=".0f")])
    return alt.layer(lines, rules, rule_text, cross).add_params(dev).properties(width=500, height=340, title=title)
