"""Inference analysis: operators on a device, prefill and decode, memory, summary.

:func:`analyze` is the engine's front door: a model, a device, a workload
(batch, prompt length, tokens to generate), dtypes and tensor parallelism in;
per-operator tables for prefill and every decode step, memory, and a summary
out. :func:`decode_step` and :func:`sweep` evaluate single steps over numpy
grids of batch and context in one vectorized call.

Generation follows Hugging Face ``generate()``: the prefill forward pass
produces the first token (TTFT); each of the ``gen_len - 1`` decode steps
feeds one token, attends the cache plus itself, and produces the next. The
KV cache ends holding ``prompt_len + gen_len - 1`` tokens.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd

from .conventions import Conventions
from .dtypes import canonical_dtype, dtype_bytes
from .hardware import Hardware, get_hardware
from .models import ModelConfig, kv_bytes_per_token_layer, kv_cache_bytes, load_model
from .ops import OpSet, build_ops
from .roofline import roofline

GiB = 2.0 ** 30


class WorkloadError(ValueError):
    """A workload that cannot be analysed (non-positive sizes, bad efficiency ...)."""


def _positive_int_array(name, v):
    a = np.asarray(v)
    if a.dtype.kind not in "iuf" or a.size == 0:
        raise WorkloadError(f"{name} must be a positive integer (or an array of them), got {v!r}")
    if np.any(~np.isfinite(a)) or np.any(a <= 0) or np.any(a != np.floor(a)):
        raise WorkloadError(f"{name} must be a positive integer, got {v!r}")
    return a if a.ndim else a.item()


def _count_array(name, v):
    """A non-negative integer (or array of them): a number of cached tokens."""
    a = np.asarray(v)
    if a.dtype.kind not in "iuf" or a.size == 0 or np.any(~np.isfinite(a)) or np.any(a < 0) \
            or np.any(a != np.floor(a)):
        raise WorkloadError(f"{name} must be a non-negative integer (or an array of them), got {v!r}")
    return a if a.ndim else a.item()


@dataclass(frozen=True)
class Setup:
    """Everything except the workload sizes: model, device, dtypes, tp, efficiencies, conventions."""

    model: ModelConfig
    hardware: Hardware
    weight_dtype: str = "bf16"
    act_dtype: str = "bf16"
    kv_dtype: str = "bf16"
    compute_dtype: str | None = None
    tp: int = 1
    compute_efficiency: float = 1.0
    memory_efficiency: float = 1.0
    comm_efficiency: float = 1.0
    conventions: Conventions = field(default_factory=Conventions)

    def __post_init__(self):
        for f in ("weight_dtype", "act_dtype", "kv_dtype"):
            object.__setattr__(self, f, canonical_dtype(getattr(self, f)))
        cd = canonical_dtype(self.compute_dtype) if self.compute_dtype else self.act_dtype
        object.__setattr__(self, "compute_dtype", cd)
        if isinstance(self.tp, bool) or not isinstance(self.tp, (int, np.integer)) or self.tp < 1:
            raise WorkloadError(f"tp must be a positive integer, got {self.tp!r}")
        for f in ("compute_efficiency", "memory_efficiency", "comm_efficiency"):
            v = getattr(self, f)
            if not (isinstance(v, (int, float)) and 0 < v <= 1):
                raise WorkloadError(f"{f.replace('_', ' ')} must be in (0, 1], got {v!r}")
        if self.tp > 1 and not self.hardware.interconnect_bandwidth_bytes_per_s:
            raise WorkloadError(f"tp={self.tp} needs a device interconnect, but {self.hardware.name} lists none")

    @cached_property
    def peak_flop_per_s(self) -> float:
        return self.hardware.peak_for(self._peak_dtype)

    @cached_property
    def _peak_dtype(self) -> str:
        return self.hardware.effective_dtype(self.compute_dtype)

    @property
    def notes(self) -> list[str]:
        if self._peak_dtype != self.compute_dtype:
            return [f"{self.hardware.name} lists no {self.compute_dtype} peak; used its {self._peak_dtype} peak"]
        return []

    @property
    def effective_flop_per_s(self) -> float:
        return self.peak_flop_per_s * self.compute_efficiency

    @property
    def effective_bandwidth_bytes_per_s(self) -> float:
        return self.hardware.memory_bandwidth_bytes_per_s * self.memory_efficiency

    @property
    def effective_link_bytes_per_s(self) -> float:
        return (self.hardware.interconnect_bandwidth_bytes_per_s or np.inf) * self.comm_efficiency

    @property
    def time_basis(self) -> str:
        if self.compute_efficiency == 1 and self.memory_efficiency == 1 and self.comm_efficiency == 1:
            return "roofline lower bound (peak compute and bandwidth, efficiency 1)"
        return (f"roofline with efficiencies: compute {self.compute_efficiency:g}, memory "
                f"{self.memory_efficiency:g}, link {self.comm_efficiency:g}")

    def ops(self, batch, tokens, past, phase) -> OpSet:
        return build_ops(self.model, batch, tokens, past, phase=phase, conventions=self.conventions,
                         weight_dtype=self.weight_dtype, act_dtype=self.act_dtype, kv_dtype=self.kv_dtype,
                         tp=self.tp)

    def to_dict(self) -> dict:
        return {"model": self.model.name, "hardware": self.hardware.name, "weight_dtype": self.weight_dtype,
                "act_dtype": self.act_dtype, "kv_dtype": self.kv_dtype, "compute_dtype": self.compute_dtype,
                "peak_dtype_used": self._peak_dtype, "tp": int(self.tp),
                "compute_efficiency": self.compute_efficiency, "memory_efficiency": self.memory_efficiency,
                "comm_efficiency": self.comm_efficiency, "peak_flop_per_s": self.peak_flop_per_s,
                "memory_bandwidth_bytes_per_s": self.hardware.memory_bandwidth_bytes_per_s,
                "link_bandwidth_bytes_per_s": self.hardware.interconnect_bandwidth_bytes_per_s,
                "time_basis": self.time_basis}


class StepResult:
    """One forward step (or a grid of them) evaluated on a device.

    Per-operator arrays have shape ``(n_ops, *grid)``; step totals have the grid's shape.
    """

    def __init__(self, setup: Setup, ops: OpSet, phase: str, batch, tokens, past):
        self.setup, self.ops, self.phase = setup, ops, phase
        self.batch, self.tokens, self.past = batch, tokens, past
        d = ops.data
        bytes_moved = ops.bytes_read + ops.bytes_written
        r = roofline(d["flops"], bytes_moved, setup.effective_flop_per_s, setup.effective_bandwidth_bytes_per_s)
        comm_s = d["comm_bytes"] / setup.effective_link_bytes_per_s
        self.op_time_s = r["time_s"] + comm_s
        if setup.compute_efficiency == 1 and setup.memory_efficiency == 1 and setup.comm_efficiency == 1:
            self.op_time_peak_s = self.op_time_s
        else:  # the same operators at 100 % of peak compute, bandwidth and link
            hw = setup.hardware
            self.op_time_peak_s = (np.maximum(d["flops"] / setup.peak_flop_per_s,
                                              bytes_moved / hw.memory_bandwidth_bytes_per_s)
                                   + d["comm_bytes"] / (hw.interconnect_bandwidth_bytes_per_s or np.inf))
        self.op_compute_s, self.op_memory_s, self.op_comm_s = r["compute_s"], r["memory_s"], comm_s
        self.op_intensity = r["intensity"]
        is_comm = np.asarray([k == "comm" for k in ops.kinds]).reshape((-1,) + (1,) * (d["flops"].ndim - 1))
        self.op_bound = np.where(is_comm, "link", r["bound"])
        self.op_bytes = bytes_moved  # bytes read + written per operator
        rep = ops.repeats
        self.flops = np.tensordot(rep, d["flops"], axes=(0, 0))
        self.bytes = np.tensordot(rep, bytes_moved, axes=(0, 0))
        self.time_s = np.tensordot(rep, self.op_time_s, axes=(0, 0))
        self.compute_s = self.flops / setup.effective_flop_per_s
        self.memory_s = self.bytes / setup.effective_bandwidth_bytes_per_s
        self.comm_s = np.tensordot(rep, comm_s, axes=(0, 0))

    @property
    def intensity(self):
        return self.flops / self.bytes

    @property
    def bound(self):
        """Step-level bound: whichever of total compute time and total memory time is larger."""
        return np.where(self.compute_s >= self.memory_s, "compute", "memory")

    def activation_peak_bytes(self):
        """Largest activation working set of any operator plus the residual stream (per device)."""
        d = self.ops.data
        live = d["act_bytes_read"] + d["act_bytes_written"]
        a = dtype_bytes(self.setup.act_dtype)
        resid = np.asarray(self.batch, float) * np.asarray(self.tokens, float) * self.setup.model.d_model * a
        return live.max(axis=0) + resid

    def totals(self, index=None) -> pd.DataFrame:
        """Totals of the step: one decoder layer (mean over layers), all layers, embedding + head, whole step."""
        ops = self.ops
        sel = (slice(None),) + (() if index is None else (index if isinstance(index, tuple) else (index,)))
        d = ops.data
        fields = {"FLOP": d["flops"], "Bytes read (B)": ops.bytes_read, "Bytes written (B)": ops.bytes_written,
                  "Link (B)": d["comm_bytes"], "Time (s)": self.op_time_s}
        layer = np.array([sc == "layer" for sc in ops.scopes])
        rep = ops.repeats
        L = self.setup.model.n_layers
        rows = {}
        for label, mask, scale in (("one layer (mean)", layer, 1.0 / L), ("all layers", layer, 1.0),
                                   ("embedding + head", ~layer, 1.0), ("whole step", np.ones_like(layer), 1.0)):
            rows[label] = {k: float(np.asarray(np.tensordot(rep * mask, np.asarray(v)[sel], axes=(0, 0)))) * scale
                           for k, v in fields.items()}
        df = pd.DataFrame(rows).T
        df["Intensity (FLOP/B)"] = df["FLOP"] / (df["Bytes read (B)"] + df["Bytes written (B)"])
        return df

    def table(self, index=None, per_layer: bool = True) -> pd.DataFrame:
        """Per-operator table (one grid point: ``index`` into the grid, or the only point).

        ``per_layer=True`` gives one run of each operator with a ``Repeats`` column;
        the ``Total time`` column multiplies by it.
        """
        ops = self.ops
        sel = (slice(None),) + (() if index is None else (np.s_[index] if isinstance(index, tuple) else (index,)))

        def col(arr):
            v = np.asarray(arr)[sel]
            if v.ndim != 1:
                raise ValueError("table() needs one grid point: pass index=")
            return v

        d = ops.data
        df = pd.DataFrame({
            "Operator": ops.names,
            "Group": ops.groups,
            "Shape": [ops.shape_at(i, sel[1:]) for i in range(len(ops))],
            "Repeats": ops.repeats.astype(int),
            "FLOP": col(d["flops"]),
            "Weights read (B)": col(d["weight_bytes"]),
            "Activations read (B)": col(d["act_bytes_read"]),
            "KV read (B)": col(d["kv_bytes_read"]),
            "Written (B)": col(d["act_bytes_written"] + d["kv_bytes_written"]),
            "Link (B)": col(d["comm_bytes"]),
            "Intensity (FLOP/B)": col(self.op_intensity),
            "Bound": col(self.op_bound),
            "Time at peak (s)": col(self.op_time_peak_s),
            "Time (s)": col(self.op_time_s),
        })
        df["Total time (s)"] = df["Time (s)"] * df["Repeats"]
        return df


def _step(setup: Setup, batch, tokens, past, phase) -> StepResult:
    return StepResult(setup, setup.ops(batch, tokens, past, phase), phase, batch, tokens, past)


def make_setup(model, hardware, *, weight_dtype="bf16", act_dtype="bf16", kv_dtype=None, compute_dtype=None,
               tp=1, compute_efficiency=1.0, memory_efficiency=1.0, comm_efficiency=1.0,
               conventions: Conventions | None = None, **convention_kw) -> Setup:
    """A :class:`Setup` from names or objects; convention keywords override ``conventions``."""
    conv = conventions or Conventions()
    if convention_kw:
        conv = Conventions(**{**conv.to_dict(), **convention_kw})
    return Setup(load_model(model), get_hardware(hardware), weight_dtype, act_dtype, kv_dtype or act_dtype,
                 compute_dtype, tp, compute_efficiency, memory_efficiency, comm_efficiency, conv)


def decode_step(model, hardware, batch=1, context=1024, **opts) -> StepResult:
    """One decode step for ``batch`` sequences with ``context`` tokens already cached (arrays broadcast)."""
    setup = opts.pop("setup", None) or make_setup(model, hardware, **opts)
    return _step(setup, _positive_int_array("batch", batch), 1, _count_array("context", context), "decode")


def prefill_step(model, hardware, batch=1, prompt_len=1024, past=0, **opts) -> StepResult:
    """A prefill (or a prefill chunk of ``prompt_len`` tokens after ``past`` cached ones)."""
    setup = opts.pop("setup", None) or make_setup(model, hardware, **opts)
    return _step(setup, _positive_int_array("batch", batch), _positive_int_array("prompt_len", prompt_len),
                 _count_array("past", past), "prefill")


def step(model, hardware, batch=1, context=1024, phase: str = "decode", **opts) -> StepResult:
    """One step of either phase: a decode step after ``context`` cached tokens, or a prefill of ``context`` tokens."""
    if phase == "decode":
        return decode_step(model, hardware, batch, context, **opts)
    if phase == "prefill":
        return prefill_step(model, hardware, batch, context, **opts)
    raise WorkloadError(f"phase must be 'decode' or 'prefill', got {phase!r}")


def sweep(model, hardware, batch, context, phase: str = "decode", **opts) -> pd.DataFrame:
    """Step time over the grid ``batch x context`` in one vectorized evaluation.

    ``phase='decode'``: one decode step after ``context`` cached tokens;
    ``phase='prefill'``: a prefill of ``context`` prompt tokens. Returns one row
    per grid point with FLOPs, bytes, intensity, compute/memory time, step time,
    bound and tokens per second.
    """
    b = np.atleast_1d(_positive_int_array("batch", batch)).astype(float)
    s = np.atleast_1d(np.asarray(context)).astype(float)
    bb, ss = np.meshgrid(b, s, indexing="ij")
    r = step(model, hardware, bb, ss, phase, **opts)
    tokens = bb if phase == "decode" else bb * ss
    return pd.DataFrame({
        "batch": bb.ravel().astype(int), "context": ss.ravel().astype(int),
        "flops": r.flops.ravel(), "bytes": r.bytes.ravel(), "intensity": r.intensity.ravel(),
        "compute_s": r.compute_s.ravel(), "memory_s": r.memory_s.ravel(), "time_s": r.time_s.ravel(),
        "bound": r.bound.ravel(), "tokens_per_s": (tokens / r.time_s).ravel(),
    })


class Analysis:
    """Result of :func:`analyze`: prefill, every decode step, memory and summary."""

    def __init__(self, setup: Setup, batch: int, prompt_len: int, gen_len: int, prefill: StepResult,
                 decode: StepResult | None, memory_fraction: float):
        self.setup, self.batch, self.prompt_len, self.gen_len = setup, batch, prompt_len, gen_len
        self.prefill, self.decode = prefill, decode
        self.memory_fraction = memory_fraction
        self.conventions = setup.conventions

    @property
    def n_decode_steps(self) -> int:
        return self.gen_len - 1

    # --- memory --------------------------------------------------------------
    @cached_property
    def memory(self) -> dict:
        s, m = self.setup, self.setup.model
        pc = m.param_counts(s.conventions.tied_embeddings)
        norm_params = 2 * m.d_model * m.n_layers + m.d_model + (2 * m.head_dim * m.n_layers if m.qk_norm else 0)
        wb = dtype_bytes(s.weight_dtype)
        weight_bytes = ((pc["total"] - norm_params) / s.tp + norm_params) * wb
        per_layer_token = kv_bytes_per_token_layer(m, s.kv_dtype, s.tp)
        ctx = self.prompt_len + self.gen_len - 1
        kv_per_seq = float(kv_cache_bytes(m, ctx, 1, s.kv_dtype, s.tp))
        act = self.prefill.activation_peak_bytes()
        if self.decode is not None:
            act = max(float(act), float(np.max(self.decode.activation_peak_bytes())))
        act = float(act)
        capacity = s.hardware.memory_bytes * self.memory_fraction
        total = weight_bytes + self.batch * kv_per_seq + act
        per_seq = kv_per_seq + act / self.batch
        max_batch = max(0, int(math.floor((capacity - weight_bytes) / per_seq))) if per_seq > 0 else 0
        return {
            "weight_bytes": weight_bytes,
            "kv_cache_bytes_per_token": m.n_layers * per_layer_token,
            "kv_cache_context_tokens": ctx,
            "kv_cache_bytes": self.batch * kv_per_seq,
            "activation_peak_bytes": act,
            "memory_total_bytes": total,
            "memory_capacity_bytes": capacity,
            "fits": bool(total <= capacity),
            "max_batch": max_batch,
        }

    @property
    def fits(self) -> bool:
        return self.memory["fits"]

    def memory_message(self) -> str:
        """A sentence on whether the workload fits, with the numbers."""
        mem = self.memory
        parts = (f"weights {mem['weight_bytes'] / GiB:.2f} GiB + KV cache {mem['kv_cache_bytes'] / GiB:.2f} GiB + "
                 f"activations {mem['activation_peak_bytes'] / GiB:.2f} GiB = {mem['memory_total_bytes'] / GiB:.2f} GiB")
        cap = f"{mem['memory_capacity_bytes'] / GiB:.2f} GiB of {self.setup.hardware.name}"
        if mem["fits"]:
            return f"fits: {parts} of {cap} per device; max batch {mem['max_batch']}"
        more = "add devices (--tp)" if self.setup.hardware.interconnect_bandwidth_bytes_per_s else \
            "use a device with more memory"
        hint = (f"the weights alone do not fit: use a smaller weight dtype or {more}"
                if mem["weight_bytes"] > mem["memory_capacity_bytes"] else
                f"the largest batch that fits is {mem['max_batch']}; lower the batch or context, "
                f"quantize the KV cache, or {more}")
        return f"DOES NOT FIT: {parts} needed but only {cap} per device; {hint}"

    # --- summary -------------------------------------------------------------
    @cached_property
    def _whole_model_flops(self):
        """Prefill and first-decode FLOPs for the whole model (all tp devices)."""
        s = self.setup
        if s.tp == 1:
            pf = float(self.prefill.flops)
            df = float(self.decode.flops[0]) if self.decode is not None else self._decode_first_flops_tp1()
            return pf, df
        one = Setup(s.model, s.hardware, s.weight_dtype, s.act_dtype, s.kv_dtype, s.compute_dtype, 1,
                    conventions=s.conventions)
        pf = one.ops(self.batch, self.prompt_len, 0, "prefill").total("flops")
        df = one.ops(self.batch, 1, self.prompt_len, "decode").total("flops")
        return float(pf), float(df)

    def _decode_first_flops_tp1(self):
        return float(self.setup.ops(self.batch, 1, self.prompt_len, "decode").total("flops"))

    @cached_property
    def summary(self) -> dict:
        s = self.setup
        pc = s.model.param_counts(s.conventions.tied_embeddings)
        pf, df = self._whole_model_flops
        ttft = float(self.prefill.time_s)
        if self.decode is not None:
            t = self.decode.time_s
            tpot, first, last, decode_total = float(t.mean()), float(t[0]), float(t[-1]), float(t.sum())
        else:
            tpot = first = last = float("nan")
            decode_total = 0.0
        e2e = ttft + decode_total
        out = {
            "model": s.model.name, "hardware": s.hardware.name, "batch": self.batch,
            "prompt_len": self.prompt_len, "gen_len": self.gen_len, "decode_steps": self.n_decode_steps,
            "tp": int(s.tp), "weight_dtype": s.weight_dtype, "act_dtype": s.act_dtype, "kv_dtype": s.kv_dtype,
            "params_total": int(pc["total"]), "params_active": int(pc["active"]),
            **{k: v for k, v in self.memory.items()},
            "prefill_flops": pf, "decode_flops_first_step": df,
            "ttft_s": ttft, "tpot_s": tpot, "tpot_first_s": first, "tpot_last_s": last,
            "decode_time_s": decode_total, "e2e_latency_s": e2e,
            "throughput_tokens_per_s": self.batch * self.gen_len / e2e,
            "decode_tokens_per_s": self.batch / tpot if self.decode is not None else float("nan"),
            "time_basis": s.time_basis,
        }
        return out

    # --- tables ----------------------------------------------------------------
    def prefill_table(self) -> pd.DataFrame:
        return self.prefill.table()

    def decode_table(self, step: int | str = "first") -> pd.DataFrame:
        """Operators of one decode step: ``'first'``, ``'last'`` or an index 0 .. gen_len-2."""
        if self.decode is None:
            raise WorkloadError("gen_len=1 has no decode step")
        i = {"first": 0, "last": self.n_decode_steps - 1}.get(step, step)
        if not isinstance(i, (int, np.integer)) or not 0 <= i < self.n_decode_steps:
            raise WorkloadError(f"decode step must be 'first', 'last' or 0..{self.n_decode_steps - 1}, got {step!r}")
        return self.decode.table(index=int(i))

    def decode_steps(self) -> pd.DataFrame:
        """One row per decode step: cached tokens, FLOPs, bytes, time, bound."""
        if self.decode is None:
            return pd.DataFrame(columns=["step", "context", "flops", "bytes", "time_s", "bound"])
        d = self.decode
        return pd.DataFrame({"step": np.arange(self.n_decode_steps), "context": np.asarray(d.past).astype(int),
                             "flops": d.flops, "bytes": d.bytes, "time_s": d.time_s, "bound": d.bound})

    def to_dict(self) -> dict:
        """Everything as plain JSON-able Python (SI units)."""
        from .report import analysis_to_dict
        return analysis_to_dict(self)

    def report(self) -> str:
        from .report import format_report
        return format_report(self)

    def __repr__(self):
        s = self.summary
        return (f"<Analysis {s['model']} on {s['hardware']}: B={s['batch']} S={s['prompt_len']} "
                f"G={s['gen_len']} TTFT={s['ttft_s'] * 1e3:.3g} ms TPOT={s['tpot_s'] * 1e3:.3g} ms>")


def analyze(model, hardware, batch: int = 1, prompt_len: int = 1024, gen_len: int = 128, *,
            memory_fraction: float = 1.0, **opts) -> Analysis:
    """Analyse prefill plus ``gen_len - 1`` decode steps of ``model`` on ``hardware``.

    Keywords: ``weight_dtype``, ``act_dtype``, ``kv_dtype`` (default: act dtype),
    ``compute_dtype`` (default: act dtype), ``tp``, ``compute_efficiency``,
    ``memory_efficiency``, ``comm_efficiency`` (default 1: roofline lower bound),
    ``conventions`` or any :class:`~llmperf.conventions.Conventions` field
    (``attention_flops``, ``logits``, ``flash_attention``, ``tied_embeddings``,
    ``decode_kv``), and ``memory_fraction`` (share of device memory usable).
    """
    setup = opts.pop("setup", None) or make_setup(model, hardware, **opts)
    for name, v in (("batch", batch), ("prompt_len", prompt_len), ("gen_len", gen_len)):
        if np.ndim(v) != 0:
            raise WorkloadError(f"analyze() takes a scalar {name}; use sweep() or decode_step() for arrays")
        _positive_int_array(name, v)
    if not 0 < memory_fraction <= 1:
        raise WorkloadError(f"memory_fraction must be in (0, 1], got {memory_fraction!r}")
    batch, prompt_len, gen_len = int(batch), int(prompt_len), int(gen_len)
    prefill = _step(setup, batch, prompt_len, 0, "prefill")
    decode = None
    if gen_len > 1:
        past = prompt_len + np.arange(gen_len - 1, dtype=float)
        decode = _step(setup, batch, 1, past, "decode")
    return Analysis(setup, batch, prompt_len, gen_len, prefill, decode, memory_fraction)
