"""The book's local JavaScript: the Vega bundle for Altair charts and MathJax.

The rendered book must work with no network. Altair's chart output asks for
vega, vega-lite and vega-embed by version; ``_static/vega-bundle.js`` provides
them and tells Altair's loader that they are present. If altair or
vl-convert-python is upgraded without rebuilding the bundle
(``python scripts/build_vega_bundle.py``), these tests fail instead of the
charts failing silently in readers' browsers.
"""
from __future__ import annotations

import importlib.util
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
STATIC = ROOT / "_static"
BUNDLE = STATIC / "vega-bundle.js"
CONFIG = ROOT / "_config.yml"

alt = pytest.importorskip("altair")


def _bundle_text() -> str:
    assert BUNDLE.is_file(), f"{BUNDLE} is missing: run python scripts/build_vega_bundle.py"
    return BUNDLE.read_text(encoding="utf-8")


def _header(text: str) -> dict[str, str]:
    from llmperf.charts.bundle import header_fields

    return header_fields(text)


def _altair_template_versions() -> dict[str, str]:
    """The versions that Altair's default renderer writes into a chart's HTML."""
    import pandas as pd

    chart = alt.Chart(pd.DataFrame({"x": [1, 2]})).mark_point().encode(x="x:Q")
    with alt.renderers.enable("default"):
        bundle = chart._repr_mimebundle_()
    if isinstance(bundle, tuple):
        bundle = bundle[0]
    html = bundle["text/html"]
    found = dict(re.findall(r'maybeLoadScript\("([a-z-]+)", "([^"]*)"\)', html))
    assert set(found) == {"vega", "vega-lite", "vega-embed"}, (
        "Altair's default HTML template changed: it no longer loads vega, vega-lite and "
        "vega-embed through maybeLoadScript, so the VEGA_DEBUG versions that "
        "_static/vega-bundle.js records may no longer stop it from using the CDN"
    )
    assert "VEGA_DEBUG[key] == version" in html
    return {f"{lib.replace('-', '')}_version": version for lib, version in found.items()}


def test_bundle_exists_and_defines_the_three_globals():
    text = _bundle_text()
    for name in ("vega", "vegaLite", "vegaEmbed"):
        assert f"window.{name}=" in text.replace(" ", ""), f"bundle does not define window.{name}"
    assert "window.VEGA_DEBUG" in text
    # A classic script wrapped in a function: its internals stay out of the page's globals.
    body = "\n".join(line for line in text.splitlines() if not line.startswith("//"))
    assert body.lstrip().startswith("(function () {")
    assert body.rstrip().endswith("})();")


def test_bundle_versions_match_what_altair_expects():
    fields = _header(_bundle_text())
    assert fields["altair"] == alt.__version__, (
        f"bundle built for altair {fields['altair']}, altair {alt.__version__} is installed: "
        "rebuild with python scripts/build_vega_bundle.py"
    )
    assert fields["vega-lite"] == str(alt.VEGALITE_VERSION)
    assert str(alt.SCHEMA_VERSION).lstrip("v") == fields["vega-lite"]
    assert fields["vega"].split(".")[: len(str(alt.VEGA_VERSION).split("."))] == str(alt.VEGA_VERSION).split(".")
    assert fields["vega-embed"].split(".")[: len(str(alt.VEGAEMBED_VERSION).split("."))] == str(
        alt.VEGAEMBED_VERSION
    ).split(".")
    # The version strings are the libraries' own, inside the code, not only in the header.
    body = _bundle_text().split("(function () {", 1)[1]
    assert f'"{fields["vega"]}"' in body
    assert f'"{fields["vega-lite"]}"' in body


def test_bundle_records_the_versions_that_altair_charts_ask_for():
    fields = _header(_bundle_text())
    recorded = json.loads(fields["VEGA_DEBUG"])
    assert recorded == _altair_template_versions()
    body = _bundle_text().split("(function () {", 1)[1]
    assert json.dumps(recorded, sort_keys=True, separators=(",", ":")) in body.replace(" ", "")


def test_bundle_is_what_the_installed_packages_produce():
    pytest.importorskip("vl_convert")
    spec = importlib.util.spec_from_file_location("build_vega_bundle", ROOT / "scripts" / "build_vega_bundle.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.build_bundle() == _bundle_text(), (
        "_static/vega-bundle.js is stale: run python scripts/build_vega_bundle.py"
    )


@pytest.mark.skipif(shutil.which("node") is None, reason="Node.js is not installed")
def test_bundle_runs_and_reports_its_versions(tmp_path):
    """Run the bundle in Node with a bare ``window`` and read the libraries' own versions."""
    probe = tmp_path / "probe.js"
    probe.write_text(
        "globalThis.window = globalThis;\n"
        f"(0, eval)(require('fs').readFileSync({json.dumps(str(BUNDLE))}, 'utf8'));\n"
        "console.log(JSON.stringify({embed: typeof vegaEmbed, vega: vega.version,"
        " vegaLite: vegaLite.version, debug: VEGA_DEBUG,"
        " leaked: ['t', 'n', 'e'].filter(k => k in globalThis)}));\n",
        encoding="utf-8",
    )
    out = subprocess.run(["node", str(probe)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    fields = _header(_bundle_text())
    assert seen["embed"] == "function"
    assert seen["vega"] == fields["vega"]
    assert seen["vegaLite"] == fields["vega-lite"] == str(alt.VEGALITE_VERSION)
    assert seen["debug"] == _altair_template_versions()
    assert seen["leaked"] == []


def _mathjax_path() -> str:
    config = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))
    return config["sphinx"]["config"]["mathjax_path"]


def test_config_points_mathjax_at_the_local_copy():
    path = _mathjax_path()
    assert "://" not in path and not path.startswith("//"), f"mathjax_path {path!r} is not local"
    local = STATIC / path  # Sphinx resolves a relative mathjax_path against _static/
    assert local.is_file(), f"{local} is missing"
    assert local.stat().st_size > 500_000
    head = local.read_text(encoding="utf-8", errors="replace")[:200_000]
    assert "MathJax" in head
    assert (local.parent / "LICENSE").is_file()
    # Jupyter Book 1 adds every _static/**/*.js to every page; MathJax must be
    # loaded by Sphinx alone, so it must not end in .js.
    assert not path.endswith(".js")


def test_mathjax_renders_without_fonts_from_the_network():
    # The SVG output draws glyphs itself; the CHTML output would fetch web fonts.
    assert "svg" in Path(_mathjax_path()).name
