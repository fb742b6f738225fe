"""Make a graded assignment from a chapter's exercises, and grade submissions, offline (otter-grader).

    python scripts/assignment.py make  --chapter roofline --seed 7 --out dist/roofline-7
    python scripts/assignment.py grade --assignment dist/roofline-7 --submissions inbox/ --out scores.csv

``make`` builds an Otter Assign master notebook from the exercise registry
(``llmperf.exercises``): one question per exercise of the chapter, with the
statement of the variant of ``--seed`` (every student or group can get their
own seed), an answer cell, a public test that checks only the *form* of the
answer (the part names, numbers where numbers are asked) and a hidden test
that holds the variant's answer with its tolerance. ``otter assign`` then
writes

- ``OUT/student/<name>.ipynb``: the notebook to hand out: no solutions, no
  hidden tests; its first cell turns on graded mode (``LLMPERF_GRADED=1``),
  in which ``llmperf.exercises`` gives no answers, no worked solutions and no
  verdicts (``check()`` then checks the form only);
- ``OUT/autograder/<name>.ipynb``: the same notebook with the solutions (the
  instructor's key), and ``OUT/autograder/<name>-autograder_*.zip``: the
  autograder, with the hidden tests. Never hand out ``OUT/autograder``.

``grade`` runs every ``*.ipynb`` under ``--submissions`` through the
autograder, as ``otter run`` does (no Docker, no network: the notebook runs in
this Python environment, which needs llmperf and otter-grader installed) and
writes one CSV row per submission: the file, then the points of each question
(1 for a right answer, 0 otherwise), then the total; next to it,
``<out>.feedback.json`` keeps what the tests said about each submission. Each exercise counts one point; the
hidden test gives it all or nothing (a two-part answer with one wrong part
scores 0), and its failure message names the wrong part.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import re
import sys
import tempfile
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from llmperf import exercises as X  # noqa: E402
from llmperf.exercises._check import form_spec  # noqa: E402


def chapter_labels(chapter: str) -> list[str]:
    """The labels of a chapter's exercises (those registered by ``llmperf/exercises/<chapter>.py``), in order."""
    found = [lab for lab in X.labels() if X._fn(lab).__module__ == f"llmperf.exercises.{chapter}"]
    if not found:
        raise SystemExit(f"no exercises registered by llmperf/exercises/{chapter}.py")
    return sorted(found, key=lambda s: (s.rsplit("-ex", 1)[0], int(re.sub(r"\D", "", s.rsplit("-ex", 1)[1]) or 0)))


def _qname(label: str) -> str:
    return re.sub(r"\W", "_", label)


def _var(label: str) -> str:
    return _qname(label) + "_answer"


def _raw(text: str):
    return nbformat.v4.new_raw_cell(text)


def _key(w) -> dict:
    key = {}
    for name, p in w.parts.items():
        key[name] = "design" if p.accept is not None else [p.value, p.unit, p.rel, p.abs, p.what or name]
    return key


def _literal(value) -> str:
    return repr(value)


def master_notebook(chapter: str, seed: int, name: str) -> nbformat.NotebookNode:
    """The Otter Assign master notebook for ``chapter``, variant ``seed``."""
    config = {
        "name": name,
        "init_cell": True,
        "check_all_cell": False,
        "export_cell": False,
        "run_tests": False,
        "solutions_pdf": False,
        "tests": {"files": False, "ok_format": False},
    }
    cells = [_raw("# ASSIGNMENT CONFIG\n" + "\n".join(f"{k}: {json.dumps(v)}" for k, v in config.items())),
             nbformat.v4.new_markdown_cell(
                 f"# Assignment: {chapter} (variant {seed})\n\n"
                 "Answer each question by replacing `...` with your answer: a number, or a dict with the "
                 "names the question gives. You may compute with `llmperf` and Python. "
                 "`grader.check(\"...\")` under each answer checks only its *form* (names and numbers); "
                 "whether it is right is graded after you hand the notebook in. Use the units asked for."),
             nbformat.v4.new_code_cell(
                 "# graded mode: llmperf.exercises gives no answers or solutions in this notebook\n"
                 "import os\nos.environ[\"LLMPERF_GRADED\"] = \"1\"\nimport llmperf")]
    for i, label in enumerate(chapter_labels(chapter), 1):
        w = X._worked(label, seed)
        q, var = _qname(label), _var(label)
        spec = form_spec(w)
        cells.append(_raw(f"# BEGIN QUESTION\nname: {q}\npoints: 1"))
        cells.append(nbformat.v4.new_markdown_cell(
            f"## Question {i} ({label})\n\n{w.prompt}\n\n*Answer form:* {w.form()} "
            f"Assign it to `{var}`."))
        cells.append(_raw("# BEGIN SOLUTION"))
        cells.append(nbformat.v4.new_code_cell(f"{var} = {_literal(w.answer)}  # SOLUTION"))
        cells.append(_raw("# END SOLUTION"))
        cells.append(_raw("# BEGIN TESTS"))
        cells.append(nbformat.v4.new_code_cell(
            '""" # BEGIN TEST CONFIG\npoints: 0\nhidden: false\nfailure_message: check the form of your answer\n'
            '""" # END TEST CONFIG\n'
            f"def test_form({var}):\n"
            "    from llmperf.exercises._check import check_form\n"
            f"    problem = check_form({spec!r}, {var})\n"
            "    assert problem is None, problem\n"))
        cells.append(nbformat.v4.new_code_cell(
            '""" # BEGIN TEST CONFIG\npoints: 1\nhidden: true\n""" # END TEST CONFIG\n'
            f"def test_value({var}):\n"
            "    from llmperf.exercises._check import grade\n"
            f"    ok, hint = grade({label!r}, {seed!r}, {var}, {_key(w)!r})\n"
            "    assert ok, hint\n"))
        cells.append(_raw("# END TESTS"))
        cells.append(_raw("# END QUESTION"))
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    return nb


def make(chapter: str, seed: int, out: Path, name: str | None = None) -> Path:
    """Write the assignment for ``chapter``/``seed`` under ``out`` (student/ and autograder/)."""
    if X.graded_mode():
        raise SystemExit("unset LLMPERF_GRADED to make an assignment (it needs the answers)")
    name = name or f"{chapter}-{seed}"
    out = Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    from otter.assign import main as otter_assign

    with tempfile.TemporaryDirectory() as tmp:
        master = Path(tmp) / f"{name}.ipynb"
        nbformat.write(master_notebook(chapter, seed, name), master)
        here = os.getcwd()
        try:
            os.chdir(tmp)
            otter_assign(str(master), str(out), no_pdfs=True)
        finally:
            os.chdir(here)
    (out / "seed.txt").write_text(f"chapter {chapter}\nseed {seed}\n")
    return out


def autograder_zip(assignment: Path) -> Path:
    zips = sorted((Path(assignment) / "autograder").glob("*-autograder_*.zip"))
    if not zips:
        raise SystemExit(f"no autograder zip under {assignment}/autograder: run `make` first")
    return zips[-1]


def grade_one(ag_zip: Path, submission: Path) -> tuple[dict[str, float], str]:
    """Per-question points of one submitted notebook, and the feedback text (``otter run``, offline)."""
    from otter.api import grade_submission

    results = grade_submission(str(submission), str(ag_zip), quiet=True)
    scores = {name: float(tf.score) for name, tf in results.results.items()}
    feedback = "\n".join(tf.summary() for tf in results.results.values())
    return scores, feedback


def grade(assignment: Path, submissions: Path, out: Path) -> list[dict]:
    """Grade every notebook under ``submissions``; write ``out`` (CSV); return the rows."""
    ag = autograder_zip(assignment)
    nbs = sorted(Path(submissions).rglob("*.ipynb"))
    nbs = [p for p in nbs if ".ipynb_checkpoints" not in p.parts]
    rows, questions, feedbacks = [], None, {}
    for nb in nbs:
        scores, feedback = grade_one(ag, nb)
        feedbacks[str(nb.relative_to(submissions))] = feedback
        questions = questions or list(scores)
        row = {"submission": str(nb.relative_to(submissions)), **{q: scores.get(q, 0.0) for q in questions}}
        row["total"] = sum(row[q] for q in questions)
        rows.append(row)
        print(f"{row['submission']}: {row['total']:g} / {len(questions)}")
    with open(out, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["submission", *(questions or []), "total"])
        w.writeheader()
        w.writerows(rows)
    # what each failing test said (the hidden tests name the wrong part), for the teacher
    Path(out).with_suffix(".feedback.json").write_text(json.dumps(feedbacks, indent=1) + "\n")
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("make", help="write a chapter's assignment (student notebook and autograder)")
    m.add_argument("--chapter", required=True, help="roofline, operators, attention_share, memory_compute, edge")
    m.add_argument("--seed", type=int, required=True, help="the variant: its numbers differ from seed to seed")
    m.add_argument("--out", required=True, type=Path)
    m.add_argument("--name", help="assignment name (default CHAPTER-SEED)")
    g = sub.add_parser("grade", help="grade a folder of submitted notebooks into a CSV of per-question points")
    g.add_argument("--assignment", required=True, type=Path, help="the folder `make` wrote")
    g.add_argument("--submissions", required=True, type=Path, help="a folder of .ipynb files")
    g.add_argument("--out", required=True, type=Path, help="the CSV to write")
    args = p.parse_args(argv)
    if args.cmd == "make":
        out = make(args.chapter, args.seed, args.out, args.name)
        print(f"student notebook: {next((out / 'student').glob('*.ipynb'))}")
        print(f"autograder (keep it): {autograder_zip(out)}")
    else:
        grade(args.assignment, args.submissions, args.out)
        print(f"scores: {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
