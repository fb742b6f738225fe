"""The chapter "Measuring Your Machine"'s explorer: one case of a stored run, predicted and measured.

Pick a model, a dtype and a case of the stored run: the explorer shows the
measured step next to the roofline bound and both "expected" strengths. Tick
"time it here" (needs the ``measure`` extra) to time the same case on your
own machine with a model cut to a few layers, and its own roofline.
"""
from __future__ import annotations

import ipywidgets as w
import pandas as pd

from . import Explorer
from .. import measure as M
from ..book import tidy


def case_table(run: dict, model: str, dtype: str, case: str, here: bool = False, layers: int = 2) -> pd.DataFrame:
    """Measured and predicted times (ms) of one case of ``run``; with ``here``, also timed on this machine."""
    df, _ = M.compare_run(run)
    phase, b, n = case.split()
    row = df[(df.model == model) & (df.dtype == dtype) & (df.phase == phase) & (df.batch == int(b[2:]))
             & (df.length == int(n[2:]))]
    if row.empty:
        raise ValueError(f"the stored run has no {model} {dtype} {case}")
    r = row.iloc[0]
    out = [{"Time": "measured (stored run)", "Time (ms)": r.measured_s * 1e3, "Measured / this": 1.0}]
    for col, label in (("roofline_s", "roofline bound"), ("strength1_s", "strength 1: class efficiencies"),
                       ("strength2_s", "strength 2: kernel calibration")):
        out.append({"Time": label, "Time (ms)": r[col] * 1e3, "Measured / this": r.measured_s / r[col]})
    if here:
        c = (phase, int(b[2:]), int(n[2:]))
        prof = M.machine_roofline(seconds=3, progress=False)
        t = M.time_model(model, [c], dtype, layers=layers, min_run_time=0.2, split=False)
        roof = M.expected_times(M.op_parts(M.model_config(model, layers), prof.hardware(), c, dtype))
        out.append({"Time": f"measured here ({layers} layers)", "Time (ms)": float(t.measured_s[0]) * 1e3,
                    "Measured / this": 1.0})
        out.append({"Time": f"roofline here ({layers} layers)", "Time (ms)": roof["roofline_s"] * 1e3,
                    "Measured / this": float(t.measured_s[0]) / roof["roofline_s"]})
    return pd.DataFrame(out)


class _TableExplorer(Explorer):
    def update(self):
        self.output.clear_output(wait=True)
        try:
            self.result, self.error = self.fn(**self.values), None
        except (ValueError, ImportError) as e:
            self.result, self.error = None, str(e)
        from IPython.display import display

        with self.output:
            if self.error is not None:
                print(f"error: {self.error}")
            else:
                display(tidy(self.result))
        return self.result


def measure_explorer(run: dict, model: str | None = None, dtype: str = "fp32") -> Explorer:
    """Choose a model, dtype and case of the stored ``run``; optionally time it on this machine."""
    models = sorted({e["model"] for e in run["models"]})
    dtypes = sorted({e["dtype"] for e in run["models"]})
    cases = [f"{p} B={b} {'S' if p == 'decode' else 'T'}={n}" for p, b, n in run["settings"]["cases"]]
    controls = {
        "model": w.Dropdown(options=models, value=model or models[0], description="model"),
        "dtype": w.Dropdown(options=dtypes, value=dtype, description="dtype"),
        "case": w.Dropdown(options=cases, value=cases[0], description="case"),
        "here": w.Checkbox(value=False, description="time it here"),
    }

    def fn(model, dtype, case, here):
        c = case.replace("S=", "N=").replace("T=", "N=")
        return case_table(run, model, dtype, c, here)

    return _TableExplorer(fn, controls, title="One case: measured against predicted")
