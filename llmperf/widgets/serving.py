"""The serving chapter's explorer: one device serving a stream of requests with continuous batching."""
from __future__ import annotations

import ipywidgets as w
import pandas as pd

from . import Explorer, hardware_dropdown, model_dropdown
from .. import serving as sv
from ..book import tidy


def _serve(model, device, rate, prompt_len, output_len):
    r = sv.continuous_batching(model, device, [rate], prompt_len, output_len)
    ok = bool(r["stable"][0])
    nan = float("nan")  # no steady state when the queue grows: shown as a dash
    row = {"Running sequences": r["batch"][0] if ok else nan, "TPOT (ms)": r["step_s"][0] * 1e3 if ok else nan,
           "TTFT (ms)": r["ttft_s"][0] * 1e3 if ok else nan, "Generated tokens/s": rate * output_len if ok else nan,
           "Keeps up": "yes" if ok else "no: the queue grows"}
    return tidy(pd.DataFrame([row]))


def serving_explorer(model: str = "llama-3.1-8b", device: str = "h100-sxm", rate: float = 10.0,
                     prompt_len: int = 1024, output_len: int = 256) -> Explorer:
    """Pick a model, a device, an arrival rate and request lengths; see the steady state it reaches."""
    controls = {
        "model": model_dropdown(model),
        "device": hardware_dropdown(device),
        "rate": w.FloatLogSlider(value=rate, base=10, min=-1, max=3, step=0.05, description="requests/s"),
        "prompt_len": w.SelectionSlider(options=[2 ** i for i in range(6, 16)], value=prompt_len,
                                        description="prompt"),
        "output_len": w.SelectionSlider(options=[2 ** i for i in range(4, 13)], value=output_len,
                                        description="output"),
    }
    return Explorer(_serve, controls, title="Continuous batching: the steady state at one arrival rate")
