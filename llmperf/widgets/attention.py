"""Explorer of the attention-share chapter: where the FLOPs and the time of one step go.

Needs a kernel (ipywidgets); in the static book the chapter's Altair charts
play this role.
"""
from __future__ import annotations

import ipywidgets as w

from ..share import breakdown
from . import Explorer, hardware_dropdown, log2_slider, model_dropdown


def share_breakdown(model: str, hardware: str, phase: str, batch: int, context: int):
    """Table of FLOPs and roofline time by part for one step (what the explorer shows)."""
    return breakdown(model, hardware, phase, batch, context).round(3)


def share_explorer(model: str = "llama-3.1-8b", hardware: str = "h100-sxm", phase: str = "decode",
                   batch: int = 1, context: int = 4096) -> Explorer:
    """Model, device, phase, batch and context in; the step's FLOP and time shares by part out."""
    controls = {
        "model": model_dropdown(model),
        "hardware": hardware_dropdown(hardware),
        "phase": w.ToggleButtons(options=["prefill", "decode"], value=phase, description="phase"),
        "batch": log2_slider(batch, 1, 512, "batch B"),
        "context": log2_slider(context, 128, 131072, "context S"),
    }
    return Explorer(share_breakdown, controls, title="Where one step's FLOPs and time go")
