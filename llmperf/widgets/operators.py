"""Explorer of the chapter "Operator Tables": the operator table of any model, device and step."""
from __future__ import annotations

import ipywidgets as w

from ..analysis import analyze
from ..tables import DEFAULT_DEVICE, PROMPT_LEN, SEED_MODELS, operator_table
from . import dtype_dropdown, hardware_dropdown, log2_slider, model_dropdown
from .roofline import FitExplorer


def operator_table_with_fit(model, hardware, phase="prefill", batch=1, prompt_len=PROMPT_LEN, weight_dtype="bf16"):
    """:func:`llmperf.tables.operator_table` and whether the request fits in the device's memory.

    The memory is the engine's count (:attr:`llmperf.Analysis.memory`) for the prompt and one
    generated token: weights, KV cache and the larger of the prefill's and the decode step's
    activations. Returns ``(table, {"fits": bool, "message": str})``.
    """
    table = operator_table(model, hardware, phase, batch, prompt_len, weight_dtype=weight_dtype)
    a = analyze(model, hardware, batch, prompt_len, 2, weight_dtype=weight_dtype)
    return table, {"fits": a.fits, "message": a.memory_message()}


def operator_explorer(model: str = SEED_MODELS[2], device: str = DEFAULT_DEVICE) -> FitExplorer:
    """Controls: model, device, phase, batch, prompt length, weight dtype; output: whether it fits
    in memory (flagged when it does not), then the operator table.

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
    return FitExplorer(operator_table_with_fit, controls, title="Operator table of one step (roofline lower bounds)")
