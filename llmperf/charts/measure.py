"""Charts of the chapter "Measuring Your Machine", from a stored run (``llmperf.measure``).

The roofline chart draws the measured roof of one machine (triad bandwidth
times intensity, capped by the measured matmul peak) with every timed matrix
product as a point; a dropdown picks the dtype. The ratio chart shows the
measured step over each prediction, per case, with a dropdown for the
prediction. The GPU chart draws the layer sums of Vidur's published profiles
against the token count, with strength 1 fitted with and without GEMM tile
quantization; a dropdown picks the device and model. All of them filter
precomputed rows in the browser (no kernel).
"""
from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd

from . import PALETTE, dropdown

#: What the ratio chart can compare the measured step with (column of ``compare_run``, label).
PREDICTIONS = {"roofline_s": "roofline bound", "strength1_s": "strength 1: class efficiencies",
               "strength2_s": "strength 2: kernel calibration"}


def roofline_points(profile) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(roof, points): the measured roof per dtype on a log grid of intensities, and the timed products."""
    bw = float(profile.bandwidth_bytes_per_s["triad"])
    roof = []
    for d, pk in profile.matmul_flop_per_s.items():
        for i in np.logspace(-1, 3, 81):
            roof.append({"dtype": d, "Intensity (FLOP/B)": float(i), "Roof (GFLOP/s)": min(bw * i, pk) / 1e9})
    pts = [{"dtype": p["dtype"], "Kernel": p["kind"], "Shape": f"[{p['m']}, {p['k']}] x [{p['k']}, {p['n']}]",
            "Intensity (FLOP/B)": p["flops"] / p["bytes"], "Reached (GFLOP/s)": p["flops"] / p["seconds"] / 1e9,
            "Share of roof": p["flops"] / p["seconds"] / min(bw * p["flops"] / p["bytes"],
                                                             profile.matmul_flop_per_s[p["dtype"]])}
           for p in profile.points]
    return pd.DataFrame(roof), pd.DataFrame(pts)


def roofline_chart(profile, dtype: str = "fp32") -> alt.LayerChart:
    """The machine's measured roofline with its GEMM and GEMV points; a dropdown picks the dtype."""
    roof, pts = roofline_points(profile)
    sel = dropdown("dtype", list(profile.matmul_flop_per_s), dtype, label="dtype ")
    x = alt.X("Intensity (FLOP/B):Q", scale=alt.Scale(type="log", domain=[0.1, 1000]),
              title="Intensity (FLOP/B)")
    y_title = "FLOP/s reached (GFLOP/s)"
    line = alt.Chart(roof).transform_filter(alt.datum.dtype == sel).mark_line(color="#555").encode(
        x=x, y=alt.Y("Roof (GFLOP/s):Q", scale=alt.Scale(type="log"), title=y_title))
    dots = alt.Chart(pts).transform_filter(alt.datum.dtype == sel).mark_point(filled=True, size=80).encode(
        x=x, y=alt.Y("Reached (GFLOP/s):Q", scale=alt.Scale(type="log"), title=y_title),
        color=alt.Color("Kernel:N", scale=alt.Scale(domain=["matmul", "matrix-vector"],
                                                   range=[PALETTE[3], PALETTE[0]])),
        tooltip=["Kernel:N", "Shape:N", alt.Tooltip("Intensity (FLOP/B):Q", format=".3g"),
                 alt.Tooltip("Reached (GFLOP/s):Q", format=".3g"), alt.Tooltip("Share of roof:Q", format=".0%")])
    return (line + dots).add_params(sel).properties(
        width=430, height=280, title="Measured roof (triad bandwidth, matmul peak) and timed products")


def ratio_long(df: pd.DataFrame) -> pd.DataFrame:
    """One row per (case, prediction): measured step over the predicted time."""
    rows = []
    for r in df.to_dict("records"):
        case = f"{r['phase']} B={r['batch']} {'S' if r['phase'] == 'decode' else 'T'}={r['length']}"
        for col, label in PREDICTIONS.items():
            rows.append({"run": f"{r['model']} {r['dtype']}", "case": case, "prediction": label,
                         "Measured / predicted": r["measured_s"] / r[col]})
    return pd.DataFrame(rows)


def ratio_chart(df: pd.DataFrame, prediction: str = "roofline bound") -> alt.LayerChart:
    """Measured step over the chosen prediction, per case, for each model and dtype (1 = exact)."""
    long = ratio_long(df)
    sel = dropdown("prediction", list(PREDICTIONS.values()), prediction, label="prediction ")
    base = alt.Chart(long).transform_filter(alt.datum.prediction == sel)
    # dots, not bars: a bar on a log axis has no baseline to start from
    dots = base.mark_point(filled=True, size=70).encode(
        x=alt.X("Measured / predicted:Q", scale=alt.Scale(type="log", domain=[0.5, 10], clamp=True),
                title="Measured / predicted (1 = exact)"),
        y=alt.Y("case:N", title=None, sort=None),
        yOffset=alt.YOffset("run:N"),
        color=alt.Color("run:N", title="model, dtype", scale=alt.Scale(range=PALETTE[:4]),
                        legend=alt.Legend(orient="bottom", columns=2)),
        tooltip=["run:N", "case:N", alt.Tooltip("Measured / predicted:Q", format=".3g")])
    one = base.mark_rule(color="black").encode(x=alt.datum(1.0))
    return alt.layer(dots, one).add_params(sel).properties(
        width=380, height=320, title="Measured step / prediction, per case")


def gpu_steps_long(max_tokens: int = 1024, tp: int = 1, models=("Llama-2-70B", "CodeLlama-34B")) -> pd.DataFrame:
    """One row per (device, judged model, token count, series): the measured layer sum of Vidur's profile and
    strength 1's prediction with and without tile quantization (``us``, microseconds), at ``tp``, up to
    ``max_tokens``, for the judged ``models``. Short column names keep the page's embedded data small."""
    from .. import gpucal

    _, tiled = gpucal.held_out()
    _, plain = gpucal.held_out(tiles=(1,))
    key = ["device", "model", "tp", "num_tokens"]
    m = tiled[tiled.held_out & (tiled.tp == tp) & (tiled.num_tokens <= max_tokens) & tiled.model.isin(models)]
    m = m.merge(plain[key + ["expected_s"]].rename(columns={"expected_s": "plain_s"}), on=key)
    m["set"] = m["hardware"] + ", " + m["model"]
    long = m.melt(id_vars=["set", "num_tokens"], value_vars=list(GPU_SERIES), var_name="series", value_name="s")
    long["series"] = long["series"].map(GPU_SERIES)
    long["us"] = long.pop("s") * 1e6
    return long.rename(columns={"num_tokens": "tokens"})


#: The series of :func:`gpu_steps_long` (column of :func:`llmperf.gpucal.held_out`'s sums, label).
GPU_SERIES = {"measured_s": "measured (Vidur)", "expected_s": "strength 1, tiled",
              "plain_s": "strength 1, plain roofline"}


def gpu_steps_chart(long: pd.DataFrame | None = None, value: str | None = None) -> alt.Chart:
    """The measured layer sum against the token count, with both fits: the steps are the GEMM tiles.
    A dropdown picks the device and the judged model."""
    long = gpu_steps_long() if long is None else long
    sets = list(dict.fromkeys(long["set"]))
    sel = dropdown("gpu_set", sets, value or sets[0], label="device, model ")
    order = list(GPU_SERIES.values())
    return alt.Chart(long).transform_filter(alt.datum.set == sel).mark_line().encode(
        # ticks at multiples of 128, a GEMM tile's height on the A100
        x=alt.X("tokens:Q", title="Tokens in the batch", scale=alt.Scale(domain=[0, int(long["tokens"].max())]),
                axis=alt.Axis(values=list(range(0, int(long["tokens"].max()) + 1, 128)))),
        y=alt.Y("us:Q", title="Layer sum (µs)"),
        color=alt.Color("series:N", sort=order, scale=alt.Scale(domain=order, range=PALETTE[:3]),
                        legend=alt.Legend(orient="bottom", title=None)),
        strokeDash=alt.StrokeDash("series:N", sort=order, legend=None,
                                  scale=alt.Scale(domain=order, range=[[1, 0], [1, 0], [4, 3]])),
        tooltip=["series:N", alt.Tooltip("tokens:Q", title="tokens"),
                 alt.Tooltip("us:Q", title="layer sum (µs)", format=".4g")],
    ).add_params(sel).properties(width=420, height=280, title="One layer on a GPU, tp 1: measured and predicted")
