"""Charts of the chapter "From Memory-Bound to Compute-Bound" (``book/memory_compute.ipynb``).

Each function takes a table that :mod:`llmperf.regimes` computed and returns
an Altair chart; sliders and dropdowns are Altair parameters, so the charts
stay interactive in the static book.
"""
from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd

from . import BOUND_COLORS, PALETTE, dropdown, slider

#: Colours of the three costs of :data:`llmperf.regimes.COSTS`: compute in the
#: book's compute red, the two memory costs in two blues.
COST_COLORS = {"compute": BOUND_COLORS["compute"], "weights": BOUND_COLORS["memory"], "KV cache": "#9ecae1"}


def cost_scale() -> alt.Scale:
    return alt.Scale(domain=list(COST_COLORS), range=list(COST_COLORS.values()))


def regime_heatmap(df: pd.DataFrame, device: str | None = None, precision: str | None = None) -> alt.Chart:
    """Batch x context map of what dominates a decode step, one cell per grid point.

    ``df`` is :func:`llmperf.regimes.regime_map`'s table. Two dropdowns pick the
    device and the precision; the colour is the dominant cost, the number in a
    cell the tokens/s, and cells whose KV cache does not fit are faded and crossed.
    """
    devices = list(dict.fromkeys(df["device"]))
    precisions = list(dict.fromkeys(df["precision"]))
    dev = dropdown("device", devices, device or devices[0], "device ")
    prec = dropdown("precision", precisions, precision or precisions[0], "precision ")
    data = df[["device", "precision", "batch", "context", "time_ms", "tokens_per_s", "bound", "dominant",
               "dominant_share", "max_batch", "fits"]].copy()
    data["fit"] = np.where(data["fits"], "fits", "does not fit")
    base = alt.Chart(data).transform_filter(
        (alt.datum.device == dev) & (alt.datum.precision == prec)
    ).encode(
        x=alt.X("batch:O", title="batch B (sequences)"),
        y=alt.Y("context:O", title="context S (cached tokens)", sort="descending"),
    )
    tooltip = [alt.Tooltip("batch:O"), alt.Tooltip("context:O"), alt.Tooltip("time_ms:Q", title="step (ms)", format=".3g"),
               alt.Tooltip("tokens_per_s:Q", title="tokens/s", format=",.0f"), alt.Tooltip("dominant:N"),
               alt.Tooltip("dominant_share:Q", title="share of step", format=".0%"),
               alt.Tooltip("bound:N", title="step bound"), alt.Tooltip("max_batch:Q", title="max batch that fits")]
    cells = base.mark_rect(stroke="white", strokeWidth=0.5).encode(
        color=alt.Color("dominant:N", scale=cost_scale(), title="largest cost"),
        opacity=alt.Opacity("fit:N", sort=["fits", "does not fit"],
                            scale=alt.Scale(domain=["fits", "does not fit"], range=[1.0, 0.3]), title="KV cache"),
        tooltip=tooltip,
    )
    text = base.mark_text(fontSize=8).encode(
        text=alt.Text("tokens_per_s:Q", format=".2~s"),
        color=alt.condition(alt.datum.fits, alt.value("black"), alt.value("#777777")),
        tooltip=tooltip,
    )
    return (cells + text).add_params(dev, prec).properties(
        width=480, height=330,
        title=alt.Title("What dominates a decode step", subtitle="number in a cell: tokens/s (roofline bound)"))


def tokens_vs_batch(df: pd.DataFrame, device: str, log2_context: int = 12) -> alt.Chart:
    """Decode tokens/s against batch for each precision on one device, with a context slider.

    Points where the KV cache does not fit are hollow; the slider picks
    ``log2`` of the context.
    """
    data = df[df["device"] == device][["precision", "batch", "context", "tokens_per_s", "time_ms", "fits",
                                       "dominant"]].copy()
    data["log2_context"] = np.log2(data["context"]).round().astype(int)
    lo, hi = int(data["log2_context"].min()), int(data["log2_context"].max())
    ctx = slider("log2_context", lo, hi, 1, log2_context, "log2(context) ")
    base = alt.Chart(data).transform_filter(alt.datum.log2_context == ctx).encode(
        x=alt.X("batch:Q", scale=alt.Scale(type="log", base=2), title="batch B (sequences)"),
        y=alt.Y("tokens_per_s:Q", scale=alt.Scale(type="log"), title="decode tokens/s"),
        color=alt.Color("precision:N", scale=alt.Scale(range=PALETTE), title="precision"),
        tooltip=[alt.Tooltip("precision:N"), alt.Tooltip("batch:Q"), alt.Tooltip("context:Q"),
                 alt.Tooltip("tokens_per_s:Q", format=",.0f", title="tokens/s"),
                 alt.Tooltip("time_ms:Q", format=".3g", title="step (ms)"), alt.Tooltip("dominant:N"),
                 alt.Tooltip("fits:N")],
    )
    line = base.mark_line()
    fits = base.transform_filter(alt.datum.fits).mark_point(size=40, filled=True, opacity=1)
    over = base.transform_filter(~alt.datum.fits).mark_point(size=40, filled=False, opacity=1)
    return (line + fits + over).add_params(ctx).properties(
        width=480, height=300, title=alt.Title(f"Decode throughput on {device}",
                                               subtitle="hollow points: the KV cache does not fit"))


def intensity_chart(df: pd.DataFrame, ridge: float) -> alt.Chart:
    """Intensity of gate_proj and of decode attention against batch, with the ridge point.

    ``df`` is :func:`llmperf.regimes.intensity_vs_batch`'s table.
    """
    cols = [c for c in df.columns if c.endswith("intensity (FLOP/B)")]
    long = df.melt(id_vars="batch", value_vars=cols, var_name="operator", value_name="intensity")
    long["operator"] = long["operator"].str.replace(" intensity (FLOP/B)", "", regex=False)
    lines = alt.Chart(long).mark_line(point=True).encode(
        x=alt.X("batch:Q", scale=alt.Scale(type="log", base=2), title="batch B (sequences)"),
        y=alt.Y("intensity:Q", scale=alt.Scale(type="log"), title="intensity (FLOP/B)"),
        color=alt.Color("operator:N", scale=alt.Scale(range=PALETTE)),
        tooltip=["operator:N", "batch:Q", alt.Tooltip("intensity:Q", format=".3g")],
    )
    rule = alt.Chart(pd.DataFrame({"ridge": [ridge], "label": [f"ridge point {ridge:.0f} FLOP/B"]})).mark_rule(
        strokeDash=[4, 4], color="black").encode(y="ridge:Q")
    label = rule.mark_text(align="left", dy=-6, x=5).encode(text="label:N")
    return (lines + rule + label).properties(width=480, height=280,
                                             title="Decode intensity: weights rise with B, attention stays flat")
