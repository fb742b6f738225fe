"""Explorer of the attention-share chapter: where the FLOPs and the time of one step go.

Needs a kernel (ipywidgets); in the static book the chapter's Altair charts
play this role.
"""
from __future__ import annotations

import ipywidgets as w

from ..analysis import analyze
from ..hardware import get_hardware
from ..models import kv_cache_bytes
from ..regimes import max_decode_batch
from ..book import tidy
from ..share import breakdown
from . import Explorer, hardware_dropdown, log2_slider, model_dropdown


GiB = 2 ** 30


class Flagged:
    """A table with a sentence above it (whether the workload fits in memory); displays as both."""

    def __init__(self, table, note: str, fits: bool):
        self.table, self.note, self.fits = table, note, fits

    def __repr__(self) -> str:
        return f"{self.note}\n\n{self.table.to_string()}"

    def _repr_html_(self) -> str:
        colour = "" if self.fits else ' style="color:#b00020"'
        return f"<p{colour}><b>{self.note}</b></p>" + self.table.to_html()


def memory_note(model: str, hardware: str, phase: str, batch: int, context: int) -> tuple[str, bool]:
    """One sentence: does the step's workload fit in the device's memory?

    Decode: the weights and the ``batch`` KV caches of ``context + 1`` tokens (the
    chapter's rule, :func:`llmperf.regimes.max_decode_batch`); prefill: llmperf's
    full account (weights, KV cache, activations) of a prefill of ``context`` tokens.
    """
    if phase == "decode":
        hw = get_hardware(hardware)
        weights = analyze(model, hw, 1, 1, 1).summary["weight_bytes"]
        kv = float(kv_cache_bytes(model, context + 1, batch))
        mb = int(max_decode_batch(model, hw, context))
        need = f"weights {weights / GiB:.1f} GiB + KV cache {kv / GiB:.1f} GiB of {hw.memory_bytes / GiB:.0f} GiB"
        if batch <= mb:
            return f"Fits: {need}; at most {mb:,} sequences of this length fit.", True
        return (f"⚠ DOES NOT FIT: {need}; at most {mb:,} sequences of this length fit: "
                "these numbers describe a step this device cannot run."), False
    a = analyze(model, hardware, batch, context, 1)
    msg = a.memory_message()
    return (msg[0].upper() + msg[1:] if a.fits else "⚠ " + msg), a.fits


def share_breakdown(model: str, hardware: str, phase: str, batch: int, context: int) -> Flagged:
    """FLOPs and roofline time by part for one step (what the explorer shows), with a memory verdict."""
    note, fits = memory_note(model, hardware, phase, batch, context)
    return Flagged(tidy(breakdown(model, hardware, phase, batch, context).round(3)), note, fits)


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
