"""Pipeline and expert parallelism, as transformations of one device's operator list.

Tensor parallelism (``tp``) is built into :func:`llmperf.ops.build_ops`: heads,
MLP width, expert width and vocabulary are split, and every layer all-reduces
its activations. The two other ways to spread a model over devices are applied
here to the operators of a step:

**Pipeline parallelism** (``pp`` stages). The layers are split into ``pp``
consecutive stages of ``ceil(L / pp)`` layers at most, one stage per device (or
per tp group). A forward step passes through every stage in turn, so a step
still takes the time of all its operators, plus ``pp - 1`` point-to-point
transfers of the activations ``B * T * D`` (bytes ``B T D a``) from one stage to
the next. With one batch in flight each device works ``1 / pp`` of the step and
idles the rest: the **bubble**, ``(pp - 1) / (m + pp - 1)`` of device time with
``m`` micro-batches (``m = 1`` here). A device holds the weights and KV cache of
its stage only.

**Expert parallelism** (``ep`` devices, with data-parallel attention, as
DeepSeek-V3 and vLLM serve mixtures of experts). Each device runs attention and
the dense parts for ``B / ep`` of the sequences, with a full copy of their
weights, and holds ``E / ep`` whole experts. Every MoE layer sends each token's
hidden vector to the devices of its ``k`` experts and brings the results back:
an **all-to-all** of ``(ep - 1) / ep * (B / ep) T k D a`` bytes per device each way
(dispatch and combine), under balanced routing. A device reads the weights of
the experts on it that at least one of all ``B T`` tokens picks:
``(E / ep) (1 - (1 - k / E)^(B T))``.
"""
from __future__ import annotations

import numpy as np

from .ops import OpSet, _as_float as _float


def pipeline_stage_layers(n_layers: int, pp: int) -> int:
    """Layers on the largest pipeline stage: ``ceil(L / pp)``."""
    return -(-n_layers // pp)


def bubble_fraction(pp: int, micro_batches: int = 1) -> float:
    """Share of device time idle in a pipeline of ``pp`` stages: ``(pp - 1) / (m + pp - 1)``."""
    return (pp - 1) / (micro_batches + pp - 1)


def _append(ops: OpSet, name, group, kind, shape, repeats, comm, scope) -> OpSet:
    data = {}
    for f, arr in ops.data.items():
        add = np.broadcast_to(np.asarray(comm if f == "comm_bytes" else 0.0, dtype=float), arr.shape[1:])
        data[f] = np.concatenate([arr, add[None]], axis=0)
    return OpSet(ops.names + (name,), ops.groups + (group,), ops.kinds + (kind,), ops.shapes + (shape,),
                 np.append(ops.repeats, float(repeats)), data, tuple(ops.shape_keys) + (None,),
                 tuple(ops.scopes) + (scope,))


def _pipeline_send(batch, tokens, d_model: int, act_bytes: float):
    """Bytes of one stage-to-stage transfer: ``B T D a``."""
    M = _float(batch) * _float(tokens)
    return M * d_model * act_bytes


def _pipeline_op(pp: int, d_model: int, act_dtype: str):
    return "pipeline send (stage to stage)", "comm", "comm", f"{act_dtype}[B*T, {d_model}]", pp - 1


def apply_pipeline(ops: OpSet, pp: int, batch, tokens, d_model: int, act_bytes: float, act_dtype: str) -> OpSet:
    """Add the ``pp - 1`` stage-to-stage activation transfers (``B T D a`` bytes each) to a step."""
    if pp == 1:
        return ops
    return _append(ops, *_pipeline_op(pp, d_model, act_dtype), _pipeline_send(batch, tokens, d_model, act_bytes),
                   "model")


def pipeline_rows(b, pp: int, batch, tokens, d_model: int, act_bytes: float, act_dtype: str) -> None:
    """:func:`apply_pipeline` on the operators a :class:`llmperf.ops._Builder` collects (a plan's trace)."""
    if pp > 1:
        b.add(*_pipeline_op(pp, d_model, act_dtype), comm=_pipeline_send(batch, tokens, d_model, act_bytes),
              scope="model")


def _expert_parallel(ep: int, model, batch_global, tokens, act_bytes: float):
    """(scale of the expert weight reads, all-to-all bytes per MoE layer) of expert parallelism."""
    E, k, D = model.n_experts, model.top_k, model.d_model
    T = _float(tokens)
    B = _float(batch_global)
    M_local = B / ep * T
    used_local = E * (1.0 - np.power(1.0 - k / E, M_local))
    used_device = E / ep * (1.0 - np.power(1.0 - k / E, B * T))
    scale = used_device / used_local
    comm = 2.0 * (ep - 1) / ep * M_local * k * D * act_bytes
    return scale, comm


def _is_expert_weight(name: str, group: str) -> bool:
    return group == "moe" and name.startswith("experts") and not name.startswith("experts combine")


def _expert_op(ep: int, model, act_dtype: str):
    return ("expert all-to-all (dispatch + combine)", "comm", "comm",
            f"{act_dtype}[B/ep*T*{model.top_k}, {model.d_model}] x 2", len(model.moe_layers))


def apply_expert_parallel(ops: OpSet, ep: int, model, batch_global, tokens, act_bytes: float,
                          act_dtype: str) -> OpSet:
    """Spread the experts of ``ops`` (built for the ``B / ep`` local sequences) over ``ep`` devices.

    Expert weight reads become those of the local experts that any of the ``B T``
    tokens picks; an all-to-all (dispatch + combine) is added to every MoE layer.
    """
    if ep == 1 or not model.moe_layers:
        return ops
    scale, comm = _expert_parallel(ep, model, batch_global, tokens, act_bytes)
    data = dict(ops.data)
    w = data["weight_bytes"].copy()
    for i, (name, group) in enumerate(zip(ops.names, ops.groups)):
        if _is_expert_weight(name, group):
            w[i] = w[i] * scale
    data["weight_bytes"] = w
    out = OpSet(ops.names, ops.groups, ops.kinds, ops.shapes, ops.repeats, data, ops.shape_keys, ops.scopes)
    return _append(out, *_expert_op(ep, model, act_dtype), comm, "layer")


def expert_parallel_rows(b, ep: int, model, batch_global, tokens, act_bytes: float, act_dtype: str) -> None:
    """:func:`apply_expert_parallel` on the operators a :class:`llmperf.ops._Builder` collects (a plan's trace)."""
    if ep == 1 or not model.moe_layers:
        return
    scale, comm = _expert_parallel(ep, model, batch_global, tokens, act_bytes)
    for i, (name, group) in enumerate((m[0], m[1]) for m in b.meta):
        if _is_expert_weight(name, group):
            r = b.rows[i]
            b.rows[i] = (r[0], r[1] * scale) + tuple(r[2:])
    b.add(*_expert_op(ep, model, act_dtype), comm=comm, scope="layer")


def check_parallel(model, tp: int, pp: int, ep: int, error=ValueError) -> None:
    """One-line errors for parallel degrees that do not fit the model."""
    for name, v in (("tp", tp), ("pp", pp), ("ep", ep)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or not 1 <= v <= 65536:
            raise error(f"{name} must be an integer in [1, 65536], got {v!r}")
    if pp > model.n_layers:
        raise error(f"pp={pp} pipeline stages is more than {model.name}'s {model.n_layers} layers")
    if ep > 1:
        if not model.moe_layers:
            raise error(f"ep={ep}: {model.name} has no experts to spread (expert parallelism needs a mixture of experts)")
        if model.n_experts % ep:
            raise error(f"ep={ep} does not divide {model.name}'s {model.n_experts} experts evenly")
        if tp > 1:
            raise error("ep > 1 is modelled with data-parallel attention (tp = 1); use tp or ep, not both")


def stage_fraction(n_layers: int, pp: int) -> float:
    """Share of the layers on the largest pipeline stage."""
    return pipeline_stage_layers(n_layers, pp) / n_layers if pp > 1 else 1.0


__all__ = ["apply_expert_parallel", "apply_pipeline", "bubble_fraction", "check_parallel", "pipeline_stage_layers",
           "stage_fraction"]
