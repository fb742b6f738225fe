"""The roofline chapter's explorer: a decode step's operators against a device's ridge."""
from __future__ import annotations

import ipywidgets as w

from . import Explorer, hardware_dropdown, log2_slider, model_dropdown
from .. import rooflines as R


def operator_explorer(model: str = "llama-3.1-8b", device: str = "h100-sxm", batch: int = 1,
                      context: int = 1024, scheme: str = "bf16") -> Explorer:
    """Pick a model, a device, a precision scheme, a batch and a context; see every
    operator's intensity, how far it sits from the ridge, its bound and its time
    (:func:`llmperf.rooflines.operator_table`)."""
    controls = {
        "model": model_dropdown(model),
        "device": hardware_dropdown(device),
        "scheme": w.Dropdown(options=list(R.SCHEMES), value=scheme, description="precision"),
        "batch": log2_slider(batch, 1, 4096),
        "context": w.SelectionSlider(options=[2 ** i for i in range(7, 18)], value=context, description="context"),
    }
    return Explorer(R.operator_table, controls, title="Decode step: operators against the ridge")
