"""Exercises: every label in the book has a checkable answer, and the student edition hides solutions."""
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from llmperf import exercises

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "book").glob("*.ipynb"))
LABEL = re.compile(r"\{exercise-start\}\s*\n:label:\s*(\S+)")


def _labels(nb_path):
    cells = json.loads(nb_path.read_text())["cells"]
    return [m for c in cells if c["cell_type"] == "markdown" for m in LABEL.findall("".join(c["source"]))]


def test_each_chapter_has_at_least_five_exercises():
    for nb in NOTEBOOKS:
        assert len(_labels(nb)) >= 5, nb.name


def test_every_exercise_in_the_book_has_a_registered_answer_and_back():
    in_book = {label for nb in NOTEBOOKS for label in _labels(nb)}
    assert in_book == set(exercises.labels())


def _perturbed(ans):
    """A copy of an answer with its first number changed by 50 % (None if it has no number)."""
    if isinstance(ans, bool):
        return not ans
    if isinstance(ans, (int, float)):
        return ans * 1.5 + 1
    if isinstance(ans, dict):
        for k, v in ans.items():
            p = _perturbed(v)
            if p is not None:
                return {**ans, k: p}
    if isinstance(ans, (list, tuple)):
        for i, v in enumerate(ans):
            p = _perturbed(v)
            if p is not None:
                return type(ans)(list(ans[:i]) + [p] + list(ans[i + 1:]))
    return None


@pytest.mark.parametrize("label", exercises.labels())
def test_answers_check_against_themselves_and_reject_a_wrong_value(label, capsys):
    ans = exercises.answer(label)
    assert exercises.check(label, ans)
    assert "correct" in capsys.readouterr().out
    wrong = _perturbed(ans)
    if wrong is not None:
        assert not exercises.check(label, wrong)


def test_unknown_label_is_a_clear_error():
    with pytest.raises(KeyError, match="no exercise"):
        exercises.answer("nope-ex1")


def test_student_edition_removes_every_solution(tmp_path):
    out = tmp_path / "student"
    p = subprocess.run([sys.executable, str(ROOT / "scripts" / "student_edition.py"), "--out", str(out)],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    for nb in NOTEBOOKS:
        student = json.loads((out / nb.name).read_text())
        text = json.dumps(student["cells"])
        assert "solution-start" not in text and "solution-end" not in text
        assert _labels(out / nb.name) == _labels(nb)  # the exercises stay
        teacher = json.loads(nb.read_text())
        n_solution_blocks = json.dumps(teacher["cells"]).count("{solution-start}")
        assert n_solution_blocks >= 5
        assert len(student["cells"]) < len(teacher["cells"])
