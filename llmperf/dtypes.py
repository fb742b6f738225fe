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
    """Bytes per element of dtype ``name`` (0.5 for int4)."""
    return DTYPE_BYTES[canonical_dtype(name)]
