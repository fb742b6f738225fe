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
* RMSNorm 4 FLOP per element, softmax 5, RoPE 3, residual add 1, gating multiply 1,
  activations as :data:`llmperf.models.ACTIVATION_FLOP_PER_ELEMENT`;
* each tensor is read from and written to device memory once per operator
  (perfect on-chip reuse inside an operator: the roofline lower bound);
* MoE layers read the weights of the experts that at least one token picks,
  in expectation under uniform routing: ``E (1 - (1 - k/E)^(B T))`` experts;
* tensor parallelism splits heads, MLP width, expert width and vocabulary;
  norms and residual adds are replicated; each all-reduce of ``n`` bytes sends
  ``2 (tp - 1) / tp * n`` bytes per device over the link (ring algorithm), and
  the logits all-gather ``(tp - 1) / tp * n``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .conventions import DEFAULT, Conventions
from .dtypes import dtype_bytes
from .models import ACTIVATION_FLOP_PER_ELEMENT, ModelConfig, kv_heads_check

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
    def __init__(self):
        self.names, self.groups, self.kinds, self.shapes, self.repeats = [], [], [], [], []
        self.keys, self.scopes = [], []
        self.cols = {f: [] for f in FIELDS}
        self.array_shapes = set()

    def add(self, name, group, kind, shape, repeats, *, flops=0.0, w=0.0, ar=0.0, kr=0.0, aw=0.0, kw=0.0, comm=0.0,
            keys=None, scope="layer"):
        if repeats <= 0:
            return
        self.keys.append(keys)
        self.scopes.append(scope)
        self.names.append(name)
        self.groups.append(group)
        self.kinds.append(kind)
        self.shapes.append(shape)
        self.repeats.append(repeats)
        for f, v in zip(FIELDS, (flops, w, ar, kr, aw, kw, comm)):
            if type(v) is np.ndarray and v.ndim:
                self.array_shapes.add(v.shape)
            self.cols[f].append(v)

    def build(self) -> OpSet:
        shape = np.broadcast_shapes(*self.array_shapes) if self.array_shapes else ()
        data = {}
        for f, vals in self.cols.items():
            if not shape:
                data[f] = np.array(vals, dtype=float)
                continue
            out = np.empty((len(vals),) + shape)
            for i, v in enumerate(vals):
                out[i] = v
            data[f] = out
        return OpSet(tuple(self.names), tuple(self.groups), tuple(self.kinds), tuple(self.shapes),
                     np.asarray(self.repeats, dtype=float), data, tuple(self.keys), tuple(self.scopes))


def _window_sum(n, window):
    """sum_{j=1..n} min(j, window): query-key pairs of n causal queries from position 0."""
    if window is None:
        return n * (n + 1) / 2.0
    return np.where(n <= window, n * (n + 1) / 2.0, window * (window + 1) / 2.0 + (n - window) * window)


def attention_pairs(tokens, past, window=None, mode="causal"):
    """(pairs, keys): query-key pairs computed per head, and keys read per sequence.

    ``tokens`` new queries at positions ``past .. past+tokens-1``; ``window`` is the
    sliding window (``None``: full attention). ``mode='full'`` counts the whole
    ``tokens x keys`` rectangle.
    """
    total = past + tokens
    keys = total if window is None else np.minimum(total, tokens - 1 + window)
    if mode == "full":
        return tokens * keys, keys
    return _window_sum(total, window) - _window_sum(past, window), keys


def _fmt(dt: str, dims: Sequence) -> str:
    return f"{dt}[{', '.join(str(d) for d in dims)}]"


def _dim(x):
    """A dimension for a shape string: the number if scalar, a letter otherwise."""
    a = np.asarray(x)
    if a.ndim == 0:
        v = float(a)
        return int(v) if v == int(v) else round(v, 2)
    return "…"


def build_ops(model: ModelConfig, batch, tokens, past=0, *, phase: str = "prefill",
              conventions: Conventions = DEFAULT, weight_dtype="bf16", act_dtype="bf16",
              kv_dtype="bf16", tp: int = 1) -> OpSet:
    """All operators of one forward step, per device. See the module docstring."""
    if phase not in ("prefill", "decode"):
        raise ValueError("phase must be 'prefill' or 'decode'")
    if not isinstance(tp, (int, np.integer)) or tp < 1:
        raise ValueError(f"tp must be a positive integer, got {tp!r}")
    kv_heads_check(model, tp)
    c = conventions
    B = np.asarray(batch, dtype=float) if np.ndim(batch) else float(batch)
    T = np.asarray(tokens, dtype=float) if np.ndim(tokens) else float(tokens)
    P = np.asarray(past, dtype=float) if np.ndim(past) else float(past)
    if phase == "decode" and c.decode_kv == "exclusive":
        P = np.maximum(P - 1.0, 0.0)  # the step attends only the cached keys
    w, a, kvb = dtype_bytes(weight_dtype), dtype_bytes(act_dtype), dtype_bytes(kv_dtype)
    D, L, H, V = model.d_model, model.n_layers, model.head_dim, model.vocab_size
    Nd, Kd = model.n_heads // tp, model.n_kv_heads // tp
    M = B * T                                   # tokens in the step
    Ml = M if (c.logits == "all" and phase == "prefill") else B  # tokens that get logits
    b = _Builder()
    sM, sB, sT = _dim(M), _dim(B), _dim(T)
    ar_factor = 2.0 * (tp - 1) / tp

    # --- embedding -----------------------------------------------------------
    rows = np.minimum(M, V)
    b.add("embedding", "embedding", "lookup", f"{_fmt(weight_dtype, [V, D])}[ids {sM}]", 1,
          flops=M * D if model.embedding_scale else 0.0, w=rows * D * w / tp, ar=M * 4.0, aw=M * D * a,
          scope="model")
    if tp > 1:
        b.add("embedding all-reduce", "comm", "comm", _fmt(act_dtype, [sM, D]), 1, comm=ar_factor * M * D * a,
              scope="model")

    # --- attention, grouped by window ---------------------------------------
    windows = {}
    for win in model.windows:
        windows[win] = windows.get(win, 0) + 1
    xs = _fmt(act_dtype, [sM, D])
    b.add("input norm", "norm", "elementwise", xs, L, flops=NORM_FLOP * M * D, w=D * w, ar=M * D * a, aw=M * D * a)
    qo, ko = Nd * H, Kd * H
    if model.fused_qkv:
        b.add("qkv_proj", "attention", "matmul", f"{xs} x {_fmt(weight_dtype, [D, qo + 2 * ko])}", L,
              flops=2 * M * D * (qo + 2 * ko), w=D * (qo + 2 * ko) * w, ar=M * D * a,
              aw=M * (qo + ko) * a, kw=M * ko * kvb)
    else:
        bias = 1 if model.qkv_bias else 0
        b.add("q_proj", "attention", "matmul", f"{xs} x {_fmt(weight_dtype, [D, qo])}", L,
              flops=(2 * D + bias) * M * qo, w=(D + bias) * qo * w, ar=M * D * a, aw=M * qo * a)
        b.add("k_proj", "attention", "matmul", f"{xs} x {_fmt(weight_dtype, [D, ko])}", L,
              flops=(2 * D + bias) * M * ko, w=(D + bias) * ko * w, ar=M * D * a, aw=M * ko * a)
        b.add("v_proj", "attention", "matmul", f"{xs} x {_fmt(weight_dtype, [D, ko])}", L,
              flops=(2 * D + bias) * M * ko, w=(D + bias) * ko * w, ar=M * D * a, kw=M * ko * kvb)
    if model.qk_norm:
        b.add("q_norm, k_norm", "norm", "elementwise", _fmt(act_dtype, [sM, Nd + Kd, H]), L,
              flops=NORM_FLOP * M * (qo + ko), w=2 * H * w, ar=M * (qo + ko) * a, aw=M * (qo + ko) * a)
    b.add("rope", "attention", "elementwise", _fmt(act_dtype, [sM, Nd + Kd, H]), L,
          flops=ROPE_FLOP * M * (qo + ko), ar=M * (qo + ko) * a + 2 * M * H * a,
          aw=M * qo * a, kw=M * ko * kvb)
    for win, count in windows.items():
        suffix = "" if len(windows) == 1 else (" [full]" if win is None else f" [window {win}]")
        pairs, keys = attention_pairs(T, P, win, c.attention_flops)
        sK = "{S}"
        qk_flops = 2.0 * B * Nd * pairs * H
        sm_flops = SOFTMAX_FLOP * B * Nd * pairs
        q_bytes, o_bytes = M * qo * a, M * qo * a
        kv_read = B * keys * ko * kvb          # K or V, once each
        shape = f"Q {_fmt(act_dtype, [sB, Nd, sT, H])}, K/V {_fmt(kv_dtype, [sB, Kd, sK, H])}"
        if c.flash_attention:
            b.add("attention (fused)" + suffix, "attention", "attention", shape, count,
                  flops=2 * qk_flops + sm_flops, ar=q_bytes, kr=2 * kv_read, aw=o_bytes, keys=keys)
        else:
            score_bytes = B * Nd * T * keys * a
            b.add("qk_matmul" + suffix, "attention", "attention", shape, count,
                  flops=qk_flops, ar=q_bytes, kr=kv_read, aw=score_bytes, keys=keys)
            b.add("softmax" + suffix, "attention", "elementwise", _fmt(act_dtype, [sB, Nd, sT, sK]), count,
                  flops=sm_flops, ar=score_bytes, aw=score_bytes, keys=keys)
            b.add("sv_matmul" + suffix, "attention", "attention", shape, count,
                  flops=qk_flops, ar=score_bytes, kr=kv_read, aw=o_bytes, keys=keys)
    ob = 1 if model.o_bias else 0
    b.add("o_proj", "attention", "matmul", f"{_fmt(act_dtype, [sM, qo])} x {_fmt(weight_dtype, [qo, D])}", L,
          flops=2 * M * qo * D + ob * M * D, w=(qo * D + ob * D) * w, ar=M * qo * a, aw=M * D * a)
    if tp > 1:
        b.add("attention all-reduce", "comm", "comm", xs, L, comm=ar_factor * M * D * a)
    b.add("residual add (attention)", "norm", "elementwise", xs, L, flops=M * D, ar=2 * M * D * a, aw=M * D * a)
    b.add("post-attention norm", "norm", "elementwise", xs, L, flops=NORM_FLOP * M * D, w=D * w,
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
        b.add("router", "moe", "matmul", f"{xs} x {_fmt(weight_dtype, [D, E])}", n_moe,
              flops=2 * M * D * E, w=D * E * w, ar=M * D * a, aw=M * E * a)
        b.add("routing (softmax, top-k)", "moe", "elementwise", _fmt(act_dtype, [sM, E]), n_moe,
              flops=SOFTMAX_FLOP * M * E, ar=M * E * a, aw=M * k * 8.0)
        b.add("experts gate_up", "moe", "matmul", f"{_fmt(act_dtype, [_dim(Mk), D])} x {k}/{E} experts [{D}, 2x{sFe}]",
              n_moe, flops=4 * Mk * D * Fe, w=2 * used * D * Fe * w, ar=Mk * D * a, aw=2 * Mk * Fe * a)
        b.add(f"experts {model.activation} x up", "moe", "elementwise", _fmt(act_dtype, [_dim(Mk), sFe]), n_moe,
              flops=(act_f + 1) * Mk * Fe, ar=2 * Mk * Fe * a, aw=Mk * Fe * a)
        b.add("experts down", "moe", "matmul", f"{_fmt(act_dtype, [_dim(Mk), sFe])} x {k}/{E} experts [{sFe}, {D}]",
              n_moe, flops=2 * Mk * Fe * D, w=used * Fe * D * w, ar=Mk * Fe * a, aw=Mk * D * a)
        b.add("experts combine", "moe", "elementwise", _fmt(act_dtype, [_dim(Mk), D]), n_moe,
              flops=2 * Mk * D, ar=Mk * D * a, aw=M * D * a)
        if model.d_shared_expert:  # Qwen2-MoE: a gated MLP every token uses, scaled by a sigmoid gate
            Fs = model.d_shared_expert / tp
            sFs = _dim(Fs)
            b.add("shared expert gate_up", "moe", "matmul", f"{xs} x {_fmt(weight_dtype, [D, _dim(2 * Fs)])}",
                  n_moe, flops=4 * M * D * Fs, w=2 * D * Fs * w, ar=M * D * a, aw=2 * M * Fs * a)
            b.add(f"shared expert {model.activation} x up", "moe", "elementwise", _fmt(act_dtype, [sM, sFs]), n_moe,
                  flops=(act_f + 1) * M * Fs, ar=2 * M * Fs * a, aw=M * Fs * a)
            b.add("shared expert down", "moe", "matmul", f"{_fmt(act_dtype, [sM, sFs])} x {_fmt(weight_dtype, [sFs, D])}",
                  n_moe, flops=2 * M * Fs * D, w=Fs * D * w, ar=M * Fs * a, aw=M * D * a)
            b.add("shared expert gate", "moe", "matmul", f"{xs} x {_fmt(weight_dtype, [D, 1])}", n_moe,
                  flops=2 * M * D, w=D * w, ar=M * D * a, aw=M * a)
    if tp > 1:
        b.add("MLP all-reduce", "comm", "comm", xs, L, comm=ar_factor * M * D * a)
    b.add("residual add (MLP)", "norm", "elementwise", xs, L, flops=M * D, ar=2 * M * D * a, aw=M * D * a)

    # --- head ------------------------------------------------------------------
    b.add("final norm", "norm", "elementwise", xs, 1, flops=NORM_FLOP * M * D, w=D * w, ar=M * D * a, aw=M * D * a,
          scope="model")
    Vd = V / tp
    b.add("lm_head", "lm_head", "matmul", f"{_fmt(act_dtype, [_dim(Ml), D])} x {_fmt(weight_dtype, [D, _dim(Vd)])}", 1,
          flops=2 * Ml * D * Vd, w=D * Vd * w, ar=Ml * D * a, aw=Ml * Vd * a, scope="model")
    if tp > 1:
        b.add("logits all-gather", "comm", "comm", _fmt(act_dtype, [_dim(Ml), V]), 1,
              comm=(tp - 1) / tp * Ml * V * a, scope="model")
    return b.build()
