"""Write the student edition of the book's notebooks: exercises kept, solutions removed.

    python scripts/student_edition.py [--out student]

Every cell from a ``solution-start`` directive to its ``solution-end`` (both
included) is dropped, and so are cells tagged ``solution``. Stored outputs of
the remaining cells stay, so the student edition still reads without a
kernel. Students check answers with ``llmperf.exercises.check(label, value)``.
(sphinx-exercise's own ``hide_solutions`` option crashes on gated solutions.)
"""
from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
START = re.compile(r"^\s*(`{3,}|:{3,})\{solution-start\}", re.M)
END = re.compile(r"^\s*(`{3,}|:{3,})\{solution-end\}", re.M)


def strip_solutions(nb: dict) -> tuple[dict, int]:
    """A copy of notebook ``nb`` without solution cells, and how many cells went."""
    kept, inside, removed = [], False, 0
    for cell in nb["cells"]:
        src = "".join(cell.get("source", ""))
        starts = cell["cell_type"] == "markdown" and START.search(src)
        ends = cell["cell_type"] == "markdown" and END.search(src)
        if starts:
            inside = True
        if inside or "solution" in cell.get("metadata", {}).get("tags", []):
            removed += 1
            if ends:
                inside = False
            continue
        kept.append(cell)
    if inside:
        raise ValueError("a solution-start has no matching solution-end")
    out = dict(nb)
    out["cells"] = kept
    return out, removed


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default=str(ROOT / "student"))
    args = p.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for path in sorted((ROOT / "book").glob("*.ipynb")):
        nb, n = strip_solutions(json.loads(path.read_text()))
        (out / path.name).write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
        print(f"{path.name}: removed {n} solution cells -> {out / path.name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
