"""The book's exercises: statements, worked solutions, per-student variants, checking.

Each chapter's module in this package registers one function per exercise
under the exercise's label in the book (``roofline-ex1`` ...) with
:func:`exercise`. The function takes the exercise's numbers as keyword
arguments (their defaults are the book's version) and returns a
:class:`Worked`: the statement with those numbers, the parts a student
submits (each with its unit and tolerance), and the worked solution, all
computed by llmperf. The book's solution dropdowns display that same object,
so the printed solution and the checked answer cannot drift apart.

Students check an answer with :func:`check` (one printed line: "correct" or a
hint naming the wrong part and the usual slip); under each exercise the book
shows :func:`selfcheck`'s answer boxes, which check in the browser with no
kernel. In graded mode (``LLMPERF_GRADED=1``, set by the notebooks that
``scripts/assignment.py`` makes) the package gives no answers, solutions or
verdicts, only whether an answer has the right form.

>>> from llmperf.exercises import check, variant
>>> check("roofline-ex1", {"bf16": 247, "fp8": 493})          # doctest: +SKIP
>>> v = variant("roofline-ex1", seed=7); print(v.prompt)      # doctest: +SKIP
>>> check("roofline-ex1", {...}, seed=7)                      # doctest: +SKIP
"""
from __future__ import annotations

import importlib
import itertools
import math
import os
import pkgutil
import zlib
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Mapping

__all__ = ["Part", "Worked", "Check", "exercise", "labels", "answer", "worked", "variant", "check",
           "variant_count", "graded_mode", "selfcheck"]


@dataclass(frozen=True)
class Part:
    """One thing a student submits: its value, unit and how close counts as right.

    ``rel`` is the relative tolerance (0 means exact: counts, integers,
    strings and booleans); ``abs`` an absolute one for values near zero.
    """

    value: Any
    unit: str = ""
    rel: float = 0.01
    abs: float = 0.0
    what: str = ""          # a few words naming the quantity, for hints ("bf16 ridge")
    #: For open design questions: a function of the submitted value that returns None when
    #: the submission is acceptable, else a hint. ``value`` is then one acceptable answer.
    accept: Any = None

    def __post_init__(self):
        v = self.value
        if hasattr(v, "item") and not isinstance(v, (str, bytes)):
            object.__setattr__(self, "value", v.item())
        if isinstance(self.value, float) and not math.isfinite(self.value):
            raise ValueError(f"an exercise answer must be finite, got {self.value}")


@dataclass(frozen=True)
class Worked:
    """An exercise with its numbers: statement, parts to submit and worked solution.

    ``prompt`` and ``solution`` are Markdown (MyST math with ``$...$``).
    ``parts`` maps each submitted name to its :class:`Part`; an exercise with a
    single number uses the name ``"answer"`` and is submitted as a bare value.
    """

    prompt: str
    parts: Mapping[str, Part]
    solution: str
    label: str = ""
    params: Mapping[str, Any] = field(default_factory=dict)

    @property
    def answer(self):
        """What a correct submission looks like: a value, or a dict of values by part name."""
        if set(self.parts) == {"answer"}:
            return self.parts["answer"].value
        return {k: p.value for k, p in self.parts.items()}

    def form(self) -> str:
        """One line saying how to submit: the names, units and tolerance."""
        def one(name, p):
            tol = "exact" if p.rel == 0 and p.abs == 0 else f"within {p.rel:.0%}" if p.rel else f"± {p.abs:g}"
            unit = f" in {p.unit}" if p.unit else ""
            return f"{name}{unit} ({tol})"
        if set(self.parts) == {"answer"}:
            return "Submit one value" + one("", self.parts["answer"]).rstrip() + "."
        return "Submit a dict with " + "; ".join(one(f"'{k}'", p) for k, p in self.parts.items()) + "."

    def _repr_markdown_(self) -> str:
        return self.solution

    def __repr__(self) -> str:
        return self.solution


_REGISTRY: dict[str, Callable[..., Worked]] = {}
_VARIANTS: dict[str, dict[str, list]] = {}


def exercise(label: str, variants: Mapping[str, Any] | None = None):
    """Register the decorated function as exercise ``label``.

    The function takes keyword arguments with defaults (the book's numbers)
    and returns a :class:`Worked`. ``variants`` maps some of those argument
    names to the values a per-student variant may draw from (a list or
    range); every combination must make a sensible exercise.
    """
    def deco(fn):
        old = _REGISTRY.get(label)
        if old is not None and (old.__module__, old.__qualname__) != (fn.__module__, fn.__qualname__):
            raise ValueError(f"exercise {label!r} registered twice")
        _REGISTRY[label] = fn
        _VARIANTS[label] = {k: list(v) for k, v in (variants or {}).items()}
        fn.exercise_label = label
        return fn
    return deco


#: chapter modules that failed to import, with the error (the others still load)
_LOAD_ERRORS: dict[str, str] = {}


def _load_all():
    for mod in pkgutil.iter_modules(__path__):
        if not mod.name.startswith("_") and mod.name not in _LOAD_ERRORS:
            try:
                importlib.import_module(f"{__name__}.{mod.name}")
            except Exception as exc:  # noqa: BLE001 - one broken chapter must not hide the others
                _LOAD_ERRORS[mod.name] = f"{type(exc).__name__}: {exc}"
                import warnings
                warnings.warn(f"exercises of llmperf.exercises.{mod.name} not loaded: {exc}", stacklevel=2)


def labels() -> list[str]:
    """All registered exercise labels."""
    _load_all()
    return sorted(_REGISTRY)


def _fn(label: str):
    _load_all()
    if label not in _REGISTRY:
        broken = "".join(f"; module {m} failed to load ({e})" for m, e in sorted(_LOAD_ERRORS.items()))
        raise KeyError(f"no exercise {label!r}; known: {', '.join(sorted(_REGISTRY))}{broken}")
    return _REGISTRY[label]


def graded_mode() -> bool:
    """True when the environment variable ``LLMPERF_GRADED`` is set (a graded assignment).

    In graded mode the package does not hand out answers: :func:`answer`,
    :func:`worked` and :func:`variant`'s ``.answer``/``.solution`` raise, and
    :func:`check` says only whether a submission is right.
    """
    return os.environ.get("LLMPERF_GRADED", "").strip() not in ("", "0", "false", "no")


def _params_for(label: str, seed: int | None) -> dict:
    space = _VARIANTS[label]
    if seed is None or not space:
        return {}
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    names = sorted(space)
    combos = list(itertools.product(*(space[n] for n in names)))
    # a fixed, label-specific order of the combinations; seed s picks entry s mod N,
    # so N consecutive seeds give N different variants and the same seed always the same one
    offset = zlib.crc32(label.encode())
    step = _coprime_step(len(combos), offset)
    idx = (offset + seed * step) % len(combos)
    return dict(zip(names, combos[idx]))


def _coprime_step(n: int, salt: int) -> int:
    if n <= 1:
        return 1
    s = 1 + salt % n
    while math.gcd(s, n) != 1:
        s += 1
    return s


def variant_count(label: str) -> int:
    """How many different variants exercise ``label`` has (1: its numbers are fixed)."""
    _fn(label)
    space = _VARIANTS[label]
    return math.prod(len(v) for v in space.values()) if space else 1


def _worked(label: str, seed: int | None) -> Worked:
    fn = _fn(label)
    params = _params_for(label, seed)
    w = fn(**params)
    if not isinstance(w, Worked):
        raise TypeError(f"exercise {label!r} must return a Worked, got {type(w).__name__}")
    return Worked(prompt=w.prompt, parts=w.parts, solution=w.solution, label=label, params=params)


def worked(label: str, seed: int | None = None) -> Worked:
    """The exercise ``label`` with its worked solution (the book's version, or a seed's variant)."""
    if graded_mode():
        raise PermissionError("solutions are not available in a graded assignment")
    return _worked(label, seed)


def answer(label: str, seed: int | None = None):
    """The answer to exercise ``label`` (a value, or a dict by part name), computed now by llmperf."""
    if graded_mode():
        raise PermissionError("answers are not available in a graded assignment")
    return _worked(label, seed).answer


def variant(label: str, seed: int) -> Worked:
    """Exercise ``label`` with a student's own numbers, drawn reproducibly from ``seed``.

    ``.prompt`` is the statement to hand out and ``.answer`` the key; the same
    seed always gives the same variant. In graded mode only ``.prompt`` is
    available.
    """
    w = _worked(label, seed)
    if graded_mode():
        hidden = {k: replace(p, value=None, accept=None) for k, p in w.parts.items()}
        return Worked(prompt=w.prompt, parts=hidden, solution="", label=label, params=w.params)
    return w


@dataclass(frozen=True)
class Check:
    """The verdict on a submission: ``correct`` and a ``hint`` (empty when correct)."""

    label: str
    correct: bool
    hint: str = ""

    def __bool__(self) -> bool:
        return self.correct

    def __repr__(self) -> str:
        return f"{self.label}: " + ("correct" if self.correct else f"not yet. {self.hint}".strip())

    def _ipython_display_(self):
        """Nothing: :func:`check` has already printed its line (a notebook would show it twice)."""


def check(label: str, value, seed: int | None = None, quiet: bool = False) -> Check:
    """Check ``value`` against exercise ``label`` (or the variant of ``seed``); print one line.

    Returns a :class:`Check` whose ``.hint`` names the part that is wrong and,
    where it recognises one, the slip (GB for GiB, ms for s, a factor of 2 ...).
    In graded mode it checks only the form of ``value`` (names, numbers):
    ``.correct`` is then always False and ``.hint`` says whether the form is right.
    """
    from ._check import check_form, form_spec, judge  # the comparison and its hints live apart

    w = _worked(label, seed)
    if graded_mode():
        # a graded assignment: say whether the form is right, never whether the value is
        problem = check_form(form_spec(w), value)
        result = Check(label, False, f"the form is not right: {problem}" if problem else
                       "the form is right (names, numbers); whether it is correct is graded after you submit")
        if not quiet:
            print(f"{label}: {result.hint}")
        return result
    ok, hint = judge(w, value, reveal=True)
    result = Check(label, ok, "" if ok else hint)
    if not quiet:
        print(repr(result))
    return result


from ._selfcheck import selfcheck  # noqa: E402  (the offline answer boxes; needs the names above)
