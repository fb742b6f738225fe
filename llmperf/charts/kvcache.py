"""Charts of the chapter "The KV Cache and Its Variants", from tables that :mod:`llmperf.kvcache` computed."""
from __future__ import annotations

import altair as alt
import pandas as pd

from . import PALETTE, dropdown
from .. import kvcache as kc

_KINDS = ["MHA", "GQA", "MLA"]


def catalog_long(contexts=(1024, 8192, 32768, 131072), models=None) -> pd.DataFrame:
    """KV bytes per token of every catalog model at several context lengths (long format)."""
    frames = []
    for s in contexts:
        t = kc.catalog_table(models, context=int(s))
        col = f"KV per token, averaged over {int(s):,} (KiB)"
        frames.append(pd.DataFrame({"Model": t["Model"], "Attention": t["Attention"].str.split(" ").str[0],
                                    "Layers": t["Layers"], "Context": f"{int(s):,}",
                                    "KV per token (KiB)": t[col]}))
    return pd.concat(frames, ignore_index=True)


def catalog_chart(long: pd.DataFrame, value: str | None = None) -> alt.Chart:
    """Bars of KV bytes per token for every model; a dropdown picks the context length."""
    options = list(dict.fromkeys(long["Context"]))
    pick = dropdown("context", options, value or options[2 if len(options) > 2 else 0], label="context (tokens) ")
    return alt.Chart(long).transform_filter(alt.datum.Context == pick).mark_bar().encode(
        x=alt.X("KV per token (KiB):Q", title="KV cache per token of context (KiB, bf16)"),
        y=alt.Y("Model:N", sort="x", title=None),
        color=alt.Color("Attention:N", scale=alt.Scale(domain=_KINDS, range=PALETTE[:3])),
        tooltip=["Model:N", "Attention:N", "Layers:N", alt.Tooltip("KV per token (KiB):Q", format=".4~g")],
    ).add_params(pick).properties(width=520, height=alt.Step(14))


def window_chart(curve: pd.DataFrame) -> alt.Chart:
    """KV cache of one sequence against its length, log-log; click the legend to highlight a model."""
    sel = alt.selection_point(fields=["Model"], bind="legend")
    return alt.Chart(curve).mark_line().encode(
        x=alt.X("Context (tokens):Q", scale=alt.Scale(type="log"), title="context S (tokens, log)"),
        y=alt.Y("KV cache (GiB):Q", scale=alt.Scale(type="log"), title="KV cache of one sequence (GiB, log)"),
        color=alt.Color("Model:N", scale=alt.Scale(range=PALETTE)),
        opacity=alt.condition(sel, alt.value(1.0), alt.value(0.15)),
        tooltip=["Model:N", alt.Tooltip("Context (tokens):Q", format=","),
                 alt.Tooltip("KV cache (GiB):Q", format=".3~g"), alt.Tooltip("KV per token (KiB):Q", format=".3~g")],
    ).add_params(sel).properties(width=520, height=300)
