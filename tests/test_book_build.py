"""The book builds with no warning, lists every page, and loads nothing from a CDN.

The build is the README's: ``jupyter-book build . -W -n --keep-going``, here
into a temporary folder so the working tree is left alone. It runs once per
test session (the ``book_build`` fixture in conftest.py), shared with the
browser test (tests/test_browser.py).
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
TOC = ROOT / "_toc.yml"
BOOK = ROOT / "book"
SUFFIXES = (".md", ".ipynb")

VEGA_BUNDLE = "_static/vega-bundle.js"
CDN_TAGS = re.compile(r"""<(?:script|link)\b[^>]*\b(?:src|href)\s*=\s*["']?(?:https?:)?//""", re.I)
SCRIPT_SRC_HTTP = re.compile(r"""<script\b[^>]*\bsrc\s*=\s*["']?https?:""", re.I)


def _toc_files(node) -> list[str]:
    """Every ``file``/``root`` entry of a jb-book _toc.yml, in order."""
    found = []
    if isinstance(node, dict):
        for key in ("root", "file"):
            if isinstance(node.get(key), str):
                found.append(node[key])
        for key in ("parts", "chapters", "sections"):
            for child in node.get(key) or []:
                found.extend(_toc_files(child))
    elif isinstance(node, list):
        for child in node:
            found.extend(_toc_files(child))
    return found


def _toc() -> list[str]:
    return _toc_files(yaml.safe_load(TOC.read_text(encoding="utf-8")))


def _source(entry: str) -> Path | None:
    for suffix in SUFFIXES:
        path = ROOT / f"{entry}{suffix}"
        if path.is_file():
            return path
    path = ROOT / entry
    return path if path.suffix in SUFFIXES and path.is_file() else None


def _mathjax_path() -> str:
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    return "_static/" + config["sphinx"]["config"]["mathjax_path"]


# --- the table of contents -------------------------------------------------------


def test_toc_is_a_jupyter_book_toc():
    toc = yaml.safe_load(TOC.read_text(encoding="utf-8"))
    assert toc["format"] == "jb-book"
    assert toc["root"] == "book/intro"


def test_every_toc_entry_exists():
    missing = [entry for entry in _toc() if _source(entry) is None]
    assert not missing, f"_toc.yml lists files that do not exist: {missing}"


def test_every_book_page_is_in_the_toc():
    listed = {_source(entry) for entry in _toc()}
    pages = sorted(p for suffix in SUFFIXES for p in BOOK.glob(f"*{suffix}"))
    unlisted = [str(p.relative_to(ROOT)) for p in pages if p not in listed]
    assert not unlisted, f"pages missing from _toc.yml (they would not be built): {unlisted}"


def test_toc_lists_each_page_once():
    entries = [str(_source(entry)) for entry in _toc()]
    assert len(entries) == len(set(entries))


# --- the build ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def built(book_build):
    """The book, built once per session (``book_build`` in conftest.py); return (html folder, build log)."""
    log = book_build.log
    assert book_build.returncode == 0, f"jupyter-book build failed (exit {book_build.returncode}):\n{log[-6000:]}"
    return book_build.html, log


def test_build_has_no_warning(built):
    _, log = built
    lines = [line for line in log.splitlines() if "WARNING" in line]
    assert not lines, "\n".join(lines)


def test_every_toc_page_is_rendered(built):
    html, _ = built
    assert (html / "index.html").is_file()
    for entry in _toc():
        assert (html / f"{entry}.html").is_file(), f"{entry}.html was not written"


def _pages(html: Path) -> list[Path]:
    return sorted(p for p in html.rglob("*.html") if "_static" not in p.parts)


def test_no_page_loads_scripts_or_styles_from_the_network(built):
    html, _ = built
    offenders = {}
    for page in _pages(html):
        text = page.read_text(encoding="utf-8")
        hits = SCRIPT_SRC_HTTP.findall(text) + CDN_TAGS.findall(text)
        if hits:
            offenders[str(page.relative_to(html))] = sorted(set(hits))
    assert not offenders, f"pages that load from the network: {offenders}"


def test_pages_load_the_local_vega_bundle(built):
    html, _ = built
    for entry in _toc():
        text = (html / f"{entry}.html").read_text(encoding="utf-8")
        assert VEGA_BUNDLE in text, f"{entry}.html does not load {VEGA_BUNDLE}"
        assert text.count(VEGA_BUNDLE) == 1
        for chart in re.finditer(r"altair-viz-[0-9a-f]{32}", text):
            assert text.index(VEGA_BUNDLE) < chart.start(), f"{entry}.html: a chart comes before the bundle"


def test_math_pages_load_the_local_mathjax_once(built):
    html, _ = built
    mathjax = _mathjax_path()
    assert "notation" in " ".join(_toc()), "the notation page, which has math, is expected in the toc"
    for entry in _toc():
        text = (html / f"{entry}.html").read_text(encoding="utf-8")
        assert "cdn.jsdelivr.net/npm/mathjax" not in text
        has_math = 'class="math' in text
        if has_math or entry.endswith("notation"):
            assert has_math, f"{entry}.html shows no math"
            assert text.count(mathjax) == 1, f"{entry}.html loads {mathjax} {text.count(mathjax)} times"


def test_stored_charts_ask_for_the_bundled_versions(built):
    """Charts stored by another Altair version would look for other versions, then a CDN."""
    html, _ = built
    bundle = (ROOT / VEGA_BUNDLE).read_text(encoding="utf-8")
    recorded = json.loads(re.search(r"^// VEGA_DEBUG: (.*)$", bundle, re.M).group(1))
    for page in _pages(html):
        text = page.read_text(encoding="utf-8")
        for lib, version in re.findall(r'maybeLoadScript\(\\?"([a-z-]+)\\?", \\?"([^"\\]*)\\?"\)', text):
            key = f"{lib.replace('-', '')}_version"
            assert recorded.get(key) == version, (
                f"{page.name}: a chart asks for {lib} {version}, the bundle has {recorded.get(key)}; "
                "re-run the notebook with the pinned altair"
            )


def test_build_leaves_the_working_tree_alone(built):
    stray = [p.name for p in ROOT.iterdir() if p.name in {"jupyter_execute", ".jupyter_cache"}]
    assert not stray
