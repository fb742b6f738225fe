"""Write the student edition of the book's notebooks: the exercises stay, the solutions go.

    python scripts/student_edition.py [--out student] [book/roofline.ipynb ...]
    python scripts/student_edition.py --check      # only verify that every solution is tagged

A solution is every cell tagged ``solution`` (from the markdown cell that
opens the ``solution-start`` directive to the one with ``solution-end``, both
included); nbconvert's ``TagRemovePreprocessor`` removes them. The stored
outputs of the other cells stay, so the edition reads without a kernel, and
the self-check boxes under each exercise still work in it. The imports of
``worked`` and ``answer`` (only the solutions use them) are dropped.

The script refuses (exit status 1, naming the notebook and cell) to write an
edition that would still give an answer away: a ``solution-start`` or
``solution-end`` directive left untagged, a ``worked(...)`` or ``answer(...)``
call, or a pointer to the exercise modules (``llmperf/exercises/<chapter>.py``,
where the answers are computed).
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import nbformat
from nbconvert.preprocessors import TagRemovePreprocessor

ROOT = Path(__file__).resolve().parents[1]
SOLUTION_TAG = "solution"

#: what must not survive in a student edition, and why
LEAKS = [
    (re.compile(r"\{solution-(start|end)\}"), "a solution directive without the `solution` tag"),
    (re.compile(r"(^|[^\w.])(worked|answer)\(\s*[\"']"), "a call that prints a solution (worked/answer)"),
    (re.compile(r"llmperf/exercises/\w+\.py"), "a pointer to the module that computes the answers"),
]


IMPORT = re.compile(r"^(\s*from llmperf\.exercises import )(.+)$", re.M)


def _drop_solution_imports(source: str) -> str:
    """``from llmperf.exercises import selfcheck, worked`` -> ``... import selfcheck`` (the solutions are gone)."""
    def fix(m):
        names = [n.strip() for n in m.group(2).strip("() ").split(",") if n.strip()]
        keep = [n for n in names if n.split(" as ")[0] not in ("worked", "answer")]
        return m.group(1) + ", ".join(keep) if keep else ""
    return IMPORT.sub(fix, source)


def strip_solutions(nb: nbformat.NotebookNode) -> tuple[nbformat.NotebookNode, int]:
    """The notebook without its ``solution`` cells, and how many cells went.

    The imports of ``worked``/``answer`` (used only by the solution cells) go too.
    """
    before = len(nb.cells)
    pp = TagRemovePreprocessor(remove_cell_tags={SOLUTION_TAG}, enabled=True)
    out, _ = pp.preprocess(nbformat.from_dict(nb), {})
    for cell in out.cells:
        if cell.cell_type == "code":
            cell.source = _drop_solution_imports(cell.source)
    return out, before - len(out.cells)


def leaks(nb: nbformat.NotebookNode) -> list[str]:
    """What in ``nb`` would still give an answer away: one line per problem (empty: none)."""
    found = []
    for i, cell in enumerate(nb.cells):
        for rx, why in LEAKS:
            if rx.search(cell.source):
                found.append(f"cell {i} ({cell.cell_type}): {why}: {cell.source.strip()[:70]!r}")
    return found


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("notebooks", nargs="*", type=Path, help="default: every book/*.ipynb")
    p.add_argument("--out", default=str(ROOT / "student"))
    p.add_argument("--check", action="store_true", help="verify only, write nothing")
    args = p.parse_args(argv)
    paths = args.notebooks or sorted((ROOT / "book").glob("*.ipynb"))
    out = Path(args.out)
    bad = 0
    for path in paths:
        nb, n = strip_solutions(nbformat.read(path, as_version=4))
        problems = leaks(nb)
        if problems:
            bad += 1
            print(f"{path.name}: NOT written, {len(problems)} problem(s):", file=sys.stderr)
            for line in problems:
                print("  " + line, file=sys.stderr)
            continue
        if args.check:
            print(f"{path.name}: {n} solution cells to remove, nothing left that gives an answer away")
            continue
        out.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, out / path.name)
        print(f"{path.name}: removed {n} solution cells -> {out / path.name}")
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
