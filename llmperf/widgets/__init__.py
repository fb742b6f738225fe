"""ipywidgets explorers for live sessions. Importing this package imports ipywidgets.

An :class:`Explorer` ties a few controls to a function of llmperf: whenever a
control changes, the function runs again and its result (a DataFrame, a chart
or text) replaces the output. Tests drive explorers without a browser:
``ex.set(batch=64)`` changes a control exactly as a user would, and
``ex.result`` holds what the function returned.

Widgets need a kernel: in the static book they do not run (the pages use
Altair sliders instead), so chapters hide explorer outputs there.
Chapter-specific explorers live in this package's submodules.
"""
from __future__ import annotations

from typing import Any, Callable, Mapping

import ipywidgets as w
from IPython.display import display

from ..hardware import hardware_names
from ..models import model_names


class Explorer(w.VBox):
    """Controls plus an output area, re-rendered by ``fn(**values)`` on every change."""

    def __init__(self, fn: Callable[..., Any], controls: Mapping[str, w.ValueWidget], title: str = ""):
        self.fn = fn
        self.controls = dict(controls)
        self.output = w.Output()
        self.result = None
        self.error: str | None = None
        header = [w.HTML(f"<b>{title}</b>")] if title else []
        super().__init__(header + [w.HBox(list(self.controls.values()), layout=w.Layout(flex_flow="row wrap")),
                                   self.output])
        for c in self.controls.values():
            c.observe(self._on_change, names="value")
        self.update()

    @property
    def values(self) -> dict:
        return {k: c.value for k, c in self.controls.items()}

    def _on_change(self, _change):
        self.update()

    def update(self):
        """Run the function with the current control values and show the result."""
        self.output.clear_output(wait=True)
        try:
            self.result = self.fn(**self.values)
            self.error = None
        except ValueError as e:  # bad combination chosen by the user: say so, do not crash
            self.result, self.error = None, str(e)
        with self.output:
            if self.error is not None:
                print(f"error: {self.error}")
            else:
                display(self.result)
        return self.result

    def set(self, **values):
        """Change controls as a user would (each change re-renders once)."""
        for k, v in values.items():
            if k not in self.controls:
                raise KeyError(f"no control {k!r}; controls: {', '.join(self.controls)}")
            self.controls[k].value = v
        return self.result


def model_dropdown(value="llama-3.1-8b", description="model", options=None) -> w.Dropdown:
    return w.Dropdown(options=list(options or model_names()), value=value, description=description)


def hardware_dropdown(value="h100-sxm", description="device", options=None) -> w.Dropdown:
    return w.Dropdown(options=list(options or hardware_names()), value=value, description=description)


def dtype_dropdown(value="bf16", description="dtype", options=("fp32", "bf16", "fp8", "int8", "int4")) -> w.Dropdown:
    return w.Dropdown(options=list(options), value=value, description=description)


def log2_slider(value=1, lo=1, hi=1024, description="batch") -> w.SelectionSlider:
    """A slider over powers of two."""
    opts = []
    v = lo
    while v <= hi:
        opts.append(v)
        v *= 2
    if value not in opts:
        raise ValueError(f"{description}: {value} is not a power of two in [{lo}, {hi}]")
    return w.SelectionSlider(options=opts, value=value, description=description)
