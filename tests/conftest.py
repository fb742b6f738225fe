"""Shared pytest setup.

pyproject.toml passes ``--nbval-sanitize-with tests/nbval_sanitize.cfg``, a
path relative to the directory pytest is started from. Resolve it against the
repository root instead, so that ``pytest`` also works when started from a
subdirectory (``cd tests && pytest``).
"""
from __future__ import annotations

from pathlib import Path


def pytest_configure(config):
    path = getattr(config.option, "nbval_sanitize_with", None)
    if path and not Path(path).is_absolute() and not Path(path).exists():
        candidate = Path(config.rootpath) / path
        if candidate.exists():
            config.option.nbval_sanitize_with = str(candidate)
