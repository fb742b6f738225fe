"""Charts of the chapter "Operator Tables" (``book/operators.ipynb``).

Both charts take long tables that :mod:`llmperf.tables` computed beforehand
and filter them with Altair parameters bound to dropdowns and sliders, so they
stay interactive in the static book.
"""
from __future__ import annotations

import altair as alt
import pandas as pd

from . import BOUND_COLORS, PALETTE, bound_scale, dropdown, slider


def operator_time_chart(df: pd.DataFrame, model: str | None = None, device: str | None = None,
                        phase: str = "prefill") -> alt.LayerChart:
    """Share of a step's time per operator, coloured by bound, with model, device and phase dropdowns.

    ``df`` is :func:`llmperf.tables.operator_time_long`: columns model, device,
    phase, operator, order, bound, intensity, time_us, share, step_ms.
    """
    models = list(dict.fromkeys(df["model"]))
    devices = list(dict.fromkeys(df["device"]))
    phases = list(dict.fromkeys(df["phase"]))
    p_model = dropdown("op_model", models, model or models[0], "model ")
    p_device = dropdown("op_device", devices, device or devices[0], "device ")
    p_phase = dropdown("op_phase", phases, phase, "phase ")
    base = alt.Chart(df).transform_filter(
        (alt.datum.model == p_model) & (alt.datum.device == p_device) & (alt.datum.phase == p_phase))
    sort = alt.EncodingSortField(field="order", order="ascending")
    bars = base.mark_bar().encode(
        y=alt.Y("operator:N", sort=sort, title=None),
        x=alt.X("share:Q", title="Share of the step's time (%)"),
        color=alt.Color("bound:N", scale=bound_scale(), title="Bound"),
        tooltip=[alt.Tooltip("operator:N", title="Operator"),
                 alt.Tooltip("time_us:Q", title="Time, all layers (µs)", format=",.4~g"),
                 alt.Tooltip("share:Q", title="Share (%)", format=".3~g"),
                 alt.Tooltip("intensity:Q", title="Intensity (FLOP/B)", format=",.4~g"),
                 alt.Tooltip("bound:N", title="Bound")],
    )
    label = base.transform_aggregate(step_ms="max(step_ms)").transform_calculate(
        text='"step time " + format(datum.step_ms, ",.4~g") + " ms (roofline lower bound)"'
    ).mark_text(align="right", baseline="bottom", fontSize=12, dx=-2).encode(
        text="text:N", x=alt.value(470), y=alt.value(-4))
    return alt.layer(bars, label).add_params(p_model, p_device, p_phase).properties(
        width=480, height=340, title=alt.Title("Where a step's time goes, operator by operator",
                                               subtitle="bars: sum over all layers; colour: roofline bound"))


def kv_share_chart(df: pd.DataFrame, log2_batch: int = 0) -> alt.LayerChart:
    """KV share of a decode step's bytes against context, one line per model, with a batch slider.

    ``df`` is :func:`llmperf.tables.kv_share_long`: columns model, log2_batch,
    batch, context, kv_share, weights_gb, kv_gb.
    """
    lo, hi = int(df["log2_batch"].min()), int(df["log2_batch"].max())
    p_b = slider("kv_log2_batch", lo, hi, 1, log2_batch, "log2(batch) ")
    models = list(dict.fromkeys(df["model"]))
    base = alt.Chart(df).transform_filter(alt.datum.log2_batch == p_b)
    lines = base.mark_line(point=alt.OverlayMarkDef(size=14)).encode(
        x=alt.X("context:Q", scale=alt.Scale(type="log", domain=[int(df["context"].min()), int(df["context"].max())],
                                             nice=False), title="Cached tokens per sequence S"),
        y=alt.Y("kv_share:Q", scale=alt.Scale(domain=[0, 100]), title="KV share of decode-step bytes (%)"),
        color=alt.Color("model:N", sort=models, scale=alt.Scale(domain=models, range=PALETTE[:len(models)]),
                        title="Model"),
        tooltip=[alt.Tooltip("model:N", title="Model"), alt.Tooltip("batch:Q", title="Batch"),
                 alt.Tooltip("context:Q", title="S", format=","),
                 alt.Tooltip("kv_share:Q", title="KV share (%)", format=".3~g"),
                 alt.Tooltip("weights_gb:Q", title="Weights read (GB)", format=".4~g"),
                 alt.Tooltip("kv_gb:Q", title="KV read (GB)", format=".4~g")],
    )
    half = alt.Chart(pd.DataFrame({"y": [50.0]})).mark_rule(strokeDash=[4, 4], color=BOUND_COLORS["memory"]).encode(
        y="y:Q")
    label = alt.Chart(pd.DataFrame({"x": [0]})).transform_calculate(
        text=f'"batch B = " + pow(2, {p_b.name})').mark_text(align="left", fontSize=12, fontWeight="bold").encode(
        text="text:N", x=alt.value(6), y=alt.value(12))
    return alt.layer(lines, half, label).add_params(p_b).properties(
        width=480, height=300, title=alt.Title("What a decode step reads: KV cache against weights",
                                               subtitle="batch = 2^slider; dashed: KV bytes = all other bytes"))


# --- tables that fit the text column ------------------------------------------------------

def shape_table(table: pd.DataFrame) -> pd.DataFrame:
    """The ``Shape`` column of :func:`llmperf.tables.operator_table` split in two narrow columns:
    what the operator reads per token (``Input``) and the weight or cache it multiplies by.

    ``bf16[1024, 3584] x bf16[3584, 512]`` becomes ``bf16[1024, 3584]`` and
    ``bf16[3584, 512]``; attention's ``Q ..., K ..., V ...`` becomes the query and
    ``K, V: ...`` (keys and values have one shape); the embedding's index list goes
    to ``Input``. ``Repeats`` (runs per step) is kept; "–" means no weight.
    """
    rows = []
    for op, shape in table["Shape"].items():
        s = str(shape)
        if " x " in s:
            inp, weight = s.split(" x ", 1)
        elif s.startswith("Q ") and ", K " in s and ", V " in s:
            q, rest = s.split(", K ", 1)
            k, v = rest.split(", V ", 1)
            inp, weight = q, ("K, V " + k) if k == v else f"K {k}, V {v}"
        elif "][ids " in s:
            w, ids = s.split("][ids ", 1)
            inp, weight = f"token ids [{ids.rstrip(']')}]", w + "]"
        else:
            inp, weight = s, "–"
        rows.append({"Operator": op, "Input": inp, "Weight or cache": weight,
                     "Repeats": int(table.loc[op, "Repeats"])})
    return pd.DataFrame(rows).set_index("Operator")
