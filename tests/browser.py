"""Check the rendered book in headless Chromium, driven by Playwright for Python.

Playwright drives Debian's ``chromium`` (``executable_path``): ``playwright
install`` downloads a browser build of its own, which fails offline, so it is
never used. The pieces, used by ``tests/test_browser.py`` and
``tests/test_jupyterlab.py``:

- :func:`find_chromium` / :func:`install_chromium`: locate the browser, or
  install it with apt when running as root.
- :func:`launch`: Playwright and one headless Chromium, on which every host
  name but 127.0.0.1 resolves to nothing (a page that reaches for a CDN fails
  here exactly as it would offline).
- :class:`StaticServer`: the built HTML served on ``127.0.0.1`` (ephemeral
  port, one thread), so that a missing file is a real failed request.
- :func:`check_page`: open one page and report console errors, failed or
  off-site requests, charts that do not draw, bound controls (sliders,
  dropdowns, radios, checkboxes) that do not change their chart when a user
  moves them, and math that MathJax did not typeset.
- :func:`check_links`: every ``<a href>`` (and every local ``src``/``href`` a
  page loads) must name a file of the built site, and every ``#fragment`` an
  element of the target page; done on the HTML files, without the browser.
"""
from __future__ import annotations

import contextlib
import functools
import html.parser
import http.server
import os
import posixpath
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar
from urllib.parse import unquote, urlsplit

# The two console messages that every Jupyter Book 1 page prints; harmless.
KNOWN_HARMLESS = (
    "'THEBE_JS_URL' has already been declared",
    "Got invalid theme mode",
)

# Headless flags that work on this kind of machine (shared/STACK.md); every
# host name but 127.0.0.1 resolves to nothing, so nothing leaves the machine.
CHROMIUM_FLAGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--no-proxy-server",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
)

INSTALL_HINT = (
    "The browser tests need Chromium. On Debian/Ubuntu: `sudo apt-get update && "
    "sudo apt-get install -y chromium` (the tests do this themselves when run as root "
    "with apt-get). Elsewhere install Chromium or Chrome and point the CHROMIUM "
    "environment variable at its executable. (Never `playwright install`: the tests "
    "use the system's Chromium.)"
)

_CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")


# --- finding and installing Chromium --------------------------------------------------


def find_chromium() -> str | None:
    """The Chromium executable: $CHROMIUM, else the first candidate on PATH."""
    explicit = os.environ.get("CHROMIUM")
    if explicit:
        return shutil.which(explicit)
    for name in _CANDIDATES:
        path = shutil.which(name)
        if path:
            return path
    return "/usr/bin/chromium" if os.access("/usr/bin/chromium", os.X_OK) else None


def can_install_chromium() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("apt-get") is not None


def install_chromium(log=print, timeout: float = 900) -> str:
    """``apt-get install -y chromium`` (after ``apt-get update`` if needed).

    Returns a transcript of what ran; raises RuntimeError on failure.
    """
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    transcript = []

    def apt(*args):
        cmd = ["apt-get", *args]
        log("$ " + " ".join(cmd))
        proc = subprocess.run(
            cmd, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout, check=False
        )
        transcript.append(f"$ {' '.join(cmd)} (exit {proc.returncode})\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
        return proc.returncode

    install = ("install", "-y", "-q", "chromium")
    if apt(*install) != 0:
        # A fresh machine has no package lists yet (or stale ones).
        apt("update", "-q")
        if apt(*install) != 0:
            raise RuntimeError("apt-get install chromium failed:\n" + "\n".join(transcript))
    return "\n".join(transcript)


def chromium_version(executable: str) -> str:
    try:
        proc = subprocess.run(
            [executable, "--version"], capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL, check=False
        )
    except (OSError, subprocess.SubprocessError) as exc:  # pragma: no cover - reported by the caller
        return f"unknown ({exc})"
    lines = [line for line in (proc.stdout + proc.stderr).splitlines() if "Chrom" in line]
    return lines[-1].strip() if lines else "unknown"


def ensure_chromium(say=print) -> str:
    """The Chromium executable, installed with apt first when missing and possible.

    Raises RuntimeError, with :data:`INSTALL_HINT`, when there is none.
    """
    executable = find_chromium()
    if executable is None and os.environ.get("CHROMIUM"):
        raise RuntimeError(f"CHROMIUM={os.environ['CHROMIUM']} is not an executable.\n{INSTALL_HINT}")
    if executable is None and can_install_chromium():
        say("Chromium is not installed: installing Debian's `chromium` with apt-get (about a minute) ...")
        try:
            install_chromium(log=say)
        except Exception as exc:  # noqa: BLE001 - any failure ends in the same message
            raise RuntimeError(f"Installing Chromium failed: {exc}\n\n{INSTALL_HINT}") from exc
        executable = find_chromium()
    if executable is None:
        raise RuntimeError(f"Chromium was not found.\n{INSTALL_HINT}")
    return executable


@contextlib.contextmanager
def launch(executable: str):
    """Playwright's headless Chromium from ``executable``; yields a ``Browser``."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, headless=True, args=list(CHROMIUM_FLAGS))
        try:
            yield browser
        finally:
            browser.close()


# --- the static server ----------------------------------------------------------------


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    # Fixed types, whatever /etc/mime.types says on this machine.
    extensions_map: ClassVar[dict[str, str]] = {
        **http.server.SimpleHTTPRequestHandler.extensions_map,
        ".html": "text/html",
        ".js": "text/javascript",
        ".mjs": "text/javascript",
        ".css": "text/css",
        ".svg": "image/svg+xml",
        ".json": "application/json",
        ".woff": "font/woff",
        ".woff2": "font/woff2",
        ".ipynb": "application/x-ipynb+json",
        ".txt": "text/plain",
        ".inv": "application/octet-stream",
    }

    def log_message(self, format, *args):  # the base class's signature
        pass


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # the browser closing a connection early is not our concern


class StaticServer:
    """Serve ``root`` on http://127.0.0.1:<ephemeral port>/ from a thread."""

    def __init__(self, root: Path):
        self.root = Path(root)
        handler = functools.partial(_QuietHandler, directory=str(self.root))
        self._server = _Server(("127.0.0.1", 0), handler)
        self.port = self._server.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}/"
        self._thread = threading.Thread(target=self._server.serve_forever, name="book-http", daemon=True)

    def url(self, relative: str | Path) -> str:
        return self.base_url + Path(relative).as_posix()

    def __enter__(self) -> StaticServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


# --- what a page is checked for -------------------------------------------------------

# Is every expected chart embedded by vega-embed and drawn (svg.marks or
# canvas.marks with a size)? vega-embed's action menu also holds an <svg>, so
# the marks class is what tells a drawn chart.
_CHARTS_JS = r"""
(ids) => {
  const size = (m) => m.tagName === 'CANVAS'
      ? [m.width, m.height]
      : [parseFloat(m.getAttribute('width') || '0'), parseFloat(m.getAttribute('height') || '0')];
  const charts = ids.map((id) => {
    const el = document.getElementById(id);
    if (!el) return {id, state: 'missing'};
    const err = el.querySelector('.error');
    if (err) return {id, state: 'error', text: err.textContent.slice(0, 400)};
    const marks = el.querySelector('svg.marks, canvas.marks');
    if (!el.classList.contains('vega-embed') || !marks) return {id, state: 'not rendered'};
    const [w, h] = size(marks);
    return {id, state: w > 0 && h > 0 ? 'ok' : 'zero size', w, h};
  });
  const embeds = [...document.querySelectorAll('.vega-embed')].map((e) => e.id);
  return {charts, embeds, done: charts.every((c) => c.state === 'ok' || c.state === 'error')};
}
"""

# The drawing of one chart, to see it change.
_SNAPSHOT_JS = r"""
(id) => {
  const m = document.getElementById(id).querySelector('svg.marks, canvas.marks');
  return !m ? '' : m.tagName === 'CANVAS' ? m.toDataURL() : m.outerHTML;
}
"""

# Math: every .math element typeset by MathJax (an mjx-container), no TeX
# error, and a visible formula has a size.
_MATH_JS = r"""
() => {
  const items = [...document.querySelectorAll('.math')].map((e, i) => {
    const c = e.querySelector('mjx-container');
    const err = e.querySelector('mjx-merror, [data-mjx-error]');
    const r = c ? c.getBoundingClientRect() : {width: 0, height: 0};
    return {
      index: i, tex: c ? '' : e.textContent.trim().slice(0, 80), rendered: !!c,
      error: err ? (err.getAttribute('data-mjx-error') || err.textContent || 'error').slice(0, 200) : '',
      visible: e.getClientRects().length > 0, w: r.width, h: r.height,
    };
  });
  const mathjax = typeof window.MathJax === 'object' && !!window.MathJax.startup;
  const done = items.every((i) => i.rendered || i.error) || (!mathjax && document.readyState === 'complete');
  return {mathjax, items, done};
}
"""


@dataclass
class PageReport:
    url: str
    charts: int = 0
    controls: int = 0
    math: int = 0
    requests: int = 0
    seconds: float = 0.0
    problems: dict[str, list[str]] = field(default_factory=dict)

    def add(self, kind: str, text: str) -> None:
        self.problems.setdefault(kind, []).append(text)

    def all_problems(self) -> list[str]:
        return [f"[{kind}] {text}" for kind, texts in self.problems.items() for text in texts]


def is_harmless(text: str) -> bool:
    return any(known in text for known in KNOWN_HARMLESS)


def allowed_url(url: str, port: int) -> bool:
    parts = urlsplit(url)
    if parts.scheme in ("data", "blob", "about"):
        return True
    return parts.scheme in ("http", "ws") and parts.hostname == "127.0.0.1" and parts.port == port


def _is_favicon_probe(request) -> bool:
    """The browser's own request for /favicon.ico when a page names no icon: on a
    published book that server root is not the book's, so it is not the page's."""
    return urlsplit(request.url).path == "/favicon.ico" and request.resource_type == "other"


def chart_ids(page: Path) -> list[str]:
    """The Altair output divs (``id="altair-viz-..."``) of a built page."""
    parser = _PageParser()
    parser.feed(page.read_text(encoding="utf-8"))
    return [i for i in parser.ids_in_order if i.startswith("altair-viz-")]


def watch(page, report: PageReport, port: int) -> None:
    """Record on ``report`` every console error, uncaught exception, failed,
    erroring (HTTP >= 400) or off-site request that ``page`` makes from now on."""
    favicons = set()

    def on_request(request):
        if _is_favicon_probe(request):
            favicons.add(request.url)
            return
        report.requests += 1
        if not allowed_url(request.url, port):
            report.add("network", f"request to another host: {request.url[:200]}")

    def on_failed(request):
        if request.url not in favicons:
            report.add("network", f"failed request: {request.url[:200]}: {request.failure}")

    def on_response(response):
        if response.status >= 400 and response.url not in favicons:
            report.add("network", f"HTTP {response.status} for {response.url[:200]}")

    def on_console(message):
        text, where = message.text, (message.location or {}).get("url", "")
        if message.type not in ("error", "assert") or is_harmless(text):
            return
        if urlsplit(where).path == "/favicon.ico":
            return  # the browser's own probe (a favicon the page asks for fails on_response)
        report.add("console", f"console.{message.type}: {text[:500]}" + (f" ({where[:200]})" if where else ""))

    def on_pageerror(error):
        text = f"{getattr(error, 'name', '')}: {getattr(error, 'message', error)}"
        if not is_harmless(text):
            report.add("console", f"uncaught exception: {text[:500]}")

    page.on("request", on_request)
    page.on("requestfailed", on_failed)
    page.on("response", on_response)
    page.on("console", on_console)
    page.on("pageerror", on_pageerror)


def _poll(page, script: str, arg, deadline: float):
    """Evaluate ``script`` until its result says ``done`` or the deadline passes
    (following a redirect, such as the book's index.html, to the page it loads)."""
    from playwright.sync_api import Error as PlaywrightError

    while True:
        try:
            state = page.evaluate(script, arg)
        except PlaywrightError as exc:
            if "context was destroyed" not in str(exc) or time.monotonic() > deadline:
                raise
            page.wait_for_load_state("load", timeout=max(1, deadline - time.monotonic()) * 1000)
            continue
        if state["done"] or time.monotonic() > deadline:
            return state
        page.wait_for_timeout(100)


def _move_controls(page, chart_id: str, report: PageReport, change_timeout: float) -> None:
    """Move every control bound to a chart, as a user would, and watch its drawing change."""
    snap = lambda: page.evaluate(_SNAPSHOT_JS, chart_id)  # noqa: E731

    def changed_from(before: str) -> bool:
        try:
            page.wait_for_function(f"(b) => ({_SNAPSHOT_JS})({chart_id!r}) !== b", arg=before,
                                   timeout=change_timeout * 1000, polling=40)
            return True
        except Exception:  # noqa: BLE001 - Playwright's TimeoutError: it did not change
            return False

    def settle() -> None:  # the drawing holds still for 150 ms
        last, end = snap(), time.monotonic() + 2
        while time.monotonic() < end:
            page.wait_for_timeout(150)
            now = snap()
            if now == last:
                return
            last = now

    seen_radios = set()
    bindings = page.locator(f"[id='{chart_id}'] .vega-bindings .vega-bind")
    for b in range(bindings.count()):
        bind = bindings.nth(b)
        name_el = bind.locator(".vega-bind-name")
        name = name_el.first.inner_text().strip() if name_el.count() else "?"
        control = bind.locator("input, select").first
        kind = control.evaluate("(c) => c.tagName === 'SELECT' ? 'select' : (c.type || 'text')")
        if kind == "range":
            lo, hi, orig = control.evaluate("(c) => [parseFloat(c.min || '0'), parseFloat(c.max || '100'), c.value]")
            values = [str(v) for v in (hi, lo, (lo + hi) / 2)]
            moves = [(v, functools.partial(control.fill, v)) for v in values if float(v) != float(orig)]
            restore = functools.partial(control.fill, orig)
        elif kind == "select":
            options = control.evaluate("(c) => [c.selectedIndex, [...c.options].map((o) => o.value)]")
            orig, values = options
            moves = [(v, functools.partial(control.select_option, index=i)) for i, v in enumerate(values) if i != orig]
            restore = functools.partial(control.select_option, index=orig)
        elif kind == "radio":
            radios = bind.locator("input[type=radio]")
            group = control.get_attribute("name")
            if group in seen_radios:
                continue
            seen_radios.add(group)
            states = radios.evaluate_all("(rs) => rs.map((r) => [r.checked, r.value])")
            orig = next((i for i, (checked, _) in enumerate(states) if checked), None)
            moves = [(v, radios.nth(i).check) for i, (_, v) in enumerate(states) if i != orig]
            restore = radios.nth(orig).check if orig is not None else (lambda timeout=None: None)
        elif kind == "checkbox":
            moves = [("toggled", control.click)]
            restore = control.click
        else:
            continue
        report.controls += 1
        settle()
        tried, changed = [], False
        for value, move in moves[:3]:
            before = snap()
            move(timeout=change_timeout * 1000)
            tried.append(value)
            if changed_from(before):
                changed = True
                break
        moved = snap()
        restore(timeout=change_timeout * 1000)
        if changed:
            changed_from(moved)  # let the chart redraw before the next control
        else:
            report.add("controls", f"moving the {kind} '{name}' of chart {chart_id} "
                                   f"(to {', '.join(tried) or 'no other value'}) did not change the chart")


def check_page(browser, url: str, charts: list[str], port: int, timeout: float = 20,
               change_timeout: float = 3) -> PageReport:
    """Open ``url`` in a fresh browser context and check it; see the module docstring."""
    from playwright.sync_api import Error as PlaywrightError

    report = PageReport(url)
    started = time.monotonic()
    deadline = started + timeout
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    page = context.new_page()
    watch(page, report, port)
    try:
        try:
            page.goto(url, wait_until="load", timeout=timeout * 1000)
        except PlaywrightError as exc:
            report.add("load", f"navigation failed: {exc}")
            return report
        # Charts: embedded and drawn.
        state = _poll(page, _CHARTS_JS, charts, deadline)
        for chart in state["charts"]:
            if chart["state"] == "ok":
                report.charts += 1
            elif chart["state"] == "error":
                report.add("charts", f"chart {chart['id']} shows an error: {chart['text']}")
            else:
                report.add("charts", f"chart {chart['id']}: {chart['state']} within {timeout:.0f} s")
        strays = [e for e in state["embeds"] if e not in charts]
        if strays:
            report.add("charts", f"{len(strays)} vega-embed element(s) that are not Altair outputs: {strays}")
        # Math, once MathJax has typeset the page.
        math = _poll(page, _MATH_JS, None, deadline)
        for item in math["items"]:
            if item["error"]:
                report.add("math", f"formula #{item['index']} has a TeX error: {item['error']}")
            elif not item["rendered"]:
                why = "" if math["mathjax"] else " (MathJax is not loaded)"
                report.add("math", f"formula #{item['index']} `{item['tex']}` was not typeset{why}")
            elif item["visible"] and not (item["w"] > 0 and item["h"] > 0):
                report.add("math", f"formula #{item['index']} is typeset with zero size")
            else:
                report.math += 1
        # Bound controls change their chart.
        for chart in state["charts"]:
            if chart["state"] == "ok":
                _move_controls(page, chart["id"], report, change_timeout)
        with contextlib.suppress(PlaywrightError):
            page.wait_for_load_state("networkidle", timeout=max(500, (deadline - time.monotonic()) * 1000))
    except PlaywrightError as exc:
        # A page that hangs or crashes the tab: report it, keep what was logged.
        report.add("load", f"the page check did not finish: {exc}")
    finally:
        context.close()
        report.seconds = time.monotonic() - started
    return report


# --- links, on the HTML files ------------------------------------------------------


class _PageParser(html.parser.HTMLParser):
    # (tag, attribute) pairs that point at another file or a fragment
    LINKS: ClassVar[set[tuple[str, str]]] = {
        ("a", "href"), ("area", "href"), ("link", "href"), ("script", "src"), ("img", "src"),
        ("source", "src"), ("iframe", "src"), ("video", "src"), ("audio", "src"),
    }

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.ids: set[str] = set()
        self.ids_in_order: list[str] = []
        self.links: list[tuple[str, str, str]] = []  # (tag, attribute, value)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if attrs.get("id"):
            self.ids.add(attrs["id"])
            self.ids_in_order.append(attrs["id"])
        if tag == "a" and attrs.get("name"):
            self.ids.add(attrs["name"])
        for (t, a) in self.LINKS:
            if tag == t and attrs.get(a) is not None:
                self.links.append((tag, a, attrs[a].strip()))

    handle_startendtag = handle_starttag


def html_pages(root: Path) -> list[Path]:
    """Every built page: the HTML files outside _static/ and _sources/."""
    root = Path(root)
    return sorted(
        p for p in root.rglob("*.html") if not ({"_static", "_sources"} & set(p.relative_to(root).parts))
    )


def check_links(root: Path, port: int | None = None) -> dict[str, list[str]]:
    """Broken internal links of every page of the site under ``root``.

    A link is internal when it is relative, root-relative, or absolute on
    127.0.0.1/localhost. Its file must exist inside ``root`` (a folder means
    its index.html), and a ``#fragment`` must be the id (or ``<a name>``) of an
    element of the target HTML page. Returns {page: [problem, ...]} for the
    pages that have problems.
    """
    root = Path(root).resolve()
    parsed: dict[Path, _PageParser] = {}

    def parse(path: Path) -> _PageParser:
        if path not in parsed:
            parser = _PageParser()
            parser.feed(path.read_text(encoding="utf-8", errors="replace"))
            parsed[path] = parser
        return parsed[path]

    problems: dict[str, list[str]] = {}
    for page in html_pages(root):
        page = page.resolve()
        rel_page = page.relative_to(root).as_posix()
        for tag, attr, value in parse(page).links:
            parts = urlsplit(value)
            if parts.scheme in ("http", "https"):
                if parts.hostname not in ("127.0.0.1", "localhost") or (port is not None and parts.port != port):
                    continue  # an external link: not ours to check
                path = parts.path or "/"
            elif parts.scheme or parts.netloc:
                continue  # mailto:, javascript:, data:, //host/...
            else:
                path = parts.path
            if tag == "link" and not path:
                continue
            if not path:
                target = page
            elif path.startswith("/"):
                target = root / unquote(path).lstrip("/")
            else:
                target = page.parent / unquote(path)
            normal = Path(posixpath.normpath(target.as_posix()))
            where = f"<{tag} {attr}=\"{value}\">"
            try:
                normal.relative_to(root)
            except ValueError:
                problems.setdefault(rel_page, []).append(f"{where} points outside the site")
                continue
            if normal.is_dir():
                normal = normal / "index.html"
            if not normal.is_file():
                problems.setdefault(rel_page, []).append(f"{where}: {normal.relative_to(root)} does not exist")
                continue
            fragment = unquote(parts.fragment)
            if fragment and tag in ("a", "area") and normal.suffix == ".html" and fragment not in parse(normal).ids:
                problems.setdefault(rel_page, []).append(
                    f"{where}: no element with id {fragment!r} in {normal.relative_to(root)}"
                )
    return problems
