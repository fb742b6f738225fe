"""Data types: their canonical names and their size in bytes.

Every dtype in llmperf is named by one of the canonical strings below. Aliases
(``float16``, ``bfloat16``, ``e4m3`` ...) are accepted on input and mapped to
the canonical name, so results always print one spelling.
"""
from __future__ import annotations

#: Size of one element in bytes. int4 packs two values in a byte.
DTYPE_BYTES: dict[str, float] = {
    "fp32": 4.0,
    "tf32": 4.0,
    "fp16": 2.0,
    "bf16": 2.0,
    "fp8": 1.0,
    "int8": 1.0,
    "int4": 0.5,
}

_ALIASES = {
    "float32": "fp32", "float": "fp32", "f32": "fp32",
    "float16": "fp16", "half": "fp16", "f16": "fp16",
    "bfloat16": "bf16",
    "float8": "fp8", "e4m3": "fp8", "e5m2": "fp8", "fp8_e4m3": "fp8", "fp8_e5m2": "fp8",
    "i8": "int8", "i4": "int4", "q8": "int8", "q4": "int4",
}


def canonical_dtype(name: str) -> str:
    """Return the canonical spelling of ``name`` or raise ``ValueError``."""
    if not isinstance(name, str):
        raise ValueError(f"dtype must be a string, got {name!r}")
    key = name.strip().lower()
    key = _ALIASES.get(key, key)
    if key not in DTYPE_BYTES:
        known = ", ".join(DTYPE_BYTES)
        raise ValueError(f"unknown dtype {name!r}; use one of: {known}")
    return key


def dtype_bytes(name: str) -> float:
    """Bytes per element of dtype ``name`` (0.5 for int4), or per weight of a weight format (scales included)."""
    b = DTYPE_BYTES.get(name)  # the canonical spellings, fast
    if b is not None:
        return b
    if isinstance(name, str) and name in _FORMATS_SEEN:
        return _FORMATS_SEEN[name][0] / 8.0
    if isinstance(name, str) and _FORMAT.match(name.strip().lower()):
        return weight_format(name)["bits_per_weight"] / 8.0
    return DTYPE_BYTES[canonical_dtype(name)]


# --- weight formats: how a quantized checkpoint stores its weights ---------------------------

import re as _re

_FORMAT = _re.compile(r"^(?:fp8-block(\d{1,9})x(\d{1,9})|mxfp4|int([2348])-g(\d{1,10})(-nozero)?|(nf4|fp4)-b64(-dq)?"
                      r"|int8-row(\d{1,10}))$")
_FORMATS_SEEN: dict[str, tuple[float, str, str]] = {}


def weight_format(name: str) -> dict:
    """A weight storage format: ``{"name", "bits_per_weight", "description", "quantizes"}``.

    Plain dtypes (``bf16``, ``int4`` ...) store every weight alike (``quantizes='all'``).
    Checkpoint formats, as a ``quantization_config`` describes them, count their scales
    and zero points in ``bits_per_weight`` and quantize the linear layers only
    (``'linear'``: embedding, norms and lm_head stay 16-bit), or for ``mxfp4`` the
    experts of a mixture of experts (``'experts'``):

    ``fp8-blockAxB``   fp8 with one fp32 scale per A x B block (8 + 32/(AB) bits)
    ``mxfp4``          OCP MX fp4: 4 bits plus an 8-bit shared exponent per 32 weights (4.25 bits)
    ``intN-gG``        GPTQ/AWQ: N-bit weights, an fp16 scale and an N-bit zero point per group of G
    ``intN-gG-nozero`` the same without zero points (symmetric AWQ)
    ``nf4-b64``        bitsandbytes NF4 (``fp4-b64``: FP4): an fp32 absmax per 64 weights (4.5 bits)
    ``nf4-b64-dq``     double quantization: an 8-bit absmax per 64, an fp32 scale per 256 of those
    ``int8-rowR``      bitsandbytes LLM.int8: int8 with an fp32 scale per row of R weights
    """
    if not isinstance(name, str):
        raise ValueError(f"weight dtype must be a string, got {name!r}")
    key = name.strip().lower()
    if key in _FORMATS_SEEN:
        bits, desc, q = _FORMATS_SEEN[key]
        return {"name": key, "bits_per_weight": bits, "description": desc, "quantizes": q}
    m = _FORMAT.match(key)
    if not m:
        c = canonical_dtype(name)
        return {"name": c, "bits_per_weight": 8 * DTYPE_BYTES[c], "description": f"{c}, every weight",
                "quantizes": "all"}
    fa, fb, ib, ig, nozero, bnb, dq, row = m.groups()
    if fa:
        a, b = int(fa), int(fb)
        if a < 1 or b < 1:
            raise ValueError(f"weight format {name!r}: block sizes must be positive")
        bits, desc, q = 8 + 32 / (a * b), f"fp8 weights, one fp32 scale per {a}x{b} block", "linear"
    elif key == "mxfp4":
        bits, desc, q = 4 + 8 / 32, "MXFP4: fp4 weights, one 8-bit (E8M0) scale per 32", "experts"
    elif ib:
        n, g = int(ib), int(ig)
        if g < 1:
            raise ValueError(f"weight format {name!r}: the group size must be positive")
        zero = 0 if nozero else n
        bits = n + (16 + zero) / g
        desc = f"int{n} weights, an fp16 scale{'' if nozero else f' and an int{n} zero point'} per group of {g}"
        q = "linear"
    elif bnb:
        bits = 4 + (8 / 64 + 32 / (64 * 256) if dq else 32 / 64)
        desc = (f"bitsandbytes {bnb.upper()}: 4-bit weights, " +
                ("an 8-bit absmax per 64 and an fp32 scale per 256 absmax" if dq else "an fp32 absmax per 64"))
        q = "linear"
    else:
        r = int(row)
        if r < 1:
            raise ValueError(f"weight format {name!r}: the row length must be positive")
        bits, desc, q = 8 + 32 / r, f"bitsandbytes LLM.int8: int8 weights, an fp32 scale per row of {r}", "linear"
    _FORMATS_SEEN[key] = (bits, desc, q)
    return {"name": key, "bits_per_weight": bits, "description": desc, "quantizes": q}


def canonical_weight_dtype(name: str) -> str:
    """The canonical spelling of a weight dtype or weight format (see :func:`weight_format`)."""
    return weight_format(name)["name"]


def weight_bytes_by_part(name: str, has_experts: bool = False) -> tuple[float, float, float]:
    """Bytes per weight of ``(embedding/norms/lm_head, other linear layers, experts)`` under ``name``."""
    b = DTYPE_BYTES.get(name)
    if b is not None:
        return b, b, b
    f = weight_format(name)
    q = f["bits_per_weight"] / 8.0
    if f["quantizes"] == "all":
        return q, q, q
    if f["quantizes"] == "experts" and has_experts:
        return 2.0, 2.0, q
    return 2.0, q, q
