"""The KV-cache chapter's explorer: one model's cache on one device, at a context and a KV precision."""
from __future__ import annotations

import ipywidgets as w
import pandas as pd

from . import Explorer, hardware_dropdown, model_dropdown
from .. import kvcache as kc
from ..analysis import analyze
from ..book import tidy
from ..models import kv_cache_bytes, load_model


def _kv(model, device, context, kv_dtype):
    m = load_model(model)
    a = analyze(m, device, batch=1, prompt_len=context, gen_len=1, kv_dtype=kv_dtype)
    per_seq = float(kv_cache_bytes(m, context, 1, kv_dtype))
    row = {"KV per token, first (KiB)": float(kv_cache_bytes(m, 1, 1, kv_dtype)) / 2**10,
           "KV of the context (GiB)": per_seq / 2**30,
           "Sequences that fit": int(a.summary["max_batch"]) if a.fits else 0,
           "Fits": "yes" if a.fits else "no: " + a.memory_message()}
    return tidy(pd.DataFrame([row]), int_columns=["Sequences that fit"])


def kv_explorer(model: str = "llama-3.1-8b", device: str = "h100-sxm", context: int = 32768,
                kv_dtype: str = "bf16"):
    """Pick a model, a device, a context and a KV precision; see the cache and how many sequences fit."""
    controls = {
        "model": model_dropdown(model),
        "device": hardware_dropdown(device),
        "context": w.SelectionSlider(options=[2 ** i for i in range(8, 18)], value=context, description="context"),
        "kv_dtype": w.Dropdown(options=["bf16", "fp8", "int8", "int4"], value=kv_dtype, description="KV dtype"),
    }
    return Explorer(_kv, controls, title="The KV cache of one model on one device")
