"""Inference analysis: operators on a device, prefill and decode, memory, summary.

:func:`analyze` is the engine's front door: a model, a device, a workload
(batch, prompt length, tokens to generate), dtypes and parallelism (tensor
``tp``, pipeline ``pp``, expert ``ep``) in; per-operator tables for prefill and
the decode steps, memory, and a summary out. :func:`decode_step` and
:func:`sweep` evaluate single steps over numpy grids of batch and context in
one vectorized call.

Generation follows Hugging Face ``generate()``: the prefill forward pass
produces the first token (TTFT); each of the ``gen_len - 1`` decode steps
feeds one token, attends the cache plus itself, and produces the next. The
KV cache ends holding ``prompt_len + gen_len - 1`` tokens.

Decode statistics over the ``G - 1`` steps are exact sums in closed form: each
operator's compute and memory time are piecewise affine in the cache length
(the pieces meet at the sliding windows), so the sum of their maximum over
the steps of a piece is a sum of arithmetic series. No per-step array is made
unless asked for (:attr:`Analysis.decode`, up to :data:`MAX_DECODE_STEP_ARRAYS` steps).

Each step's operators come from :meth:`Setup.ops`: :func:`~llmperf.ops.build_ops` the first time a
kind of step (phase and setup) is asked for, then through its operator plan (:mod:`llmperf.plans`),
traced once, kept on the model object and keyed by every field of the setup that changes the
operators; the numbers are the same bit for bit.

Every input is validated (:mod:`llmperf.configfile`): counts are integers up to
``2**40``, efficiencies in ``[1e-6, 1]``; a bad one is a one-line
:class:`WorkloadError` naming it.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from .configfile import MAX_COUNT, count, fraction, short
from .conventions import DEFAULT as _DEFAULT_CONVENTIONS
from .conventions import Conventions
from .dtypes import DTYPE_BYTES, canonical_dtype, canonical_weight_dtype, dtype_bytes, weight_bytes_by_part
from .hardware import Hardware, get_hardware
from .models import ModelConfig, _window_counts, kv_bytes_per_token_layer, kv_cache_bytes, kv_heads_check, load_model
from .ops import OpSet, build_ops
from .parallel import (apply_expert_parallel, apply_pipeline, bubble_fraction, check_parallel, expert_parallel_rows,
                       pipeline_rows, pipeline_stage_layers, stage_fraction)

if TYPE_CHECKING:
    from .plans import OpPlan


class cached_property(functools.cached_property):
    """:class:`functools.cached_property` without the lock Python 3.11 takes on every first read (3.12 dropped it)."""

    def __get__(self, instance, owner=None):
        if instance is None:
            return self
        value = instance.__dict__[self.attrname] = self.func(instance)
        return value


GiB = 2.0 ** 30
#: Most decode steps :attr:`Analysis.decode` keeps per-step, per-operator arrays for.
MAX_DECODE_STEP_ARRAYS = 32768
#: Most grid points one :func:`decode_step` / :func:`prefill_step` call evaluates (per-operator arrays).
MAX_STEP_POINTS = 200_000
#: Most grid points one :func:`sweep` call evaluates (in chunks of :data:`SWEEP_CHUNK`).
MAX_SWEEP_POINTS = 1_000_000
SWEEP_CHUNK = 32768
#: Pieces of a generation summed per evaluation, and most breakpoints (chunked attention) a generation may have.
DECODE_CHUNK = 8192
MAX_DECODE_POINTS = 1_000_000


#: Most setups whose operator plans (one per phase) are kept per model object; more clear the cache.
MAX_PLANS_PER_MODEL = 64
_NO_PLAN, _SEEN = object(), object()
_max_reduce = np.maximum.reduce


class _PlanCache(dict):
    """A model's operator plans (compiled code): copied and pickled as empty, rebuilt when needed."""

    def __reduce__(self):
        return _PlanCache, ()

    def __copy__(self):
        return _PlanCache()

    def __deepcopy__(self, memo):
        return _PlanCache()


class WorkloadError(ValueError):
    """A workload that cannot be analysed (non-positive sizes, bad efficiency ...)."""


def _positive_int_array(name, v):
    return count(name, v, minimum=1, error=WorkloadError)


def _count_array(name, v):
    """A non-negative integer (or array of them): a number of cached tokens."""
    return count(name, v, minimum=0, error=WorkloadError)


def _model_facts(m: ModelConfig) -> dict:
    """Facts about a model that every analysis needs, computed once per model object.

    Kept on the (frozen) object itself: hashing a model for a cache key costs more than the facts.
    """
    facts = m.__dict__.get("_llmperf_facts")
    if facts is None:
        chunks = getattr(m, "chunks", None) or (None,) * m.n_layers
        facts = {"windows": tuple(sorted({w for w in m.windows if w is not None})),
                 "chunks": tuple(sorted({c for c in chunks if c is not None})),
                 # (tokens a layer's cache keeps at most, or None for all; layers), as kv_cache_bytes counts them
                 "spans": _window_counts(tuple(w if w is not None else c for w, c in zip(m.windows, chunks))),
                 "params": {}, "weight_bytes": {}, "kv_per_token_layer": {},
                 "plans": _PlanCache()}
        object.__setattr__(m, "_llmperf_facts", facts)
    return facts


def _param_counts(m: ModelConfig, tied: str) -> dict:
    params = _model_facts(m)["params"]
    pc = params.get(tied)
    if pc is None:
        pc = params[tied] = m.param_counts(tied)
    return pc


def _dtype(name, v, *, weight=False):
    if type(v) is str and v in DTYPE_BYTES:  # already canonical
        return v
    if not isinstance(v, str) or not v.strip():
        raise WorkloadError(f"{name} must be a dtype name such as 'bf16', got {short(v)}")
    try:
        return canonical_weight_dtype(v) if weight else canonical_dtype(v)
    except ValueError as e:
        raise WorkloadError(f"{name}: {e}") from None


@dataclass(frozen=True)
class Setup:
    """Everything except the workload sizes: model, device, dtypes, parallelism, efficiencies, conventions."""

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
    pp: int = 1
    ep: int = 1

    def __post_init__(self):
        if not isinstance(self.model, ModelConfig):
            raise WorkloadError(f"model must be a ModelConfig (use load_model), got {short(self.model)}")
        if not isinstance(self.hardware, Hardware):
            raise WorkloadError(f"hardware must be a Hardware (use get_hardware), got {short(self.hardware)}")
        for f, v in (("weight_dtype", self.weight_dtype), ("act_dtype", self.act_dtype), ("kv_dtype", self.kv_dtype)):
            c = _dtype(f, v, weight=f == "weight_dtype")
            if c is not v:
                object.__setattr__(self, f, c)
        cd = _dtype("compute_dtype", self.compute_dtype) if self.compute_dtype is not None else self.act_dtype
        if cd is not self.compute_dtype:
            object.__setattr__(self, "compute_dtype", cd)
        if not (type(self.tp) is int and type(self.pp) is int and type(self.ep) is int
                and self.tp == 1 and self.pp == 1 and self.ep == 1):  # one device always fits
            check_parallel(self.model, self.tp, self.pp, self.ep, error=WorkloadError)
            try:
                kv_heads_check(self.model, self.tp)
            except ValueError as e:
                raise WorkloadError(str(e)) from None
        for f in ("compute_efficiency", "memory_efficiency", "comm_efficiency"):
            v = getattr(self, f)
            if v != 1.0 or type(v) is not float:
                object.__setattr__(self, f, fraction(f.replace("_", " "), v, error=WorkloadError))
        if not isinstance(self.conventions, Conventions):
            raise WorkloadError(f"conventions must be a Conventions, got {short(self.conventions)}")
        if self.devices > 1 and not self.hardware.interconnect_bandwidth_bytes_per_s:
            raise WorkloadError(f"{self._parallel_text()} needs a device interconnect, but {self.hardware.name} "
                                "lists none")

    @property
    def devices(self) -> int:
        return self.tp * self.pp * self.ep

    def _parallel_text(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in (("tp", self.tp), ("pp", self.pp), ("ep", self.ep)) if v > 1)

    @cached_property
    def peak_flop_per_s(self) -> float:
        peak = self.hardware.peak_flop_per_s.get(self._peak_dtype)  # the dtype is canonical
        return peak if peak is not None else self.hardware.peak_for(self._peak_dtype)

    @cached_property
    def _peak_dtype(self) -> str:
        if self.compute_dtype in self.hardware.peak_flop_per_s:  # canonical already: effective_dtype's answer
            return self.compute_dtype
        return self.hardware.effective_dtype(self.compute_dtype)

    @property
    def notes(self) -> list[str]:
        out = []
        if self._peak_dtype != self.compute_dtype:
            out.append(f"{self.hardware.name} lists no {self.compute_dtype} peak; used its {self._peak_dtype} peak")
        if self.model.weight_format and self.weight_dtype == self.model.weight_format:
            out.append(f"weights stored as the checkpoint's quantization_config says: {self.weight_format_text}")
        elif self.model.weight_format:
            out.append(f"weight dtype {self.weight_dtype} overrides the checkpoint's {self.model.weight_format}")
        return out

    @property
    def weight_format_text(self) -> str:
        from .dtypes import weight_format
        f = weight_format(self.weight_dtype)
        return f"{f['name']} ({f['description']}; {f['bits_per_weight']:.4g} bits per weight)"

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
        """The operators of a step on one device: :func:`build_ops` plus the pipeline and expert transfers.

        Evaluated through the setup's cached :class:`~llmperf.plans.OpPlan` (identical numbers); the
        direct path where a plan cannot be made or its compiled code raises.
        """
        plan = self._plan(phase)
        if plan is not None:
            ops = plan(batch, tokens, past, lambda: self._build_ops(batch, tokens, past, phase, True).shapes)
            if ops is not None:
                return ops
        return self._build_ops(batch, tokens, past, phase)

    def _build_ops(self, batch, tokens, past, phase, shapes=False) -> OpSet:
        """The operators of a step, built directly (no plan)."""
        local_batch = batch
        if self.ep > 1:
            local_batch = np.asarray(batch, dtype=float) / self.ep if np.ndim(batch) else batch / self.ep
        ops = build_ops(self.model, local_batch, tokens, past, phase=phase, conventions=self.conventions,
                        weight_dtype=self.weight_dtype, act_dtype=self.act_dtype, kv_dtype=self.kv_dtype,
                        tp=self.tp, shapes=shapes)
        a = dtype_bytes(self.act_dtype)
        if self.ep > 1:
            ops = apply_expert_parallel(ops, self.ep, self.model, batch, tokens, a, self.act_dtype)
        if self.pp > 1:
            ops = apply_pipeline(ops, self.pp, local_batch, tokens, self.model.d_model, a, self.act_dtype)
        return ops

    def _plan(self, phase) -> OpPlan | None:
        """The cached plan of this setup's ``phase`` steps (``None``: build them directly).

        Plans live on the (frozen) model object, keyed by every other field that changes the operators:
        an equal setup finds the plan, any difference makes its own. A plan is traced the second time
        its key is asked for.
        """
        plans = self.__dict__.get("_plans")
        if plans is None:  # this setup's plans: {phase: plan}, shared by every equal setup of the model
            key = (self.conventions, self.weight_dtype, self.act_dtype, self.kv_dtype, int(self.tp), int(self.pp),
                   int(self.ep))
            cache = _model_facts(self.model)["plans"]
            plans = cache.get(key)
            if plans is None:
                if len(cache) >= MAX_PLANS_PER_MODEL:
                    cache.clear()
                plans = cache[key] = _PlanCache()
            object.__setattr__(self, "_plans", plans)
        plan = plans.get(phase, _NO_PLAN)
        if plan is _NO_PLAN:  # first step of its kind: built directly (a one-off analysis traces nothing)
            plans[phase] = _SEEN
            return None
        if plan is _SEEN:     # asked again: worth a plan
            plan = plans[phase] = self._trace(phase)
        return plan

    def _trace(self, phase) -> OpPlan | None:
        from .plans import trace_ops
        m, a, ep, pp = self.model, dtype_bytes(self.act_dtype), self.ep, self.pp

        def extend(b, batch, tokens):
            local = batch / ep if ep > 1 else batch
            expert_parallel_rows(b, ep, m, batch, tokens, a, self.act_dtype)
            pipeline_rows(b, pp, local, tokens, m.d_model, a, self.act_dtype)
        return trace_ops(extend, model=m, phase=phase, conventions=self.conventions, weight_dtype=self.weight_dtype,
                         act_dtype=self.act_dtype, kv_dtype=self.kv_dtype, tp=self.tp, batch_divisor=ep)

    def to_dict(self) -> dict:
        return {"model": self.model.name, "hardware": self.hardware.name, "weight_dtype": self.weight_dtype,
                "act_dtype": self.act_dtype, "kv_dtype": self.kv_dtype, "compute_dtype": self.compute_dtype,
                "peak_dtype_used": self._peak_dtype, "tp": int(self.tp), "pp": int(self.pp), "ep": int(self.ep),
                "devices": int(self.devices),
                "weight_bits_per_weight": 8 * dtype_bytes(self.weight_dtype),
                "compute_efficiency": self.compute_efficiency, "memory_efficiency": self.memory_efficiency,
                "comm_efficiency": self.comm_efficiency, "peak_flop_per_s": self.peak_flop_per_s,
                "memory_bandwidth_bytes_per_s": self.hardware.memory_bandwidth_bytes_per_s,
                "link_bandwidth_bytes_per_s": self.hardware.interconnect_bandwidth_bytes_per_s,
                "time_basis": self.time_basis}

    # --- memory per device ------------------------------------------------------
    @cached_property
    def weight_bytes(self) -> float:
        """Weight memory of the most loaded device: tp splits all but norms, pp keeps one stage, ep spreads experts."""
        key = (self.weight_dtype, self.conventions.tied_embeddings, int(self.tp), int(self.pp), int(self.ep))
        cache = _model_facts(self.model)["weight_bytes"]
        out = cache.get(key)
        if out is None:
            out = cache[key] = self._weight_bytes()
        return out

    def _weight_bytes(self) -> float:
        m = self.model
        pc = _param_counts(m, self.conventions.tied_embeddings)
        w_keep, w_lin, w_exp = weight_bytes_by_part(self.weight_dtype, bool(m.moe_layers))
        norms = m.norm_params - m.d_model * (2 if m.norm_bias else 1)  # the layers' norms (final norm below)
        head = pc["lm_head"] + pc.get("lm_head_bias", 0)
        emb = pc["embedding"]
        experts = pc["experts"]
        layers = pc["layers"] - norms - experts
        tp, frac = self.tp, stage_fraction(m.n_layers, self.pp)
        kv_extra = 0.0
        if tp > m.n_kv_heads:  # each device keeps one KV head's k/v projections instead of K/tp of them
            per_head = 2 * (m.d_model * m.head_dim + (m.head_dim if m.qkv_bias else 0))
            kv_extra = m.n_layers * per_head * (1.0 - m.n_kv_heads / tp)
        kv_extra += m.replicated_linear_params * (1.0 - 1.0 / tp)  # MLA's latent projections: whole on each
        layer_bytes = ((layers / tp + kv_extra) * w_lin + experts / (tp * self.ep) * w_exp + norms * w_keep) * frac
        final_norm = m.d_model * (2 if m.norm_bias else 1) * w_keep
        if self.pp > 1:  # the first stage holds the embedding, the last the lm_head and final norm
            ends = max(emb / tp * w_keep, head / tp * w_keep + final_norm)
        else:
            ends = (emb + head) / tp * w_keep + final_norm
        return layer_bytes + ends

    @cached_property
    def _kv_per_token_layer(self) -> float:
        key = (self.kv_dtype, int(self.tp))
        cache = _model_facts(self.model)["kv_per_token_layer"]
        out = cache.get(key)
        if out is None:
            out = cache[key] = kv_bytes_per_token_layer(self.model, self.kv_dtype, self.tp)
        return out

    @cached_property
    def _rates_0d(self) -> tuple:
        return tuple(np.array(r) for r in self._rates)

    @cached_property
    def _rates(self) -> tuple[float, float, float]:
        """(FLOP/s, bytes/s of memory, bytes/s of link) after efficiencies: the effective_* properties."""
        hw = self.hardware
        return (self.peak_flop_per_s * self.compute_efficiency,
                hw.memory_bandwidth_bytes_per_s * self.memory_efficiency,
                (hw.interconnect_bandwidth_bytes_per_s or np.inf) * self.comm_efficiency)

    def kv_bytes(self, context, batch=1):
        """KV cache per device for ``batch`` sequences of ``context`` tokens (the stage's layers under pp).

        :func:`llmperf.kv_cache_bytes` for validated counts, with the layers' spans counted once per model.
        """
        spans = _model_facts(self.model)["spans"]
        if type(context) not in (int, float) and np.ndim(context) or type(batch) not in (int, float) and np.ndim(batch):
            t = np.asarray(context, dtype=float)
            cached = sum(n * (t if w is None else np.minimum(t, w)) for w, n in spans)
            per_seq = cached * self._kv_per_token_layer
            out = np.asarray(batch, dtype=float) * per_seq
        else:
            t = float(context)
            out = float(batch) * sum(n * (t if w is None else min(t, w)) for w, n in spans) * self._kv_per_token_layer
        return out * stage_fraction(self.model.n_layers, self.pp) / self.ep


class StepResult:
    """One forward step (or a grid of them) evaluated on a device.

    Per-operator arrays have shape ``(n_ops, *grid)``; step totals have the grid's shape.
    """

    def __init__(self, setup: Setup, ops: OpSet, phase: str, batch, tokens, past):
        self.setup, self.ops, self.phase = setup, ops, phase
        self.batch, self.tokens, self.past = batch, tokens, past
        d = ops.data
        self._evaluate(d["flops"], d["weight_bytes"], d["act_bytes_read"], d["kv_bytes_read"], d["act_bytes_written"],
                       d["kv_bytes_written"], d["comm_bytes"], ops.repeats)

    @classmethod
    def _from_plan(cls, setup: Setup, plan, numbers, keys, phase: str, batch, tokens, past) -> "StepResult":
        """A step of scalar sizes from an operator plan's ``(7, n_ops)`` numbers; its OpSet made when first read."""
        self = object.__new__(cls)
        self.setup, self.phase, self.batch, self.tokens, self.past = setup, phase, batch, tokens, past
        self._plan_numbers = (plan, numbers, keys)
        X = numbers
        if plan.no_comm:  # every operator's link bytes 0: op_comm_s is zeros, made when read
            self._comm_row = X[6]
        self._evaluate(X[0], X[1], X[2], X[3], X[4], X[5], None if plan.no_comm else X[6], plan.repeats)
        return self

    @cached_property
    def ops(self) -> OpSet:
        """(A step from a plan: the operators, made on first read from the very arrays the step used.)"""
        plan, numbers, keys = self._plan_numbers
        setup, b, t, p, phase = self.setup, self.batch, self.tokens, self.past, self.phase
        return plan.opset(numbers, keys, lambda: setup._build_ops(b, t, p, phase, True).shapes)

    @cached_property
    def op_comm_s(self):
        """(A step from a plan without link traffic: its zeros.)"""
        return self._comm_row / self.setup._rates_0d[2]

    def _evaluate(self, flops, w, ar, kr, aw, kw, comm, rep):
        """Times and totals from the fields of the operators (``comm=None``: all zero, time adds nothing)."""
        flop_s, bw, link = self.setup._rates_0d   # 0-d arrays: the same division, less numpy overhead than a float
        self._live, self._repeats = (ar, aw), rep
        # bytes read + written per operator, in the order of OpSet.bytes_read + OpSet.bytes_written
        self.op_bytes = bytes_moved = (w + ar + kr) + (aw + kw)
        self.op_compute_s = compute = flops / flop_s
        self.op_memory_s = memory = bytes_moved / bw
        self.op_time_s = time = np.maximum(compute, memory)
        if comm is not None:
            self.op_comm_s = comm = comm / link
            time += comm
        if flops.ndim == 1:  # x.dot(rep) is rep @ x, one BLAS dot, with less overhead
            self.flops, self.time_s = flops.dot(rep), time.dot(rep)
        else:
            self.flops = np.tensordot(rep, flops, axes=(0, 0))
            self.time_s = np.tensordot(rep, time, axes=(0, 0))

    @cached_property
    def bytes(self):
        """Bytes read and written by the whole step."""
        b = self.op_bytes
        return b.dot(self._repeats) if b.ndim == 1 else np.tensordot(self._repeats, b, axes=(0, 0))

    @cached_property
    def compute_s(self):
        return self.flops / self.setup._rates[0]

    @cached_property
    def memory_s(self):
        return self.bytes / self.setup._rates[1]

    @cached_property
    def comm_s(self):
        return np.tensordot(self._repeats, self.op_comm_s, axes=(0, 0))

    @cached_property
    def op_time_peak_s(self):
        """The same operators at 100 % of peak compute, bandwidth and link."""
        s = self.setup
        if s.compute_efficiency == 1 and s.memory_efficiency == 1 and s.comm_efficiency == 1:
            return self.op_time_s
        hw, d = s.hardware, self.ops.data
        return (np.maximum(d["flops"] / s.peak_flop_per_s, self.op_bytes / hw.memory_bandwidth_bytes_per_s)
                + d["comm_bytes"] / (hw.interconnect_bandwidth_bytes_per_s or np.inf))

    @cached_property
    def op_intensity(self):
        f, b = self.ops.data["flops"], self.op_bytes
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(b > 0, f / np.where(b > 0, b, 1.0), np.inf)

    @cached_property
    def op_bound(self):
        d = self.ops.data["flops"]
        is_comm = np.asarray([k == "comm" for k in self.ops.kinds]).reshape((-1,) + (1,) * (d.ndim - 1))
        return np.where(is_comm, "link", np.where(self.op_compute_s >= self.op_memory_s, "compute", "memory"))

    @property
    def intensity(self):
        return self.flops / self.bytes

    @property
    def bound(self):
        """Step-level bound: whichever of total compute time and total memory time is larger."""
        return np.where(self.compute_s >= self.memory_s, "compute", "memory")

    def activation_peak_bytes(self):
        """Largest activation working set of any operator plus the residual stream (per device)."""
        peak = self.__dict__.get("_act_peak")
        if peak is not None:
            return peak
        ar, aw = self._live
        live = ar + aw
        a = dtype_bytes(self.setup.act_dtype)
        if live.ndim == 1 and type(self.batch) in (int, float) and type(self.tokens) in (int, float):
            # one point: the same arithmetic in floats, kept (a numpy scalar cannot be changed)
            resid = float(self.batch) / self.setup.ep * float(self.tokens) * self.setup.model.d_model * a
            peak = self._act_peak = _max_reduce(live) + resid   # live.max(axis=0), without its Python wrapper
            return peak
        b = np.asarray(self.batch, float) / self.setup.ep
        resid = b * np.asarray(self.tokens, float) * self.setup.model.d_model * a
        return live.max(axis=0) + resid

    def totals(self, index=None):
        """Totals of the step: one decoder layer (mean over layers), all layers, embedding + head, whole step."""
        import pandas as pd
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

    def table(self, index=None, per_layer: bool = True):
        """Per-operator table (one grid point: ``index`` into the grid, or the only point).

        ``per_layer=True`` gives one run of each operator with a ``Repeats`` column;
        the ``Total time`` column multiplies by it.
        """
        import pandas as pd
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
    """One step: :class:`StepResult` of :meth:`Setup.ops` (through the plan's numbers where there is one)."""
    plan = setup._plan(phase)
    if plan is not None:
        out = plan.evaluate(batch, tokens, past)
        if out is not None:
            numbers, keys = out
            if type(numbers) is not dict:   # scalar sizes: the OpSet is made only if someone reads it
                return StepResult._from_plan(setup, plan, numbers, keys, phase, batch, tokens, past)
            ops = plan.opset(numbers, keys, lambda: setup._build_ops(batch, tokens, past, phase, True).shapes)
            return StepResult(setup, ops, phase, batch, tokens, past)
    return StepResult(setup, setup._build_ops(batch, tokens, past, phase), phase, batch, tokens, past)


_SETUP_KEYS = frozenset({"weight_dtype", "act_dtype", "kv_dtype", "compute_dtype", "tp", "pp", "ep",
                         "compute_efficiency", "memory_efficiency", "comm_efficiency", "conventions"})


def make_setup(model, hardware, *, weight_dtype=None, act_dtype="bf16", kv_dtype=None, compute_dtype=None,
               tp=1, pp=1, ep=1, compute_efficiency=1.0, memory_efficiency=1.0, comm_efficiency=1.0,
               conventions: Conventions | None = None, **convention_kw) -> Setup:
    """A :class:`Setup` from names or objects; convention keywords override ``conventions``.

    ``weight_dtype=None`` takes the checkpoint's storage (its ``quantization_config``), else bf16.
    """
    conv = conventions if conventions is not None else _DEFAULT_CONVENTIONS
    if convention_kw:
        try:
            conv = Conventions(**{**conv.to_dict(), **convention_kw})
        except TypeError:
            bad = sorted(set(convention_kw) - set(conv.to_dict()))
            raise WorkloadError(f"unknown keyword(s) {', '.join(map(repr, bad))}") from None
    m = load_model(model)
    if weight_dtype is None:
        weight_dtype = m.weight_format or "bf16"
    return Setup(m, get_hardware(hardware), weight_dtype, act_dtype, act_dtype if kv_dtype is None else kv_dtype,
                 compute_dtype, tp, compute_efficiency, memory_efficiency, comm_efficiency, conv, pp, ep)


def _grid_limit(shape, limit, what):
    n = math.prod(shape)
    if n > limit:
        raise WorkloadError(f"{what}: {n} grid points is more than the limit of {limit}; use sweep() for "
                            "step totals over large grids, or evaluate fewer points")


def decode_step(model, hardware, batch=1, context=1024, **opts) -> StepResult:
    """One decode step for ``batch`` sequences with ``context`` tokens already cached (arrays broadcast)."""
    setup = opts.pop("setup", None) or make_setup(model, hardware, **opts)
    b, c = _positive_int_array("batch", batch), _count_array("context", context)
    if np.ndim(b) or np.ndim(c):
        _grid_limit(np.broadcast_shapes(np.shape(b), np.shape(c)), MAX_STEP_POINTS, "decode_step")
    return _step(setup, b, 1, c, "decode")


def prefill_step(model, hardware, batch=1, prompt_len=1024, past=0, **opts) -> StepResult:
    """A prefill (or a prefill chunk of ``prompt_len`` tokens after ``past`` cached ones)."""
    setup = opts.pop("setup", None) or make_setup(model, hardware, **opts)
    b, t, p = (_positive_int_array("batch", batch), _positive_int_array("prompt_len", prompt_len),
               _count_array("past", past))
    if np.ndim(b) or np.ndim(t) or np.ndim(p):
        _grid_limit(np.broadcast_shapes(np.shape(b), np.shape(t), np.shape(p)), MAX_STEP_POINTS, "prefill_step")
    return _step(setup, b, t, p, "prefill")


def step(model, hardware, batch=1, context=1024, phase: str = "decode", **opts) -> StepResult:
    """One step of either phase: a decode step after ``context`` cached tokens, or a prefill of ``context`` tokens."""
    if phase == "decode":
        return decode_step(model, hardware, batch, context, **opts)
    if phase == "prefill":
        return prefill_step(model, hardware, batch, context, **opts)
    raise WorkloadError(f"phase must be 'decode' or 'prefill', got {short(phase)}")


def sweep(model, hardware, batch, context, phase: str = "decode", *, memory_fraction: float = 1.0, **opts):
    """Step time over the grid ``batch x context`` in one vectorized evaluation (in chunks for large grids).

    ``phase='decode'``: one decode step after ``context`` cached tokens;
    ``phase='prefill'``: a prefill of ``context`` prompt tokens. Returns one row
    per grid point with FLOPs, bytes, intensity, compute/memory time, step time,
    bound, tokens per second, and the memory the point needs per device
    (weights, KV cache of the tokens held after the step, activation peak) and
    whether it fits (``memory_fraction`` of the device's memory usable).
    """
    import pandas as pd
    if phase not in ("decode", "prefill"):
        raise WorkloadError(f"phase must be 'decode' or 'prefill', got {short(phase)}")
    setup = opts.pop("setup", None) or make_setup(model, hardware, **opts)
    frac = fraction("memory_fraction", memory_fraction, error=WorkloadError)
    b = np.atleast_1d(_positive_int_array("batch", batch)).astype(float).ravel()
    s = np.atleast_1d(_count_array("context", context) if phase == "decode" else
                      _positive_int_array("context", context)).astype(float).ravel()
    n = b.size * s.size
    if n > MAX_SWEEP_POINTS:
        raise WorkloadError(f"sweep: {b.size} batch sizes x {s.size} contexts = {n} points is more than the limit "
                            f"of {MAX_SWEEP_POINTS}")
    bb, ss = np.meshgrid(b, s, indexing="ij")
    bb, ss = bb.ravel(), ss.ravel()
    cols = {k: np.empty(n) for k in ("flops", "bytes", "compute_s", "memory_s", "time_s", "act")}
    for lo in range(0, n, SWEEP_CHUNK):
        hi = min(n, lo + SWEEP_CHUNK)
        cb, cs = bb[lo:hi], ss[lo:hi]
        r = _step(setup, cb, 1, cs, "decode") if phase == "decode" else _step(setup, cb, cs, 0, "prefill")
        for k, v in (("flops", r.flops), ("bytes", r.bytes), ("compute_s", r.compute_s), ("memory_s", r.memory_s),
                     ("time_s", r.time_s), ("act", r.activation_peak_bytes())):
            cols[k][lo:hi] = v
    held = ss + 1 if phase == "decode" else ss
    memory = setup.weight_bytes + setup.kv_bytes(held, bb) + cols["act"]
    tokens = bb if phase == "decode" else bb * ss
    return pd.DataFrame({
        "batch": bb.astype(np.int64), "context": ss.astype(np.int64),
        "flops": cols["flops"], "bytes": cols["bytes"], "intensity": cols["flops"] / cols["bytes"],
        "compute_s": cols["compute_s"], "memory_s": cols["memory_s"], "time_s": cols["time_s"],
        "bound": np.where(cols["compute_s"] >= cols["memory_s"], "compute", "memory"),
        "tokens_per_s": tokens / cols["time_s"],
        "memory_bytes": memory, "fits": memory <= setup.hardware.memory_bytes * frac,
    })


# --- decode over many steps, in closed form ------------------------------------------------

def _decode_breakpoints(setup: Setup, p0: int, p1: int) -> np.ndarray:
    """Cache lengths in [p0, p1] between which every operator's counts are affine in the cache length.

    The pieces meet at the sliding windows, at the first steps, and at every chunk boundary of
    chunked attention (a chunk restarts its keys).
    """
    shift = 1 if setup.conventions.decode_kv == "exclusive" else 0
    cand = {p0, p1, 1, 2}
    spans = _model_facts(setup.model)
    for w in spans["windows"]:
        cand.update((w - 2 + shift, w - 1 + shift, w + shift))
    pts = sorted(c for c in cand if p0 <= c <= p1)
    if not spans["chunks"]:
        return np.asarray(pts, dtype=float)
    pts = [np.asarray(pts, dtype=float)]
    for c in spans["chunks"]:
        lo, hi = (p0 - shift) // c, (p1 - shift) // c + 1       # chunk indices q whose boundary may fall inside
        if hi - lo > MAX_DECODE_POINTS:
            raise WorkloadError(f"gen_len: the generation crosses {hi - lo} chunk boundaries of chunked attention "
                                f"(chunk {c}); llmperf sums at most {MAX_DECODE_POINTS}")
        q = np.arange(lo, hi + 1, dtype=float) * c + shift
        pts.append(np.concatenate([q - 1, q]))
    out = np.unique(np.concatenate(pts))
    return out[(out >= p0) & (out <= p1)]


def _sum_max_affine(ca, cb, ma, mb, a, b):
    """Sum over integers P in [a, b] of max(c(P), m(P)), c and m affine with values ca, cb (ma, mb) at a and b."""
    n = b - a + 1.0
    span = np.where(b > a, b - a, 1.0) if np.ndim(a) or np.ndim(b) else (b - a if b > a else 1.0)
    da, db = ca - ma, cb - mb
    both_c = np.minimum(da, db) >= 0       # (da >= 0) & (db >= 0)
    both_m = np.maximum(da, db) <= 0       # (da <= 0) & (db <= 0)
    out = n * np.where(both_c, ca + cb, ma + mb) / 2   # each element: n (x + y) / 2 of the larger line
    cross = ~(both_c | both_m)
    if cross.any():
        with np.errstate(divide="ignore", invalid="ignore"):
            x = a + da / np.where(cross, da - db, 1.0) * span        # where c = m
        j = np.clip(np.floor(x), a, b - 1)                           # last integer on a's side
        fa = np.where(da > 0, ca, ma)
        fb_end = np.where(da > 0, cb, mb)                            # the same line, at b
        ga = np.where(da > 0, ma, ca)
        gb = np.where(da > 0, mb, cb)
        f_j = fa + (fb_end - fa) * (j - a) / span
        g_j1 = ga + (gb - ga) * (j + 1 - a) / span
        s = (j - a + 1) * (fa + f_j) / 2 + (b - j) * (g_j1 + gb) / 2
        out = np.where(cross, s, out)
    return out


def _point(r: StepResult, i: int) -> StepResult:
    """The step result at grid point ``i`` of a 1-D grid, without building the operators again."""
    ops = r.ops
    grid = ops.data["flops"].shape[1:]
    keys = tuple(None if k is None else (np.broadcast_to(np.asarray(k, dtype=float), grid)[i]
                                         if np.ndim(k) else k) for k in ops.shape_keys)
    one = OpSet(ops.names, ops.groups, ops.kinds, ops.shapes, ops.repeats,
                {f: v[:, i] for f, v in ops.data.items()}, keys, ops.scopes)

    def at(v):
        return np.broadcast_to(np.asarray(v), grid)[i].item() if np.ndim(v) else v
    return StepResult(r.setup, one, r.phase, at(r.batch), at(r.tokens), at(r.past))


class DecodeSummary:
    """The decode steps of a generation without per-step arrays: first and last step, exact sums.

    ``first`` and ``last`` are :class:`StepResult` objects; ``op_time_total_s`` is each
    operator's time summed over all steps (one run per step; multiply by repeats), and
    ``time_total_s`` the decode time of the whole generation. The steps are summed piece by
    piece between the breakpoints of :func:`_decode_breakpoints`, at most
    :data:`DECODE_CHUNK` pieces at a time.
    """

    def __init__(self, setup: Setup, batch: int, p0: int, n_steps: int):
        self.n_steps = n_steps
        p1 = p0 + n_steps - 1
        pts = _decode_breakpoints(setup, p0, p1) if n_steps > 1 else np.asarray([float(p0)])
        self.points = pts
        n = pts.size
        if n == 1:
            r = _step(setup, batch, 1, p0, "decode")
            self.first = self.last = r
            self.op_time_total_s = r.op_time_s * n_steps if n_steps != 1 else r.op_time_s.copy()  # x * 1 is x
            self.act_peak = float(r.activation_peak_bytes())
        elif n == 2:  # one piece (no window or chunk boundary inside): its two ends, as below with k = 2
            r0, r1 = _step(setup, batch, 1, int(pts[0]), "decode"), _step(setup, batch, 1, int(pts[1]), "decode")
            self.first, self.last = r0, r1
            a, b = float(pts[0]), float(pts[1])
            seg = _sum_max_affine(r0.op_compute_s, r1.op_compute_s, r0.op_memory_s, r1.op_memory_s, a, b)
            self.op_time_total_s = seg + (b - a + 1) * (r0.op_comm_s + r1.op_comm_s) / 2
            self.act_peak = max(float(r0.activation_peak_bytes()), float(r1.activation_peak_bytes()))
        elif n <= 4:  # a few pieces: scalar steps are cheaper than one vectorized build
            rs = [_step(setup, batch, 1, int(p), "decode") for p in pts]
            self.first, self.last = rs[0], rs[-1]
            c = np.stack([r.op_compute_s for r in rs], axis=1)
            m = np.stack([r.op_memory_s for r in rs], axis=1)
            comm = np.stack([r.op_comm_s for r in rs], axis=1)
            t = np.stack([r.op_time_s for r in rs], axis=1)
            a, b = pts[:-1], pts[1:]
            seg = _sum_max_affine(c[:, :-1], c[:, 1:], m[:, :-1], m[:, 1:], a, b)
            seg_comm = (b - a + 1) * (comm[:, :-1] + comm[:, 1:]) / 2
            self.op_time_total_s = (seg + seg_comm).sum(axis=1) - t[:, 1:-1].sum(axis=1)
            self.act_peak = max(float(r.activation_peak_bytes()) for r in rs)
        else:
            total, act = 0.0, 0.0
            for i0 in range(0, n - 1, DECODE_CHUNK):
                i1 = min(i0 + DECODE_CHUNK, n - 1)
                sub = pts[i0:i1 + 1]
                r = _step(setup, batch, 1, sub, "decode")
                if i0 == 0:
                    self.first = _point(r, 0)
                if i1 == n - 1:
                    self.last = _point(r, -1)
                c, m, comm = r.op_compute_s, r.op_memory_s, r.op_comm_s
                a, b = sub[:-1], sub[1:]
                seg = _sum_max_affine(c[:, :-1], c[:, 1:], m[:, :-1], m[:, 1:], a, b)
                seg_comm = (b - a + 1) * (comm[:, :-1] + comm[:, 1:]) / 2
                total = total + (seg + seg_comm).sum(axis=1)
                # points inside [p0, p1] end one piece and start the next: counted twice, remove once
                # (each interior point belongs to the window where i0 < i <= i1)
                hi = sub.size if i1 < n - 1 else sub.size - 1
                total = total - r.op_time_s[:, 1:hi].sum(axis=1)
                act = max(act, float(np.max(r.activation_peak_bytes())))
            self.op_time_total_s = total
            self.act_peak = act
        self.time_total_s = float(self.op_time_total_s.dot(self.first._repeats))  # repeats @ totals


class Analysis:
    """Result of :func:`analyze`: prefill, the decode steps, memory and summary."""

    def __init__(self, setup: Setup, batch: int, prompt_len: int, gen_len: int, prefill: StepResult,
                 decode_summary: DecodeSummary | None, memory_fraction: float):
        self.setup, self.batch, self.prompt_len, self.gen_len = setup, batch, prompt_len, gen_len
        self.prefill = prefill
        self.decode_summary = decode_summary
        self.memory_fraction = memory_fraction
        self.conventions = setup.conventions

    @property
    def n_decode_steps(self) -> int:
        return self.gen_len - 1

    @property
    def warnings(self) -> list[str]:
        return list(self.setup.model.warnings)

    @cached_property
    def decode(self) -> StepResult | None:
        """Every decode step, per operator (arrays over the steps); ``None`` when ``gen_len`` is 1.

        Kept up to :data:`MAX_DECODE_STEP_ARRAYS` steps; the summary needs none of it.
        """
        if self.decode_summary is None:
            return None
        n = self.n_decode_steps
        if n == 1:
            return _step(self.setup, self.batch, 1, np.asarray([float(self.prompt_len)]), "decode")
        if n > MAX_DECODE_STEP_ARRAYS:
            raise WorkloadError(f"per-step decode arrays are kept for at most {MAX_DECODE_STEP_ARRAYS} steps, not "
                                f"{n}; the summary, first and last steps are exact without them "
                                "(decode_summary.first / .last)")
        past = self.prompt_len + np.arange(n, dtype=float)
        return _step(self.setup, self.batch, 1, past, "decode")

    # --- memory --------------------------------------------------------------
    @cached_property
    def memory(self) -> dict:
        s, m = self.setup, self.setup.model
        weight_bytes = s.weight_bytes
        ctx = self.prompt_len + self.gen_len - 1
        kv_per_seq = float(s.kv_bytes(ctx, 1)) * s.ep        # per sequence on its device
        act = float(self.prefill.activation_peak_bytes())
        if self.decode_summary is not None:
            act = max(act, self.decode_summary.act_peak)
        capacity = s.hardware.memory_bytes * self.memory_fraction
        local_batch = self.batch / s.ep
        total = weight_bytes + local_batch * kv_per_seq + act
        per_seq = kv_per_seq + act / local_batch
        room = (capacity - weight_bytes) / per_seq if per_seq > 0 else 0.0
        max_batch = int(min(max(0.0, math.floor(room)), MAX_COUNT)) * s.ep
        return {
            "weight_bytes": weight_bytes,
            "kv_cache_bytes_per_token": s._kv_per_token_layer * m.n_layers * stage_fraction(m.n_layers, s.pp),
            "kv_cache_context_tokens": ctx,
            "kv_cache_bytes": local_batch * kv_per_seq,
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
        """Prefill and first-decode FLOPs for the whole model (all devices)."""
        s = self.setup
        if s.devices == 1:
            pf = float(self.prefill.flops)
            ds = self.decode_summary
            df = float(ds.first.flops) if ds is not None else float(
                s.ops(self.batch, 1, self.prompt_len, "decode").total("flops"))
            return pf, df
        one = Setup(s.model, s.hardware, s.weight_dtype, s.act_dtype, s.kv_dtype, s.compute_dtype, 1,
                    conventions=s.conventions)
        pf = one.ops(self.batch, self.prompt_len, 0, "prefill").total("flops")
        df = one.ops(self.batch, 1, self.prompt_len, "decode").total("flops")
        return float(pf), float(df)

    @cached_property
    def summary(self) -> dict:
        s = self.setup
        pc = _param_counts(s.model, s.conventions.tied_embeddings)
        pf, df = self._whole_model_flops
        ttft = float(self.prefill.time_s)
        ds = self.decode_summary
        if ds is not None:
            decode_total = ds.time_total_s
            tpot, first, last = decode_total / ds.n_steps, float(ds.first.time_s), float(ds.last.time_s)
        else:
            tpot = first = last = float("nan")
            decode_total = 0.0
        e2e = ttft + decode_total
        out = {
            "model": s.model.name, "hardware": s.hardware.name, "batch": self.batch,
            "prompt_len": self.prompt_len, "gen_len": self.gen_len, "decode_steps": self.n_decode_steps,
            "tp": int(s.tp), "pp": int(s.pp), "ep": int(s.ep), "devices": int(s.devices),
            "weight_dtype": s.weight_dtype, "act_dtype": s.act_dtype, "kv_dtype": s.kv_dtype,
            "weight_bits_per_weight": 8 * dtype_bytes(s.weight_dtype),
            "params_total": int(pc["total"]), "params_active": int(pc["active"]),
            **self.memory,
            "prefill_flops": pf, "decode_flops_first_step": df,
            "ttft_s": ttft, "tpot_s": tpot, "tpot_first_s": first, "tpot_last_s": last,
            "decode_time_s": decode_total, "e2e_latency_s": e2e,
            "throughput_tokens_per_s": self.batch * self.gen_len / e2e,
            "decode_tokens_per_s": self.batch / tpot if ds is not None else float("nan"),
            "time_basis": s.time_basis,
        }
        if s.pp > 1:
            out["pipeline_stage_layers"] = pipeline_stage_layers(s.model.n_layers, s.pp)
            out["pipeline_bubble_fraction"] = bubble_fraction(s.pp, 1)
        return out

    # --- tables ----------------------------------------------------------------
    def prefill_table(self):
        return self.prefill.table()

    def decode_table(self, step: int | str = "first"):
        """Operators of one decode step: ``'first'``, ``'last'`` or an index 0 .. gen_len-2."""
        if self.decode_summary is None:
            raise WorkloadError("gen_len=1 has no decode step")
        if step == "first":
            return self.decode_summary.first.table()
        if step == "last":
            return self.decode_summary.last.table()
        if isinstance(step, bool) or not isinstance(step, (int, np.integer)) or not 0 <= step < self.n_decode_steps:
            raise WorkloadError(f"decode step must be 'first', 'last' or 0..{self.n_decode_steps - 1}, "
                                f"got {short(step)}")
        return _step(self.setup, self.batch, 1, self.prompt_len + int(step), "decode").table()

    def decode_steps(self):
        """One row per decode step: cached tokens, FLOPs, bytes, time, bound."""
        import pandas as pd
        if self.decode_summary is None:
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

    Keywords: ``weight_dtype`` (default: the checkpoint's quantization_config, else bf16),
    ``act_dtype``, ``kv_dtype`` (default: act dtype), ``compute_dtype`` (default: act dtype),
    ``tp``, ``pp``, ``ep`` (tensor, pipeline, expert parallelism; see :mod:`llmperf.parallel`),
    ``compute_efficiency``, ``memory_efficiency``, ``comm_efficiency`` (default 1: roofline
    lower bound), ``conventions`` or any :class:`~llmperf.conventions.Conventions` field
    (``attention_flops``, ``logits``, ``flash_attention``, ``tied_embeddings``,
    ``decode_kv``, ``mla``), and ``memory_fraction`` (share of device memory usable).
    """
    setup = opts.pop("setup", None) or make_setup(model, hardware, **opts)
    if not (type(batch) is int and type(prompt_len) is int and type(gen_len) is int   # plain counts: checked here
            and 0 < batch <= MAX_COUNT and 0 < prompt_len <= MAX_COUNT and 0 < gen_len <= MAX_COUNT):
        for name, v in (("batch", batch), ("prompt_len", prompt_len), ("gen_len", gen_len)):
            if type(v) is not int and np.ndim(v) != 0:
                raise WorkloadError(f"analyze() takes a scalar {name}; use sweep() or decode_step() for arrays")
        batch = int(_positive_int_array("batch", batch))
        prompt_len = int(_positive_int_array("prompt_len", prompt_len))
        gen_len = int(_positive_int_array("gen_len", gen_len))
    if prompt_len + gen_len - 1 > MAX_COUNT:
        raise WorkloadError(f"prompt_len + gen_len - 1 = {prompt_len + gen_len - 1} tokens is more than the "
                            f"limit of {MAX_COUNT}")
    if setup.ep > 1 and batch % setup.ep:
        raise WorkloadError(f"batch {batch} does not split evenly over ep={setup.ep} devices")
    if memory_fraction != 1.0 or type(memory_fraction) is not float:
        memory_fraction = fraction("memory_fraction", memory_fraction, error=WorkloadError)
    prefill = _step(setup, batch, prompt_len, 0, "prefill")
    ds = DecodeSummary(setup, batch, prompt_len, gen_len - 1) if gen_len > 1 else None
    return Analysis(setup, batch, prompt_len, gen_len, prefill, ds, memory_fraction)
