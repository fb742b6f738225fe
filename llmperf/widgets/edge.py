"""Explorer of the edge chapter: check a claimed decode speed on an edge device (live sessions)."""
from __future__ import annotations

import ipywidgets as w
import pandas as pd

GiB = 2.0 ** 30

from ..book import fmt
from ..edge import EDGE_MODELS, check_claim, edge_devices
from . import Explorer, dtype_dropdown, log2_slider


def claim_frame(model: str, device: str, weights: str, tokens_per_s: float, context: int) -> pd.DataFrame:
    """:func:`llmperf.edge.check_claim` as a one-column table in display units.

    The first row says whether the model fits in the device's memory at this
    precision and context; when it does not, it says so before any speed.
    """
    r = check_claim(model, device, tokens_per_s, weight_dtype=weights, context=context)
    need, have = r["memory_needed_bytes"] / GiB, r["memory_bytes"] / GiB
    memory = (f"yes: needs {fmt(need)} of {fmt(have)} GiB" if r["fits_in_memory"] else
              f"NO: needs {fmt(need)} GiB, the device has {fmt(have)} GiB; the speeds below are on paper only")
    return pd.DataFrame({"value": {
        "fits in device memory": memory,
        "claimed (tokens/s)": f"{r['claimed_tokens_per_s']:.1f}",
        "bytes read per token (GB)": f"{r['bytes_per_token'] / 1e9:.3f}",
        "ceiling at peak bandwidth (tokens/s)": f"{r['ceiling_tokens_per_s']:.1f}",
        "claim / ceiling": f"{r['ratio']:.2f}",
        "bandwidth the claim implies (GB/s)": f"{r['implied_bandwidth_bytes_per_s'] / 1e9:.1f}",
        "verdict": r["verdict"],
    }})


def claim_explorer(model="llama-3.1-8b", device="snapdragon-8-gen-3", weights="int4", tokens_per_s=20.0,
                   context=1024) -> Explorer:
    """Pick a model, a device, a weight precision, a claimed tokens/s and a context; read the verdict."""
    controls = {
        "model": w.Dropdown(options=list(EDGE_MODELS) + ["qwen3-30b-a3b"], value=model, description="model"),
        "device": w.Dropdown(options=edge_devices(), value=device, description="device"),
        "weights": dtype_dropdown(weights, "weights", options=("fp16", "int8", "int4")),
        "tokens_per_s": w.BoundedFloatText(value=tokens_per_s, min=0.1, max=10000, step=1,
                                           description="tokens/s"),
        "context": log2_slider(context, 256, 32768, "context"),
    }
    return Explorer(claim_frame, controls, title="Is this tokens/s claim possible? (batch-1 decode)")
