"""Charts of the chapter "How an LLM Generates Text". Importing this module imports Altair."""
from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd

from . import BOUND_COLORS, PALETTE, slider

PHASE_COLORS = {"prefill": BOUND_COLORS["compute"], "decode": BOUND_COLORS["memory"]}


def latency_chart(times: pd.DataFrame, title: str = "", prompt: int | None = None) -> alt.LayerChart:
    """When each generated token appears (from :func:`llmperf.generation.token_times`), with two sliders.

    The prompt-length slider and the batch slider (over log2 of the batch)
    pick one curve (``prompt``: the prompt length shown first, default the
    shortest). The red point is the first token, at TTFT; the blue line climbs
    by one decode-step time (about TPOT) per token. The y axis follows the
    curve shown, from zero, so the share of TTFT in the latency reads at a
    glance; the label gives the three numbers.
    """
    df = times.copy()
    df["log2 batch"] = np.log2(df["Batch"]).round().astype(int)
    prompts = np.sort(df["Prompt tokens"].unique())
    logb = np.sort(df["log2 batch"].unique())
    step = int(prompts[1] - prompts[0]) if len(prompts) > 1 else 1
    if len(prompts) > 1 and not np.all(np.diff(prompts) == step):
        raise ValueError("latency_chart needs evenly spaced prompt lengths (the slider's steps)")
    p_prompt = slider("prompt", int(prompts[0]), int(prompts[-1]), step,
                      int(prompts[0] if prompt is None else prompt), "prompt tokens T ")
    p_batch = slider("log2batch", int(logb[0]), int(logb[-1]), 1, int(logb[0]), "log2 of batch B ")
    keep = (alt.datum["Prompt tokens"] == p_prompt) & (alt.datum["log2 batch"] == p_batch)
    gmax = int(df["Token"].max())
    x = alt.X("Token:Q", title="generated token g", scale=alt.Scale(domain=[0, gmax]))
    y = alt.Y("Time (ms):Q", title="time at which token g appears (ms)", scale=alt.Scale(zero=True))
    tip = ["Batch:Q", "Prompt tokens:Q", "Token:Q", alt.Tooltip("Time (ms):Q", format=".4~r"),
           alt.Tooltip("TTFT (ms):Q", format=".4~r"), alt.Tooltip("TPOT (ms):Q", format=".4~r")]
    base = alt.Chart(df).transform_filter(keep)
    line = base.mark_line(color=PHASE_COLORS["decode"], strokeWidth=2.5).encode(x=x, y=y, tooltip=tip)
    first = base.transform_filter(alt.datum.Token == 1).mark_point(
        filled=True, size=140, color=PHASE_COLORS["prefill"]).encode(x=x, y=y, tooltip=tip)
    label = base.transform_filter(alt.datum.Token == gmax).transform_calculate(
        text="'TTFT ' + format(datum['TTFT (ms)'], '.3~r') + ' ms, TPOT ' + format(datum['TPOT (ms)'], '.3~r')"
             " + ' ms, end-to-end ' + format(datum['Time (ms)'] / 1000, '.3~r') + ' s'"
    ).mark_text(align="left", fontSize=12).encode(x=alt.value(8), y=alt.value(12), text="text:N")
    return alt.layer(line, first, label).add_params(p_prompt, p_batch).properties(
        width=560, height=300, title=title or "Prefill, then one decode step per token")
