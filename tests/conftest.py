"""Shared pytest setup.

pyproject.toml passes ``--nbval-sanitize-with tests/nbval_sanitize.cfg``, a
path relative to the directory pytest is started from. Resolve it against the
repository root instead, so that ``pytest`` also works when started from a
subdirectory (``cd tests && pytest``).

``book_build`` builds the book once per test session, for both
``tests/test_book_build.py`` and ``tests/test_browser.py``.
"""
from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def pytest_configure(config):
    path = getattr(config.option, "nbval_sanitize_with", None)
    if path and not Path(path).is_absolute() and not Path(path).exists():
        candidate = Path(config.rootpath) / path
        if candidate.exists():
            config.option.nbval_sanitize_with = str(candidate)


def pytest_report_header(config):
    """Say which Chromium the browser tests (tests/test_browser.py, tests/test_jupyterlab.py) will use."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    try:
        import browser

        executable = browser.find_chromium()
        if executable is None:
            return "chromium: not found (the browser tests install it with apt-get when run as root)"
        return f"chromium: {browser.chromium_version(executable)} ({executable})"
    except Exception as exc:  # noqa: BLE001 - a header must never stop the session
        return f"chromium: unknown ({exc})"
    finally:
        sys.path.pop(0)


@dataclass(frozen=True)
class BookBuild:
    html: Path  # the built site (…/_build/html)
    log: str  # stdout and stderr of the build
    returncode: int
    command: tuple[str, ...]


@pytest.fixture(scope="session")
def book_build(tmp_path_factory) -> BookBuild:
    """Build the book once for the session: the README's
    ``jupyter-book build . -W -n --keep-going``, into a temporary folder so
    that the working tree is left alone. The fixture does not judge the
    result: tests/test_book_build.py asserts that the build succeeded."""
    out = tmp_path_factory.mktemp("book")
    cmd = (
        sys.executable,
        "-c",
        "import sys; from jupyter_book.cli.main import main; sys.exit(main())",
        "build",
        str(ROOT),
        "-W",
        "-n",
        "--keep-going",
        "--path-output",
        str(out),
    )
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=600, check=False)
    return BookBuild(out / "_build" / "html", proc.stdout + proc.stderr, proc.returncode, cmd)
