"""Exercise answers that a student (or a teacher's grader) can check.

Each chapter's module in this package defines one function per exercise,
registered under the exercise's label in the book (``roofline-ex1`` ...) with
:func:`exercise`. The book's solution dropdowns call these same functions, so
the printed answer and the checked answer cannot drift apart.

>>> from llmperf.exercises import check
>>> check("roofline-ex1", 25.0)          # doctest: +SKIP
"""
from __future__ import annotations

import importlib
import math
import pkgutil
from typing import Any, Callable

_REGISTRY: dict[str, Callable[[], Any]] = {}


def exercise(label: str):
    """Register the decorated zero-argument function as the answer to ``label``."""
    def deco(fn):
        if label in _REGISTRY and _REGISTRY[label] is not fn:
            raise ValueError(f"exercise {label!r} registered twice")
        _REGISTRY[label] = fn
        fn.exercise_label = label
        return fn
    return deco


def _load_all():
    for mod in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{mod.name}")


def labels() -> list[str]:
    """All registered exercise labels."""
    _load_all()
    return sorted(_REGISTRY)


def answer(label: str):
    """The answer to exercise ``label``, computed now by llmperf."""
    _load_all()
    if label not in _REGISTRY:
        raise KeyError(f"no exercise {label!r}; known: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[label]()


def _close(given, expected, rel):
    if isinstance(expected, bool) or isinstance(expected, str):
        return given == expected
    if isinstance(expected, (int, float)):
        try:
            g = float(given)
        except (TypeError, ValueError):
            return False
        return math.isclose(g, float(expected), rel_tol=rel, abs_tol=1e-12)
    if isinstance(expected, dict):
        return isinstance(given, dict) and set(given) == set(expected) and all(
            _close(given[k], expected[k], rel) for k in expected)
    if isinstance(expected, (list, tuple)):
        return len(given) == len(expected) and all(_close(g, e, rel) for g, e in zip(given, expected))
    return given == expected


def check(label: str, given, rel: float = 0.02) -> bool:
    """True if ``given`` matches the answer to ``label`` within ``rel`` (2 % by default).

    Numbers compare with a relative tolerance; strings and booleans exactly;
    dicts and lists element by element.
    """
    ok = _close(given, answer(label), rel)
    print(f"{label}: {'correct' if ok else 'not yet'}")
    return ok
