"""Altair charts for the book. Importing this package imports Altair.

Charts are built from tables that llmperf computed beforehand, so they stay
interactive in the static book: sliders and dropdowns are Altair parameters
that run in the reader's browser, with no kernel.

Offline rendering: keep Altair's default HTML renderer. Its stored output skips
loading vega/vega-lite/vega-embed when ``window.VEGA_DEBUG`` already records
their versions, and the book's ``_static/vega-bundle.js`` defines the three
libraries and records those versions, so the rendered book never touches a
CDN. (Never use the ``mimetype``/``jupyterlab`` renderers or
``template='inline'`` in the book.)

Chapter-specific charts live in this package's submodules (``roofline``,
``operators``, ``attention``, ``regimes``, ``edge``); shared pieces are here.
"""
from __future__ import annotations

import altair as alt

#: One colour per bound, the same in every chart of the book.
BOUND_COLORS = {"compute": "#d62728", "memory": "#1f77b4", "link": "#2ca02c"}
#: Categorical palette for models / devices / operator groups.
PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
           "#bcbd22", "#17becf"]
MAX_ROWS = 20_000
#: Significant figures kept in the data a chart embeds. A chart's stored output carries its
#: data; the last bits of a float differ from one BLAS kernel or CPU to another, so the data
#: are rounded to far more digits than a reader can see but far fewer than a float has.
CHART_DIGITS = 6


def round_significant(values, digits: int = CHART_DIGITS):
    """``values`` (array-like of floats) rounded to ``digits`` significant figures, vectorized."""
    import numpy as np

    x = np.asarray(values, dtype=float)
    out = x.copy()
    ok = np.isfinite(x) & (x != 0)
    mag = np.floor(np.log10(np.abs(x[ok])))
    scale = 10.0 ** (digits - 1 - mag)
    out[ok] = np.round(x[ok] * scale) / scale
    return out


def _rounded(data, max_rows=MAX_ROWS):
    """Altair data transformer: the default one, after rounding every float column."""
    import pandas as pd

    if isinstance(data, pd.DataFrame):
        data = data.copy()
        for col in data.columns:
            if pd.api.types.is_float_dtype(data[col]):
                data[col] = round_significant(data[col].to_numpy())
    return alt.utils.data.to_values(alt.utils.data.limit_rows(data, max_rows=max_rows))


alt.data_transformers.register("llmperf", _rounded)


def enable() -> None:
    """Use the renderer and data settings the book is built with (call once per notebook)."""
    alt.renderers.enable("default")
    alt.data_transformers.enable("llmperf", max_rows=MAX_ROWS)


def bound_scale() -> alt.Scale:
    """Colour scale mapping 'compute'/'memory'/'link' to the book's colours."""
    return alt.Scale(domain=list(BOUND_COLORS), range=list(BOUND_COLORS.values()))


def slider(name: str, lo: float, hi: float, step: float, value: float, label: str | None = None) -> alt.Parameter:
    """A numeric Altair parameter bound to a range slider."""
    if not lo <= value <= hi:
        raise ValueError(f"slider {name}: value {value} outside [{lo}, {hi}]")
    return alt.param(name=name, value=value, bind=alt.binding_range(min=lo, max=hi, step=step, name=label or name))


def dropdown(name: str, options, value=None, label: str | None = None) -> alt.Parameter:
    """A parameter bound to a dropdown (select box)."""
    options = list(options)
    value = options[0] if value is None else value
    if value not in options:
        raise ValueError(f"dropdown {name}: {value!r} is not among the options")
    return alt.param(name=name, value=value, bind=alt.binding_select(options=options, name=label or name))


def log_scale(domain=None) -> alt.Scale:
    return alt.Scale(type="log", domain=domain) if domain is not None else alt.Scale(type="log")
