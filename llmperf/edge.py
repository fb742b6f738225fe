"""Edge devices: what fits in memory, how fast batch-1 decode can go, and how to check a claim.

On a phone, a laptop or an embedded board one user generates one sequence at a
time (batch 1). Each decode step then reads every streamed weight once and the
whole KV cache once, and does about 2 FLOP per weight: at 16-bit weights its
intensity is near 1 FLOP/B, far below any device's ridge point, so the step is
memory-bound and its time is at least

    bytes read per step / bandwidth,

which makes ``bandwidth / bytes per step`` a **ceiling on tokens per second**.
This module computes that ceiling, compares it with llmperf's full decode step,
tells which models fit in the part of the memory an application may use, and
checks a claimed tokens/s against the ceiling.

Every function takes catalog names (or ModelConfig / Hardware objects) and
returns numbers in SI units (bytes, seconds, tokens/s) or DataFrames whose
headers carry the display unit. numpy and pandas only.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .analysis import analyze, decode_step, prefill_step
from .dtypes import dtype_bytes
from .hardware import HardwareError, get_hardware, list_hardware
from .models import kv_cache_bytes, load_model

GiB = 2.0 ** 30
GB = 1e9

#: Models small enough to be edge candidates, smallest first (all dense).
EDGE_MODELS = ("qwen2.5-0.5b", "qwen3-0.6b", "llama-3.2-1b", "qwen2.5-1.5b", "qwen2.5-3b", "llama-3.2-3b",
               "phi-3-mini", "mistral-7b", "qwen2.5-7b", "llama-3.1-8b", "qwen3-8b", "llama-2-13b")

#: Weight precisions compared in the chapter (KV cache and activations stay fp16).
WEIGHT_DTYPES = ("fp16", "int8", "int4")

#: The share of device memory the model may use, when nothing else is said: an
#: ASSUMPTION, not a measurement. A phone's OS and other apps keep much of the RAM;
#: a laptop's GPU may be allowed more, a dedicated Jetson board nearly all of it.
USABLE_FRACTION = 0.5

#: How each device's peak FLOP/s and bandwidth were obtained, read from the
#: catalog's ``notes`` (llmperf/data/hardware.json). "estimate": the vendor
#: publishes no figure, the catalog computes one from third-party unit counts
#: and clocks; "vendor": a figure the vendor states; "derived": computed from
#: vendor unit counts, clocks or bus width; "assumed": a memory speed the vendor
#: does not state.
FIGURE_BASIS = {
    "apple-m2": ("vendor fp32; fp16 assumed equal", "vendor"),
    "apple-m2-pro": ("vendor fp32; fp16 assumed equal", "vendor"),
    "apple-m2-max": ("vendor fp32; fp16 assumed equal", "vendor"),
    "apple-m3-max": ("estimate", "vendor"),
    "jetson-agx-orin-64gb": ("derived from vendor specs", "derived (bus x rate)"),
    "jetson-orin-nx-16gb": ("derived from vendor specs", "derived (bus x rate)"),
    "snapdragon-8-gen-3": ("estimate", "vendor maximum (phones may ship slower RAM)"),
    "dimensity-9300": ("estimate", "vendor"),
    "tensor-g3": ("estimate", "assumed"),
    "core-ultra-7-155h": ("derived; matches vendor int8 claim", "derived (bus x rate)"),
    "raspberry-pi-5": ("derived from core count and clock", "derived (bus x rate)"),
}


def edge_devices() -> list[str]:
    """Names of the catalog's edge devices, in catalog order."""
    return list(list_hardware("edge")["name"])


def _model(m):
    return load_model(m)


def _hw(h):
    return get_hardware(h)


def _fp16_peak(hw) -> float:
    """The device's 16-bit float peak (fp16, else bf16)."""
    try:
        return hw.peak_for(hw.effective_dtype("fp16"))
    except HardwareError:
        return np.nan


# --- bytes of one batch-1 decode step ------------------------------------------
def streamed_weight_params(model) -> int:
    """Parameters a batch-1 decode step reads.

    The active ones, less an untied input embedding: that embedding
    is a lookup, one row per token, not the whole table. A tied
    embedding is read in full anyway, as the lm_head. An MoE step
    reads only the experts its token is routed to (params_active).
    """
    m = _model(model)
    pc = m.param_counts()
    emb = pc["embedding"]
    return int(pc["active"] - (0 if m.tie_embeddings else emb))


def weight_bytes_per_token(model, weight_dtype="int4", bits_per_weight=None) -> float:
    """Bytes of weights one batch-1 decode step reads.

    ``bits_per_weight`` overrides the dtype's size, e.g. 4.5 for int4 with one
    fp16 scale and zero point per 64 weights (llmperf's dtypes carry no scales).
    """
    bpw = dtype_bytes(weight_dtype) if bits_per_weight is None else bits_per_weight / 8.0
    return float(streamed_weight_params(model) * bpw)


def kv_bytes_per_token(model, context, kv_dtype="fp16"):
    """Bytes of KV cache one decode step reads after ``context`` cached tokens (array ok).

    llmperf's convention: the step attends the cache plus its own token, S + 1
    keys, capped by each layer's sliding window.
    """
    return kv_cache_bytes(model, np.asarray(context, dtype=float) + 1.0, 1, kv_dtype)


def bytes_per_token(model, context=1024, weight_dtype="int4", kv_dtype="fp16", bits_per_weight=None):
    """Weights plus KV cache read by one batch-1 decode step (array over ``context``)."""
    return weight_bytes_per_token(model, weight_dtype, bits_per_weight) + kv_bytes_per_token(model, context, kv_dtype)


def bandwidth_ceiling(model, device, context=1024, weight_dtype="int4",
                      kv_dtype="fp16", memory_efficiency=1.0,
                      bits_per_weight=None):
    """Upper bound on batch-1 decode tokens/s.

    Bandwidth x efficiency / bytes read per step (weights + KV cache).
    """
    hw = _hw(device)
    bw = hw.memory_bandwidth_bytes_per_s * memory_efficiency
    step_bytes = bytes_per_token(model, context, weight_dtype, kv_dtype,
                                 bits_per_weight)
    return bw / step_bytes


def decode_tokens_per_s(model, device, context=1024, weight_dtype="int4", kv_dtype="fp16", memory_efficiency=1.0):
    """llmperf's full batch-1 decode step (every operator, activations included) as tokens/s."""
    r = decode_step(model, device, 1, context, weight_dtype=weight_dtype, act_dtype="fp16", kv_dtype=kv_dtype,
                    memory_efficiency=memory_efficiency)
    return 1.0 / r.time_s


# --- tables ---------------------------------------------------------------------
def device_table(devices=None) -> pd.DataFrame:
    """The edge catalog: memory, bandwidth, peaks, ridge point and where the figures come from."""
    rows = []
    for name in devices or edge_devices():
        hw = _hw(name)
        fp16 = _fp16_peak(hw)
        peak_basis, bw_basis = FIGURE_BASIS.get(name, ("see catalog notes", "see catalog notes"))
        rows.append({
            "Device": name,
            "Memory (GiB)": hw.memory_bytes / GiB,
            "Bandwidth (GB/s)": hw.memory_bandwidth_bytes_per_s / GB,
            "fp16 peak (TFLOP/s)": fp16 / 1e12,
            "int8 peak (TOP/s)": hw.peak_flop_per_s.get("int8", np.nan) / 1e12,
            "Ridge fp16 (FLOP/B)": fp16 / hw.memory_bandwidth_bytes_per_s,
            "Peak figures": peak_basis,
            "Bandwidth figure": bw_basis,
        })
    return pd.DataFrame(rows).set_index("Device")


def ceiling_table(models=EDGE_MODELS, devices=None, weight_dtypes=WEIGHT_DTYPES, context=1024,
                  kv_dtype="fp16", usable_fraction=USABLE_FRACTION) -> pd.DataFrame:
    """Long table: for each model, device and weight dtype, bytes per step and the tokens/s ceiling.

    Also llmperf's full decode step (``decode (tokens/s)``), which moves a little
    more than weights + KV (activations, norms), so it sits just below the ceiling,
    and ``fits``: whether one sequence of ``context`` tokens fits in the
    ``usable_fraction`` of the device's memory (a ceiling of a configuration that
    does not fit is a number on paper; tables and charts flag it).
    """
    rows = []
    devices = devices or edge_devices()
    for m in models:
        params = _model(m).params_active
        kv = float(kv_bytes_per_token(m, context, kv_dtype))
        for dt in weight_dtypes:
            wb = weight_bytes_per_token(m, dt)
            for d in devices:
                bw = _hw(d).memory_bandwidth_bytes_per_s
                rows.append({"model": m, "Params (billions)": params / 1e9, "device": d, "weights": dt,
                             "weights read (GB)": wb / GB, "KV read (GB)": kv / GB,
                             "bandwidth (GB/s)": bw / GB, "ceiling (tokens/s)": bw / (wb + kv),
                             "decode (tokens/s)": float(decode_tokens_per_s(m, d, context, dt, kv_dtype)),
                             "fits": bool(analyze(m, d, 1, int(context), 1, weight_dtype=dt, act_dtype="fp16",
                                                  kv_dtype=kv_dtype, memory_fraction=usable_fraction).fits)})
    return pd.DataFrame(rows)


def memory_needed(model, context=4096, weight_dtype="int4", kv_dtype="fp16", device="raspberry-pi-5"):
    """llmperf's memory for one sequence of ``context`` tokens: weights + KV cache + activation peak (bytes).

    Uses ``analyze(model, device, batch=1, prompt_len=context, gen_len=1)``: the
    KV cache holds ``context`` tokens and the activation peak is that of a
    whole-prompt prefill (engines that prefill in chunks need less). The device
    only sets the capacity; the bytes do not depend on it.
    """
    a = analyze(model, device, 1, int(context), 1, weight_dtype=weight_dtype, act_dtype="fp16", kv_dtype=kv_dtype)
    s = a.summary
    return {"weights": s["weight_bytes"], "kv": s["kv_cache_bytes"], "activations": s["activation_peak_bytes"],
            "total": s["memory_total_bytes"]}


def fits_table(models=EDGE_MODELS, devices=None, weight_dtypes=WEIGHT_DTYPES, context=4096,
               usable_fraction=USABLE_FRACTION, kv_dtype="fp16") -> pd.DataFrame:
    """Long table: memory a model needs at each weight dtype against each device's usable memory.

    ``usable_fraction`` is the share of the device's memory the model may use
    (an explicit assumption; see :data:`USABLE_FRACTION`). The verdict uses
    llmperf's ``analyze(...).summary['fits']`` with ``memory_fraction=usable_fraction``.
    """
    devices = devices or edge_devices()
    rows = []
    for m in models:
        for dt in weight_dtypes:
            for d in devices:
                a = analyze(m, d, 1, int(context), 1, weight_dtype=dt, act_dtype="fp16", kv_dtype=kv_dtype,
                            memory_fraction=usable_fraction)
                s = a.summary
                rows.append({"model": m, "Params (billions)": s["params_total"] / 1e9, "weights": dt, "device": d,
                             "needed (GiB)": s["memory_total_bytes"] / GiB,
                             "device memory (GiB)": _hw(d).memory_bytes / GiB,
                             "usable (GiB)": s["memory_capacity_bytes"] / GiB, "fits": s["fits"]})
    return pd.DataFrame(rows)


def fits_matrix(weight_dtype="int4", models=EDGE_MODELS, devices=None, context=4096,
                usable_fraction=USABLE_FRACTION) -> pd.DataFrame:
    """Models down, devices across: 'yes' where the model fits in the usable memory, else 'no'."""
    t = fits_table(models, devices, (weight_dtype,), context, usable_fraction)
    out = t.pivot(index="model", columns="device", values="fits").loc[list(models), list(devices or edge_devices())]
    return out.replace({True: "yes", False: "no"})


def largest_fitting(device, weight_dtype="int4", models=EDGE_MODELS, context=4096,
                    usable_fraction=USABLE_FRACTION) -> str | None:
    """The model with the most parameters (of ``models``) that fits, or None."""
    t = fits_table(models, [device], (weight_dtype,), context, usable_fraction)
    t = t[t["fits"]]
    return None if t.empty else str(t.sort_values("Params (billions)").iloc[-1]["model"])


def largest_table(fits: pd.DataFrame, missing: str = "–") -> pd.DataFrame:
    """Devices down, weight dtypes across: the model with the most parameters that fits, from :func:`fits_table`.

    ``missing`` (a dash) where no model of the list fits.
    """
    devices = list(dict.fromkeys(fits["device"]))
    dtypes = list(dict.fromkeys(fits["weights"]))
    out = pd.DataFrame(missing, index=pd.Index(devices, name="device"), columns=dtypes)
    ok = fits[fits["fits"]].sort_values("Params (billions)", kind="stable")
    for (d, dt), g in ok.groupby(["device", "weights"], sort=False):
        out.loc[d, dt] = str(g.iloc[-1]["model"])
    return out


# --- checking a claim -----------------------------------------------------------
def check_claim(model, device, tokens_per_s, weight_dtype="int4",
                context=1024, kv_dtype="fp16", bits_per_weight=None,
                plausible_fraction=0.8) -> dict:
    """Is a claimed batch-1 decode speed possible on this device?

    Returns the ceiling (tokens/s at 100 % of peak bandwidth), the
    ratio claim / ceiling, the bandwidth the claim implies, the memory
    needed and a verdict:

    * ratio <= ``plausible_fraction`` (0.8: sustained bandwidth rarely
      exceeds 80 % of peak): plausible;
    * up to 1: at the ceiling, only with near-peak bandwidth;
    * above 1: not plain batch-1 decoding of that model at that
      precision: speculative decoding (several tokens per pass over
      the weights), a smaller model or fewer bits than stated,
      batching (aggregate tokens/s), or prefill tokens/s;
    * "does not fit in memory" when the weights, the KV cache of
      ``context`` tokens and the activations exceed the device's
      whole memory.
    """
    hw = _hw(device)
    bpt = float(bytes_per_token(model, context, weight_dtype, kv_dtype,
                                bits_per_weight))
    ceiling = hw.memory_bandwidth_bytes_per_s / bpt
    ratio = float(tokens_per_s) / ceiling
    if ratio <= plausible_fraction:
        verdict = f"plausible ({ratio:.0%} of peak bandwidth)"
    elif ratio <= 1.0:
        verdict = f"at the ceiling ({ratio:.0%} of peak bandwidth)"
    else:
        verdict = f"exceeds the ceiling {ratio:.2f}x"
    mem = analyze(model, device, 1, int(context), 1,
                  weight_dtype=weight_dtype, act_dtype="fp16",
                  kv_dtype=kv_dtype).summary
    fits = bool(mem["fits"])
    return {"model": _model(model).name, "device": hw.name,
            "weights": weight_dtype, "context": int(context),
            "claimed_tokens_per_s": float(tokens_per_s),
            "bytes_per_token": bpt, "ceiling_tokens_per_s": ceiling,
            "ratio": ratio,
            "implied_bandwidth_bytes_per_s": float(tokens_per_s) * bpt,
            "fits_in_memory": fits,
            "memory_needed_bytes": float(mem["memory_total_bytes"]),
            "memory_bytes": float(hw.memory_bytes),
            "verdict": verdict if fits else "does not fit in memory"}


def claims_table(claims) -> pd.DataFrame:
    """One row per claim (dicts of :func:`check_claim` keywords), in display units."""
    rows = []
    for c in claims:
        r = check_claim(**c)
        rows.append({"model": r["model"], "device": r["device"], "weights": r["weights"],
                     "claimed (tokens/s)": r["claimed_tokens_per_s"], "ceiling (tokens/s)": r["ceiling_tokens_per_s"],
                     "claim / ceiling": r["ratio"], "implied (GB/s)": r["implied_bandwidth_bytes_per_s"] / GB,
                     "verdict": r["verdict"]})
    return pd.DataFrame(rows)


# --- prefill on edge --------------------------------------------------------------
def prefill_table(model="qwen2.5-1.5b", devices=None, prompt_len=1024, weight_dtype="int4",
                  context_for_decode=None) -> pd.DataFrame:
    """TTFT of a ``prompt_len`` prefill per device (llmperf, roofline lower bound) next to one decode step.

    ``Tokens of decode = TTFT`` says how many decode steps take as long as the prefill.
    """
    ctx = prompt_len if context_for_decode is None else context_for_decode
    rows = []
    for d in devices or edge_devices():
        p = prefill_step(model, d, 1, prompt_len, weight_dtype=weight_dtype, act_dtype="fp16")
        dec = decode_step(model, d, 1, ctx, weight_dtype=weight_dtype, act_dtype="fp16")
        rows.append({"device": d, "TTFT (s)": float(p.time_s), "prefill compute (s)": float(p.compute_s),
                     "prefill memory (s)": float(p.memory_s), "prefill bound": str(p.bound),
                     "prefill intensity (FLOP/B)": float(p.intensity), "decode step (ms)": float(dec.time_s) * 1e3,
                     "decode steps = TTFT": float(p.time_s / dec.time_s)})
    return pd.DataFrame(rows).set_index("device")


def speculative_speedup(model, device, draft_tokens, accepted_per_pass, context=1024, weight_dtype="int4",
                        draft_model=None):
    """Batch-1 tokens/s of speculative decoding, from llmperf step times.

    A small ``draft_model`` (same tokenizer) proposes ``draft_tokens`` tokens,
    one decode step each; the target ``model`` then checks them in one pass that
    feeds ``draft_tokens + 1`` tokens (a short prefill chunk after ``context``
    cached ones). That pass reads the target's weights once, so on a
    memory-bound device it costs about one decode step, and it yields
    ``accepted_per_pass`` tokens on average (at least 1). ``draft_model=None``
    ignores the draft's cost (a bound). Returns a dict: tokens/s, plain decode
    tokens/s, speed-up, verify pass time / decode step time.
    """
    kw = dict(weight_dtype=weight_dtype, act_dtype="fp16")
    t1 = float(decode_step(model, device, 1, context, **kw).time_s)
    tv = float(prefill_step(model, device, 1, draft_tokens + 1, past=context, **kw).time_s)
    td = 0.0 if draft_model is None else float(decode_step(draft_model, device, 1, context, **kw).time_s)
    per_pass = draft_tokens * td + tv
    tps = accepted_per_pass / per_pass
    return {"tokens_per_s": tps, "plain_tokens_per_s": 1.0 / t1, "speedup": tps * t1,
            "verify_over_decode": tv / t1, "draft_share": draft_tokens * td / per_pass}
