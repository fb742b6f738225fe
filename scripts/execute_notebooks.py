"""Execute the book's notebooks in place, the way their stored outputs must be made.

    .venv/bin/python scripts/execute_notebooks.py [book/roofline.ipynb ...]

Runs every cell with a timeout (nbclient has none by default), without cell
timestamps (they would churn git), then drops the stored ipywidgets state:
a page whose notebook stores widget state makes Jupyter Book load the widget
manager and require.js from CDNs, and the book must work offline. (nbclient's
``store_widget_state=False`` crashes on Output widgets, hence the removal
afterwards.) Output widgets are not captured: what an explorer displays is
stored as the cell's own output, exactly as nbval sees it when it re-runs the
notebook without a widget front end. Widget views stay in the outputs; pages
hide explorer cells' outputs with the ``remove-output`` tag, and live
sessions re-create them.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT_S = 120


class _Client(NotebookClient):
    """nbclient without Output-widget capture (the way nbval runs cells)."""

    def register_output_hook(self, msg_id, hook):  # noqa: D401 - keep outputs in the cell
        return None

    def remove_output_hook(self, msg_id, hook):
        return None


def execute(path: Path) -> float:
    nb = nbformat.read(path, as_version=4)
    t0 = time.perf_counter()
    _Client(nb, timeout=TIMEOUT_S, kernel_name="python3", record_timing=False,
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    elapsed = time.perf_counter() - t0
    nb.metadata.pop("widgets", None)
    nbformat.write(nb, path)
    return elapsed


def main(argv=None) -> int:
    paths = [Path(p) for p in (argv or sys.argv[1:])] or sorted((ROOT / "book").glob("*.ipynb"))
    for p in paths:
        print(f"{p}: executed in {execute(p):.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
