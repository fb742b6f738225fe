"""The book is published like an open book: licences, citation, launch buttons, CI.

- a licence for the code (MIT, ``LICENSE``) and one for the text
  (CC-BY-4.0, ``LICENSE-CONTENT``), and a ``CITATION.cff`` whose version is
  the package's;
- the distribution is ``llmperf-book`` (``llmperf`` on PyPI is another
  project), for Python 3.11 and later, and Binder starts Python 3.11;
- the launch buttons of every chapter open that chapter: Binder and Colab
  addresses without ``/./``, no placeholder JupyterHub;
- the GitHub Actions workflow runs the README's test command, builds the
  book, adds ``.nojekyll`` and deploys to GitHub Pages.
"""
from __future__ import annotations

import re
import tomllib
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
CHAPTERS = sorted(p.stem for p in (ROOT / "book").glob("*.ipynb"))


def test_code_and_text_licences():
    code = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert code.startswith("MIT License") and "Permission is hereby granted, free of charge" in code
    text = (ROOT / "LICENSE-CONTENT").read_text(encoding="utf-8")
    assert "CC-BY-4.0" in text and "https://creativecommons.org/licenses/by/4.0/legalcode" in text
    assert "book/" in text  # says what it covers


def test_citation_file():
    import llmperf

    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text(encoding="utf-8"))
    for key in ("cff-version", "message", "title", "authors", "repository-code", "license"):
        assert cff.get(key), f"CITATION.cff lacks {key}"
    assert str(cff["version"]) == llmperf.__version__
    assert set(cff["license"]) == {"MIT", "CC-BY-4.0"}
    assert cff["repository-code"] == PYPROJECT["project"]["urls"]["Repository"]


def test_distribution_name_and_python():
    project = PYPROJECT["project"]
    assert project["name"] == "llmperf-book"
    assert project["requires-python"] == ">=3.11"
    assert (ROOT / "runtime.txt").read_text(encoding="utf-8").strip() == "python-3.11"  # Binder
    assert "book" in project["optional-dependencies"]


def test_config_has_no_placeholder_hub_and_no_dot_path():
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    hub = config["launch_buttons"].get("jupyterhub_url") or ""
    assert "example" not in hub, f"placeholder JupyterHub address: {hub}"
    assert config["repository"].get("path_to_book", "") in ("", None)
    assert config["repository"]["url"] == PYPROJECT["project"]["urls"]["Repository"]


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_launch_buttons_open_the_chapter(book_build, chapter):
    page = book_build.html / "book" / f"{chapter}.html"
    if not page.is_file():
        pytest.fail(f"{page} was not built (see tests/test_book_build.py)", pytrace=False)
    html = page.read_text(encoding="utf-8")
    links = [unquote(u).replace("&amp;", "&")
             for u in re.findall(r'href="(https://(?:mybinder\.org|colab\.research\.google\.com)[^"]*)"', html)]
    hosts = {urlsplit(u).hostname for u in links}
    assert hosts == {"mybinder.org", "colab.research.google.com"}, links
    for url in links:
        assert "/./" not in url, url
        assert url.endswith(f"book/{chapter}.ipynb"), url
    assert f"https://colab.research.google.com/github/llmperf/llmperf/blob/main/book/{chapter}.ipynb" in links
    assert f"https://mybinder.org/v2/gh/llmperf/llmperf/main?urlpath=lab/tree/book/{chapter}.ipynb" in links
    assert "hub.example" not in html


def test_workflow_tests_builds_and_deploys():
    text = (ROOT / ".github" / "workflows" / "book.yml").read_text(encoding="utf-8")
    workflow = yaml.safe_load(text)
    steps = [s for job in workflow["jobs"].values() for s in job.get("steps", [])]
    runs = "\n".join(s.get("run", "") for s in steps)
    uses = [s.get("uses", "").split("@")[0] for s in steps]
    assert "bash .ci/run" in runs  # the README's test command, via CI's entry point
    assert "jupyter-book build . -W -n --keep-going" in runs
    assert "touch _build/html/.nojekyll" in runs
    assert runs.index("bash .ci/run") < runs.index("jupyter-book build") < runs.index(".nojekyll")
    assert "actions/upload-pages-artifact" in uses and "actions/deploy-pages" in uses
    deploy = workflow["jobs"]["deploy"]
    assert deploy["permissions"] == {"pages": "write", "id-token": "write"}
    assert deploy["environment"]["name"] == "github-pages"
