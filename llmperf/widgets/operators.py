"""Explorer of the chapter "Operator Tables": the operator table of any model, device and step."""
from __future__ import annotations

import ipywidgets as w

from ..tables import DEFAULT_DEVICE, PROMPT_LEN, SEED_MODELS, operator_table
from . import Explorer, dtype_dropdown, hardware_dropdown, log2_slider, model_dropdown


def operator_explorer(model: str = SEED_MODELS[2], device: str = DEFAULT_DEVICE) -> Explorer:
    """Controls: model, device, phase, batch, prompt length, weight dtype; output: the operator table.

    In ``decode`` the table is the first decode step after a prompt of the
    chosen length (that many tokens cached).
    """
    controls = {
        "model": model_dropdown(model),
        "hardware": hardware_dropdown(device),
        "phase": w.Dropdown(options=["prefill", "decode"], value="prefill", description="phase"),
        "batch": log2_slider(1, 1, 256, "batch"),
        "prompt_len": log2_slider(PROMPT_LEN, 16, 131072, "prompt"),
        "weight_dtype": dtype_dropdown("bf16", "weights", options=("bf16", "fp8", "int8", "int4")),
    }
    return Explorer(operator_table, controls, title="Operator table of one step (roofline lower bounds)")
