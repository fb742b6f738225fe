"""Charts of the chapter "Serving Many Requests", from tables that :mod:`llmperf.serving` computed.

The sliders and dropdowns filter precomputed rows in the reader's browser, so
the charts stay interactive in the static book.
"""
from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd

from . import PALETTE, dropdown, slider
from .. import serving as sv


def latency_throughput_table(model, hardware, prompt_lens=(256, 1024, 4096), output_len=256,
                             rates=None, **opts) -> pd.DataFrame:
    """Steady-state continuous batching over a grid of arrival rates, for several prompt lengths."""
    rates = np.unique(np.round(np.logspace(-0.5, 2.5, 40), 2)) if rates is None else np.asarray(rates, float)
    frames = []
    for p in prompt_lens:
        r = sv.continuous_batching(model, hardware, rates, p, output_len, **opts)
        frames.append(pd.DataFrame({"Prompt tokens": int(p), "Arrival rate (requests/s)": r["arrival_rate"],
                                    "Running sequences": r["batch"], "TPOT (ms)": r["step_s"] * 1e3,
                                    "TTFT (ms)": r["ttft_s"] * 1e3,
                                    "Generated tokens/s": r["arrival_rate"] * output_len,
                                    "Stable": np.where(r["stable"], "keeps up", "queue grows")}))
    return pd.concat(frames, ignore_index=True)


def latency_throughput_chart(table: pd.DataFrame, value=None, title: str = "") -> alt.LayerChart:
    """TPOT against generated tokens/s as the arrival rate grows; a slider picks the prompt length.

    Each point is one arrival rate; past the last stable point the queue grows
    without bound. The frontier is the trade-off a service level chooses on.
    """
    prompts = sorted(table["Prompt tokens"].unique())
    value = prompts[len(prompts) // 2] if value is None else value
    pick = dropdown("prompt_tokens", [int(p) for p in prompts], int(value), label="prompt tokens ")
    base = alt.Chart(table).transform_filter(alt.datum["Prompt tokens"] == pick)
    enc = dict(x=alt.X("Generated tokens/s:Q", scale=alt.Scale(type="log"), title="generated tokens/s (log)"),
               y=alt.Y("TPOT (ms):Q", scale=alt.Scale(type="log"), title="TPOT (ms, log)"))
    line = base.transform_filter(alt.datum.Stable == "keeps up").mark_line(color=PALETTE[0]).encode(**enc)
    pts = base.mark_point(filled=True, size=45).encode(
        **enc, color=alt.Color("Stable:N", title=None, scale=alt.Scale(domain=["keeps up", "queue grows"],
                                                                     range=[PALETTE[0], PALETTE[3]])),
        tooltip=[alt.Tooltip("Arrival rate (requests/s):Q", format=".3~g"),
                 alt.Tooltip("Running sequences:Q", format=".0f"), alt.Tooltip("TPOT (ms):Q", format=".3~g"),
                 alt.Tooltip("TTFT (ms):Q", format=".3~g"), alt.Tooltip("Generated tokens/s:Q", format=",.0f"),
                 "Stable:N"])
    return alt.layer(line, pts).add_params(pick).properties(width=520, height=320, title=title)


def speculative_table(gammas=np.arange(0, 13), alphas=np.round(np.arange(0.5, 0.96, 0.05), 2),
                      costs=(0.02, 0.05, 0.1, 0.2)) -> pd.DataFrame:
    """Leviathan et al.'s speedup over a grid of draft length, acceptance rate and draft cost."""
    g, a, c = np.meshgrid(np.asarray(gammas), np.asarray(alphas, float), np.asarray(costs, float), indexing="ij")
    return pd.DataFrame({"Draft length": g.ravel(), "Acceptance rate": a.ravel(), "Draft cost": c.ravel(),
                         "Expected tokens per pass": sv.expected_tokens_per_step(a, g).ravel(),
                         "Speedup": sv.speculative_speedup(a, g, c).ravel()})


def speculative_chart(table: pd.DataFrame) -> alt.LayerChart:
    """Speedup against draft length; a slider sets the acceptance rate, a dropdown the draft's cost."""
    alphas = sorted(table["Acceptance rate"].unique())
    costs = sorted(table["Draft cost"].unique())
    a = slider("alpha", float(alphas[0]), float(alphas[-1]), float(np.round(alphas[1] - alphas[0], 4)), 0.8,
               label="acceptance rate α ")
    c = dropdown("draft_cost", [float(x) for x in costs], 0.05 if 0.05 in costs else float(costs[0]),
                 label="draft cost c ")
    base = alt.Chart(table).transform_filter(
        (alt.expr.abs(alt.datum["Acceptance rate"] - a) < 1e-6) & (alt.datum["Draft cost"] == c))
    line = base.mark_line(point=True, color=PALETTE[0]).encode(
        x=alt.X("Draft length:Q", title="draft length γ"), y=alt.Y("Speedup:Q", title="speedup over plain decoding"),
        tooltip=["Draft length:Q", alt.Tooltip("Expected tokens per pass:Q", format=".3~f"),
                 alt.Tooltip("Speedup:Q", format=".3~f")])
    one = alt.Chart(pd.DataFrame({"y": [1.0]})).mark_rule(strokeDash=[4, 3], color="#777").encode(y="y:Q")
    return alt.layer(line, one).add_params(a, c).properties(width=480, height=280)
