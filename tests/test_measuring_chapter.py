"""Chapter "Measuring Your Machine": its charts, explorer, exercises and notebook.

Exercise answers are re-derived here by hand from the reference run's raw
numbers (seconds, byte counts from the config), not from llmperf's
comparison code; the notebook is checked for the exercise API and for the
only outputs nbval may ignore (the live measurements).
"""
import json
import re
from pathlib import Path

import pytest

from llmperf import measure as M

ROOT = Path(__file__).resolve().parents[1]
LABELS = [f"measuring-ex{i}" for i in range(1, 8)]


@pytest.fixture(scope="module")
def run():
    return M.reference_run()


def _measured(run, model, dtype, phase, batch, length):
    e = next(e for e in run["models"] if e["model"] == model and e["dtype"] == dtype)
    return next(r for r in e["measured"] if (r["phase"], r["batch"], r["length"]) == (phase, batch, length))


# --- exercises by hand -----------------------------------------------------------------------------------

def test_ex1_ridge_and_intensity_by_hand(run):
    from llmperf.exercises.measuring import measured_ridge
    p = run["profile"]
    w = measured_ridge(dtype="fp32", batch=4)
    assert w.parts["ridge"].value == pytest.approx(p["matmul_flop_per_s"]["fp32"] / p["bandwidth_bytes_per_s"]["triad"])
    # [4, 4096] x [4096, 4096] fp32: 2*4*4096^2 FLOP over (4096^2 + 2*4*4096) * 4 bytes
    assert w.parts["intensity"].value == pytest.approx(2 * 4 * 4096**2 / ((4096**2 + 8 * 4096) * 4))
    big = measured_ridge(dtype="bf16", batch=64)
    assert big.parts["intensity"].value == pytest.approx(2 * 64 * 4096**2 / ((4096**2 + 128 * 4096) * 2))


def test_ex3_gemv_bandwidth_by_hand(run):
    from llmperf.exercises.measuring import gemv_efficiency
    g = next(p for p in run["profile"]["points"] if p["kind"] == "matrix-vector" and p["dtype"] == "fp32"
             and p["m"] == 1)
    w = gemv_efficiency(dtype="fp32", rows=1)
    moved = (g["k"] + g["k"] * g["n"] + g["n"]) * 4
    assert w.parts["bandwidth"].value == pytest.approx(moved / g["seconds"] / 1e9)
    assert w.parts["fraction"].value == pytest.approx(moved / g["seconds"] / run["profile"]["bandwidth_bytes_per_s"]["triad"])


def test_ex4_kv_bandwidth_by_hand(run):
    from llmperf.exercises.measuring import attention_read
    r = _measured(run, "qwen2.5-0.5b", "bf16", "decode", 4, 1024)
    # Qwen2.5-0.5B: L = 24, K = 2, H = 64; bf16 keys and values of 1025 tokens for 4 sequences
    kv = 2 * 24 * 4 * 1025 * 2 * 64 * 2
    t = r["share_attention_core"] * r["measured_s"]
    w = attention_read("qwen2.5-0.5b", "bf16", 4)
    assert w.parts["attention_ms"].value == pytest.approx(t * 1e3)
    assert w.parts["bandwidth"].value == pytest.approx(kv / t / 1e9)


def test_ex5_one_factor_by_hand(run):
    from llmperf.exercises.measuring import global_factor
    df, _ = M.reference_comparison()
    roof = {(r["model"], r["phase"], r["batch"], r["length"]): r["roofline_s"] for r in df.to_dict("records")
            if r["dtype"] == "fp32"}
    fit = _measured(run, "qwen2.5-0.5b", "fp32", "decode", 1, 128)["measured_s"]
    eta = roof[("qwen2.5-0.5b", "decode", 1, 128)] / fit
    pre = _measured(run, "qwen3-0.6b", "fp32", "prefill", 1, 512)["measured_s"]
    dec = _measured(run, "qwen3-0.6b", "fp32", "decode", 4, 1024)["measured_s"]
    w = global_factor("qwen2.5-0.5b", "fp32", 1)
    assert w.parts["eta"].value == pytest.approx(eta)
    assert w.parts["error_prefill"].value == pytest.approx(abs(roof[("qwen3-0.6b", "prefill", 1, 512)] / eta - pre) / pre)
    assert w.parts["error_decode"].value == pytest.approx(abs(roof[("qwen3-0.6b", "decode", 4, 1024)] / eta - dec) / dec)


def test_ex6_kernel_sum_by_hand(run):
    from llmperf.exercises.measuring import kernel_calibration
    e = next(e for e in run["models"] if e["model"] == "qwen3-0.6b" and e["dtype"] == "fp32")
    kern = {tuple(k): s for k, s in e["kernels"]}
    # Qwen3-0.6B: D = 1024, F = 3072, N = 16, K = 8, H = 128, L = 28, V = 151936; B = 1
    D, F, N, K, H, L, V = 1024, 3072, 16, 8, 128, 28, 151936
    lin = L * (kern[("linear", 1, D, N * H)] + 2 * kern[("linear", 1, D, K * H)] + kern[("linear", 1, N * H, D)]
               + 2 * kern[("linear", 1, D, F)] + kern[("linear", 1, F, D)]) + kern[("linear", 1, D, V)]
    att = L * kern[("attention", 1, N, K, 1, 1025, H)]
    # the cache's append: 2 L concatenations, each reading the 1,024 cached rows and the new one and writing
    # 1,025 rows of K H fp32 elements, at the run's measured copy bandwidth
    copy = 2 * L * (1024 + 1 + 1025) * K * H * 4 / run["profile"]["bandwidth_bytes_per_s"]["copy"]
    w = kernel_calibration("qwen3-0.6b", "fp32", 1)
    # the other operators add their (small) roofline time: the sum of the kernels and the copy is a lower bound
    assert w.parts["predicted_ms"].value >= (lin + att + copy) * 1e3
    assert w.parts["predicted_ms"].value == pytest.approx((lin + att + copy) * 1e3, rel=0.01)


def test_design_exercise_accepts_what_meets_the_target_and_only_that():
    from llmperf.exercises import check, worked
    w = worked("measuring-ex7")
    assert check("measuring-ex7", w.answer, quiet=True)
    target = float(re.search(r"at most ([\d.,]+) ms", w.prompt).group(1).replace(",", ""))
    steps = {(d, int(b)): float(t.replace(",", "")) for d, b, t in
             re.findall(r"(fp32|bf16) \$B = (\d)\$: ([\d.,]+) ms", w.prompt)}
    assert len(steps) == 4
    for (d, b), t in steps.items():
        ok = bool(check("measuring-ex7", (d, b), quiet=True))
        assert ok == (t <= target), (d, b, t, target)
    assert not check("measuring-ex7", ("int4", 1), quiet=True)


# --- charts and explorer ---------------------------------------------------------------------------------

def test_roofline_chart_has_a_dtype_dropdown_and_points_under_the_roof(run):
    pytest.importorskip("altair")
    from llmperf.charts import measure as mc
    prof = M.MachineProfile.from_dict(run["profile"])
    roof, pts = mc.roofline_points(prof)
    assert set(pts["Kernel"]) == {"matmul", "matrix-vector"}
    spec = mc.roofline_chart(prof).to_dict()
    params = spec.get("params", [])
    assert any(p.get("bind", {}).get("input") == "select" for p in params)
    assert set(roof["dtype"]) == set(prof.matmul_flop_per_s)


def test_ratio_chart_offers_the_three_predictions():
    pytest.importorskip("altair")
    from llmperf.charts import measure as mc
    df, _ = M.reference_comparison()
    spec = mc.ratio_chart(df).to_dict()
    sel = [p for p in spec["params"] if p.get("bind", {}).get("input") == "select"][0]
    assert sel["bind"]["options"] == list(mc.PREDICTIONS.values())
    assert len(mc.ratio_long(df)) == 3 * len(df)


def test_explorer_reacts_to_its_controls(run):
    pytest.importorskip("ipywidgets")
    from llmperf.widgets.measure import measure_explorer
    ex = measure_explorer(run)
    first = ex.result["Time (ms)"].iloc[0]
    ex.set(case=ex.controls["case"].options[-1])
    assert ex.error is None and ex.result["Time (ms)"].iloc[0] != first
    assert len(ex.result) == 4


# --- the notebook ----------------------------------------------------------------------------------------

def _cells():
    return json.loads((ROOT / "book" / "measuring.ipynb").read_text())["cells"]


def test_only_live_measurements_escape_nbval_and_they_say_why():
    ignored = [c for c in _cells() if c["cell_type"] == "code" and "NBVAL_IGNORE_OUTPUT" in "".join(c["source"])]
    assert 1 <= len(ignored) <= 3
    for c in ignored:
        src = "".join(c["source"])
        assert "reader's machine" in src and "HAVE_TORCH" in src
        assert "print(" in src.split("else:")[-1]          # without torch the cell says what it needs


def test_notebook_first_cell_and_notation():
    cells = _cells()
    first = next(c for c in cells if c["cell_type"] == "code")
    assert "find_spec(\"llmperf\")" in "".join(first["source"]) and "remove-cell" in first["metadata"]["tags"]
    text = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    assert "{doc}`generation`" in text and "{glue" not in text and "I^{*}" not in text
    assert "{admonition} Takeaway" in text


def test_the_stored_run_needs_no_torch():
    """Without the measure extra the chapter still reads the reference run: comparison, charts' data,
    exercises (torch import blocked in a fresh interpreter)."""
    import subprocess
    import sys
    code = ("import sys; sys.modules['torch'] = None; sys.modules['transformers'] = None\n"
            "from llmperf import measure as M\n"
            "df, fits = M.reference_comparison(); assert len(df) == 24\n"
            "from llmperf.exercises import worked\n"
            "[worked(f'measuring-ex{i}') for i in range(1, 8)]\n"
            "try:\n    M.machine_roofline(seconds=1)\nexcept ImportError as e:\n    print('ok', 'measure' in str(e))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok True"
