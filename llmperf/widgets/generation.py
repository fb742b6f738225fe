"""Explorer of the chapter "How an LLM Generates Text" (live sessions only)."""
from __future__ import annotations

import ipywidgets as w
import pandas as pd

from ..book import tidy
from ..generation import metrics, metrics_table
from . import Explorer, dtype_dropdown, hardware_dropdown, log2_slider, model_dropdown


def generation_summary(model: str, hardware: str, weight_dtype: str, batch: int, prompt_len: int,
                       gen_len: int) -> pd.DataFrame:
    """TTFT, TPOT, end-to-end latency and throughput of one request shape, with the memory check."""
    m = metrics(model, hardware, batch=batch, prompt_len=prompt_len, gen_len=gen_len, weight_dtype=weight_dtype)
    t = tidy(metrics_table(m), digits=3)
    t.loc["Fits in memory"] = [m["memory_message"], "yes" if m["fits"] else "NO", ""]
    return t


def generation_explorer(model="llama-3.1-8b", hardware="h100-sxm", weight_dtype="bf16", batch=1, prompt_len=1024,
                        gen_len=256) -> Explorer:
    """Pick a model, a device, a weight dtype, a batch, a prompt length and a number of tokens to generate."""
    controls = {
        "model": model_dropdown(model),
        "hardware": hardware_dropdown(hardware),
        "weight_dtype": dtype_dropdown(weight_dtype, "weights", ("bf16", "fp8", "int8", "int4")),
        "batch": log2_slider(batch, 1, 1024, "batch B"),
        "prompt_len": log2_slider(prompt_len, 16, 131072, "prompt T"),
        "gen_len": log2_slider(gen_len, 1, 8192, "generate G"),
    }
    return Explorer(generation_summary, controls, title="Generation: TTFT, TPOT, latency and throughput")
