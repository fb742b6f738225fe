"""Altair charts for the book. Importing this package imports Altair.

Charts are built from tables that llmperf computed beforehand, so they stay
interactive in the static book: sliders and dropdowns are Altair parameters
that run in the reader's browser, with no kernel.

Offline rendering: keep Altair's default HTML renderer. Its stored output skips
loading vega/vega-lite/vega-embed when ``window.VEGA_DEBUG`` already records
their versions, and the book's ``_static/vega-bundle.js`` defines the three
libraries and records those versions, so the rendered book never touches a
CDN. (Never use the ``mimetype``/``jupyterlab`` renderers or
``template='inline'`` in the book: JupyterLab renders Vega-Lite up to v5 only, and
Altair 6 writes v6.) In a live notebook served by Jupyter, :func:`enable` puts the
same bundle into the page once, so live charts draw offline too.

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


def enable(live: bool | None = None) -> None:
    """Use the renderer and data settings the book is built with (call once per notebook).

    In a notebook that a Jupyter server runs (JupyterLab, Notebook 7, JupyterHub, Binder: ``live``, detected
    from the ``JPY_SESSION_NAME`` the server gives its kernels), it also puts Vega, Vega-Lite and Vega-Embed
    into the page once (:func:`offline_vega`), so the charts draw with no network, as on the site. A kernel
    run by nbclient or nbval (the book's execution, the tests) is not live, and its outputs stay as stored.
    """
    alt.renderers.enable("default")
    alt.data_transformers.enable("llmperf", max_rows=MAX_ROWS)
    if live is None:
        live = _live_session()
    if live:
        try:
            offline_vega()
        except (ImportError, RuntimeError) as exc:  # no vl-convert-python, or versions it cannot bundle
            import warnings

            warnings.warn(f"llmperf charts will load Vega from its CDN (a network is needed to draw them): {exc}",
                          stacklevel=2)


def _live_session() -> bool:
    import os
    import sys

    return bool(os.environ.get("JPY_SESSION_NAME")) and "ipykernel" in sys.modules


_BUNDLE: list = []


def vega_bundle() -> str:
    """The text of the Vega bundle: the repository's ``_static/vega-bundle.js`` when this package runs from a
    checkout and the file names the installed versions, else built from the vl-convert-python wheel (a few
    seconds, once per process)."""
    if _BUNDLE:
        return _BUNDLE[0]
    from pathlib import Path

    from .bundle import build_bundle, bundled_versions, header_fields

    text = None
    path = Path(__file__).resolve().parents[2] / "_static" / "vega-bundle.js"
    if path.is_file():
        stored = path.read_text(encoding="utf-8")
        fields = header_fields(stored)
        if (fields.get("altair") == alt.__version__
                and fields.get("vl-convert-python") == bundled_versions()["vl-convert-python"]):
            text = stored
    if text is None:
        text = build_bundle()
    _BUNDLE.append(text)
    return text


def offline_vega() -> None:
    """Put the Vega libraries into the live notebook page, so that Altair's output draws with no network.

    Altair's HTML output loads Vega from a CDN unless ``window.VEGA_DEBUG`` already names the versions, which
    the bundle sets. The bundle (about 0.9 MB) is displayed once, in a ``<script>``, and the output is then
    emptied so the saved notebook does not keep it (the browser has run the script by then).
    """
    from IPython.display import HTML, display

    handle = display(HTML(f"<script>{vega_bundle()}</script>"), display_id=True)
    handle.update(HTML(""))


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
