"""Every chapter runs top to bottom where a learner opens it: Colab, Binder, a bare Jupyter.

There, the only things installed are what the notebook's first cell installs
(the book's package with its ``book`` extras) and a Jupyter kernel. This test
builds exactly that: a new virtual environment, into which pip installs the
requirement written in the install cell, with its git URL replaced by this
checkout (pip checks that the distribution name in the cell is the one the
package declares), plus ``ipykernel``; versions are held to requirements.txt so
the run is reproducible. Then every notebook under book/ runs, top to bottom,
in a kernel of that environment, from a folder outside the repository (so
``import llmperf`` is the installed package, not the source tree). Nothing of
the book's build stack (myst-nb, Jupyter Book, nbval) is in that environment.

The install cell itself is checked too: the first code cell of every notebook,
tagged ``remove-cell``, exactly the text below, naming this project's
distribution, an extra it declares and its repository.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "book").glob("*.ipynb"))
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))

INSTALL_CELL = """\
# Colab, Binder or a bare Jupyter: install the book's package with its extras
import importlib.util
if importlib.util.find_spec("llmperf") is None:
    %pip install -q "{requirement}\""""
REQUIREMENT = re.compile(r'%pip install -q "([^"]+)"')


def _first_code_cell(path: Path) -> dict:
    nb = json.loads(path.read_text(encoding="utf-8"))
    return next(c for c in nb["cells"] if c["cell_type"] == "code")


def _install_requirement(path: Path) -> str:
    source = "".join(_first_code_cell(path)["source"])
    found = REQUIREMENT.search(source)
    assert found, f"{path.name}: the first code cell installs nothing:\n{source}"
    return found.group(1)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_install_cell(path):
    from packaging.requirements import Requirement

    cell = _first_code_cell(path)
    requirement = _install_requirement(path)
    assert "".join(cell["source"]).strip() == INSTALL_CELL.format(requirement=requirement)
    assert "remove-cell" in cell.get("metadata", {}).get("tags", []), f"{path.name}: install cell not hidden"
    req = Requirement(requirement)
    assert req.name == PYPROJECT["project"]["name"], f"{path.name} installs {req.name!r}"
    assert req.extras == {"book"} and "book" in PYPROJECT["project"]["optional-dependencies"]
    repository = PYPROJECT["project"]["urls"]["Repository"]
    assert req.url == f"git+{repository}", f"{path.name} installs from {req.url}, the repository is {repository}"


def test_package_data_covers_every_data_file():
    """A data file left out of package-data is missing from every non-editable install."""
    import fnmatch

    globs = PYPROJECT["tool"]["setuptools"]["package-data"]["llmperf"]
    package = ROOT / "llmperf"
    files = [p.relative_to(package).as_posix() for p in package.rglob("*")
             if p.is_file() and p.suffix not in (".py", ".pyc") and "__pycache__" not in p.parts]
    missing = [f for f in files if not any(fnmatch.fnmatch(f, g) and f.count("/") == g.count("/") for g in globs)]
    assert not missing, f"files of llmperf/ that pyproject.toml's package-data leaves out: {missing}"


def _pins() -> list[str]:
    """The ``name==version`` lines of requirements.txt (a constraints file takes no ``-e .``)."""
    lines = (ROOT / "requirements.txt").read_text(encoding="utf-8").splitlines()
    return [line.split("#")[0].strip() for line in lines if re.match(r"^[A-Za-z0-9_.\-\[\]]+==", line)]


@pytest.fixture(scope="module")
def fresh(tmp_path_factory):
    """A new venv with only the install cell's requirement (from this checkout) and ipykernel."""
    base = tmp_path_factory.mktemp("fresh-install")
    source = base / "source"  # the package's source as pip would fetch it from the repository
    shutil.copytree(ROOT / "llmperf", source / "llmperf", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md", *[p.name for p in ROOT.glob("LICENSE*")]):
        shutil.copy(ROOT / name, source / name)
    (base / "constraints.txt").write_text("\n".join(_pins()) + "\n", encoding="utf-8")
    requirements = {_install_requirement(p) for p in NOTEBOOKS}
    assert len(requirements) == 1, f"the notebooks install different things: {requirements}"
    local = requirements.pop().split(" @ ")[0] + f" @ {source.as_uri()}"
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    python = venv / "bin" / "python"
    proc = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", "-c",
         str(base / "constraints.txt"), local, "ipykernel"],
        capture_output=True, text=True, timeout=900, check=False,
    )
    assert proc.returncode == 0, f"pip install {local} ipykernel failed:\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}"
    kernel = base / "jupyter" / "kernels" / "llmperf-fresh"
    kernel.mkdir(parents=True)
    (kernel / "kernel.json").write_text(json.dumps({
        "argv": [str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "llmperf fresh install", "language": "python",
    }), encoding="utf-8")
    return base, python


def test_fresh_environment_has_only_the_package_and_a_kernel(fresh):
    _, python = fresh
    probe = ("import importlib.util as u; "
             "print(' '.join(m for m in ('llmperf', 'altair', 'ipywidgets', 'ipykernel', 'myst_nb', "
             "'jupyter_book', 'nbval', 'sphinx') if u.find_spec(m)))")
    found = subprocess.run([str(python), "-c", probe], capture_output=True, text=True, check=True).stdout.split()
    assert found == ["llmperf", "altair", "ipywidgets", "ipykernel"], found


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_in_the_fresh_environment(fresh, path, monkeypatch):
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    class Client(NotebookClient):
        # like scripts/execute_notebooks.py: no Output-widget capture (nbclient's crashes on it)
        def register_output_hook(self, msg_id, hook):
            return None

        def remove_output_hook(self, msg_id, hook):
            return None

    base, _ = fresh
    monkeypatch.setenv("JUPYTER_PATH", str(base / "jupyter"))
    folder = base / "book"  # outside the repository: `import llmperf` is the installed package
    folder.mkdir(exist_ok=True)
    nb = nbformat.read(path, as_version=4)
    try:
        Client(nb, timeout=300, kernel_name="llmperf-fresh", record_timing=False,
               resources={"metadata": {"path": str(folder)}}).execute()
    except CellExecutionError as exc:
        pytest.fail(f"{path.name} fails in a fresh install of the package:\n{exc}", pytrace=False)
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors
