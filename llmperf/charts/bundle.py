"""Vega, Vega-Lite and Vega-Embed as one local script, from the JavaScript vl-convert-python carries.

Used by ``scripts/build_vega_bundle.py`` (the book's ``_static/vega-bundle.js``)
and by the self-contained HTML report (:mod:`llmperf.htmlreport`), so that
charts draw with no network. See the script's docstring for how the bundle
and Altair's HTML template fit together.
"""
from __future__ import annotations

import json

# vl-convert resolves these module addresses to sources compiled into its
# wheel; they name the bundled versions and are never fetched.
_MODULE_URL = "https://cdn.jsdelivr.net/npm/{package}@{version}/+esm"


class BundleError(RuntimeError):
    """The installed altair and vl-convert-python cannot give a matching bundle."""


def header_fields(text: str) -> dict[str, str]:
    """The ``// key: value`` lines that open a generated bundle (``altair``, ``vl-convert-python``, ``vega`` ...)."""
    fields = {}
    for line in text.splitlines():
        if not line.startswith("//"):
            break
        key, sep, value = line[2:].partition(":")
        if sep:
            fields[key.strip()] = value.strip()
    return fields


def expected_versions() -> dict[str, str]:
    """The version strings that the installed Altair writes into its HTML output."""
    import altair as alt

    return {
        "altair": alt.__version__,
        "vega": str(alt.VEGA_VERSION),
        "vegalite": str(alt.VEGALITE_VERSION),
        "vegaembed": str(alt.VEGAEMBED_VERSION),
    }


def _major_minor(version: str) -> str:
    return ".".join(version.split(".")[:2])


def _same_release_line(wanted: str, actual: str) -> bool:
    """True when ``actual`` (full version) satisfies ``wanted`` (``6``, ``6.4`` or ``6.4.1``)."""
    wanted_parts = wanted.lstrip("v").split(".")
    actual_parts = actual.lstrip("v").split(".")
    return actual_parts[: len(wanted_parts)] == wanted_parts


def bundled_versions() -> dict[str, str]:
    """The versions of the libraries that the installed vl-convert-python carries."""
    import vl_convert as vlc

    return {
        "vl-convert-python": _package_version("vl-convert-python"),
        "vega": vlc.get_vega_version(),
        "vegaembed": vlc.get_vega_embed_version(),
        "vegalite_lines": ",".join(vlc.get_vegalite_versions()),
    }


def _package_version(name: str) -> str:
    from importlib.metadata import version

    return version(name)


def build_bundle() -> str:
    """Return the text of ``_static/vega-bundle.js`` for the installed packages."""
    import vl_convert as vlc

    want = expected_versions()
    have = bundled_versions()

    if not _same_release_line(want["vega"], have["vega"]):
        raise BundleError(
            f"altair {want['altair']} expects vega {want['vega']}, "
            f"vl-convert-python {have['vl-convert-python']} carries vega {have['vega']}"
        )
    if not _same_release_line(want["vegaembed"], have["vegaembed"]):
        raise BundleError(
            f"altair {want['altair']} expects vega-embed {want['vegaembed']}, "
            f"vl-convert-python {have['vl-convert-python']} carries "
            f"vega-embed {have['vegaembed']}"
        )
    vl_line = _major_minor(want["vegalite"])
    if vl_line not in vlc.get_vegalite_versions():
        raise BundleError(
            f"altair {want['altair']} expects vega-lite {want['vegalite']}, "
            f"vl-convert-python {have['vl-convert-python']} carries only "
            f"{have['vegalite_lines']}"
        )

    vega_url = _MODULE_URL.format(package="vega", version=have["vega"])
    vegalite_url = _MODULE_URL.format(package="vega-lite", version=want["vegalite"])
    # Altair's template keys: "vega", "vega-lite" and "vega-embed" with "-" removed.
    seen = {
        "vega_version": want["vega"],
        "vegalite_version": want["vegalite"],
        "vegaembed_version": want["vegaembed"],
    }
    # vl-convert's own wrapper imports the *default* exports of vega and
    # vega-lite, which are null; import the namespaces instead. The addresses
    # resolve to the very modules that vega-embed uses, so nothing is bundled
    # twice.
    snippet = "\n".join(
        [
            f'import * as vegaNamespace from "{vega_url}";',
            f'import * as vegaLiteNamespace from "{vegalite_url}";',
            "window.vega = vegaNamespace;",
            "window.vegaLite = vegaLiteNamespace;",
            "window.vegaEmbed = vegaEmbed;",
            "window.VEGA_DEBUG = Object.assign(window.VEGA_DEBUG || {}, "
            f"{json.dumps(seen, sort_keys=True)});",
        ]
    )
    try:
        body = vlc.javascript_bundle(snippet, vl_version=vl_line)
    except BaseException as exc:  # vl-convert panics (pyo3 PanicException) on unknown modules
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            raise
        raise BundleError(
            f"vl-convert-python {have['vl-convert-python']} could not bundle "
            f"vega {have['vega']} with vega-lite {want['vegalite']}: {exc}"
        ) from None

    header = "\n".join(
        [
            "// Generated by scripts/build_vega_bundle.py. Do not edit by hand.",
            "// Vega, Vega-Lite and Vega-Embed (BSD-3-Clause) with their dependencies",
            "// (d3 modules: ISC; lodash.debounce: MIT; others as marked by their",
            "// authors), taken from the vl-convert-python wheel; no network needed.",
            f"// altair: {want['altair']}",
            f"// vl-convert-python: {have['vl-convert-python']}",
            f"// vega: {have['vega']}",
            f"// vega-lite: {want['vegalite']}",
            f"// vega-embed: {have['vegaembed']}",
            f"// VEGA_DEBUG: {json.dumps(seen, sort_keys=True)}",
            "",
        ]
    )
    # The bundle is an ES module without imports or exports. Wrapping it in a
    # strict-mode function keeps its top-level names out of the page's global
    # scope (other scripts declare names such as `t` or `n` too) while keeping
    # module semantics.
    return header + '(function () {\n"use strict";\n' + body.rstrip() + "\n})();\n"
