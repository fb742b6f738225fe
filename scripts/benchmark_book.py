"""How long each chapter takes to execute (a benchmark, not a test).

    .venv/bin/python scripts/benchmark_book.py

Executes every notebook under book/ in a temporary copy (the stored outputs are
not touched) and prints the wall time of each; the target is under 60 s per
notebook on the project's 2-core machine.
"""
from __future__ import annotations

import shutil
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
TARGET_S = 60.0


def main() -> int:
    worst = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for path in sorted((ROOT / "book").glob("*.ipynb")):
            copy = Path(tmp) / path.name
            shutil.copy(path, copy)
            nb = nbformat.read(copy, as_version=4)
            t0 = time.perf_counter()
            NotebookClient(nb, timeout=600, kernel_name="python3",
                           resources={"metadata": {"path": str(path.parent)}}).execute()
            dt = time.perf_counter() - t0
            worst = max(worst, dt)
            print(f"{path.name:28s} {dt:6.1f} s  {'ok' if dt < TARGET_S else 'OVER TARGET'}", flush=True)
    print(f"slowest notebook: {worst:.1f} s (target < {TARGET_S:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
