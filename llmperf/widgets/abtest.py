"""Explorer of the chapter "Benchmarking Honestly" (live sessions only)."""
from __future__ import annotations

import ipywidgets as w
import pandas as pd

from ..abtest import examine_claims
from ..book import tidy
from . import Explorer


def claims_summary(mean: float, sd: float, n: int, best: float) -> pd.DataFrame:
    """What a reported mean gain, its standard deviation over ``n`` configurations and a best case imply."""
    return tidy(examine_claims(mean, sd, n, best), digits=3)


def claims_explorer(mean: float = 1.83, sd: float = 4.91, n: int = 35, best: float = 14.5) -> Explorer:
    """Type in a benchmark report's mean gain, its spread, how many configurations and its best case."""
    controls = {
        "mean": w.FloatText(value=mean, step=0.1, description="mean gain (%)"),
        "sd": w.BoundedFloatText(value=sd, min=0.01, max=100.0, step=0.1, description="sd (%)"),
        "n": w.IntSlider(value=n, min=2, max=200, description="configurations"),
        "best": w.FloatText(value=best, step=0.5, description="best case (%)"),
    }
    return Explorer(claims_summary, controls, title="A benchmark report's claims: effect or noise?")
