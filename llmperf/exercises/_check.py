"""How a submission is compared with an exercise's parts, and the hints for common slips."""
from __future__ import annotations

import math
import re
from numbers import Real

# ratio given/expected -> the slip it usually means
_SLIPS = [
    # a number 7.4 % too large is a size in GB where GiB (2^30 bytes) is asked
    (2 ** 30 / 1e9, "that looks like GB (10^9 bytes) where GiB (2^30 bytes) is asked"),
    (1e9 / 2 ** 30, "that looks like GiB (2^30 bytes) where GB (10^9 bytes) is asked"),
    (2 ** 20 / 1e6, "that looks like MB (10^6 bytes) where MiB (2^20 bytes) is asked"),
    (1e6 / 2 ** 20, "that looks like MiB (2^20 bytes) where MB (10^6 bytes) is asked"),
    (1e3, "off by a factor of 1000: check the unit (ms against s, GB against TB ...)"),
    (1e-3, "off by a factor of 1000: check the unit (s against ms, TB against GB ...)"),
    (1e6, "off by a factor of 10^6: check the unit prefix (µs against s, MB against TB ...)"),
    (1e-6, "off by a factor of 10^6: check the unit prefix"),
    (1e9, "off by 10^9: a count where a giga-count is asked (FLOP against GFLOP)?"),
    (1e-9, "off by 10^9: a giga-count where a plain count is asked?"),
    (1e12, "off by 10^12: check the unit prefix (FLOP/s against TFLOP/s)"),
    (1e-12, "off by 10^12: check the unit prefix (TFLOP/s against FLOP/s)"),
    (100.0, "off by a factor of 100: a percentage where a fraction is asked, or the reverse?"),
    (0.01, "off by a factor of 100: a fraction where a percentage is asked, or the reverse?"),
    (8.0, "off by a factor of 8: bits where bytes are asked?"),
    (0.125, "off by a factor of 8: bytes where bits are asked?"),
    (2.0, "twice the answer: a factor of 2 too many (a multiply-add is 2 FLOP once; K and V; the causal half)?"),
    (0.5, "half the answer: a factor of 2 missing (2 FLOP per multiply-add; both K and V; the full square)?"),
    (4.0, "four times the answer: two factors of 2 too many?"),
    (0.25, "a quarter of the answer: two factors of 2 missing?"),
]


def _number(x):
    if hasattr(x, "item") and not isinstance(x, (str, bytes)):
        x = x.item()
    if isinstance(x, bool):
        return None
    if isinstance(x, Real):
        return float(x)
    if isinstance(x, str):
        try:
            return float(x.replace(",", "").replace("_", ""))
        except ValueError:
            return None
    return None


# ---- answers given with a unit: "989 TFLOP/s", "80 GiB", "12 ms" ----

_PREFIX = {"": 1.0, "k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18,
           "Ki": 2.0 ** 10, "Mi": 2.0 ** 20, "Gi": 2.0 ** 30, "Ti": 2.0 ** 40, "Pi": 2.0 ** 50,
           "m": 1e-3, "µ": 1e-6, "u": 1e-6, "n": 1e-9}
_BASE = {"FLOP": "FLOP", "FLOPs": "FLOP", "FLOP/s": "FLOP/s", "FLOPS": "FLOP/s", "FLOPs/s": "FLOP/s",
         "B": "B", "byte": "B", "bytes": "B", "bit": "bit", "bits": "bit", "b": "bit", "s": "s",
         "B/s": "B/s", "bytes/s": "B/s", "bit/s": "bit/s", "b/s": "bit/s", "FLOP/B": "FLOP/B",
         "FLOP/byte": "FLOP/B", "tokens/s": "tokens/s", "token/s": "tokens/s", "tok/s": "tokens/s",
         "%": "%"}
_DIM_SLIPS = {
    ("FLOP", "FLOP/s"): "a FLOP count where a rate in FLOP/s is asked (divide by the time)",
    ("FLOP/s", "FLOP"): "a rate in FLOP/s where a FLOP count is asked (multiply by the time)",
    ("bit", "B"): "bits where bytes are asked (8 bits to a byte)",
    ("B", "bit"): "bytes where bits are asked (8 bits to a byte)",
    ("bit/s", "B/s"): "bits per second where bytes per second are asked (8 bits to a byte)",
    ("B", "B/s"): "bytes where a bandwidth in B/s is asked (divide by the time)",
    ("B/s", "B"): "a bandwidth where bytes are asked",
}
_UNIT = re.compile(r"^\s*([+-]?(?:\d[\d,_]*\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)\s*([^\d\s,._+-].*?)\s*$")


def _split_unit(u: str):
    """(scale, base) of a unit string like "GiB", "TFLOP/s", "ms"; None if unknown."""
    u = u.strip().replace("μ", "µ")
    if u in _BASE:
        return 1.0, _BASE[u]
    for p in sorted(_PREFIX, key=len, reverse=True):
        if p and u.startswith(p) and u[len(p):] in _BASE and _BASE[u[len(p):]] != "%":
            return _PREFIX[p], _BASE[u[len(p):]]
    return None


def _with_unit(given, part):
    """A string "number unit": (value in the part's unit, None) or (None, hint); (None, None) if no unit."""
    if not isinstance(given, str):
        return None, None
    m = _UNIT.match(given)
    if not m or re.fullmatch(r"[eE][+-]?\d+", m.group(2)):
        return None, None
    num, unit = float(m.group(1).replace(",", "").replace("_", "")), m.group(2)
    if unit == part.unit:
        return num, None
    g, want = _split_unit(unit), _split_unit(part.unit or "")
    if g is None or want is None:
        return None, (f"give it in {part.unit}" if part.unit else "give a plain number") + f", not in {unit!r}"
    if g[1] != want[1]:
        slip = _DIM_SLIPS.get((g[1], want[1]), f"{g[1]} where {want[1]} is asked")
        return None, slip
    return num * g[0] / want[0], None


def _close(given: float, part) -> bool:
    exp = float(part.value)
    tol = max(part.rel * abs(exp), part.abs)
    if part.rel == 0 and part.abs == 0:
        return given == exp
    return abs(given - exp) <= tol


def _judge_part(name: str, part, given, reveal: bool) -> str | None:
    """None if right, else a hint naming the part."""
    what = part.what or name
    if part.accept is not None:
        verdict = part.accept(given)
        return None if verdict is None else f"'{what}': {verdict}"
    exp = part.value
    unit = f" in {part.unit}" if part.unit else ""
    if isinstance(exp, bool):
        if isinstance(given, bool) and given == exp:
            return None
        return f"'{what}' should be True or False" + ("" if isinstance(given, bool) else f" (got {given!r})")
    if isinstance(exp, str):
        if isinstance(given, str) and given.strip().lower() == exp.strip().lower():
            return None
        return f"'{what}' is not the expected word" + (f" (one of the operator's bounds or names)" if not reveal else "")
    g, unit_hint = _with_unit(given, part)
    if unit_hint:
        return f"'{what}': {unit_hint}"
    if g is None:
        g = _number(given)
    if g is None:
        return f"'{what}' should be a number{unit}, got {type(given).__name__}"
    if not math.isfinite(g):
        return f"'{what}' should be a finite number{unit}"
    if _close(g, part):
        return None
    e = float(exp)
    if part.rel == 0 and part.abs == 0 and float(exp).is_integer():
        if g.is_integer() and abs(g - e) == 1:
            return f"'{what}' is off by one: it is an exact count (a whole number)"
    if e != 0 and g != 0:
        ratio = g / e
        for r, msg in _SLIPS:
            if abs(ratio / r - 1) <= max(part.rel, 0.01) * 2:
                return f"'{what}': {msg}"
        if ratio < 0:
            return f"'{what}' has the wrong sign"
        direction = "too large" if g > e else "too small"
        far = "far " if (ratio > 3 or ratio < 1 / 3) else ""
        return f"'{what}' is {far}{direction}{unit}"
    return f"'{what}' is not right{unit}"


def judge(worked, value, reveal: bool = True) -> tuple[bool, str]:
    parts = worked.parts
    if set(parts) == {"answer"}:
        if isinstance(value, dict):
            return False, "submit a single value, not a dict: " + worked.form()
        hint = _judge_part("answer", parts["answer"], value, reveal)
        return hint is None, hint or ""
    if not isinstance(value, dict):
        return False, "submit a dict: " + worked.form()
    missing = [k for k in parts if k not in value]
    extra = [k for k in value if k not in parts]
    if missing or extra:
        bits = []
        if missing:
            bits.append("missing " + ", ".join(f"'{k}'" for k in missing))
        if extra:
            bits.append("unexpected " + ", ".join(f"'{k}'" for k in extra))
        return False, "; ".join(bits) + ". " + worked.form()
    hints = [h for k, p in parts.items() if (h := _judge_part(k, p, value[k], reveal))]
    return (not hints), "; ".join(hints)


# ---- the form of a submission, without the answer (graded mode, public tests) ----

def form_spec(worked) -> dict:
    """What each part must look like, with no value: ``{name: "number" | "word" | "bool" | "design"}``."""
    def kind(p):
        if p.accept is not None:
            return "design"
        if isinstance(p.value, bool):
            return "bool"
        if isinstance(p.value, str):
            return "word"
        return "number"
    return {k: kind(p) for k, p in worked.parts.items()}


def check_form(spec: dict, value) -> str | None:
    """None if ``value`` has the form ``spec`` asks for (names, numbers, words), else what is off.

    Says nothing about whether the values are right: this is what a graded
    assignment's public tests and :func:`llmperf.exercises.check` in graded
    mode run.
    """
    if value is Ellipsis or value is None:
        return "no answer yet: replace ... with your answer"
    single = set(spec) == {"answer"}
    if single:
        value = {"answer": value}
        if isinstance(value["answer"], dict) and spec["answer"] != "design":
            return "submit a single value, not a dict"
    elif not isinstance(value, dict):
        return "submit a dict with the keys " + ", ".join(repr(k) for k in spec)
    missing = [k for k in spec if k not in value]
    extra = [k for k in value if k not in spec]
    if missing or extra:
        bits = (["missing " + ", ".join(repr(k) for k in missing)] if missing else []) + \
               (["unexpected " + ", ".join(repr(k) for k in extra)] if extra else [])
        return "; ".join(bits)
    for k, kind in spec.items():
        v = value[k]
        name = "the answer" if single else repr(k)
        if v is Ellipsis or v is None:
            return f"{name} has no value yet"
        if kind == "number" and (_number(v) is None or not math.isfinite(_number(v))):
            return f"{name} should be a number, got {type(v).__name__}"
        if kind == "word" and not isinstance(v, str):
            return f"{name} should be a word (a str), got {type(v).__name__}"
        if kind == "bool" and not isinstance(v, bool):
            return f"{name} should be True or False, got {type(v).__name__}"
    return None


def grade(label: str, seed, value, key: dict) -> tuple[bool, str]:
    """Grade ``value`` against ``key`` (the hidden test's copy of the answer): (ok, hint).

    ``key`` maps part name to ``[value, unit, rel, abs, what]``, or to
    ``"design"`` for an open design part, which is judged by the exercise's own
    ``accept`` function (for the variant of ``seed``). Used by the hidden
    tests of assignments made with ``scripts/assignment.py``; works in graded
    mode.
    """
    from . import Part, Worked, _worked

    parts, live = {}, None
    for name, k in key.items():
        if k == "design":
            live = live or _worked(label, seed)
            parts[name] = live.parts[name]
        else:
            v, unit, rel, abs_, what = k
            parts[name] = Part(v, unit, rel=rel, abs=abs_, what=what)
    ok, hint = judge(Worked("", parts, "", label=label), value, reveal=False)
    return ok, "" if ok else f"{label}: {hint}"
