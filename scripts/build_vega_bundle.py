#!/usr/bin/env python3
"""Build ``_static/vega-bundle.js``: Vega, Vega-Lite and Vega-Embed in one local file.

Altair's HTML output loads vega, vega-lite and vega-embed from a CDN, so an
offline copy of the book would show every chart as "Error loading script".
This script takes the JavaScript that the installed ``vl-convert-python``
wheel carries (``vl_convert.javascript_bundle``; nothing is downloaded) and
writes one classic script that

1. defines the globals ``vega``, ``vegaLite`` and ``vegaEmbed``, and
2. records in ``window.VEGA_DEBUG`` the versions that Altair's HTML template
   asks for. Altair's default ("universal") template skips loading a library
   whose version is already recorded there and calls the global ``vegaEmbed``
   instead, so charts stored in the notebooks by the plain default renderer
   use this file and never reach the CDN.

Jupyter Book 1 adds every ``_static/**/*.js`` file to every page, in ``<head>``
and without ``defer``, so the bundle runs before the chart cells' inline
scripts.

The versions must agree with what the installed Altair expects; the script
stops with an error when they do not, and ``tests/test_static_assets.py``
checks the committed file against the installed packages.

Usage::

    python scripts/build_vega_bundle.py            # rewrite _static/vega-bundle.js
    python scripts/build_vega_bundle.py --check    # exit 1 if the file is stale
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DEFAULT_OUTPUT = ROOT / "_static" / "vega-bundle.js"

from llmperf.charts.bundle import (BundleError, build_bundle, bundled_versions,  # noqa: E402,F401
                                   expected_versions)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--output", type=Path, default=DEFAULT_OUTPUT, help="file to write (default: %(default)s)"
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="do not write; exit 1 if the file differs from a fresh build",
    )
    args = parser.parse_args(argv)
    try:
        text = build_bundle()
    except BundleError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.check:
        current = args.output.read_text(encoding="utf-8") if args.output.exists() else ""
        if current != text:
            print(f"{args.output} is stale: run python scripts/build_vega_bundle.py", file=sys.stderr)
            return 1
        print(f"{args.output} is up to date")
        return 0
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text, encoding="utf-8")
    print(f"wrote {args.output} ({len(text.encode('utf-8')) / 1e6:.2f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
