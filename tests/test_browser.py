"""The rendered book works in a real browser, offline.

Every built page is opened in headless Chromium (one browser for the whole
module, Debian's chromium driven by Playwright for Python: see tests/browser.py),
served from a local http.server on 127.0.0.1 so that a missing file is a real
failed request and anything that reaches for another host is caught. For each
page:

- no console error, uncaught exception or error log entry, except the two
  messages that every Jupyter Book 1 page prints (``'THEBE_JS_URL' has already
  been declared`` and "Got invalid theme mode");
- no failed request, no HTTP status >= 400, no request to a host other than
  127.0.0.1 (the browser's own /favicon.ico probe aside);
- every Altair chart (one per ``altair-viz-...`` output div) is embedded and
  drawn: an ``svg.marks`` or ``canvas.marks`` with a size;
- every control bound to a chart (slider, dropdown, radio, checkbox in
  ``.vega-bindings``) changes the chart's drawing when moved;
- every formula is typeset by MathJax, without TeX error, with a size;

and, on the HTML files: every internal link resolves, ``#fragments`` included.

The book is built once per session (``book_build`` in conftest.py). Chromium
comes from Debian: if it is missing and the tests run as root with apt-get,
the fixture installs it; otherwise the tests fail and say how to install it.
The last tests run the checker on small synthetic pages, one per fault, so a
checker that stopped seeing faults would fail too.
"""
from __future__ import annotations

import contextlib
import shutil
from pathlib import Path

import browser as B
import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGE_TIMEOUT = 20  # seconds for a page to load and draw its charts and math
CHANGE_TIMEOUT = 3  # seconds for a chart to redraw after a control moves


# --- fixtures -------------------------------------------------------------------------


def _say(request, text: str) -> None:
    """Print past pytest's output capture (for the Chromium install)."""
    capture = request.config.pluginmanager.getplugin("capturemanager")
    if capture is not None:
        with capture.global_and_fixture_disabled():
            print(f"\n[test_browser] {text}", flush=True)
    else:
        print(f"[test_browser] {text}", flush=True)


@pytest.fixture(scope="module")
def chromium(request):
    """One headless Chromium for the module, driven by Playwright; Debian's
    ``chromium`` is installed with apt first if it is missing and we are root."""
    try:
        executable = B.ensure_chromium(say=lambda line: _say(request, line))
    except RuntimeError as exc:
        pytest.fail(str(exc), pytrace=False)
    with contextlib.ExitStack() as stack:
        try:
            browser = stack.enter_context(B.launch(executable))
        except Exception as exc:  # noqa: BLE001 - Playwright's own errors at launch
            pytest.fail(f"Chromium ({executable}) did not start under Playwright: {exc}\n\n{B.INSTALL_HINT}",
                        pytrace=False)
        yield browser


@pytest.fixture(scope="module")
def site(book_build):
    """The built book, served on 127.0.0.1."""
    html = book_build.html
    if not (html / "index.html").is_file():
        pytest.fail(
            f"The book build wrote no HTML (exit {book_build.returncode}); see tests/test_book_build.py.\n"
            f"{book_build.log[-3000:]}",
            pytrace=False,
        )
    with B.StaticServer(html) as server:
        yield server


@pytest.fixture(scope="module")
def reports(chromium, site) -> dict[str, B.PageReport]:
    """Every built page, checked in the browser: {relative path: report}."""
    found = {}
    for page in B.html_pages(site.root):
        rel = page.relative_to(site.root).as_posix()
        found[rel] = B.check_page(
            chromium, site.url(rel), B.chart_ids(page), site.port, timeout=PAGE_TIMEOUT, change_timeout=CHANGE_TIMEOUT
        )
    return found


def _failures(reports: dict[str, B.PageReport], *kinds: str) -> str:
    lines = []
    for rel, report in reports.items():
        for kind in kinds:
            for text in report.problems.get(kind, []):
                lines.append(f"{rel}: {text}")
    return "\n".join(lines)


def _check(reports, chromium, *kinds: str) -> None:
    failures = _failures(reports, "load", *kinds)
    assert not failures, f"(in Chromium {chromium.version})\n{failures}"


# --- the book in the browser ----------------------------------------------------------


def _toc_entries(node) -> list[str]:
    """Every ``root``/``file`` entry of the jb-book _toc.yml."""
    found = []
    if isinstance(node, dict):
        found += [node[k] for k in ("root", "file") if isinstance(node.get(k), str)]
        for key in ("parts", "chapters", "sections"):
            for child in node.get(key) or []:
                found += _toc_entries(child)
    return found


def test_every_built_page_is_checked(reports):
    import yaml

    entries = _toc_entries(yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8")))
    assert entries and "index.html" in reports
    missing = [e for e in entries if f"{e}.html" not in reports]
    assert not missing, f"pages of _toc.yml that the browser test did not open: {missing}"


def test_pages_load_without_console_errors(reports, chromium):
    _check(reports, chromium, "console")


def test_pages_make_no_failed_or_outside_requests(reports, chromium):
    _check(reports, chromium, "network")


def test_every_chart_renders(reports, chromium, site):
    _check(reports, chromium, "charts")
    for rel, report in reports.items():
        expected = len(B.chart_ids(site.root / rel))
        assert report.charts == expected, f"{rel}: {report.charts} of {expected} charts drawn"


def test_bound_controls_change_their_chart(reports, chromium):
    _check(reports, chromium, "controls")


def test_math_is_typeset(reports, chromium):
    _check(reports, chromium, "math")
    notation = reports.get("book/notation.html")
    assert notation is not None and notation.math > 0, "the notation page shows no typeset math"


def test_internal_links_resolve(site):
    broken = B.check_links(site.root, site.port)
    lines = [f"{page}: {problem}" for page, problems in broken.items() for problem in problems]
    assert not lines, "broken internal links:\n" + "\n".join(lines)


# --- the checker itself, on synthetic pages with one fault each ----------------------

_MATHJAX = (
    '<script>window.MathJax = {"options": {"processHtmlClass": '
    '"tex2jax_process|mathjax_process|math|output_area"}}</script>'
    '<script defer src="tex-svg-full.mjs"></script>'
)


def _page(body: str, head: str = "") -> str:
    return f"<!DOCTYPE html><html><head><meta charset='utf-8'>{head}</head><body>{body}</body></html>"


def _altair_html(chart) -> str:
    """A chart's HTML as a notebook stores it (Altair's default renderer)."""
    import altair as alt

    with alt.renderers.enable("default"):
        bundle = chart._repr_mimebundle_()
    if isinstance(bundle, tuple):
        bundle = bundle[0]
    return bundle["text/html"]


def _synthetic_site(folder: Path) -> None:
    import altair as alt
    import pandas as pd

    shutil.copy(ROOT / "_static" / "vega-bundle.js", folder / "vega-bundle.js")
    shutil.copy(ROOT / "_static" / "mathjax" / "tex-svg-full.mjs", folder / "tex-svg-full.mjs")
    bundle = '<script src="vega-bundle.js"></script>'
    data = pd.DataFrame({"x": [1, 2, 3, 4], "y": [1, 4, 9, 16]})

    b = alt.param(name="b", value=2, bind=alt.binding_range(min=1, max=5, step=1, name="b"))
    colour = alt.param(name="colour", value="red", bind=alt.binding_select(options=["red", "blue"], name="colour"))
    live = (
        alt.Chart(data)
        .mark_line(color=colour)
        .encode(x="x:Q", y=alt.Y("z:Q", scale=alt.Scale(domain=[0, 100])))
        .transform_calculate(z="datum.y * b")
        .add_params(b, colour)
    )
    dead = alt.Chart(data).mark_line().encode(x="x:Q", y="y:Q").add_params(
        alt.param(name="unused", value=1, bind=alt.binding_range(min=0, max=3, step=1, name="unused"))
    )
    dead_svg = dead.properties(usermeta={"embedOptions": {"renderer": "svg"}})
    live_svg = live.properties(usermeta={"embedOptions": {"renderer": "svg"}})
    pages = {
        "clean.html": _page('<h1 id="top">Clean</h1><p id="here">text</p><a href="#top">up</a>'),
        "cdn.html": _page("", '<script src="http://example.invalid/x.js"></script>'
                              '<link rel="stylesheet" href="https://cdn.example.invalid/y.css">'),
        "jserror.html": _page('<script>throw new Error("boom-from-synthetic-page")</script>'),
        "consoleerror.html": _page('<script>console.error("logged-error-from-synthetic-page")</script>'),
        "harmless.html": _page(
            "<script>const THEBE_JS_URL = 1;</script><script>const THEBE_JS_URL = 2;</script>"
            '<script>console.error("Got invalid theme mode");</script>'
        ),
        "missing.html": _page('<img src="no-such-image.png" alt="">'),
        "links.html": _page(
            '<p id="self">x</p><a href="clean.html">ok</a><a href="clean.html#here">ok</a><a href="#self">ok</a>'
            '<a href="./">ok: index.html</a><a href="https://example.org/">external, not checked</a>'
            '<a href="no-such-page.html">bad 1</a><a href="clean.html#no-such-id">bad 2</a>'
            '<a href="#no-such-anchor">bad 3</a><a href="../outside.html">bad 4</a>'
        ),
        "index.html": _page("<p>index</p>"),
        "chart.html": _page(_altair_html(live), bundle),
        "deadslider.html": _page(_altair_html(dead), bundle),
        "chart-svg.html": _page(_altair_html(live_svg), bundle),
        "deadslider-svg.html": _page(_altair_html(dead_svg), bundle),
        "nochart.html": _page('<div id="altair-viz-0123456789abcdef0123456789abcdef"></div>', bundle),
        "math.html": _page(r'<span class="math notranslate nohighlight">\(E = m c^2\)</span>'
                           r'<div class="math notranslate nohighlight">\[\sum_{i=1}^{n} i\]</div>', _MATHJAX),
        "badmath.html": _page(r'<span class="math notranslate nohighlight">\(\frac{a}\)</span>', _MATHJAX),
        "nomathjax.html": _page(r'<span class="math notranslate nohighlight">\(x^2\)</span>'),
    }
    for name, text in pages.items():
        (folder / name).write_text(text, encoding="utf-8")


@pytest.fixture(scope="module")
def synthetic(chromium, tmp_path_factory):
    folder = tmp_path_factory.mktemp("synthetic-site")
    _synthetic_site(folder)
    with B.StaticServer(folder) as server:
        reports = {
            page.name: B.check_page(
                chromium, server.url(page.name), B.chart_ids(page), server.port, timeout=3, change_timeout=1
            )
            for page in B.html_pages(folder)
        }
        links = B.check_links(folder, server.port)
    return reports, links


def _texts(report: B.PageReport, kind: str) -> str:
    return "\n".join(report.problems.get(kind, []))


def test_checker_passes_clean_pages(synthetic):
    reports, links = synthetic
    for name in ("clean.html", "index.html", "harmless.html", "chart.html", "chart-svg.html", "math.html"):
        assert not reports[name].problems, f"{name}: {reports[name].all_problems()}"
    assert "clean.html" not in links


def test_checker_flags_a_cdn_script(synthetic):
    reports, _ = synthetic
    network = _texts(reports["cdn.html"], "network")
    assert "request to another host: http://example.invalid/x.js" in network
    assert "request to another host: https://cdn.example.invalid/y.css" in network
    assert "failed request: http://example.invalid/x.js" in network


def test_checker_flags_js_errors(synthetic):
    reports, _ = synthetic
    assert "boom-from-synthetic-page" in _texts(reports["jserror.html"], "console")
    assert "logged-error-from-synthetic-page" in _texts(reports["consoleerror.html"], "console")


def test_checker_flags_a_missing_file(synthetic):
    reports, _ = synthetic
    assert "HTTP 404" in _texts(reports["missing.html"], "network")
    assert "no-such-image.png" in _texts(reports["missing.html"], "console")


def test_checker_flags_broken_links(synthetic):
    _, links = synthetic
    problems = "\n".join(links.get("links.html", []))
    assert len(links.get("links.html", [])) == 4, problems
    for bad in ("no-such-page.html", "clean.html#no-such-id", "#no-such-anchor", "../outside.html"):
        assert f'href="{bad}"' in problems
    assert set(links) == {"links.html", "missing.html"}, links  # the <img> of missing.html too


def test_checker_moves_sliders_and_dropdowns(synthetic):
    reports, _ = synthetic
    for renderer in ("", "-svg"):  # Altair's default canvas, and svg
        chart = reports[f"chart{renderer}.html"]
        assert chart.charts == 1 and chart.controls == 2 and not chart.problems, chart
        dead = reports[f"deadslider{renderer}.html"]
        assert dead.charts == 1 and dead.controls == 1
        assert "moving the range 'unused'" in _texts(dead, "controls")
        assert set(dead.problems) == {"controls"}, dead


def test_checker_flags_a_chart_that_does_not_render(synthetic):
    reports, _ = synthetic
    assert "altair-viz-0123456789abcdef0123456789abcdef: not rendered" in _texts(reports["nochart.html"], "charts")


def test_checker_flags_math_that_is_not_typeset(synthetic):
    reports, _ = synthetic
    assert reports["math.html"].math == 2
    assert "TeX error" in _texts(reports["badmath.html"], "math")
    assert "MathJax is not loaded" in _texts(reports["nomathjax.html"], "math")
