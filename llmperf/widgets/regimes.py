"""Explorer of the chapter "From Memory-Bound to Compute-Bound" (live sessions only)."""
from __future__ import annotations

import ipywidgets as w
import numpy as np

from ..book import tidy
from ..regimes import PRECISIONS, batch_table, max_decode_batch
from . import Explorer, hardware_dropdown, log2_slider, model_dropdown
from .attention import Flagged

#: Batches the explorer's table shows (columns).
BATCHES = 2 ** np.arange(0, 11)


def regime_table(model: str, hardware: str, precision: str, context: int) -> Flagged:
    """Decode step over :data:`BATCHES` at one context: time, tokens/s, bound, cost shares, fit.

    A sentence above the table says from which batch on the KV caches no longer fit beside the
    weights (the table's numbers for those batches describe steps the device cannot run).
    """
    opts = PRECISIONS[precision]
    df = batch_table(model, hardware, BATCHES, context, **opts)
    df.loc["Fits in memory"] = ["yes" if bool(v) else "no" for v in df.loc["Fits in memory"]]
    mb = int(max_decode_batch(model, hardware, context, **opts))
    if mb >= BATCHES[-1]:
        note, fits = f"Every batch shown fits: up to {mb:,} sequences of {context:,} cached tokens fit.", True
    elif mb == 0:
        note, fits = "⚠ DOES NOT FIT: not even one sequence fits beside the weights; every column is hypothetical.", False
    else:
        note = (f"⚠ Only {mb:,} sequences of {context:,} cached tokens fit beside the weights: the columns marked "
                "'no' describe steps this device cannot run.")
        fits = False
    return Flagged(tidy(df), note, fits)


def regime_explorer(model="llama-3.1-8b", hardware="h100-sxm", precision="bf16", context=4096) -> Explorer:
    """Pick a model, a device, a precision scheme and a context; see the decode step over batch."""
    controls = {
        "model": model_dropdown(model),
        "hardware": hardware_dropdown(hardware),
        "precision": w.Dropdown(options=list(PRECISIONS), value=precision, description="precision"),
        "context": log2_slider(context, 128, 131072, "context"),
    }
    return Explorer(regime_table, controls, title="Decode step across batch sizes")
