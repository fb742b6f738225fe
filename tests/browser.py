"""Check the rendered book in headless Chromium, driven from Python.

No Node, no browser download, no extra package: Chromium (Debian's
``chromium``) is started with ``--remote-debugging-pipe`` and spoken to over
the Chrome DevTools Protocol (CDP) on two pipes, file descriptors 3 and 4 of
the browser, one JSON message per NUL-terminated frame.

The pieces, used by ``tests/test_browser.py``:

- :func:`find_chromium` / :func:`install_chromium`: locate the browser, or
  install it with apt when running as root.
- :class:`StaticServer`: the built HTML served on ``127.0.0.1`` (ephemeral
  port, one thread), so that a missing file is a real failed request.
- :class:`Chromium`: one headless browser and its CDP connection.
- :func:`check_page`: open one page in a new tab and report console errors,
  failed or non-local requests, charts that do not render, bound controls
  (sliders, dropdowns, radios, checkboxes) that do not change their chart,
  and math that MathJax did not render.
- :func:`check_links`: every ``<a href>`` (and every local ``src``/``href`` a
  page loads) must name a file of the built site, and every ``#fragment`` an
  element of the target page; done on the HTML files, without the browser.
"""
from __future__ import annotations

import fcntl
import functools
import html.parser
import http.server
import json
import os
import posixpath
import shutil
import subprocess
import sys
import tempfile
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

# Headless flags that work on this kind of machine (shared/STACK.md), plus:
# the pipe transport; no proxy; every host name resolves to nothing, so a page
# that reaches for a CDN fails here exactly as it would offline.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-dev-shm-usage",
    "--no-proxy-server",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    "--window-size=1280,1000",
    "--remote-debugging-pipe",
)

INSTALL_HINT = (
    "The browser test needs Chromium. On Debian/Ubuntu: `sudo apt-get update && "
    "sudo apt-get install -y chromium` (the test does this itself when run as root "
    "with apt-get). Elsewhere install Chromium or Chrome and point the CHROMIUM "
    "environment variable at its executable."
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
        # The browser closing a connection early is not our concern.
        pass


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


# --- Chromium over the DevTools pipe --------------------------------------------------


class CDPError(RuntimeError):
    pass


# Puts the two pipe ends at descriptors 3 and 4, then becomes Chromium.
_LAUNCHER = (
    "import os, sys; a, b = int(sys.argv[1]), int(sys.argv[2]); "
    "os.dup2(a, 3); os.dup2(b, 4); os.close(a); os.close(b); "
    "os.execv(sys.argv[3], sys.argv[3:])"
)


def _high_fd(fd: int) -> int:
    """Move ``fd`` to a number >= 10 (close-on-exec), so 3 and 4 are free to take."""
    new = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
    os.close(fd)
    return new


class Chromium:
    """One headless Chromium and its CDP connection over pipes."""

    def __init__(self, executable: str, startup_timeout: float = 60):
        self.executable = executable
        self.user_data_dir = tempfile.mkdtemp(prefix="llmperf-chromium-")
        self._stderr_path = Path(self.user_data_dir).with_suffix(".stderr")
        self._stderr = open(self._stderr_path, "wb")  # noqa: SIM115 - closed in close()
        to_browser_r, to_browser_w = os.pipe()
        from_browser_r, from_browser_w = os.pipe()
        to_browser_r, from_browser_w = _high_fd(to_browser_r), _high_fd(from_browser_w)
        cmd = [
            sys.executable,
            "-c",
            _LAUNCHER,
            str(to_browser_r),
            str(from_browser_w),
            executable,
            *CHROMIUM_FLAGS,
            f"--user-data-dir={self.user_data_dir}",
            "about:blank",
        ]
        self.proc = subprocess.Popen(
            cmd,
            pass_fds=(to_browser_r, from_browser_w),
            stdin=subprocess.DEVNULL,
            stdout=self._stderr,
            stderr=self._stderr,
            start_new_session=True,
        )
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._wfd = to_browser_w
        self._rfd = from_browser_r
        self._write_lock = threading.Lock()
        self._cond = threading.Condition()
        self._responses: dict[int, dict] = {}
        self._events: list[dict] = []
        self._next_id = 0
        self._closed = False
        self._reader = threading.Thread(target=self._read_loop, name="cdp-reader", daemon=True)
        self._reader.start()
        try:
            self.version = self.send("Browser.getVersion", timeout=startup_timeout)
        except Exception:
            self.close()
            raise

    # transport

    def _read_loop(self) -> None:
        buf = bytearray()
        while True:
            try:
                chunk = os.read(self._rfd, 1 << 20)
            except OSError:
                chunk = b""
            if not chunk:
                break
            buf += chunk
            while True:
                end = buf.find(b"\0")
                if end < 0:
                    break
                raw = bytes(buf[:end])
                del buf[: end + 1]
                try:
                    message = json.loads(raw)
                except ValueError:
                    continue
                with self._cond:
                    if "id" in message:
                        self._responses[message["id"]] = message
                    else:
                        self._events.append(message)
                    self._cond.notify_all()
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def stderr_tail(self, limit: int = 3000) -> str:
        try:
            return self._stderr_path.read_text(errors="replace")[-limit:]
        except OSError:
            return ""

    def send(self, method: str, params: dict | None = None, session: str | None = None, timeout: float = 30):
        with self._cond:
            if self._closed:
                raise CDPError(f"Chromium is gone (while sending {method}); its output:\n{self.stderr_tail()}")
            self._next_id += 1
            ident = self._next_id
        message = {"id": ident, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        data = json.dumps(message).encode() + b"\0"
        with self._write_lock:
            view = memoryview(data)
            while view:
                try:
                    written = os.write(self._wfd, view)
                except OSError as exc:
                    raise CDPError(f"cannot talk to Chromium ({exc}); its output:\n{self.stderr_tail()}") from exc
                view = view[written:]
        deadline = time.monotonic() + timeout
        with self._cond:
            while ident not in self._responses:
                left = deadline - time.monotonic()
                if self._closed:
                    raise CDPError(f"Chromium exited during {method}; its output:\n{self.stderr_tail()}")
                if left <= 0:
                    raise CDPError(f"no answer to {method} within {timeout:.0f} s")
                self._cond.wait(left)
            response = self._responses.pop(ident)
        if "error" in response:
            raise CDPError(f"{method}: {response['error']}")
        return response.get("result", {})

    def events(self, session: str) -> list[dict]:
        with self._cond:
            return [e for e in self._events if e.get("sessionId") == session]

    def drop_events(self, session: str) -> None:
        with self._cond:
            self._events = [e for e in self._events if e.get("sessionId") != session]

    def wait_event(self, session: str, method: str, timeout: float) -> dict | None:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for event in self._events:
                    if event.get("sessionId") == session and event.get("method") == method:
                        return event
                left = deadline - time.monotonic()
                if left <= 0 or self._closed:
                    return None
                self._cond.wait(left)

    def evaluate(self, session: str, expression: str, timeout: float = 30):
        """Evaluate a JS expression in the page (awaiting a promise); return its JSON value."""
        result = self.send(
            "Runtime.evaluate",
            {
                "expression": expression,
                "returnByValue": True,
                "awaitPromise": True,
                "timeout": int(timeout * 1000),
            },
            session=session,
            timeout=timeout + 5,
        )
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            text = details.get("exception", {}).get("description") or details.get("text")
            raise CDPError(f"the page check script failed: {text}")
        return result.get("result", {}).get("value")

    def call(self, session: str, function: str, *args, timeout: float = 30):
        """Call a JS function (source text) with JSON arguments in the page."""
        arguments = ", ".join(json.dumps(a) for a in args)
        return self.evaluate(session, f"({function})({arguments})", timeout=timeout)

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.send("Browser.close", timeout=5)
            except CDPError:
                pass
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                # Our own process group (start_new_session): the browser and its helpers.
                try:
                    os.killpg(self.proc.pid, 9)
                except OSError:
                    self.proc.kill()
                self.proc.wait(10)
        for fd in (self._wfd, self._rfd):
            try:
                os.close(fd)
            except OSError:
                pass
        self._reader.join(5)
        self._stderr.close()
        shutil.rmtree(self.user_data_dir, ignore_errors=True)
        try:
            self._stderr_path.unlink()
        except OSError:
            pass

    def __enter__(self) -> Chromium:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


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
    return {id, state: w > 0 && h > 0 ? 'ok' : 'zero size', kind: marks.tagName.toLowerCase(), w, h};
  });
  const embeds = [...document.querySelectorAll('.vega-embed')].map((e) => ({
      id: e.id, drawn: !!e.querySelector('svg.marks, canvas.marks')}));
  return {charts, embeds};
}
"""

# Move every bound control of one chart and watch the chart's drawing change.
_CONTROLS_JS = r"""
async (id, changeMs) => {
  const el = document.getElementById(id);
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  const snap = () => {
    const m = el.querySelector('svg.marks, canvas.marks');
    if (!m) return '';
    return m.tagName === 'CANVAS' ? m.toDataURL() : m.outerHTML;
  };
  const fire = (c) => {
    c.dispatchEvent(new Event('input', {bubbles: true}));
    c.dispatchEvent(new Event('change', {bubbles: true}));
  };
  const waitFor = async (pred, ms) => {
    const end = performance.now() + ms;
    while (performance.now() < end) {
      await sleep(40);
      if (pred()) return true;
    }
    return pred();
  };
  // Wait until the drawing holds still (two equal snapshots 150 ms apart).
  const settle = async () => {
    const end = performance.now() + 2000;
    let last = snap();
    while (performance.now() < end) {
      await sleep(150);
      const now = snap();
      if (now === last) return;
      last = now;
    }
  };
  const results = [];
  const radios = new Set();
  const controls = [...el.querySelectorAll('.vega-bindings input, .vega-bindings select')];
  for (const c of controls) {
    const bind = c.closest('.vega-bind') || c.parentElement;
    const nameEl = bind.querySelector('.vega-bind-name');
    const name = nameEl ? nameEl.textContent.trim() : (c.name || '?');
    const kind = c.tagName === 'SELECT' ? 'select' : (c.type || 'text');
    let moves = [];
    let restore = () => {};
    if (kind === 'range') {
      const orig = c.value;
      const lo = parseFloat(c.min === '' ? '0' : c.min), hi = parseFloat(c.max === '' ? '100' : c.max);
      moves = [hi, lo, (lo + hi) / 2].map((v) => () => {
        c.value = String(v);
        if (c.value === orig) return null;
        fire(c);
        return c.value;
      });
      restore = () => { c.value = orig; fire(c); };
    } else if (kind === 'select') {
      const orig = c.selectedIndex;
      moves = [...c.options].map((o, i) => i).filter((i) => i !== orig).map((i) => () => {
        c.selectedIndex = i;
        fire(c);
        return c.value;
      });
      restore = () => { c.selectedIndex = orig; fire(c); };
    } else if (kind === 'radio') {
      if (radios.has(c.name)) continue;
      radios.add(c.name);
      const group = [...bind.querySelectorAll('input[type=radio]')];
      const orig = group.find((r) => r.checked);
      moves = group.filter((r) => r !== orig).map((r) => () => { r.checked = true; fire(r); return r.value; });
      restore = () => { if (orig) { orig.checked = true; fire(orig); } };
    } else if (kind === 'checkbox') {
      const orig = c.checked;
      moves = [() => { c.checked = !orig; fire(c); return String(c.checked); }];
      restore = () => { c.checked = orig; fire(c); };
    } else {
      results.push({name, kind, skipped: true});
      continue;
    }
    await settle();
    const tried = [];
    let changed = false;
    for (const move of moves.slice(0, 3)) {
      const before = snap();
      const value = move();
      if (value === null) continue;
      tried.push(value);
      if (await waitFor(() => snap() !== before, changeMs)) { changed = true; break; }
    }
    // Put the control back and let the chart redraw before the next one.
    const moved = snap();
    restore();
    if (changed) await waitFor(() => snap() !== moved, changeMs);
    results.push({name, kind, changed, tried});
  }
  return results;
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
      index: i,
      tex: c ? '' : e.textContent.trim().slice(0, 80),
      rendered: !!c,
      error: err ? (err.getAttribute('data-mjx-error') || err.textContent || 'error').slice(0, 200) : '',
      visible: e.getClientRects().length > 0,
      w: r.width, h: r.height,
    };
  });
  return {mathjax: typeof window.MathJax === 'object' && !!window.MathJax.startup, items};
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


def _is_harmless(text: str) -> bool:
    return any(known in text for known in KNOWN_HARMLESS)


def _remote_object_text(obj: dict) -> str:
    if "value" in obj:
        return str(obj["value"])
    return obj.get("description") or obj.get("unserializableValue") or obj.get("type", "")


def _allowed_url(url: str, port: int) -> bool:
    parts = urlsplit(url)
    if parts.scheme in ("data", "blob", "about"):
        return True
    return parts.scheme == "http" and parts.hostname == "127.0.0.1" and parts.port == port


def chart_ids(page: Path) -> list[str]:
    """The Altair output divs (``id="altair-viz-..."``) of a built page."""
    parser = _PageParser()
    parser.feed(page.read_text(encoding="utf-8"))
    return [i for i in parser.ids_in_order if i.startswith("altair-viz-")]


def check_page(
    browser: Chromium,
    url: str,
    charts: list[str],
    port: int,
    timeout: float = 20,
    change_timeout: float = 3,
) -> PageReport:
    """Open ``url`` in a new tab and check it; see the module docstring."""
    report = PageReport(url)
    started = time.monotonic()
    deadline = started + timeout
    target = browser.send("Target.createTarget", {"url": "about:blank"})["targetId"]
    session = browser.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
    try:
        for domain in ("Runtime", "Log", "Network", "Page"):
            browser.send(f"{domain}.enable", session=session)
        nav = browser.send("Page.navigate", {"url": url}, session=session)
        if nav.get("errorText"):
            report.add("load", f"navigation failed: {nav['errorText']}")
            return report
        loaded = browser.wait_event(session, "Page.loadEventFired", max(1.0, deadline - time.monotonic()))
        if loaded is None:
            report.add("load", f"no load event within {timeout:.0f} s")

        try:
            # Charts: embedded and drawn.
            state = None
            while True:
                state = browser.call(session, _CHARTS_JS, charts)
                if all(c["state"] in ("ok", "error") for c in state["charts"]) or time.monotonic() > deadline:
                    break
                time.sleep(0.1)
            for chart in state["charts"]:
                if chart["state"] == "ok":
                    report.charts += 1
                elif chart["state"] == "error":
                    report.add("charts", f"chart {chart['id']} shows an error: {chart['text']}")
                else:
                    report.add("charts", f"chart {chart['id']}: {chart['state']} within {timeout:.0f} s")
            strays = [e for e in state["embeds"] if e["id"] not in charts]
            if strays:
                report.add("charts", f"{len(strays)} vega-embed element(s) that are not Altair outputs: {strays}")

            # Math, once MathJax has typeset the page.
            while True:
                math = browser.call(session, _MATH_JS)
                items = math["items"]
                if all(i["rendered"] or i["error"] for i in items) or time.monotonic() > deadline:
                    break
                if not math["mathjax"] and loaded:
                    break  # Sphinx loads MathJax with `defer`: after the load event it is there or never
                time.sleep(0.1)
            for item in items:
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
                if chart["state"] != "ok":
                    continue
                results = browser.call(
                    session, _CONTROLS_JS, chart["id"], int(change_timeout * 1000), timeout=60 + 10 * change_timeout
                )
                for control in results:
                    if control.get("skipped"):
                        continue
                    report.controls += 1
                    if not control["changed"]:
                        tried = ", ".join(control["tried"]) or "no other value"
                        report.add(
                            "controls",
                            f"moving the {control['kind']} '{control['name']}' of chart {chart['id']} "
                            f"(to {tried}) did not change the chart",
                        )
        except CDPError as exc:
            # A page that hangs or crashes the tab: report it, keep what was logged.
            report.add("load", f"the page check did not finish: {exc}")
        _wait_network_idle(browser, session, min(3.0, max(0.5, deadline - time.monotonic())))
        _collect_events(browser.events(session), report, port)
    finally:
        try:
            browser.send("Target.closeTarget", {"targetId": target}, timeout=10)
        except CDPError:
            pass
        browser.drop_events(session)
        report.seconds = time.monotonic() - started
    return report


def _wait_network_idle(browser: Chromium, session: str, timeout: float, quiet: float = 0.25) -> None:
    """Wait until no request of the page has been in flight for ``quiet`` seconds."""
    deadline = time.monotonic() + timeout
    idle_since = None
    while time.monotonic() < deadline:
        pending = set()
        for event in browser.events(session):
            method, params = event.get("method"), event.get("params", {})
            if method == "Network.requestWillBeSent":
                pending.add(params.get("requestId"))
            elif method in ("Network.loadingFinished", "Network.loadingFailed"):
                pending.discard(params.get("requestId"))
        now = time.monotonic()
        if pending:
            idle_since = None
        elif idle_since is None:
            idle_since = now
        elif now - idle_since >= quiet:
            return
        time.sleep(0.05)


def _is_favicon_probe(params: dict) -> bool:
    """The browser's own request for /favicon.ico (not made by the page)."""
    return (
        urlsplit(params.get("request", {}).get("url", "")).path == "/favicon.ico"
        and params.get("type") == "Other"
        and params.get("initiator", {}).get("type") == "other"
    )


def _collect_events(events: list[dict], report: PageReport, port: int) -> None:
    urls: dict[str, str] = {}
    # The browser asks the server root for /favicon.ico on its own when a page
    # names no icon; on a published book that root is not the book's. Those
    # requests, their 404 and its console line are not the page's.
    ignored = {
        e["params"].get("requestId")
        for e in events
        if e.get("method") == "Network.requestWillBeSent" and _is_favicon_probe(e.get("params", {}))
    }
    for event in events:
        method, params = event.get("method"), event.get("params", {})
        if params.get("requestId") in ignored or params.get("entry", {}).get("networkRequestId") in ignored:
            continue
        if method == "Network.requestWillBeSent":
            url = params.get("request", {}).get("url", "")
            urls[params.get("requestId")] = url
            report.requests += 1
            if not _allowed_url(url, port):
                report.add("network", f"request to another host: {url[:200]}")
        elif method == "Network.loadingFailed":
            url = urls.get(params.get("requestId"), "?")
            why = params.get("errorText") or ""
            if params.get("blockedReason"):
                why += f" (blocked: {params['blockedReason']})"
            if params.get("canceled"):
                why += " (canceled)"
            report.add("network", f"failed request: {url[:200]}: {why}")
        elif method == "Network.responseReceived":
            response = params.get("response", {})
            if response.get("status", 0) >= 400:
                report.add("network", f"HTTP {response['status']} for {response.get('url', '?')[:200]}")
        elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            text = " ".join(_remote_object_text(a) for a in params.get("args", []))
            if not _is_harmless(text):
                report.add("console", f"console.{params['type']}: {text[:500]}")
        elif method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            text = details.get("text", "")
            exception = details.get("exception", {})
            description = exception.get("description") or (str(exception["value"]) if "value" in exception else "")
            if description:
                text = f"{text} {description}"
            if not _is_harmless(text):
                where = details.get("url", "")
                where = f" at {where}:{details.get('lineNumber', 0) + 1}" if where else ""
                report.add("console", f"uncaught exception{where}: {text[:500]}")
        elif method == "Log.entryAdded":
            entry = params.get("entry", {})
            if entry.get("level") == "error" and not _is_harmless(entry.get("text", "")):
                where = f" ({entry['url'][:200]})" if entry.get("url") else ""
                report.add("console", f"{entry.get('source', 'log')} error: {entry.get('text', '')[:500]}{where}")


# --- links, on the HTML files ------------------------------------------------------


class _PageParser(html.parser.HTMLParser):
    # (tag, attribute) pairs that point at another file or a fragment
    LINKS: ClassVar[set[tuple[str, str]]] = {
        ("a", "href"),
        ("area", "href"),
        ("link", "href"),
        ("script", "src"),
        ("img", "src"),
        ("source", "src"),
        ("iframe", "src"),
        ("video", "src"),
        ("audio", "src"),
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
            if (
                fragment
                and tag in ("a", "area")
                and normal.suffix == ".html"
                and fragment not in parse(normal).ids
            ):
                problems.setdefault(rel_page, []).append(
                    f"{where}: no element with id {fragment!r} in {normal.relative_to(root)}"
                )
    return problems
