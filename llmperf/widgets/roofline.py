"""The roofline chapter's explorer: a decode step's operators against a device's ridge."""
from __future__ import annotations

import ipywidgets as w
from IPython.display import display

from . import Explorer, hardware_dropdown, log2_slider, model_dropdown
from .. import rooflines as R
from ..book import tidy


class FitExplorer(Explorer):
    """An :class:`Explorer` whose function returns ``(table, memory)``: it shows the memory
    sentence above the table, and flags a configuration that does not fit.

    ``result`` is the table; ``memory`` the dict of :func:`llmperf.rooflines.decode_memory`
    (``memory["fits"]``, ``memory["message"]``).
    """

    memory: dict | None = None

    def update(self):
        self.output.clear_output(wait=True)
        try:
            self.result, self.memory = self.fn(**self.values)
            self.error = None
        except ValueError as e:  # a combination the device cannot run: say so, do not crash
            self.result, self.memory, self.error = None, None, str(e)
        with self.output:
            if self.error is not None:
                print(f"error: {self.error}")
            else:
                print(("" if self.memory["fits"] else "WARNING: ") + self.memory["message"])
                display(tidy(self.result))   # 3 significant figures, the same on every machine
        return self.result


def operator_explorer(model: str = "llama-3.1-8b", device: str = "h100-sxm", batch: int = 1,
                      context: int = 1024, scheme: str = "bf16") -> FitExplorer:
    """Pick a model, a device, a precision scheme, a batch and a context; see whether the weights
    and KV cache fit, and every operator's intensity, how far it sits from the ridge, its bound and
    its time (:func:`llmperf.rooflines.operator_table`)."""
    controls = {
        "model": model_dropdown(model),
        "device": hardware_dropdown(device),
        "scheme": w.Dropdown(options=list(R.SCHEMES), value=scheme, description="precision"),
        "batch": log2_slider(batch, 1, 4096),
        "context": w.SelectionSlider(options=[2 ** i for i in range(7, 18)], value=context, description="context"),
    }
    return FitExplorer(R.operator_table_with_fit, controls, title="Decode step: operators against the ridge")
