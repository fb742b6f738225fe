"""Explorer of the chapter "From Memory-Bound to Compute-Bound" (live sessions only)."""
from __future__ import annotations

import ipywidgets as w
import numpy as np

from ..regimes import PRECISIONS, batch_table
from . import Explorer, hardware_dropdown, log2_slider, model_dropdown

#: Batches the explorer's table shows (columns).
BATCHES = 2 ** np.arange(0, 11)


def regime_table(model: str, hardware: str, precision: str, context: int):
    """Decode step over :data:`BATCHES` at one context: time, tokens/s, bound, cost shares, fit."""
    df = batch_table(model, hardware, BATCHES, context, **PRECISIONS[precision])
    return df.apply(lambda row: row.map(lambda v: round(float(v), 3) if isinstance(v, float) else v), axis=1)


def regime_explorer(model="llama-3.1-8b", hardware="h100-sxm", precision="bf16", context=4096) -> Explorer:
    """Pick a model, a device, a precision scheme and a context; see the decode step over batch."""
    controls = {
        "model": model_dropdown(model),
        "hardware": hardware_dropdown(hardware),
        "precision": w.Dropdown(options=list(PRECISIONS), value=precision, description="precision"),
        "context": log2_slider(context, 128, 131072, "context"),
    }
    return Explorer(regime_table, controls, title="Decode step across batch sizes")
