"""Operator plans: the operators of one setup traced once, their numbers compiled.

Which operators a step has, their names, kinds and repeats, and every coefficient depend on the
model and the setup only; the sizes (batch, new tokens, cached tokens) enter the numbers through a
few products. :func:`trace_ops` runs the very code of :func:`llmperf.ops.build_ops` (its body,
:func:`llmperf.ops._collect`) once with symbols for the sizes: each arithmetic operation on a symbol
becomes a node of a :class:`_Graph` (identical nodes shared), every operation on constants is done
as before. :class:`OpPlan` compiles the graph into two straight-line Python functions, one for
scalar sizes (float arithmetic) and one for arrays (numpy), that perform the same floating-point
operations in the same order as build_ops: the numbers are identical, bit for bit. Code the graph
cannot replay (a branch on a size, an unknown numpy function) raises :class:`TraceError`, and the
caller keeps calling build_ops.

:meth:`llmperf.analysis.Setup.ops` keeps one plan per phase and setup, on the model object.
"""
from __future__ import annotations

import math

import numpy as np

from . import ops as _ops
from .conventions import Conventions
from .models import ModelConfig
from .ops import _LAZY_SHAPES, FIELDS, LazyShapes, OpSet, _array_data, _Builder, _collect

class TraceError(Exception):
    """The traced code did something a plan cannot replay."""


_UFUNC_OPS = {np.add: "+", np.subtract: "-", np.multiply: "*", np.true_divide: "/", np.power: "npow",
              np.negative: "neg", np.floor: "floor", np.minimum: "min", np.maximum: "max",
              np.less_equal: "<=", np.less: "<", np.greater_equal: ">=", np.greater: ">"}
_INFIX = {"+", "-", "*", "/", "**", "<=", "<", ">=", ">"}


class _Sym:
    """A number that depends on the step's sizes: node ``i`` of graph ``g``."""

    __slots__ = ("g", "i")
    __array_priority__ = 1000
    __hash__ = None

    def __init__(self, g, i):
        self.g, self.i = g, i

    def __add__(self, o):
        return self.g.op("+", self, o)

    def __radd__(self, o):
        return self.g.op("+", o, self)

    def __sub__(self, o):
        return self.g.op("-", self, o)

    def __rsub__(self, o):
        return self.g.op("-", o, self)

    def __mul__(self, o):
        return self.g.op("*", self, o)

    def __rmul__(self, o):
        return self.g.op("*", o, self)

    def __truediv__(self, o):
        return self.g.op("/", self, o)

    def __rtruediv__(self, o):
        return self.g.op("/", o, self)

    def __pow__(self, o):
        return self.g.op("**", self, o)

    def __rpow__(self, o):
        return self.g.op("**", o, self)

    def __neg__(self):
        return self.g.op("neg", self)

    def __le__(self, o):
        return self.g.op("<=", self, o)

    def __lt__(self, o):
        return self.g.op("<", self, o)

    def __ge__(self, o):
        return self.g.op(">=", self, o)

    def __gt__(self, o):
        return self.g.op(">", self, o)

    def _refuse(self, *_):
        raise TraceError("the operator code branches on, converts or compares a size")

    __bool__ = __float__ = __int__ = __index__ = __len__ = __iter__ = __eq__ = __ne__ = _refuse
    __floordiv__ = __rfloordiv__ = __mod__ = __rmod__ = __abs__ = __round__ = _refuse

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        op = _UFUNC_OPS.get(ufunc)
        if method != "__call__" or op is None or kwargs:
            raise TraceError(f"numpy {ufunc.__name__}.{method} on a size")
        return self.g.op(op, *inputs)

    def __array_function__(self, func, types, args, kwargs):
        if func is np.where and len(args) == 3 and not kwargs:
            return self.g.op("where", *args)
        raise TraceError(f"numpy {getattr(func, '__name__', func)} on a size")


class _Graph:
    """Nodes ``(op, *args)``; an argument is ``("n", node)`` or ``("c", float.hex())``. Equal nodes are one."""

    def __init__(self, n_inputs: int):
        self.nodes: list = []
        self.index: dict = {}
        self.inputs = tuple(self._node(("in", k)) for k in range(n_inputs))

    def _node(self, key) -> _Sym:
        i = self.index.get(key)
        if i is None:
            i = self.index[key] = len(self.nodes)
            self.nodes.append(key)
        return _Sym(self, i)

    def arg(self, x):
        if type(x) is _Sym:
            if x.g is not self:
                raise TraceError("a symbol of another trace")
            return ("n", x.i)
        if isinstance(x, (bool, np.bool_)) or not isinstance(x, (int, float, np.integer, np.floating)):
            raise TraceError(f"a {type(x).__name__} operand")
        try:
            return ("c", float(x).hex())
        except OverflowError:
            raise TraceError("an integer too large for a float") from None

    def op(self, op, *xs) -> _Sym:
        args = tuple(self.arg(x) for x in xs)
        if op in ("+", "*"):  # commutative in IEEE arithmetic: one node for a+b and b+a
            args = tuple(sorted(args))
        return self._node((op,) + args)


#: While tracing, :func:`llmperf.ops._fmt` writes no shape strings (a plan formats them, when first read, with
#: build_ops).
_TRACING = "tracing"


_NUMBER = (int, float)


def _floor(x):
    return float(math.floor(x))


#: Largest grid an :class:`OpPlan` evaluates. Larger grids are bound by numpy's array arithmetic, where a
#: plan saves nothing, and build_ops evaluates them (measured faster for the 10,000-point sweep of
#: scripts/benchmark.py: fewer large arrays allocated at once).
PLAN_MAX_POINTS = 1024


class OpPlan:
    """The operators of one step kind of one setup, with their numbers compiled (see :func:`trace_ops`).

    ``plan(batch, tokens, past, shapes)`` gives the :class:`OpSet` that :func:`build_ops` (plus the
    setup's parallel transformations) gives for these sizes; ``shapes`` makes the shape strings when a
    table first reads them. Nothing a call returns is shared with another call but immutable tuples.
    """

    def __init__(self, graph: _Graph, b: _Builder):
        names, groups, kinds, shapes, repeats, keys, scopes = zip(*b.meta)
        self.names, self.groups, self.kinds, self.scopes = names, groups, kinds, scopes
        self.repeats = np.asarray(repeats, dtype=float)
        self.repeats.flags.writeable = False
        self.n = len(names)
        for r in b.rows:
            for v in r:
                graph.arg(v)  # every number a constant or a symbol of this graph
        scalar_src, array_src = _plan_source(graph, b.rows, keys)
        by_field = [r[j] for j in range(len(FIELDS)) for r in b.rows]
        self._varying = np.array([i for i, v in enumerate(by_field) if type(v) is _Sym], dtype=np.intp)
        self._constant = np.array([0.0 if type(v) is _Sym else float(v) for v in by_field])
        #: every operator's link bytes the constant 0: a step's link time adds nothing
        self.no_comm = all(type(r[-1]) is not _Sym and float(r[-1]) == 0.0 for r in b.rows)
        env = {"_np": np, "_floor": _floor, "_INF": math.inf, "_NAN": math.nan}
        exec(compile(scalar_src, "<llmperf plan, scalar sizes>", "exec"), env)
        exec(compile(array_src, "<llmperf plan, array sizes>", "exec"), env)
        self._scalar, self._array = env["_scalar"], env["_array"]
        self.source = scalar_src + "\n" + array_src

    def __call__(self, batch, tokens, past, shapes) -> OpSet | None:
        """The operators for these sizes, or ``None`` where the compiled code raised (call build_ops)."""
        out = self.evaluate(batch, tokens, past)
        return None if out is None else self.opset(*out, shapes)

    def evaluate(self, batch, tokens, past):
        """``(numbers, shape_keys)`` for these sizes, or ``None`` where the compiled code raised.

        ``numbers``: for scalar sizes one ``(7, n_ops)`` array, its rows the fields in :data:`FIELDS` order;
        for arrays, the dict of field arrays of :func:`build_ops`.
        """
        if type(batch) in _NUMBER and type(tokens) in _NUMBER and type(past) in _NUMBER:
            B, T, P = float(batch), float(tokens), float(past)
        else:
            B, T, P = (float(v) if type(v) in _NUMBER or not np.ndim(v) else np.asarray(v, dtype=float)
                       for v in (batch, tokens, past))
        try:
            if type(B) is float and type(T) is float and type(P) is float:
                vals, keys = self._scalar(B, T, P)
                flat = self._constant.copy()
                flat[self._varying] = vals
                return flat.reshape(len(FIELDS), self.n), keys
            if max(np.size(B), np.size(T), np.size(P)) > PLAN_MAX_POINTS:
                return None
            flat, keys = self._array(B, T, P)
            return _array_data(flat, self.n), keys
        except (ArithmeticError, TypeError, ValueError):
            return None

    def opset(self, numbers, keys, shapes) -> OpSet:
        """The :class:`OpSet` of :meth:`evaluate`'s numbers (their arrays, not copies)."""
        data = numbers if type(numbers) is dict else dict(zip(FIELDS, numbers))
        out = object.__new__(OpSet)  # OpSet(...) without the frozen dataclass's eight object.__setattr__ calls
        out.__dict__.update(names=self.names, groups=self.groups, kinds=self.kinds, shapes=LazyShapes(shapes),
                            repeats=self.repeats.copy(), data=data, shape_keys=keys, scopes=self.scopes)
        return out


def _plan_source(g: _Graph, rows, keys) -> tuple[str, str]:
    """Python source of the scalar and array evaluators of a traced operator list."""

    def ref(x):
        a = g.arg(x) if not isinstance(x, tuple) else x
        if a[0] == "n":
            return f"v{a[1]}"
        v = float.fromhex(a[1])
        if math.isnan(v):
            return "_NAN"
        if math.isinf(v):
            return "_INF" if v > 0 else "(-_INF)"
        r = repr(v)
        return f"({r})" if r.startswith("-") else r

    outputs = [v for r in rows for v in r] + [k for k in keys if k is not None]
    live, stack = set(), [g.arg(v)[1] for v in outputs if type(v) is _Sym]
    while stack:
        i = stack.pop()
        if i in live:
            continue
        live.add(i)
        stack.extend(a[1] for a in g.nodes[i][1:] if isinstance(a, tuple) and a[0] == "n")

    # array sizes: an intermediate array is dropped after its last use (fewer large arrays alive at once)
    kept = {g.arg(v)[1] for v in outputs if type(v) is _Sym}
    last_use = {}
    for i in sorted(live):
        for a in g.nodes[i][1:]:
            if isinstance(a, tuple) and a[0] == "n" and a[1] not in kept:
                last_use[a[1]] = i
    dies_at = {}
    for j, i in last_use.items():
        dies_at.setdefault(i, []).append(j)

    def body(array: bool) -> list[str]:
        lines = []
        for i in sorted(live):
            op, *args = g.nodes[i]
            if op == "in":
                lines.append(f"    v{i} = x{args[0]}")
                continue
            a = [ref(x) for x in args]
            if op in _INFIX:
                e = f"{a[0]} {op} {a[1]}"
            elif op == "neg":
                e = f"-{a[0]}"
            elif op == "npow":  # numpy's power, as the code it came from computed it
                e = f"_np.power({a[0]}, {a[1]})"
            elif array:
                e = {"floor": "_np.floor({0})", "min": "_np.minimum({0}, {1})", "max": "_np.maximum({0}, {1})",
                     "where": "_np.where({0}, {1}, {2})"}[op].format(*a)
            else:
                e = {"floor": "_floor({0})", "min": "{0} if {0} <= {1} else {1}", "max": "{0} if {0} >= {1} else {1}",
                     "where": "{1} if {0} else {2}"}[op].format(*a)
            lines.append(f"    v{i} = {e}")
            if array and i in dies_at:
                lines.append(f"    del {', '.join(f'v{j}' for j in sorted(dies_at[i]))}")
        return lines

    key_src = "(" + "".join(("None" if k is None else ref(k)) + ", " for k in keys) + ")"
    # scalar sizes: the numbers that vary, in field-major order, go into a copy of the constant (7, n) array
    by_field = [r[j] for j in range(len(FIELDS)) for r in rows]
    varying = [ref(v) for v in by_field if type(v) is _Sym]
    by_op = [ref(v) for r in rows for v in r]                              # op-major, as _Builder.build
    scalar = ["def _scalar(x0, x1, x2):"] + body(False) + [f"    return ({', '.join(varying)},), {key_src}"]
    array = ["def _array(x0, x1, x2):"] + body(True) + [f"    return [{', '.join(by_op)}], {key_src}"]
    return "\n".join(scalar) + "\n", "\n".join(array) + "\n"


def trace_ops(extend=None, *, model: ModelConfig, phase: str, conventions: Conventions, weight_dtype: str,
              act_dtype: str, kv_dtype: str, tp: int, batch_divisor: int = 1) -> OpPlan | None:
    """Trace :func:`build_ops` for one setup into an :class:`OpPlan` (``None`` if it cannot be traced).

    The plan's sizes are the global batch, new tokens and cached tokens; build_ops sees the batch divided
    by ``batch_divisor`` (expert parallelism). ``extend(b, batch, tokens)`` may add operators after it.
    """
    g = _Graph(3)
    B, T, P = g.inputs
    local = B / batch_divisor if batch_divisor > 1 else B
    b = _Builder()
    token = _LAZY_SHAPES.set(_TRACING)
    try:
        _collect(b, model, local, T, P, phase, conventions, weight_dtype, act_dtype, kv_dtype, tp)
        if extend is not None:
            extend(b, B, T)
        if not b.meta:
            return None
        return OpPlan(g, b)
    except TraceError:
        return None
    finally:
        _LAZY_SHAPES.reset(token)


_ops._Sym = _Sym   # build_ops's helpers recognize a traced size
