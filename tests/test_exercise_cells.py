"""Every chapter's exercises, the same way: statement, answer form, self-check, gated solution, variants.

One test module for what every chapter must do with its exercises (the chapter test files keep what is
particular to each: hand derivations and published numbers).
"""
import itertools
import json
import re
from pathlib import Path

import pytest

from llmperf import exercises as E
from llmperf.exercises._check import judge

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "book").glob("*.ipynb"))
LABEL = re.compile(r"\{exercise-start\}\s*\n:label:\s*(\S+)")


def _norm(text):
    return " ".join(text.split())


def _exercises():
    """(notebook, cells, index of the exercise's markdown cell, label) for every exercise of the book."""
    out = []
    for nb in NOTEBOOKS:
        cells = json.loads(nb.read_text())["cells"]
        for i, c in enumerate(cells):
            if c["cell_type"] == "markdown":
                for label in LABEL.findall("".join(c["source"])):
                    out.append(pytest.param(nb, i, label, id=label))
    return out


EXERCISES = _exercises()


@pytest.mark.parametrize("nb, i, label", EXERCISES)
def test_statement_answer_form_selfcheck_and_gated_solution(nb, i, label):
    cells = json.loads(nb.read_text())["cells"]
    statement = "".join(cells[i]["source"])
    w = E.worked(label)
    assert _norm(w.prompt) in _norm(statement), f"{label}: the book's statement is not the exercise's prompt"
    assert "*Answer form:*" in statement, f"{label}: the statement does not say how to submit"
    if not any(p.accept is not None for p in w.parts.values()):   # open questions word their own form
        assert _norm(w.form()) in _norm(statement), f"{label}: the answer form is not the exercise's own"
    rest = [c for c in cells[i + 1:]]
    check = next(c for c in rest if c["cell_type"] == "code")
    assert "".join(check["source"]).strip() == f'selfcheck("{label}")'
    assert "remove-input" in check["metadata"].get("tags", [])
    start = next(k for k, c in enumerate(rest) if f"solution-start}} {label}" in "".join(c["source"]))
    end = next(k for k, c in enumerate(rest) if k > start and "solution-end" in "".join(c["source"]))
    block = rest[start:end + 1]
    assert all("solution" in c["metadata"].get("tags", []) for c in block), f"{label}: untagged solution cell"
    assert any("".join(c["source"]).strip() == f'worked("{label}")' for c in block if c["cell_type"] == "code")


@pytest.mark.parametrize("label", E.labels())
def test_every_variant_is_a_sound_exercise(label):
    """Every combination a variant may draw works, and its own answer checks as correct."""
    fn = E._fn(label)
    space = E._VARIANTS[label]
    names = sorted(space)
    for combo in itertools.product(*(space[n] for n in names)):
        w = fn(**dict(zip(names, combo)))
        ok, hint = judge(w, w.answer)
        assert ok, (label, combo, hint)


@pytest.mark.parametrize("label", E.labels())
def test_variants_differ_and_are_reproducible(label):
    n = E.variant_count(label)
    assert n >= 3, f"{label}: only {n} variant(s)"
    prompts = {E.variant(label, s).prompt for s in range(3)}
    assert len(prompts) == 3
    assert E.variant(label, 5).prompt == E.variant(label, 5).prompt


@pytest.mark.parametrize("label", E.labels())
def test_each_worked_solution_states_its_answer(label):
    """A variant's worked solution shows every numeric part of its answer, as the page prints numbers."""
    from llmperf.book import fmt

    for seed in range(min(E.variant_count(label), 4)):
        w = E.variant(label, seed)
        sol = w.solution.replace("{,}", ",")
        for name, p in w.parts.items():
            if isinstance(p.value, (bool, str, tuple)) or p.accept is not None:
                continue
            shown = {fmt(p.value), fmt(p.value, "sig4"), fmt(p.value, ",.0f"), fmt(p.value, ".2f"),
                     fmt(p.value, ".1%")}
            assert any(s in sol for s in shown), f"{label} seed {seed}: {name}={p.value} is not in the solution"
        assert "{'" not in w.solution and "def " not in w.solution, f"{label}: a dict or source in the solution"
        for m in re.findall(r"\$[^$]*\$", w.solution):
            assert "%" not in m, f"{label}: a % inside math starts a MathJax comment: {m}"
