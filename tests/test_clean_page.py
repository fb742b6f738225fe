"""What a reader sees: no raw floats, NaN, dict reprs, dtype footers or glue bookkeeping on any page."""
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "book").glob("*.ipynb"))
VEGA = ("application/vnd.vegalite.v5+json", "application/vnd.vegalite.v6+json")
HIDDEN = {"remove-cell", "remove-output"}


def _shown_text(cell):
    """The plain text of the outputs a reader of the page sees (charts carry data, not prose)."""
    if HIDDEN & set(cell.get("metadata", {}).get("tags", [])):
        return ""
    parts = []
    for o in cell.get("outputs", []):
        d = o.get("data", {})
        if any(k in d for k in VEGA) or "scrapbook" in o.get("metadata", {}):
            continue
        if "text/html" in d and "altair-viz" in "".join(d["text/html"]):
            continue
        parts.append("".join(d.get("text/plain", "")) + "".join(o.get("text", "")))
    return "\n".join(parts)


def _code_cells(nb):
    return [c for c in json.loads(nb.read_text())["cells"] if c["cell_type"] == "code"]


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_raw_numbers_nan_dicts_or_dtype_footers(nb):
    text = "\n".join(_shown_text(c) for c in _code_cells(nb))
    bad = {"floats with 7+ decimals": re.findall(r"\d\.\d{7,}", text),
           "NaN/<NA>": re.findall(r"\bNaN\b|<NA>", text),
           "dict reprs": re.findall(r"\{\s*'[^']+'\s*:", text),
           "dtype footers": re.findall(r"\bdtype: \w+", text)}
    assert not {k: v for k, v in bad.items() if v}, f"{nb.name}: a reader would see {bad}"


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.stem)
def test_glue_bookkeeping_is_hidden(nb):
    for c in _code_cells(nb):
        src = "".join(c["source"])
        tags = set(c.get("metadata", {}).get("tags", []))
        if re.search(r"^\s*(\w+\s*=\s*)?glue\(", src, re.M):
            assert tags & {"remove-cell", "remove-input", "hide-input"}, \
                f"{nb.name}: a cell that glues shows its bookkeeping on the page:\n{src[:200]}"


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.stem)
def test_runs_without_myst_nb(nb):
    """A live kernel with only the package (Colab, Binder) has no myst_nb."""
    for c in _code_cells(nb):
        assert "myst_nb" not in "".join(c["source"]), f"{nb.name} imports myst_nb"


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.stem)
def test_prose_uses_eval_roles_not_glue_roles(nb):
    """JupyterLab (jupyterlab-myst) renders {eval} roles from the kernel; it cannot read {glue} roles."""
    cells = json.loads(nb.read_text())["cells"]
    for c in cells:
        if c["cell_type"] == "markdown":
            assert "{glue" not in "".join(c["source"]), f"{nb.name}: a {{glue}} role in prose"
