"""Chapter "Benchmarking Honestly": its exercises, chart, explorer and notebook structure.

Expected values are worked out here by hand from the formulas the exercises state, with table values
of the normal and t distributions; none is copied from the module's own output.
"""
import json
import math
import re
from pathlib import Path

import pytest

from llmperf import abtest as ab
from llmperf import exercises as X

ROOT = Path(__file__).resolve().parents[1]
NB = ROOT / "book" / "benchmarking.ipynb"
LABELS = [f"benchmarking-ex{i}" for i in range(1, 8)]


def _cells():
    return json.loads(NB.read_text())["cells"]


def _src(c):
    return "".join(c["source"])


# --- exercises --------------------------------------------------------------------------------------

def test_seven_exercises_with_variants():
    assert set(LABELS) <= set(X.labels())
    for label in LABELS:
        assert X.variant_count(label) >= 3, label


def test_ex1_by_hand():
    # 0.9 ± t_{0.975,19} · 3.2 / √20, t = 2.0930 (table)
    a = X.answer("benchmarking-ex1")
    half = 2.0930 * 3.2 / math.sqrt(20)
    assert a["low"] == pytest.approx(0.9 - half, abs=2e-3) and a["high"] == pytest.approx(0.9 + half, abs=2e-3)
    assert a["excludes_zero"] is False
    assert X.check("benchmarking-ex1", {"low": -0.60, "high": 2.40, "excludes_zero": False}, quiet=True)
    assert not X.check("benchmarking-ex1", {"low": -0.60, "high": 2.40, "excludes_zero": True}, quiet=True)


def test_ex2_by_hand():
    a = X.answer("benchmarking-ex2")             # n = 24, sd 3 %, claim 8 %
    # E[max of 24 standard normals] lies between the tabulated 1.86748 (n = 20) and 2.04276 (n = 30)
    assert 3 * 1.86748 < a["expected_best"] < 3 * 2.04276
    # Φ(8/3) = Φ(2.6667) = 0.99617 (table); 1 - 0.99617^24
    assert a["p_reach"] == pytest.approx(100 * (1 - 0.99617 ** 24), rel=0.01)


def test_ex3_by_hand():
    a = X.answer("benchmarking-ex3")             # mean 2.5, sd 3.5, n 30: Φ(-0.7143) = 0.2375
    assert a["expected_losses"] == pytest.approx(30 * 0.2375, rel=2e-3)
    assert a["p_none"] == pytest.approx(100 * (1 - 0.2375) ** 30, rel=0.01)


def test_ex4_by_hand():
    a = X.answer("benchmarking-ex4")             # τ = 1, σ = 4, x = 11, μ = 1
    assert a["weight"] == pytest.approx(1 / 17)
    assert a["remeasured"] == pytest.approx(1 + 10 / 17)


def test_ex5_by_hand():
    a = X.answer("benchmarking-ex5")             # 40 rounds, 0.05 % per measurement
    r, n = 0.0005, 40
    assert a["blocked"] == pytest.approx(100 * r * n / (1 + r * (n - 1) / 2))
    assert a["fixed"] == pytest.approx(100 * r / (1 + r * (n - 1)))
    assert a["alternate"] == 0


def test_ex6_by_hand():
    a = X.answer("benchmarking-ex6")             # sd 1.5 %, 30 rounds now, target 0.25 %
    assert a["halfwidth_now"] == pytest.approx(2.0452 * 1.5 / math.sqrt(30), rel=1e-3)   # t_{0.975,29} = 2.0452
    # (1.96 · 1.5 / 0.25)^2 = 138.3; with t_{0.975,139} ≈ 1.9772 the t interval needs 141
    assert a["rounds"] == 141
    assert X.check("benchmarking-ex6", {"halfwidth_now": 0.56, "rounds": 139}, quiet=True)   # z approximation: ok


def test_ex7_open_design_by_hand():
    # 4 µs calls, 1 µs jitter per round, 0.5 % load floor, effect 2 % (half-width <= 0.667 %), 10 ms budget
    def half(n, k):
        sd = math.sqrt((100 * 1 / (4 * k)) ** 2 + 0.5 ** 2)
        return ab.t_quantile(0.975, n - 1) * sd / math.sqrt(n)
    # 20 rounds of 100 calls: sd 0.559 %, half-width 2.093 × 0.559 / √20 = 0.262 %; 16 ms > 10 ms budget
    assert half(20, 100) == pytest.approx(2.0930 * math.sqrt(0.25 ** 2 + 0.5 ** 2) / math.sqrt(20), rel=1e-3)
    assert not X.check("benchmarking-ex7", {"plan": {"rounds": 20, "inner": 100}}, quiet=True)   # 16 ms
    # 10 rounds of 50 calls: sd 0.707 %, half-width 2.262 × 0.707 / √10 = 0.506 %; 4 ms
    assert X.check("benchmarking-ex7", {"plan": {"rounds": 10, "inner": 50}}, quiet=True)
    # one call per round: 25 % noise, hopeless in 10 ms (n would be ~5,400, 43 ms)
    assert not X.check("benchmarking-ex7", {"plan": {"rounds": 1000, "inner": 1}}, quiet=True)
    plan = X.answer("benchmarking-ex7")["plan"]
    assert half(plan["rounds"], plan["inner"]) <= 2 / 3 and 2 * plan["rounds"] * plan["inner"] * 4e-6 <= 0.010


def test_solutions_show_no_dicts_and_answer_the_whys():
    for label in LABELS:
        s = X.worked(label).solution
        assert "{'" not in s and len(s) > 200, label
        assert "\t" not in s and "\t" not in X.worked(label).prompt, label       # a stray "\times" escape
    assert "Why" in X.worked("benchmarking-ex4").solution and "Why" in X.worked("benchmarking-ex5").solution


# --- chart and explorer ----------------------------------------------------------------------------

def test_best_of_n_chart_has_a_slider_and_the_exact_expectation():
    from llmperf.charts import abtest as abc

    hist, expected = abc.best_of_n_table(0.0, 1.0, max_n=40, n_sim=2000)
    assert expected.set_index("N").loc[35, "Expected best (%)"] == pytest.approx(ab.expected_max_normal(35))
    # each N's histogram holds all the draws
    assert hist.groupby("N")["Share"].sum().to_numpy() == pytest.approx(1.0)
    spec = abc.best_of_n_chart(1.83, 4.91, 14.5).to_dict()
    assert any(p.get("bind", {}).get("input") == "range" for p in spec.get("params", []))


def test_bootstrap_chart_has_a_dropdown():
    from llmperf.charts import abtest as abc

    spec = abc.bootstrap_chart(ab.reference_run()["results"], n_boot=200).to_dict()
    assert any(p.get("bind", {}).get("input") == "select" for p in spec.get("params", []))


def test_claims_explorer_recomputes():
    from llmperf.widgets.abtest import claims_explorer

    ex = claims_explorer()
    assert ex.result.loc["expected configurations measuring a loss", "Value"] == "12.4"
    ex.set(n=10)
    assert "expected best of 10" in ex.result.index


# --- the notebook ----------------------------------------------------------------------------------


def test_measured_cells_are_few_marked_and_glue_nothing():
    ignored = [c for c in _cells() if c["cell_type"] == "code" and "# NBVAL_IGNORE_OUTPUT" in _src(c)]
    assert 1 <= len(ignored) <= 3
    for c in ignored:
        lines = _src(c).splitlines()
        assert lines[0].strip() == "# NBVAL_IGNORE_OUTPUT"          # nbval needs the marker alone on its line
        assert lines[1].startswith("# ") and "var" in lines[1]     # and the reason beside it
        assert "glue(" not in _src(c)                                 # prose numbers come from the stored run


def test_every_eval_role_has_a_glue_record_and_takeaways_exist():
    cells = _cells()
    md = "\n".join(_src(c) for c in cells if c["cell_type"] == "markdown")
    names = set(re.findall(r"\{eval\}`(\w+)`", md))
    glued = {o["metadata"]["scrapbook"]["name"] for c in cells if c["cell_type"] == "code"
             for o in c.get("outputs", []) if "scrapbook" in o.get("metadata", {})}
    assert names and names <= glued, names - glued
    assert md.count(":::{admonition} Takeaway") >= 4
    assert "reference_run()" in "\n".join(_src(c) for c in cells)


def test_explorer_cell_hides_its_output():
    cells = [c for c in _cells() if "claims_explorer()" in _src(c)]
    assert cells and all("remove-output" in c["metadata"].get("tags", []) for c in cells)


def test_first_cell_installs_the_package():
    code = [c for c in _cells() if c["cell_type"] == "code"][0]
    assert "remove-cell" in code["metadata"]["tags"] and 'find_spec("llmperf")' in _src(code)


def test_live_cell_falls_back_without_torch(monkeypatch, capsys):
    """torch is an optional extra: the live cell must say so and go on."""
    monkeypatch.setitem(__import__("sys").modules, "torch", None)       # `import torch` raises ImportError
    cell = next(c for c in _cells() if c["cell_type"] == "code" and "qkv_split_experiment" in _src(c))
    ns = {"ab": ab, "tidy": __import__("llmperf.book", fromlist=["tidy"]).tidy, "display": print}
    exec(_src(cell), ns)
    assert ns["live"] is None and "torch is not installed" in capsys.readouterr().out
