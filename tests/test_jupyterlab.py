"""A learner runs a chapter live in JupyterLab and reads its prose with its numbers.

The test starts a real JupyterLab (the pinned ``jupyterlab`` with
``jupyterlab-myst``) on 127.0.0.1 with a random port, no browser and a token,
over a copy of ``book/`` (so that nothing it does, autosave included, touches
the stored notebooks). Headless Chromium, driven by Playwright (see
tests/browser.py), opens each chapter, clicks Run > Run All Cells, waits for
the kernel to go idle, and checks what the learner sees:

- no code cell ends in an error, and none writes to stderr;
- no markdown cell shows raw MyST: no role (``{eval}`x```, ``{doc}`...```),
  no directive fence (```` ```{exercise-start} ````, ``:::{dropdown}``);
- every ``{eval}`name``` of the prose was evaluated in the kernel and shows
  the very text that the static book shows, the text of the glue record
  stored in the notebook (so the live page and the site agree);
- every ipywidgets output (the chapter's explorer) renders as widgets, not as
  "Loading widget..." or an error, and at least one chapter has one;
- every Altair chart draws, although the browser cannot reach any host but
  127.0.0.1: ``llmperf.charts.enable()`` puts the Vega bundle into the live page
  (Altair's own HTML would load Vega from a CDN), and that output is left empty,
  so the saved notebook does not carry the bundle.
"""
from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import browser as B
import pytest

ROOT = Path(__file__).resolve().parent.parent
ALL_CHAPTERS = sorted(p.stem for p in (ROOT / "book").glob("*.ipynb"))
# A live Run All takes about a minute a chapter on a 2-core machine, so the suite runs three that between
# them use every kind of cell (prose numbers, charts, explorers, exercises, source listings);
# LLMPERF_LAB_CHAPTERS=all runs every chapter, or name some: LLMPERF_LAB_CHAPTERS=roofline,edge
_WANT = os.environ.get("LLMPERF_LAB_CHAPTERS", "generation,roofline,kvcache")
CHAPTERS = ALL_CHAPTERS if _WANT == "all" else [c for c in ALL_CHAPTERS if c in _WANT.split(",")]
RUN_TIMEOUT = 300  # seconds for Run All of one chapter

EVAL_ROLE = re.compile(r"\{eval\}`([^`]+)`")
# What raw MyST looks like when it is not rendered: a role, or a directive fence.
RAW_MYST = re.compile(r"\{[A-Za-z][\w:-]*\}`|(```|:::)\s*\{[A-Za-z][\w:-]*\}|^\s*:(label|class):", re.M)

# JupyterLab settings for the test: no autosave, no news prompt, every cell in the DOM.
LAB_SETTINGS = {
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false"},
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """JupyterLab on 127.0.0.1 over a copy of book/; yields (base URL, token, root, log path)."""
    base = tmp_path_factory.mktemp("jupyterlab")
    root = base / "root"
    shutil.copytree(ROOT / "book", root / "book")
    settings = base / "settings"
    for rel, value in LAB_SETTINGS.items():
        (settings / rel).parent.mkdir(parents=True, exist_ok=True)
        (settings / rel).write_text(json.dumps(value), encoding="utf-8")
    env = dict(
        os.environ,
        JUPYTERLAB_SETTINGS_DIR=str(settings),
        JUPYTERLAB_WORKSPACES_DIR=str(base / "workspaces"),
        JUPYTER_RUNTIME_DIR=str(base / "runtime"),
        JUPYTER_CONFIG_DIR=str(base / "config"),
        JUPYTER_DATA_DIR=str(base / "data"),
    )
    port, token = _free_port(), secrets.token_hex(24)
    cmd = [
        sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
        "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
        "--LabApp.news_url=None", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        "--LabApp.extension_manager=readonly", "--LabApp.expose_app_in_browser=True", "--allow-root",
    ]
    log_path = base / "jupyterlab.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                                cwd=root, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never through a proxy
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with direct.open(f"{url}/api/status?token={token}", timeout=2):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"JupyterLab did not start:\n{log_path.read_text(errors='replace')[-3000:]}",
                                pytrace=False)
                time.sleep(0.5)
        yield url, token, root, log_path
    finally:
        proc.send_signal(signal.SIGTERM)  # it shuts its kernels down
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # our own session: the server and its kernels
            proc.wait(10)


@pytest.fixture(scope="module")
def chromium():
    try:
        executable = B.ensure_chromium()
    except RuntimeError as exc:
        pytest.fail(str(exc), pytrace=False)
    with B.launch(executable) as browser:
        yield browser


# What the learner sees, read from JupyterLab's own models and DOM.
_STATE_JS = r"""
() => {
  const panel = window.jupyterapp.shell.currentWidget;
  const cells = [...panel.content.widgets].map((cell, index) => {
    const type = cell.model.type;
    const out = {index, type, source: cell.model.sharedModel.getSource()};
    if (type === 'markdown') {
      // what jupyterlab-myst (.myst) or JupyterLab's own renderer shows, not the hidden editor
      const r = cell.node.querySelector('.jp-Cell-inputArea .myst, .jp-Cell-inputArea .jp-MarkdownOutput');
      out.rendered = cell.rendered && !!r;
      if (r) r.querySelectorAll('details').forEach((d) => { d.open = true; });  // a learner opens dropdowns
      out.text = r ? r.innerText : '';
      out.all = r ? r.textContent : '';
      out.expressions = cell.model.getMetadata('user_expressions') || [];
    } else if (type === 'code') {
      out.count = cell.model.executionCount;
      out.outputs = [];
      const nodes = [...cell.node.querySelectorAll('.jp-OutputArea-child')];
      for (let i = 0; i < cell.model.outputs.length; i++) {
        const o = cell.model.outputs.get(i).toJSON();
        const node = nodes[i] ? nodes[i].querySelector('.jp-OutputArea-output') : null;
        out.outputs.push({
          type: o.output_type, name: o.name || '', ename: o.ename || '', evalue: o.evalue || '',
          text: Array.isArray(o.text) ? o.text.join('') : (o.text || ''),
          widget: !!(o.data && o.data['application/vnd.jupyter.widget-view+json']),
          widgets: node ? node.querySelectorAll('.jupyter-widgets, .widget-box, .widget-vbox').length : 0,
          shown: node ? node.innerText.slice(0, 300) : '',
          altair: !!(o.data && [].concat(o.data['text/html'] || []).join('').includes('vegaEmbed')),
          bundle: !!(o.data && [].concat(o.data['text/html'] || []).join('').includes('window.vegaEmbed=')),
          marks: node ? node.querySelectorAll('.vega-embed canvas, .vega-embed svg.marks').length : 0,
          size: node ? [node.getBoundingClientRect().width, node.getBoundingClientRect().height] : [0, 0],
        });
      }
    }
    return out;
  });
  const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
  return {kernel: kernel ? kernel.status : 'none', cells};
}
"""

_IDLE_JS = r"""
() => {
  const panel = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  if (!panel || !panel.content || !panel.sessionContext.session || !panel.sessionContext.session.kernel) return false;
  const pending = [...panel.content.widgets].some((c) => c.model.type === 'code'
      && (c.model.executionCount === null || c.model.executionState === 'running'
          || (c.promptNode && c.promptNode.textContent.includes('*'))));
  return panel.sessionContext.session.kernel.status === 'idle' && !pending;
}
"""


def _stored_glue(path: Path) -> dict[str, str]:
    """{name: text} of the glue records stored in a notebook (what the static book shows)."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    found = {}
    for cell in nb["cells"]:
        for output in cell.get("outputs", []):
            meta = output.get("metadata", {}).get("scrapbook")
            if meta:
                text = output["data"].get(meta.get("mime_prefix", "") + "text/plain")
                found[meta["name"]] = "".join(text) if isinstance(text, list) else text
    return found


def _expression_text(expression: dict) -> str | None:
    result = expression.get("result", {})
    if result.get("status") != "ok":
        return None
    text = result.get("data", {}).get("text/plain")
    return text.strip().strip("'\"") if isinstance(text, str) else None


def run_all(page, url: str, token: str, notebook: str) -> dict:
    """Open ``notebook`` in JupyterLab, Run > Run All Cells, wait for idle; return its state."""
    page.goto(f"{url}/lab/tree/{notebook}?reset&token={token}", wait_until="domcontentloaded", timeout=120_000)
    page.wait_for_function(_IDLE_JS.replace("c.model.executionCount === null || ", ""), timeout=120_000,
                           polling=250)
    # Start from a clean slate (no stored execution counts), so that "every cell has run" means this run.
    page.evaluate("() => window.jupyterapp.commands.execute('notebook:clear-all-cell-outputs')")
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()
    page.wait_for_function(_IDLE_JS, timeout=RUN_TIMEOUT * 1000, polling=250)
    # jupyterlab-myst evaluates each markdown cell's expressions as Run All renders it, and
    # draws the replies when they come: wait (a minute at most) until every {eval} has a
    # result on the page, then give the widget views a moment to land.
    deadline = time.monotonic() + 60
    while True:
        page.wait_for_timeout(1000)
        state = page.evaluate(_STATE_JS)
        if all(_evaluated(cell) for cell in state["cells"]) or time.monotonic() > deadline:
            return state


def _evaluated(cell: dict) -> bool:
    """Has every ``{eval}`` of a markdown cell a result, shown on the page?"""
    if cell["type"] != "markdown":
        return True
    results = {e.get("expression"): _expression_text(e) for e in cell["expressions"]}
    for name in EVAL_ROLE.findall(cell["source"]):
        text = results.get(name)
        if text is None or (text not in cell["text"] and text not in cell["all"]):
            return False
    return True


@pytest.fixture(scope="module")
def lab_runs(lab, chromium, tmp_path_factory):
    """Every chapter, run in JupyterLab: {chapter: (state, screenshot path)}."""
    url, token, root, _ = lab
    shots = tmp_path_factory.mktemp("jupyterlab-shots")
    runs = {}
    for chapter in CHAPTERS:
        context = chromium.new_context(viewport={"width": 1400, "height": 1000})
        page = context.new_page()
        errors = []
        page.on("pageerror", lambda e, errors=errors: errors.append(str(e)))
        try:
            state = run_all(page, url, token, f"book/{chapter}.ipynb")
        except Exception as exc:  # noqa: BLE001 - reported by each test
            state = {"failed": f"{type(exc).__name__}: {exc}", "cells": []}
        state["page_errors"] = errors
        shot = shots / f"{chapter}.png"
        try:
            page.screenshot(path=str(shot))
        except Exception:  # noqa: BLE001 - a screenshot is only a help
            pass
        context.close()
        runs[chapter] = (state, shot)
    return runs


@pytest.fixture(params=CHAPTERS)
def run(request, lab_runs, lab):
    state, shot = lab_runs[request.param]
    if state.get("failed"):
        log = lab[3].read_text(errors="replace")[-2000:]
        pytest.fail(f"{request.param}: Run All did not finish: {state['failed']} (screenshot {shot})\n{log}",
                    pytrace=False)
    return request.param, state


def test_run_all_has_no_error_output(run):
    chapter, state = run
    problems = []
    for cell in state["cells"]:
        if cell["type"] != "code":
            continue
        if cell["count"] is None:
            problems.append(f"cell {cell['index']} did not run")
        for out in cell["outputs"]:
            if out["type"] == "error":
                problems.append(f"cell {cell['index']}: {out['ename']}: {out['evalue'][:300]}")
            elif out["type"] == "stream" and out["name"] == "stderr":
                problems.append(f"cell {cell['index']} wrote to stderr: {out['text'][:300]}")
    assert not problems, f"{chapter} in JupyterLab:\n" + "\n".join(problems)


def test_prose_shows_no_raw_myst(run):
    chapter, state = run
    raw = []
    for cell in state["cells"]:
        if cell["type"] == "markdown":
            assert cell["rendered"], f"{chapter}: markdown cell {cell['index']} is not rendered"
            shown = {cell["text"], cell["all"]}  # as laid out, and every text node (closed dropdowns too)
            hits = sorted({t[max(0, m.start() - 40): m.end() + 40].replace("\n", " ")
                           for t in shown for m in RAW_MYST.finditer(t)})
            raw += [f"cell {cell['index']}: ...{hit}..." for hit in hits]
    assert not raw, f"{chapter} shows raw MyST in JupyterLab:\n" + "\n".join(raw)


def test_prose_numbers_are_evaluated_live_and_match_the_book(run):
    chapter, state = run
    stored = _stored_glue(ROOT / "book" / f"{chapter}.ipynb")
    problems, seen = [], 0
    for cell in state["cells"]:
        if cell["type"] != "markdown":
            continue
        results = {e.get("expression"): _expression_text(e) for e in cell["expressions"]}
        for name in EVAL_ROLE.findall(cell["source"]):
            seen += 1
            live = results.get(name)
            if live is None:
                problems.append(f"cell {cell['index']}: {{eval}}`{name}` was not evaluated "
                                f"({[e for e in cell['expressions'] if e.get('expression') == name]})")
            elif name in stored and live != stored[name]:
                problems.append(f"cell {cell['index']}: {{eval}}`{name}` shows {live!r} live, "
                                f"{stored[name]!r} in the book")
            elif live not in cell["text"] and live not in cell["all"]:
                problems.append(f"cell {cell['index']}: {{eval}}`{name}` = {live!r} is not on the page")
    assert not problems, f"{chapter} in JupyterLab:\n" + "\n".join(problems)
    if "{eval}" in (ROOT / "book" / f"{chapter}.ipynb").read_text(encoding="utf-8"):
        assert seen, f"{chapter}: no {{eval}} role was found in the live notebook"


def test_widgets_render(run):
    chapter, state = run
    problems = []
    for cell in state["cells"]:
        for out in cell.get("outputs", []):
            if out["widget"] and not (out["widgets"] and out["size"][1] > 50):
                problems.append(f"cell {cell['index']}: widget output not rendered: {out['shown']!r}")
            if re.search(r"Error displaying widget|Loading widget|model not found", out.get("shown", "")):
                problems.append(f"cell {cell['index']}: {out['shown']!r}")
    assert not problems, f"{chapter} in JupyterLab:\n" + "\n".join(problems)
    if "llmperf.widgets" in (ROOT / "book" / f"{chapter}.ipynb").read_text(encoding="utf-8"):
        shown = sum(out["widget"] and out["widgets"] > 0 for c in state["cells"] for out in c.get("outputs", []))
        assert shown, f"{chapter} uses an llmperf.widgets explorer, but no widget rendered in JupyterLab"


def test_some_chapter_has_a_live_explorer(lab_runs):
    widgets = {chapter: sum(out["widget"] and out["widgets"] > 0 for c in state["cells"] for out in c.get("outputs", []))
               for chapter, (state, _) in lab_runs.items()}
    assert any(widgets.values()), f"no chapter rendered an ipywidgets explorer in JupyterLab: {widgets}"


def test_charts_draw_live_without_a_network(run):
    """Every Altair output draws its marks in a browser that can reach 127.0.0.1 only; the cell that enabled
    the charts keeps no bundle in its output."""
    chapter, state = run
    problems, charts = [], 0
    for cell in state["cells"]:
        for out in cell.get("outputs", []):
            if out["altair"]:
                charts += 1
                if not out["marks"]:
                    problems.append(f"cell {cell['index']}: chart not drawn: {out['shown'][:200]!r}")
            if out["bundle"]:
                problems.append(f"cell {cell['index']}: the Vega bundle stayed in the output (saved with the notebook)")
    assert not problems, f"{chapter} in JupyterLab:\n" + "\n".join(problems)
    if "alt.Chart" in (ROOT / "book" / f"{chapter}.ipynb").read_text(encoding="utf-8") or \
            "llmperf.charts" in (ROOT / "book" / f"{chapter}.ipynb").read_text(encoding="utf-8"):
        assert charts, f"{chapter}: no Altair chart in the live run"
