"""The chapter "Serving Many Requests": its exercises, variants and the numbers its prose states."""
import json
from pathlib import Path

import numpy as np
import pytest

from llmperf.exercises import check, labels, worked

ROOT = Path(__file__).resolve().parents[1]
NB = ROOT / "book" / "serving.ipynb"
LABELS = [x for x in labels() if x.startswith("serving-")]


def _markdown():
    cells = json.loads(NB.read_text())["cells"]
    return "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")


def test_the_chapter_has_its_exercises():
    assert len(LABELS) >= 6
    text = _markdown()
    for label in LABELS:
        assert f":label: {label}" in text


def test_littles_law_exercise_by_hand():
    assert worked("serving-ex1", None).answer == pytest.approx(12 * 200 * 0.025)
    assert not check("serving-ex1", 12 * 200 * 25, quiet=True).correct      # ms taken for s


def test_plan_exercise_refuses_a_plan_that_misses_the_target():
    r = check("serving-ex7", (1, 8, 1), quiet=True)     # one device per stage: far too slow per token
    assert not r.correct and "target" in r.hint
    assert not check("serving-ex7", (3, 1, 2), quiet=True).correct          # does not use 8 devices


def test_best_draft_length_is_the_maximum_of_the_speedup():
    w = worked("serving-ex4")
    g = np.arange(0, 41)
    s = (1 - 0.8 ** (g + 1)) / ((1 - 0.8) * (g * 0.05 + 1))          # Leviathan et al., Theorem 3.8, by hand
    assert w.answer["gamma"] == int(np.argmax(s))
