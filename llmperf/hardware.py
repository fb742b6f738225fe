"""Accelerators and SoCs: how fast they compute and how fast they read memory.

A :class:`Hardware` holds the three numbers a roofline needs (peak FLOP/s per
dtype, memory bandwidth, memory capacity) plus the link bandwidth used for
tensor-parallel all-reduce. The catalog in ``data/hardware.json`` cites a
datasheet for every entry.

Conventions:

- Peaks are **dense**. Where a vendor's headline number assumes 2:4
  structured sparsity, the catalog halves it and says so in ``sparse_note``.
- Bandwidths are vendor peaks in decimal units (3.35 TB/s = 3.35e12 B/s).
- ``memory_bytes`` is in bytes; parts whose DRAM comes in binary sizes (HBM
  stacks, GDDR and LPDDR chips) store ``N * 2**30`` for "N GB", and each
  entry's ``notes`` says so.
- int8 and int4 peaks are integer operations per second (OP/s); they sit in
  the same mapping as the float peaks.

Use :func:`get_hardware` to fetch a device by name or from a JSON/YAML file,
and :meth:`Hardware.replace` to ask "what if": ``h.replace(memory_bandwidth_bytes_per_s=4e12)``.
"""
from __future__ import annotations

import dataclasses
import difflib
import json
import math
import os
import re
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Mapping

from .configfile import InputFileError, parse_json, parse_yaml, read_text_file, short
from .dtypes import DTYPE_BYTES, canonical_dtype

CATEGORIES = ("datacenter", "workstation", "edge")

#: Float dtypes, used for the ridge-point fallback (int8/int4 are not FLOP).
_FLOAT_DTYPES = ("fp32", "tf32", "fp16", "bf16", "fp8")

_REQUIRED = ("name", "display_name", "category", "memory_bytes",
             "memory_bandwidth_bytes_per_s", "peak_flop_per_s")
_OPTIONAL = ("interconnect_bandwidth_bytes_per_s", "source", "sparse_note", "notes")
_SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_FILE_SUFFIXES = (".json", ".yaml", ".yml")
#: Largest hardware file read (one device is a few hundred bytes; this bounds the YAML parser's time).
MAX_HARDWARE_FILE_BYTES = 2 ** 20


class HardwareError(ValueError):
    """A hardware description is missing, malformed or inconsistent."""


#: Range of every hardware figure (bytes, bytes/s, FLOP/s): at least 1, at most 1e24.
#: Bounded figures keep every time, rate and ratio llmperf computes finite.
MIN_FIGURE, MAX_FIGURE = 1.0, 1e24


def _positive(value: Any, what: str) -> float:
    """``value`` as a finite float in [1, 1e24], or a HardwareError naming ``what``."""
    if isinstance(value, str):
        # PyYAML reads "3.35e12" (no dot before the exponent sign) as a string.
        try:
            value = float(value) if len(value) < 100 else None
        except ValueError:
            value = None
        if value is None:
            raise HardwareError(f"{what} must be a number, got {short(value)}")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise HardwareError(f"{what} must be a number, got {short(value)}")
    try:
        value = float(value)
    except OverflowError:
        value = math.inf
    if not math.isfinite(value) or not MIN_FIGURE <= value <= MAX_FIGURE:
        raise HardwareError(f"{what} must be a finite number in [{MIN_FIGURE:g}, {MAX_FIGURE:g}], got {short(value)}")
    return value


def _text(value: Any, what: str, *, required: bool) -> str:
    if not isinstance(value, str):
        raise HardwareError(f"{what} must be a string, got {short(value)}")
    if required and not value.strip():
        raise HardwareError(f"{what} must not be empty")
    if len(value) > 10000:
        raise HardwareError(f"{what} is {len(value)} characters long; the limit is 10000")
    return value


@dataclass(frozen=True)
class Hardware:
    """One device, as a roofline sees it.

    All quantities are SI floats: bytes, bytes per second, FLOP (or OP) per
    second. ``peak_flop_per_s`` maps canonical dtype names (see
    :mod:`llmperf.dtypes`) to dense peaks; a dtype the device cannot run is
    absent. Treat that mapping as read-only: use :meth:`replace` to change it.
    """

    name: str
    display_name: str
    category: str
    memory_bytes: float
    memory_bandwidth_bytes_per_s: float
    peak_flop_per_s: Mapping[str, float] = field(hash=False)
    interconnect_bandwidth_bytes_per_s: float | None = None
    source: str = ""
    sparse_note: str = ""
    notes: str = ""

    def __post_init__(self):
        def set_(key, value):  # the dataclass is frozen
            object.__setattr__(self, key, value)

        name = _text(self.name, "name", required=True)
        if not _SLUG.match(name) or len(name) > 100:
            raise HardwareError(
                f"name {short(name)} must be a lower-case slug of letters, digits and single hyphens, e.g. 'my-gpu'")
        where = f"hardware {name!r}"
        _text(self.display_name, f"{where}: display_name", required=True)
        if self.category not in CATEGORIES:
            raise HardwareError(f"{where}: category {short(self.category)} is not one of {', '.join(CATEGORIES)}")
        set_("memory_bytes", _positive(self.memory_bytes, f"{where}: memory_bytes"))
        set_("memory_bandwidth_bytes_per_s",
             _positive(self.memory_bandwidth_bytes_per_s, f"{where}: memory_bandwidth_bytes_per_s"))
        if self.interconnect_bandwidth_bytes_per_s is not None:
            set_("interconnect_bandwidth_bytes_per_s",
                 _positive(self.interconnect_bandwidth_bytes_per_s, f"{where}: interconnect_bandwidth_bytes_per_s"))
        for key in ("source", "sparse_note", "notes"):
            _text(getattr(self, key), f"{where}: {key}", required=False)
        set_("peak_flop_per_s", self._canonical_peaks(self.peak_flop_per_s, where))

    @staticmethod
    def _canonical_peaks(peaks: Any, where: str) -> dict[str, float]:
        if not isinstance(peaks, Mapping) or not peaks:
            raise HardwareError(
                f"{where}: peak_flop_per_s must be a non-empty mapping of dtype to FLOP/s, "
                f"e.g. {{'bf16': 989.4e12}}; got {short(peaks)}")
        out: dict[str, float] = {}
        for key, value in peaks.items():
            try:
                dtype = canonical_dtype(key)
            except ValueError:
                raise HardwareError(
                    f"{where}: unknown dtype {short(key)} in peak_flop_per_s; use one of: {', '.join(DTYPE_BYTES)}"
                ) from None
            if dtype in out:
                raise HardwareError(f"{where}: dtype {dtype!r} appears twice in peak_flop_per_s (as {key!r})")
            out[dtype] = _positive(value, f"{where}: peak_flop_per_s[{key!r}]")
        # One order everywhere: the order of DTYPE_BYTES.
        return {d: out[d] for d in DTYPE_BYTES if d in out}

    # -- questions a roofline asks -------------------------------------------

    def peak_for(self, dtype: str) -> float:
        """Dense peak in FLOP/s (OP/s for int8/int4) for ``dtype``."""
        d = canonical_dtype(dtype)
        if d not in self.peak_flop_per_s:
            raise HardwareError(
                f"hardware {self.name!r} has no {d} peak; it has: {', '.join(self.peak_flop_per_s)}")
        return self.peak_flop_per_s[d]

    def effective_dtype(self, dtype: str) -> str:
        """The dtype whose peak runs ``dtype`` work here.

        bf16 and fp16 stand in for each other when the device lists only one
        (a V100 or an Apple GPU runs a bf16 model's matmuls in fp16); any other
        missing dtype raises :class:`HardwareError` naming what the device has.
        """
        d = canonical_dtype(dtype)
        if d in self.peak_flop_per_s:
            return d
        if d in ("bf16", "fp16"):
            other = "fp16" if d == "bf16" else "bf16"
            if other in self.peak_flop_per_s:
                return other
        self.peak_for(d)  # raises
        return d

    def ridge_point_for(self, dtype: str) -> float:
        """Arithmetic intensity (FLOP/B) above which ``dtype`` work is compute bound."""
        return self.peak_for(dtype) / self.memory_bandwidth_bytes_per_s

    @property
    def ridge_point(self) -> float:
        """Ridge point (FLOP/B) of the 16-bit float peak: bf16, else fp16, else
        the largest float peak the device has (the largest of any, failing that)."""
        peaks = self.peak_flop_per_s
        for d in ("bf16", "fp16"):
            if d in peaks:
                return peaks[d] / self.memory_bandwidth_bytes_per_s
        floats = [peaks[d] for d in _FLOAT_DTYPES if d in peaks]
        return max(floats or peaks.values()) / self.memory_bandwidth_bytes_per_s

    # -- conversion ----------------------------------------------------------

    def to_dict(self) -> dict:
        """A JSON-able dict in the catalog's file format."""
        return {
            "name": self.name,
            "display_name": self.display_name,
            "category": self.category,
            "memory_bytes": self.memory_bytes,
            "memory_bandwidth_bytes_per_s": self.memory_bandwidth_bytes_per_s,
            "peak_flop_per_s": dict(self.peak_flop_per_s),
            "interconnect_bandwidth_bytes_per_s": self.interconnect_bandwidth_bytes_per_s,
            "source": self.source,
            "sparse_note": self.sparse_note,
            "notes": self.notes,
        }

    @classmethod
    def from_dict(cls, d: Mapping) -> "Hardware":
        """Build and validate a Hardware from a dict in the file format.

        Unknown keys are an error (a misspelt key would otherwise be ignored
        silently), and so is a missing required key.
        """
        if not isinstance(d, Mapping):
            raise HardwareError(f"a hardware description must be a mapping, got {type(d).__name__}")
        unknown = [k for k in d if k not in _REQUIRED + _OPTIONAL]
        if unknown:
            raise HardwareError(
                f"unknown key(s) {', '.join(short(k, 40) for k in unknown[:5])}; "
                f"allowed keys: {', '.join(_REQUIRED + _OPTIONAL)}")
        missing = [k for k in _REQUIRED if k not in d]
        if missing:
            raise HardwareError(f"missing required key(s): {', '.join(missing)}")
        kwargs = dict(d)
        for key in ("source", "sparse_note", "notes"):
            if kwargs.get(key) is None:
                kwargs[key] = ""
        return cls(**kwargs)

    def replace(self, **changes) -> "Hardware":
        """A copy with ``changes`` applied and validated, e.g.
        ``h.replace(memory_bandwidth_bytes_per_s=2 * h.memory_bandwidth_bytes_per_s)``.

        A changed figure no longer comes from the original datasheet: unless
        ``source`` is given too, the copy's source says which fields were changed.
        """
        figures = ("memory_bytes", "memory_bandwidth_bytes_per_s", "peak_flop_per_s",
                   "interconnect_bandwidth_bytes_per_s")
        changed = [k for k in figures if k in changes and changes[k] != getattr(self, k)]
        if changed and "source" not in changes:
            changes["source"] = (f"modified from {self.name} ({', '.join(changed)} changed by the user); "
                                 f"original source: {self.source}")
        try:
            return dataclasses.replace(self, **changes)
        except TypeError as e:  # an unknown field name
            raise HardwareError(f"cannot replace on hardware {self.name!r}: {e}") from None

    def __str__(self) -> str:
        return (f"{self.display_name}: {self.memory_bytes / 2**30:.0f} GiB, "
                f"{self.memory_bandwidth_bytes_per_s / 1e9:.0f} GB/s, "
                f"ridge {self.ridge_point:.0f} FLOP/B")


# -- the catalog -------------------------------------------------------------

@lru_cache(maxsize=None)
def _catalog() -> dict[str, Hardware]:
    text = (resources.files("llmperf") / "data" / "hardware.json").read_text(encoding="utf-8")
    catalog: dict[str, Hardware] = {}
    for entry in json.loads(text):
        h = Hardware.from_dict(entry)
        if h.name in catalog:
            raise HardwareError(f"hardware catalog lists {h.name!r} twice")
        catalog[h.name] = h
    return catalog


def hardware_names() -> list[str]:
    """Names of the catalog devices, in catalog order."""
    return list(_catalog())


def get_hardware(name_or_path: "str | os.PathLike | Hardware") -> Hardware:
    """A catalog device by name (case-insensitive), a device read from a
    ``.json``/``.yaml``/``.yml`` file, or a :class:`Hardware` (returned as is)."""
    if isinstance(name_or_path, Hardware):
        return name_or_path
    if isinstance(name_or_path, os.PathLike) or (
            isinstance(name_or_path, str) and name_or_path.lower().endswith(_FILE_SUFFIXES)):
        return load_hardware_file(name_or_path)
    if not isinstance(name_or_path, str):
        raise HardwareError(f"expected a hardware name, a file path or a Hardware, got {short(name_or_path)}")
    key = re.sub(r"[\s_]+", "-", name_or_path.strip().lower())
    catalog = _catalog()
    if key in catalog:
        # A fresh copy, so that no caller can change what the next one gets.
        return dataclasses.replace(catalog[key])
    close = difflib.get_close_matches(key, catalog, n=3) if len(key) <= 100 else []
    hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
    raise HardwareError(
        f"unknown hardware {short(name_or_path)};{hint} known: {', '.join(catalog)}; "
        f"or pass a path to a JSON/YAML file")


def load_hardware_file(path: "str | os.PathLike") -> Hardware:
    """Read one device from a JSON or YAML file in the catalog's entry format."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in _FILE_SUFFIXES:
        raise HardwareError(f"{path}: hardware files must end in .json, .yaml or .yml")
    try:  # a regular file of bounded size: no FIFO, device or link to one; no alias bombs; no deep nesting
        text = read_text_file(path, "hardware file", MAX_HARDWARE_FILE_BYTES)
        if suffix == ".json":
            data = parse_json(text, str(path))
        else:
            try:
                import yaml  # noqa: F401
            except ImportError:
                raise ImportError(f"reading {path} needs PyYAML: pip install pyyaml (or use a .json file)") from None
            data = parse_yaml(text, str(path))
    except InputFileError as e:
        raise HardwareError(str(e).replace(": : ", ": ")) from None
    if not isinstance(data, Mapping):
        raise HardwareError(
            f"{path}: must hold one device as a mapping (like one catalog entry), got {type(data).__name__}")
    try:
        return Hardware.from_dict(data)
    except HardwareError as e:
        raise HardwareError(f"{path}: {e}") from None


def list_hardware(category: str | None = None) -> "pd.DataFrame":
    """The catalog as a table, one row per device, units in the headers.

    ``bf16/fp16 (TFLOP/s)`` is the bf16 peak, or the fp16 peak where the device
    has no bf16; ``ridge (FLOP/B)`` is :attr:`Hardware.ridge_point`.
    """
    if category is not None and category not in CATEGORIES:
        raise HardwareError(f"category {category!r} is not one of {', '.join(CATEGORIES)}")
    import pandas as pd
    rows = []
    for h in _catalog().values():
        if category is not None and h.category != category:
            continue
        p = h.peak_flop_per_s
        half = p.get("bf16", p.get("fp16"))
        rows.append({
            "name": h.name,
            "display_name": h.display_name,
            "category": h.category,
            "memory (GiB)": h.memory_bytes / 2**30,
            "bandwidth (GB/s)": h.memory_bandwidth_bytes_per_s / 1e9,
            "bf16/fp16 (TFLOP/s)": half / 1e12 if half is not None else float("nan"),
            "int8 (TOP/s)": p["int8"] / 1e12 if "int8" in p else float("nan"),
            "ridge (FLOP/B)": h.ridge_point,
            "source": h.source,
        })
    return pd.DataFrame(rows)
