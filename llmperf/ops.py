"""The operators of one forward step of a decoder-only transformer.

:func:`build_ops` lists every operator of a step that feeds ``tokens`` new
tokens per sequence to ``batch`` sequences whose KV cache already holds
``past`` tokens (prefill: ``past=0, tokens=S``; a decode step: ``tokens=1``;
a prefill chunk: both positive). For each operator it gives the FLOPs and
the bytes it moves, split into weights, activations and KV cache, per device
under tensor parallelism ``tp``. Sizes may be numpy arrays: every count
broadcasts, so one call covers a whole sweep.

Counting rules (the conventions table of the book, ``book/notation.md``):

* a matmul of an ``[M, K]`` by a ``[K, N]`` matrix is ``2 M N K`` FLOP; a bias adds ``M N``;
* RMSNorm 4 FLOP per element (LayerNorm with a bias 5), softmax 5, RoPE 3, residual add 1
  (2 with Granite's residual multiplier), gating multiply 1, tanh soft-capping 3 (Gemma-2's
  attention scores and final logits), logits scaling 1 (Granite), activations as
  :data:`llmperf.models.ACTIVATION_FLOP_PER_ELEMENT`; attention sinks (gpt-oss) add one softmax
  column per query row;
* attention over sliding windows and chunks (Llama-4's chunked local attention: a query sees
  the keys of its own chunk) counts only the pairs the mask keeps (``attention_flops='causal'``);
  layers without RoPE (Llama-4's global layers) skip the RoPE operator;
* multi-head latent attention (DeepSeek-V2/V3) caches the latent; its decode attention is
  absorbed or expanded as ``Conventions.mla`` says (see :func:`_mla_attention`); routed and
  shared experts and the first dense layers are counted separately;
* each tensor is read from and written to device memory once per operator
  (perfect on-chip reuse inside an operator: the roofline lower bound);
* MoE layers read the weights of the experts that at least one token picks,
  in expectation under uniform routing: ``E (1 - (1 - k/E)^(B T))`` experts;
* tensor parallelism splits heads, MLP width, expert width and vocabulary;
  norms and residual adds are replicated; each all-reduce of ``n`` bytes sends
  ``2 (tp - 1) / tp * n`` bytes per device over the link (ring algorithm), and
  the logits all-gather ``(tp - 1) / tp * n``.

:func:`build_ops` is the definition. An analysis evaluates it through an operator plan
(:mod:`llmperf.plans`): the body, :func:`_collect`, traced once per setup and compiled, which gives
the same numbers bit for bit without rebuilding the operator list for every step.
"""
from __future__ import annotations

import contextvars
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .conventions import DEFAULT, Conventions
from .dtypes import dtype_bytes, weight_bytes_by_part
from .models import ACTIVATION_FLOP_PER_ELEMENT, SOFTCAP_FLOP_PER_ELEMENT, ModelConfig, kv_heads_check

#: Numeric fields of an operator, each an array over the sweep.
FIELDS = ("flops", "weight_bytes", "act_bytes_read", "kv_bytes_read",
          "act_bytes_written", "kv_bytes_written", "comm_bytes")

NORM_FLOP, SOFTMAX_FLOP, ROPE_FLOP = 4.0, 5.0, 3.0


@dataclass(frozen=True)
class OpSet:
    """Operators of one step. Arrays have shape ``(n_ops, *sweep_shape)``.

    ``repeats[i]`` is how many times operator ``i`` runs in the step (the number
    of layers it appears in, or 1); the per-op numbers are for one run.
    """

    names: tuple[str, ...]
    groups: tuple[str, ...]     # embedding | attention | mlp | moe | norm | lm_head | comm
    kinds: tuple[str, ...]      # matmul | attention | elementwise | lookup | comm
    shapes: tuple[str, ...]
    repeats: np.ndarray         # (n_ops,)
    data: dict                  # field -> ndarray (n_ops, *shape)
    shape_keys: tuple = ()      # per op: keys array filling "{S}" in its shape, or None
    scopes: tuple = ()          # per op: "layer" (inside decoder layers) or "model" (embedding, head)

    def shape_at(self, i: int, index=()) -> str:
        """Shape string of operator ``i`` at one grid point (fills the key length)."""
        keys = self.shape_keys[i] if self.shape_keys else None
        if keys is None or "{S}" not in self.shapes[i]:
            return self.shapes[i]
        k = np.asarray(keys)
        if k.ndim:
            k = np.broadcast_to(k, self.data["flops"].shape[1:])[index]
        return self.shapes[i].replace("{S}", str(int(k)))

    def __len__(self):
        return len(self.names)

    @property
    def bytes_read(self):
        d = self.data
        return d["weight_bytes"] + d["act_bytes_read"] + d["kv_bytes_read"]

    @property
    def bytes_written(self):
        return self.data["act_bytes_written"] + self.data["kv_bytes_written"]

    def total(self, field: str):
        """Sum over operators of ``repeats * field``: the whole step."""
        v = self.data[field]
        return np.tensordot(self.repeats, v, axes=(0, 0))


class _Builder:
    """Collects operators; one row of seven numbers per operator, made into arrays once in :meth:`build`."""

    def __init__(self):
        self.meta = []          # (name, group, kind, shape, repeats, keys, scope) per operator
        self.rows = []          # (flops, w, ar, kr, aw, kw, comm) per operator

    def add(self, name, group, kind, shape, repeats, *, flops=0.0, w=0.0, ar=0.0, kr=0.0, aw=0.0, kw=0.0, comm=0.0,
            keys=None, scope="layer"):
        if repeats <= 0:
            return
        self.meta.append((name, group, kind, shape, repeats, keys, scope))
        self.rows.append((flops, w, ar, kr, aw, kw, comm))

    def build(self) -> OpSet:
        names, groups, kinds, shapes, repeats, keys, scopes = zip(*self.meta) if self.meta else ((),) * 7
        arr = None
        try:  # every number a scalar: one (n_ops, 7) array
            arr = np.array(self.rows, dtype=float)
        except (ValueError, TypeError):
            pass
        if arr is not None and arr.ndim == 2:
            data = dict(zip(FIELDS, arr.T.copy()))
        else:  # some numbers are arrays over a grid: scalars in one assignment, arrays one by one
            data = _array_data([v for row in self.rows for v in row], len(self.rows))
        lazy = _LAZY_SHAPES.get()
        if lazy is not None:
            shapes = LazyShapes(lazy)
        return OpSet(names, groups, kinds, shapes, np.asarray(repeats, dtype=float), data, keys, scopes)


def _array_data(flat, n_rows) -> dict:
    """Field arrays ``(n_rows, *grid)`` from op-major numbers, some of them arrays over a grid."""
    arrays = [i for i, v in enumerate(flat) if type(v) is np.ndarray and v.ndim]
    if not arrays:
        arr = np.array(flat, dtype=float).reshape(n_rows, len(FIELDS))
        return dict(zip(FIELDS, arr.T.copy()))
    shape = np.broadcast_shapes(*{flat[i].shape for i in arrays})
    out = np.empty((len(flat),) + shape)
    is_array = np.zeros(len(flat), bool)
    is_array[arrays] = True
    scalars = np.flatnonzero(~is_array)
    out[scalars] = np.array([flat[i] for i in scalars], dtype=float).reshape((-1,) + (1,) * len(shape))
    for i in arrays:
        out[i] = flat[i]
    out = out.reshape((n_rows, len(FIELDS)) + shape)
    return {f: out[:, j] for j, f in enumerate(FIELDS)}


def _window_sum(n, window):
    """sum_{j=1..n} min(j, window): query-key pairs of n causal queries from position 0."""
    if window is None:
        return n * (n + 1) / 2.0
    return np.where(n <= window, n * (n + 1) / 2.0, window * (window + 1) / 2.0 + (n - window) * window)


def _chunk_sum(n, chunk):
    """sum_{p=0..n-1} ((p mod chunk) + 1): query-key pairs of n causal queries from position 0 in chunks."""
    q = np.floor(_as_float(n) / chunk)
    r = n - q * chunk
    return q * chunk * (chunk + 1) / 2.0 + r * (r + 1) / 2.0


def attention_pairs(tokens, past, window=None, mode="causal", chunk=None):
    """(pairs, keys): query-key pairs computed per head, and keys read per sequence.

    ``tokens`` new queries at positions ``past .. past+tokens-1``; ``window`` is the
    sliding window (``None``: full attention); ``chunk`` the chunk size of chunked
    local attention (a query at position p sees positions ``chunk * floor(p / chunk) .. p``).
    ``mode='full'`` counts the whole ``tokens x keys`` rectangle that an eager kernel
    computes over the keys the cache holds (a sliding or chunked cache keeps the last
    ``window - 1`` or ``chunk - 1`` positions, as transformers' does).
    """
    total = past + tokens
    span = window if window is not None else chunk
    if mode == "full":
        keys = total if span is None else np.minimum(total, tokens - 1 + span)
        return tokens * keys, keys
    if chunk is not None:
        keys = total - np.floor(_as_float(past) / chunk) * chunk
        return _chunk_sum(total, chunk) - _chunk_sum(past, chunk), keys
    keys = total if window is None else np.minimum(total, tokens - 1 + window)
    return _window_sum(total, window) - _window_sum(past, window), keys


def _attention_core(b, c, suffix, shape, count, B, T, Nd, pairs, keys, Hqk, Hv, q_bytes, o_bytes, k_read, v_read,
                    a, act_dtype, sB, sT, model, kv_read_once=None, sink_bytes=0.0):
    """QK^T, softmax (with soft-capping and sinks where the model has them) and scores x V of one layer group.

    ``kv_read_once``: bytes of a cache that both products share (MLA's latent), read once when fused;
    ``sink_bytes``: the weights of gpt-oss's per-head sink logits, read with the softmax.
    """
    qk_flops = 2.0 * B * Nd * pairs * Hqk
    sv_flops = 2.0 * B * Nd * pairs * Hv
    sm_flops = SOFTMAX_FLOP * B * Nd * pairs
    if model.attn_softcap:
        sm_flops = sm_flops + SOFTCAP_FLOP_PER_ELEMENT * B * Nd * pairs
    if model.attn_sinks:  # one more logit per query row and head
        sm_flops = sm_flops + SOFTMAX_FLOP * B * Nd * T
    if c.flash_attention:
        kr = (k_read + v_read) if kv_read_once is None else kv_read_once
        b.add("attention (fused)" + suffix, "attention", "attention", shape, count,
              flops=qk_flops + sv_flops + sm_flops, w=sink_bytes, ar=q_bytes, kr=kr, aw=o_bytes, keys=keys)
    else:
        score_bytes = B * Nd * T * keys * a
        b.add("qk_matmul" + suffix, "attention", "attention", shape, count,
              flops=qk_flops, ar=q_bytes, kr=k_read, aw=score_bytes, keys=keys)
        b.add("softmax" + suffix, "attention", "elementwise", _fmt(act_dtype, [sB, Nd, sT, "{S}"]), count,
              flops=sm_flops, w=sink_bytes, ar=score_bytes, aw=score_bytes, keys=keys)
        b.add("sv_matmul" + suffix, "attention", "attention", shape, count,
              flops=sv_flops, ar=score_bytes, kr=v_read, aw=o_bytes, keys=keys)


def _mla_attention(b, model, c, phase, B, T, P, M, Nd, w, w_keep, a, kvb, weight_dtype, act_dtype, kv_dtype):
    """Multi-head latent attention (DeepSeek-V2/V3), every layer, up to the o_proj input.

    The cache holds, per token and layer, the normalized latent (``kv_lora_rank``) and the
    rotary key (``qk_rope_head_dim``), shared by all heads and replicated on every tensor-parallel
    device. ``q_a_proj`` and ``kv_a_proj_with_mqa`` are replicated too; ``q_b_proj``, ``kv_b_proj``
    and the heads are split.

    Expanded (prefill always; decode under ``mla='expanded'``, what transformers runs):
    ``kv_b_proj`` re-expands the latent of every cached position into per-head keys (nope part)
    and values, then attention runs per head over keys of ``qk_nope + qk_rope`` dims and values
    of ``v_head_dim``. Absorbed (decode under ``mla='absorbed'``, what serving engines run):
    the key half of ``kv_b_proj`` is folded into the query (``q_nope W_UK``), attention runs in
    the latent space (scores over ``kv_lora_rank + qk_rope`` dims, output of ``kv_lora_rank``),
    and the value half is applied to the output (``W_UV``): no per-position expansion.
    """
    L, D, H, Hv = model.n_layers, model.d_model, model.head_dim, model.v_dim
    qr, kr, R, Hn = model.q_lora_rank, model.kv_lora_rank, model.qk_rope_head_dim, model.qk_nope_head_dim
    bias = 1 if model.qkv_bias else 0
    lat = kr + R
    qo = Nd * H
    sM, sB, sT = _dim(M), _dim(B), _dim(T)
    xs = _fmt(act_dtype, [sM, D])
    if qr:
        b.add("q_a_proj", "attention", "matmul", f"{xs} x {_fmt(weight_dtype, [D, qr])}", L,
              flops=(2 * D + bias) * M * qr, w=(D + bias) * qr * w, ar=M * D * a, aw=M * qr * a)
        b.add("q_a_layernorm", "norm", "elementwise", _fmt(act_dtype, [sM, qr]), L, flops=NORM_FLOP * M * qr,
              w=qr * w_keep, ar=M * qr * a, aw=M * qr * a)
        b.add("q_b_proj", "attention", "matmul", f"{_fmt(act_dtype, [sM, qr])} x {_fmt(weight_dtype, [qr, qo])}", L,
              flops=2 * M * qr * qo, w=qr * qo * w, ar=M * qr * a, aw=M * qo * a)
    else:
        b.add("q_proj", "attention", "matmul", f"{xs} x {_fmt(weight_dtype, [D, qo])}", L,
              flops=2 * M * D * qo, w=D * qo * w, ar=M * D * a, aw=M * qo * a)
    b.add("kv_a_proj_with_mqa", "attention", "matmul", f"{xs} x {_fmt(weight_dtype, [D, lat])}", L,
          flops=(2 * D + bias) * M * lat, w=(D + bias) * lat * w, ar=M * D * a, aw=M * lat * a)
    b.add("kv_a_layernorm", "norm", "elementwise", _fmt(act_dtype, [sM, kr]), L, flops=NORM_FLOP * M * kr,
          w=kr * w_keep, ar=M * kr * a, kw=M * kr * kvb)          # the latent goes into the cache
    b.add("rope", "attention", "elementwise", _fmt(act_dtype, [sM, Nd + 1, R]), L,
          flops=ROPE_FLOP * M * (Nd + 1) * R, ar=M * (Nd + 1) * R * a + 2 * M * R * a,
          aw=M * Nd * R * a, kw=M * R * kvb)                       # the rotary key goes into the cache
    pairs, keys = attention_pairs(T, P, None, c.attention_flops)
    absorbed = phase == "decode" and c.mla == "absorbed"
    if not absorbed:
        wide = Nd * (Hn + Hv)
        b.add("kv_b_proj (expand cached latents)", "attention", "matmul",
              f"{_fmt(kv_dtype, [sB, '{S}', kr])} x {_fmt(weight_dtype, [kr, wide])}", L,
              flops=2 * B * keys * kr * wide, w=kr * wide * w, kr=B * keys * kr * kvb, aw=B * keys * wide * a,
              keys=keys)
        shape = (f"Q {_fmt(act_dtype, [sB, Nd, sT, H])}, K {_fmt(act_dtype, [sB, Nd, '{S}', H])}, "
                 f"V {_fmt(act_dtype, [sB, Nd, '{S}', Hv])}")
        # keys: the expanded nope part (activations) and the shared rotary key (cache)
        k_read = B * keys * (Nd * Hn * a + R * kvb)
        v_read = B * keys * Nd * Hv * a
        _attention_core(b, c, "", shape, L, B, T, Nd, pairs, keys, H, Hv, M * qo * a, M * Nd * Hv * a,
                        k_read, v_read, a, act_dtype, sB, sT, model)
    else:
        b.add("q absorb (q_nope x W_UK)", "attention", "matmul",
              f"{_fmt(act_dtype, [sM, Nd, Hn])} x {_fmt(weight_dtype, [Nd, Hn, kr])}", L,
              flops=2 * M * Nd * Hn * kr, w=Nd * Hn * kr * w, ar=M * Nd * Hn * a, aw=M * Nd * kr * a)
        shape = f"Q {_fmt(act_dtype, [sB, Nd, sT, lat])}, latent cache {_fmt(kv_dtype, [sB, '{S}', lat])}"
        cache = B * keys * lat * kvb
        _attention_core(b, c, " (latent)", shape, L, B, T, Nd, pairs, keys, lat, kr, M * Nd * lat * a,
                        M * Nd * kr * a, cache, B * keys * kr * kvb, a, act_dtype, sB, sT, model,
                        kv_read_once=cache)
        b.add("output absorb (x W_UV)", "attention", "matmul",
              f"{_fmt(act_dtype, [sM, Nd, kr])} x {_fmt(weight_dtype, [Nd, kr, Hv])}", L,
              flops=2 * M * Nd * kr * Hv, w=Nd * kr * Hv * w, ar=M * Nd * kr * a, aw=M * Nd * Hv * a)


#: While :func:`build_ops` runs with ``shapes=False``, the function that makes the shape strings
#: when they are first read (``None``: format them now).
_LAZY_SHAPES = contextvars.ContextVar("llmperf_lazy_shapes", default=None)


def _attention_groups(model: ModelConfig) -> dict:
    """``{(window, chunk): layers}``: the layers of each attention kind, counted once per model object."""
    g = model.__dict__.get("_attention_groups")
    if g is None:
        g = {}
        for win, chunk in zip(model.windows, model.chunks):
            g[(win, chunk)] = g.get((win, chunk), 0) + 1
        object.__setattr__(model, "_attention_groups", g)
    return g


def _fmt(dt: str, dims: Sequence) -> str:
    if _LAZY_SHAPES.get() is not None:
        return ""
    return f"{dt}[{', '.join(map(str, dims))}]"


class LazyShapes(Sequence):
    """The shape strings of an :class:`OpSet`, formatted on first use (most analyses never print them)."""

    def __init__(self, make, extra=()):
        self._make, self._extra, self._items = make, tuple(extra), None

    def _all(self) -> tuple:
        if self._items is None:
            self._items = tuple(self._make()) + self._extra
        return self._items

    def __getitem__(self, i):
        return self._all()[i]

    def __len__(self):
        return len(self._all())

    def __add__(self, other):
        return LazyShapes(self._make, self._extra + tuple(other))

    def __eq__(self, other):
        return tuple(self._all()) == tuple(other)

    def __repr__(self):
        return repr(self._all())


#: The type of a size while :mod:`llmperf.plans` traces :func:`_collect` (set when that module is imported).
_Sym = None


def _as_float(x):
    """``x`` as a float array (a traced size stays as it is)."""
    return x if type(x) is _Sym else np.asarray(x, dtype=float)


def _dim(x):
    """A dimension for a shape string: the number if scalar, a letter otherwise."""
    if type(x) is _Sym:
        return "…"
    if type(x) is float:
        return int(x) if x.is_integer() else round(x, 2)
    a = np.asarray(x)
    if a.ndim == 0:
        v = float(a)
        return int(v) if v == int(v) else round(v, 2)
    return "…"


def build_ops(model: ModelConfig, batch, tokens, past=0, *, phase: str = "prefill",
              conventions: Conventions = DEFAULT, weight_dtype="bf16", act_dtype="bf16",
              kv_dtype="bf16", tp: int = 1, shapes: bool = True) -> OpSet:
    """All operators of one forward step, per device. See the module docstring.

    ``shapes=False`` leaves the shape strings to be formatted when first read (the numbers
    are the same; an analysis that prints no table never pays for the strings).
    """
    if not shapes:
        kw = dict(phase=phase, conventions=conventions, weight_dtype=weight_dtype, act_dtype=act_dtype,
                  kv_dtype=kv_dtype, tp=tp)
        token = _LAZY_SHAPES.set(lambda: build_ops(model, batch, tokens, past, **kw).shapes)
        try:
            return build_ops(model, batch, tokens, past, **kw)
        finally:
            _LAZY_SHAPES.reset(token)
    if phase not in ("prefill", "decode"):
        raise ValueError("phase must be 'prefill' or 'decode'")
    if not isinstance(tp, (int, np.integer)) or tp < 1:
        raise ValueError(f"tp must be a positive integer, got {tp!r}")
    kv_heads_check(model, tp)
    B = np.asarray(batch, dtype=float) if np.ndim(batch) else float(batch)
    T = np.asarray(tokens, dtype=float) if np.ndim(tokens) else float(tokens)
    P = np.asarray(past, dtype=float) if np.ndim(past) else float(past)
    b = _Builder()
    _collect(b, model, B, T, P, phase, conventions, weight_dtype, act_dtype, kv_dtype, tp)
    return b.build()


def _collect(b: _Builder, model: ModelConfig, B, T, P, phase, c, weight_dtype, act_dtype, kv_dtype, tp):
    """Add the operators of one step to ``b``: the body of :func:`build_ops`, on validated sizes.

    ``B``, ``T``, ``P`` are floats, arrays, or the symbols of :class:`_Graph` (a plan traces this
    function once per setup: the same arithmetic in the same order, compiled, see :func:`compile_plan`).
    """
    if phase == "decode" and c.decode_kv == "exclusive":
        P = np.maximum(P - 1.0, 0.0)  # the step attends only the cached keys
    w, a, kvb = dtype_bytes(weight_dtype), dtype_bytes(act_dtype), dtype_bytes(kv_dtype)
    # a checkpoint format (quantization_config) leaves embedding, norms and lm_head in 16 bits (w_keep);
    # mxfp4 in a mixture of experts quantizes the experts only (w_exp); plain dtypes store every weight alike
    w_keep, w, w_exp = weight_bytes_by_part(weight_dtype, bool(model.moe_layers))
    D, L, H, V = model.d_model, model.n_layers, model.head_dim, model.vocab_size
    Nd, Kd = model.n_heads // tp, max(model.n_kv_heads // tp, 1)   # tp > K: each device keeps one KV head replica
    M = B * T                                   # tokens in the step
    Ml = M if (c.logits == "all" and phase == "prefill") else B  # tokens that get logits
    sM, sB, sT = _dim(M), _dim(B), _dim(T)
    ar_factor = 2.0 * (tp - 1) / tp

    # --- embedding -----------------------------------------------------------
    rows = np.minimum(M, V)
    b.add("embedding", "embedding", "lookup", f"{_fmt(weight_dtype, [V, D])}[ids {sM}]", 1,
          flops=M * D if model.embedding_scale else 0.0, w=rows * D * w_keep / tp, ar=M * 4.0, aw=M * D * a,
          scope="model")
    if tp > 1:
        b.add("embedding all-reduce", "comm", "comm", _fmt(act_dtype, [sM, D]), 1, comm=ar_factor * M * D * a,
              scope="model")

    # --- attention, grouped by window or chunk -----------------------------------
    xs = _fmt(act_dtype, [sM, D])
    nb = 2 if model.norm_bias else 1                     # LayerNorm: a weight and a bias
    norm_f = NORM_FLOP + (1.0 if model.norm_bias else 0.0)
    b.add("input norm", "norm", "elementwise", xs, L, flops=norm_f * M * D, w=nb * D * w_keep, ar=M * D * a,
          aw=M * D * a)
    Hv = model.v_dim
    qo, ko, vo = Nd * H, Kd * H, Kd * Hv
    n_rope = L - len(model.nope_layers)
    if model.is_mla:
        _mla_attention(b, model, c, phase, B, T, P, M, Nd, w, w_keep, a, kvb, weight_dtype, act_dtype, kv_dtype)
    else:
        if model.fused_qkv:
            b.add("qkv_proj", "attention", "matmul", f"{xs} x {_fmt(weight_dtype, [D, qo + ko + vo])}", L,
                  flops=2 * M * D * (qo + ko + vo), w=D * (qo + ko + vo) * w, ar=M * D * a,
                  aw=M * (qo + ko) * a, kw=M * vo * kvb)
        else:
            bias = 1 if model.qkv_bias else 0
            b.add("q_proj", "attention", "matmul", f"{xs} x {_fmt(weight_dtype, [D, qo])}", L,
                  flops=(2 * D + bias) * M * qo, w=(D + bias) * qo * w, ar=M * D * a, aw=M * qo * a)
            b.add("k_proj", "attention", "matmul", f"{xs} x {_fmt(weight_dtype, [D, ko])}", L,
                  flops=(2 * D + bias) * M * ko, w=(D + bias) * ko * w, ar=M * D * a, aw=M * ko * a)
            b.add("v_proj", "attention", "matmul", f"{xs} x {_fmt(weight_dtype, [D, vo])}", L,
                  flops=(2 * D + bias) * M * vo, w=(D + bias) * vo * w, ar=M * D * a, kw=M * vo * kvb)
        if model.qk_norm:
            if model.qk_norm_kind == "l2":   # Llama-4: no weights, RoPE layers only
                b.add("q, k L2 norm", "norm", "elementwise", _fmt(act_dtype, [sM, Nd + Kd, H]), n_rope,
                      flops=NORM_FLOP * M * (qo + ko), ar=M * (qo + ko) * a, aw=M * (qo + ko) * a)
            else:
                qkw = 2 * H if model.qk_norm_kind == "head" else qo + ko
                b.add("q_norm, k_norm", "norm", "elementwise", _fmt(act_dtype, [sM, Nd + Kd, H]), L,
                      flops=NORM_FLOP * M * (qo + ko), w=qkw * w_keep, ar=M * (qo + ko) * a,
                      aw=M * (qo + ko) * a)
        b.add("rope", "attention", "elementwise", _fmt(act_dtype, [sM, Nd + Kd, H]), n_rope,
              flops=ROPE_FLOP * M * (qo + ko), ar=M * (qo + ko) * a + 2 * M * H * a,
              aw=M * qo * a, kw=M * ko * kvb)
        if model.nope_layers:  # layers without RoPE store the projected key as it is
            b.add("k to cache (NoPE layers)", "attention", "elementwise", _fmt(act_dtype, [sM, Kd, H]),
                  len(model.nope_layers), ar=M * ko * a, kw=M * ko * kvb)
        groups = _attention_groups(model)
        for (win, chunk), count in groups.items():
            if len(groups) == 1:
                suffix = ""
            else:
                suffix = f" [window {win}]" if win is not None else (f" [chunk {chunk}]" if chunk else " [full]")
            pairs, keys = attention_pairs(T, P, win, c.attention_flops, chunk=chunk)
            shape = (f"Q {_fmt(act_dtype, [sB, Nd, sT, H])}, K {_fmt(kv_dtype, [sB, Kd, '{S}', H])}, "
                     f"V {_fmt(kv_dtype, [sB, Kd, '{S}', Hv])}")
            _attention_core(b, c, suffix, shape, count, B, T, Nd, pairs, keys, H, Hv, M * qo * a, M * Nd * Hv * a,
                            B * keys * ko * kvb, B * keys * vo * kvb, a, act_dtype, sB, sT, model,
                            sink_bytes=Nd * w_keep if model.attn_sinks else 0.0)
    ob = 1 if model.o_bias else 0
    vq = Nd * Hv
    b.add("o_proj", "attention", "matmul", f"{_fmt(act_dtype, [sM, vq])} x {_fmt(weight_dtype, [vq, D])}", L,
          flops=2 * M * vq * D + ob * M * D, w=(vq * D + ob * D) * w, ar=M * vq * a, aw=M * D * a)
    if tp > 1:
        b.add("attention all-reduce", "comm", "comm", xs, L, comm=ar_factor * M * D * a)
    if model.norms_per_layer == 4:  # Gemma-2/3 normalize the block output before the residual add
        b.add("post-attention output norm", "norm", "elementwise", xs, L, flops=norm_f * M * D,
              w=nb * D * w_keep, ar=M * D * a, aw=M * D * a)
    res_f = 2.0 if model.residual_scale else 1.0     # Granite scales each block output first
    b.add("residual add (attention)", "norm", "elementwise", xs, L, flops=res_f * M * D, ar=2 * M * D * a,
          aw=M * D * a)
    b.add("post-attention norm", "norm", "elementwise", xs, L, flops=norm_f * M * D, w=nb * D * w_keep,
          ar=M * D * a, aw=M * D * a)

    # --- MLP: dense layers and MoE layers -------------------------------------
    n_moe = len(model.moe_layers)
    n_dense = L - n_moe
    act_f = ACTIVATION_FLOP_PER_ELEMENT[model.activation]
    if n_dense:
        Fd = model.d_ff / tp
        sF = _dim(Fd)
        mb = 1 if model.mlp_bias else 0
        if model.mlp == "gated":
            up_shape = f"{xs} x {_fmt(weight_dtype, [D, sF])}"
            if model.fused_gate_up:
                b.add("gate_up_proj", "mlp", "matmul", f"{xs} x {_fmt(weight_dtype, [D, _dim(2 * Fd)])}", n_dense,
                      flops=4 * M * D * Fd, w=2 * D * Fd * w, ar=M * D * a, aw=2 * M * Fd * a)
            else:
                for nm in ("gate_proj", "up_proj"):
                    b.add(nm, "mlp", "matmul", up_shape, n_dense, flops=(2 * D + mb) * M * Fd,
                          w=(D + mb) * Fd * w, ar=M * D * a, aw=M * Fd * a)
            b.add(f"{model.activation} x up", "mlp", "elementwise", _fmt(act_dtype, [sM, sF]), n_dense,
                  flops=(act_f + 1) * M * Fd, ar=2 * M * Fd * a, aw=M * Fd * a)
            b.add("down_proj", "mlp", "matmul", f"{_fmt(act_dtype, [sM, sF])} x {_fmt(weight_dtype, [sF, D])}",
                  n_dense, flops=2 * M * Fd * D + mb * M * D, w=(Fd * D + mb * D) * w, ar=M * Fd * a, aw=M * D * a)
        else:
            b.add("fc1", "mlp", "matmul", f"{xs} x {_fmt(weight_dtype, [D, sF])}", n_dense,
                  flops=(2 * D + mb) * M * Fd, w=(D + mb) * Fd * w, ar=M * D * a, aw=M * Fd * a)
            b.add(model.activation, "mlp", "elementwise", _fmt(act_dtype, [sM, sF]), n_dense,
                  flops=act_f * M * Fd, ar=M * Fd * a, aw=M * Fd * a)
            b.add("fc2", "mlp", "matmul", f"{_fmt(act_dtype, [sM, sF])} x {_fmt(weight_dtype, [sF, D])}", n_dense,
                  flops=2 * M * Fd * D + mb * M * D, w=(Fd * D + mb * D) * w, ar=M * Fd * a, aw=M * D * a)
    if n_moe:
        E, k = model.n_experts, model.top_k
        Fe = model.d_expert / tp
        sFe = _dim(Fe)
        Mk = M * k
        used = E * (1.0 - (1.0 - k / E) ** M)   # expected experts picked by at least one token
        rb = 1 if model.router_bias else 0
        eb = 1 if model.expert_bias else 0   # gpt-oss: biases on each expert's gate_up and down
        b.add("router", "moe", "matmul", f"{xs} x {_fmt(weight_dtype, [D, E])}", n_moe,
              flops=(2 * D + rb) * M * E, w=(D + rb) * E * w, ar=M * D * a, aw=M * E * a)
        b.add("routing (softmax, top-k)", "moe", "elementwise", _fmt(act_dtype, [sM, E]), n_moe,
              flops=SOFTMAX_FLOP * M * E, ar=M * E * a, aw=M * k * 8.0)
        b.add("experts gate_up", "moe", "matmul", f"{_fmt(act_dtype, [_dim(Mk), D])} x {k}/{E} experts [{D}, 2x{sFe}]",
              n_moe, flops=(2 * D + eb) * 2 * Mk * Fe, w=2 * used * (D + eb) * Fe * w_exp, ar=Mk * D * a,
              aw=2 * Mk * Fe * a)
        b.add(f"experts {model.activation} x up", "moe", "elementwise", _fmt(act_dtype, [_dim(Mk), sFe]), n_moe,
              flops=(act_f + 1) * Mk * Fe, ar=2 * Mk * Fe * a, aw=Mk * Fe * a)
        b.add("experts down", "moe", "matmul", f"{_fmt(act_dtype, [_dim(Mk), sFe])} x {k}/{E} experts [{sFe}, {D}]",
              n_moe, flops=2 * Mk * Fe * D + eb * Mk * D, w=used * (Fe + eb) * D * w_exp, ar=Mk * Fe * a,
              aw=Mk * D * a)
        b.add("experts combine", "moe", "elementwise", _fmt(act_dtype, [_dim(Mk), D]), n_moe,
              flops=2 * Mk * D, ar=Mk * D * a, aw=M * D * a)
        if model.d_shared_expert:  # a gated MLP every token uses (Qwen2-MoE scales it by a sigmoid gate)
            Fs = model.d_shared_expert / tp
            sFs = _dim(Fs)
            b.add("shared expert gate_up", "moe", "matmul", f"{xs} x {_fmt(weight_dtype, [D, _dim(2 * Fs)])}",
                  n_moe, flops=4 * M * D * Fs, w=2 * D * Fs * w, ar=M * D * a, aw=2 * M * Fs * a)
            b.add(f"shared expert {model.activation} x up", "moe", "elementwise", _fmt(act_dtype, [sM, sFs]), n_moe,
                  flops=(act_f + 1) * M * Fs, ar=2 * M * Fs * a, aw=M * Fs * a)
            b.add("shared expert down", "moe", "matmul", f"{_fmt(act_dtype, [sM, sFs])} x {_fmt(weight_dtype, [sFs, D])}",
                  n_moe, flops=2 * M * Fs * D, w=Fs * D * w, ar=M * Fs * a, aw=M * D * a)
            if model.shared_expert_gate:
                b.add("shared expert gate", "moe", "matmul", f"{xs} x {_fmt(weight_dtype, [D, 1])}", n_moe,
                      flops=2 * M * D, w=D * w, ar=M * D * a, aw=M * a)
    if tp > 1:
        b.add("MLP all-reduce", "comm", "comm", xs, L, comm=ar_factor * M * D * a)
    if model.norms_per_layer == 4:
        b.add("post-MLP output norm", "norm", "elementwise", xs, L, flops=norm_f * M * D, w=nb * D * w_keep,
              ar=M * D * a, aw=M * D * a)
    b.add("residual add (MLP)", "norm", "elementwise", xs, L, flops=res_f * M * D, ar=2 * M * D * a,
          aw=M * D * a)

    # --- head ------------------------------------------------------------------
    b.add("final norm", "norm", "elementwise", xs, 1, flops=norm_f * M * D, w=nb * D * w_keep, ar=M * D * a,
          aw=M * D * a, scope="model")
    Vd = V / tp
    hb = 1 if model.lm_head_bias else 0
    b.add("lm_head", "lm_head", "matmul", f"{_fmt(act_dtype, [_dim(Ml), D])} x {_fmt(weight_dtype, [D, _dim(Vd)])}", 1,
          flops=(2 * D + hb) * Ml * Vd, w=(D + hb) * Vd * w_keep, ar=Ml * D * a, aw=Ml * Vd * a, scope="model")
    if model.logit_flop_per_element:  # Gemma-2 final soft-capping, Granite logits scaling
        b.add("final soft-capping" if model.logit_flop_per_element > 1 else "logits scaling", "lm_head",
              "elementwise", _fmt(act_dtype, [_dim(Ml), _dim(Vd)]), 1, flops=model.logit_flop_per_element * Ml * Vd,
              ar=Ml * Vd * a, aw=Ml * Vd * a, scope="model")
    if tp > 1:
        b.add("logits all-gather", "comm", "comm", _fmt(act_dtype, [_dim(Ml), V]), 1,
              comm=(tp - 1) / tp * Ml * V * a, scope="model")
