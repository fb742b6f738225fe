"""How a submission is compared with an exercise's parts, and the hints for common slips."""
from __future__ import annotations

import math
from numbers import Real

# ratio given/expected -> the slip it usually means
_SLIPS = [
    (2 ** 30 / 1e9, "that looks like GiB where GB (10^9 bytes) is asked, or the reverse"),
    (1e9 / 2 ** 30, "that looks like GB where GiB (2^30 bytes) is asked, or the reverse"),
    (2 ** 20 / 1e6, "that looks like MiB where MB is asked, or the reverse"),
    (1e6 / 2 ** 20, "that looks like MB where MiB is asked, or the reverse"),
    (1e3, "off by a factor of 1000: check the unit (ms against s, GB against TB ...)"),
    (1e-3, "off by a factor of 1000: check the unit (s against ms, TB against GB ...)"),
    (1e6, "off by a factor of 10^6: check the unit prefix (µs against s, MB against TB ...)"),
    (1e-6, "off by a factor of 10^6: check the unit prefix"),
    (1e9, "off by 10^9: a count where a giga-count is asked (FLOP against GFLOP)?"),
    (1e-9, "off by 10^9: a giga-count where a plain count is asked?"),
    (1e12, "off by 10^12: check the unit prefix (FLOP/s against TFLOP/s)"),
    (1e-12, "off by 10^12: check the unit prefix (TFLOP/s against FLOP/s)"),
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
