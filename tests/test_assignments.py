"""Graded assignments (scripts/assignment.py, otter-grader, offline): make one, grade a class.

One chapter, three submissions: the solution notebook scores full marks, the
untouched student notebook scores zero, and a notebook with one wrong answer
loses exactly that question. Two seeds give two different assignments. The
commands are run as the instructor page documents them.
"""
import ast
import csv
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

pytest.importorskip("otter", reason="otter-grader is in requirements.txt")

from llmperf import exercises  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "assignment.py"
CHAPTER = "roofline"
LABELS = [l for l in exercises.labels() if exercises._fn(l).__module__ == f"llmperf.exercises.{CHAPTER}"]
QUESTIONS = [re.sub(r"\W", "_", l) for l in LABELS]


def _run(*args):
    p = subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], capture_output=True, text=True,
                       cwd=ROOT, timeout=900)
    assert p.returncode == 0, p.stdout + p.stderr
    return p.stdout


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    out = tmp_path_factory.mktemp("assignment")
    _run("make", "--chapter", CHAPTER, "--seed", 7, "--out", out / "seed7")
    _run("make", "--chapter", CHAPTER, "--seed", 8, "--out", out / "seed8")
    return out


def _answers(nb):
    """{variable: source} of the answer cells."""
    return {m.group(1): c.source for c in nb.cells if c.cell_type == "code"
            for m in [re.match(r"^(\w+_answer) = ", c.source)] if m}


def _perturb(value):
    """The answer with its first number 37 % off (or its first word/bool changed)."""
    if isinstance(value, dict):
        for k, v in value.items():
            w = _perturb(v)
            if w is not None:
                return {**value, k: w}
        return None
    if isinstance(value, bool):
        return not value
    if isinstance(value, (int, float)):
        return value * 1.37 + 1
    if isinstance(value, str):
        return value + "-not"
    return None


@pytest.fixture(scope="module")
def graded(made, tmp_path_factory):
    a = made / "seed7"
    subs = tmp_path_factory.mktemp("submissions")
    shutil.copy(next((a / "autograder").glob("*.ipynb")), subs / "solution.ipynb")
    shutil.copy(next((a / "student").glob("*.ipynb")), subs / "untouched.ipynb")
    nb = nbformat.read(subs / "solution.ipynb", as_version=4)
    wrong_q = QUESTIONS[1]
    for c in nb.cells:
        if c.cell_type == "code" and c.source.startswith(f"{wrong_q}_answer = "):
            value = ast.literal_eval(c.source.split("=", 1)[1].split("# SOLUTION")[0].strip())
            c.source = f"{wrong_q}_answer = {_perturb(value)!r}"
            break
    else:
        raise AssertionError(f"no answer cell for {wrong_q}")
    nbformat.write(nb, subs / "one_wrong.ipynb")
    out = made / "scores.csv"
    _run("grade", "--assignment", a, "--submissions", subs, "--out", out)
    rows = {r["submission"]: r for r in csv.DictReader(out.open())}
    return rows, wrong_q, json.loads(out.with_suffix(".feedback.json").read_text())


def test_the_solution_notebook_gets_full_marks(graded):
    rows, _, _ = graded
    r = rows["solution.ipynb"]
    assert [float(r[q]) for q in QUESTIONS] == [1.0] * len(QUESTIONS)
    assert float(r["total"]) == len(QUESTIONS)


def test_the_untouched_student_notebook_gets_zero(graded):
    rows, _, feedback = graded
    r = rows["untouched.ipynb"]
    assert [float(r[q]) for q in QUESTIONS] == [0.0] * len(QUESTIONS)
    assert float(r["total"]) == 0
    assert "no answer yet" in feedback["untouched.ipynb"]


def test_one_wrong_answer_loses_exactly_that_question(graded):
    rows, wrong_q, feedback = graded
    r = rows["one_wrong.ipynb"]
    assert {q for q in QUESTIONS if float(r[q]) == 0.0} == {wrong_q}
    assert float(r["total"]) == len(QUESTIONS) - 1
    assert "AssertionError" in feedback["one_wrong.ipynb"]


def test_two_seeds_give_two_different_assignments(made):
    s7 = nbformat.read(next((made / "seed7" / "student").glob("*.ipynb")), as_version=4)
    s8 = nbformat.read(next((made / "seed8" / "student").glob("*.ipynb")), as_version=4)
    p7 = [c.source for c in s7.cells if c.cell_type == "markdown" and c.source.startswith("## Question")]
    p8 = [c.source for c in s8.cells if c.cell_type == "markdown" and c.source.startswith("## Question")]
    assert len(p7) == len(p8) == len(LABELS)
    varied = [l for l in LABELS if exercises.variant_count(l) > 1]
    differ = [l for l, a, b in zip(LABELS, p7, p8) if a != b]
    assert differ == varied and differ   # every exercise with variants has other numbers
    k7 = _answers(nbformat.read(next((made / "seed7" / "autograder").glob("*.ipynb")), as_version=4))
    k8 = _answers(nbformat.read(next((made / "seed8" / "autograder").glob("*.ipynb")), as_version=4))
    assert k7 != k8


def test_the_student_notebook_holds_no_answers_and_turns_graded_mode_on(made):
    path = next((made / "seed7" / "student").glob("*.ipynb"))
    nb = nbformat.read(path, as_version=4)
    assert set(_answers(nb).values()) == {f"{q}_answer = ..." for q in QUESTIONS}
    text = path.read_text()
    assert "hidden=True" not in text and "import grade" not in text   # no hidden tests
    for label in LABELS:
        for p in exercises.variant(label, 7).parts.values():
            if isinstance(p.value, float) and abs(p.value) >= 1:
                assert repr(p.value)[:7] not in text
    assert any('os.environ["LLMPERF_GRADED"] = "1"' in c.source for c in nb.cells if c.cell_type == "code")
    assert not (made / "seed7" / "student" / "autograder").exists()
