"""Charts of the chapter "Benchmarking Honestly". Importing this module imports Altair."""
from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd

from .. import abtest as ab
from . import PALETTE, dropdown, slider


def best_of_n_table(mean: float, sd: float, max_n: int = 60, n_sim: int = 4000, bin_width: float = 0.5,
                    seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Histograms of the best of N noisy comparisons (N = 1 .. ``max_n``), each N(mean, sd), and the exact
    expected best per N. Returns (histogram rows: N, bin start, share of draws; expected rows: N, E[best])."""
    best = mean + sd * ab.best_of_many_samples(max_n, n_sim, seed)
    lo = np.floor(best.min() / bin_width) * bin_width
    hi = np.ceil(best.max() / bin_width) * bin_width + bin_width
    edges = np.arange(lo, hi + bin_width / 2, bin_width)
    rows = []
    for n in range(1, max_n + 1):
        counts, _ = np.histogram(best[:, n - 1], bins=edges)
        keep = counts > 0
        rows.append(pd.DataFrame({"N": n, "Best (%)": edges[:-1][keep], "Share": counts[keep] / n_sim}))
    expected = pd.DataFrame({"N": np.arange(1, max_n + 1)})
    expected["Expected best (%)"] = [mean + sd * ab.expected_max_normal(int(n)) for n in expected["N"]]
    return pd.concat(rows, ignore_index=True), expected


def best_of_n_chart(mean: float, sd: float, claimed: float, n: int = 35, max_n: int = 60,
                    bin_width: float = 0.5) -> alt.LayerChart:
    """Where the best of N configurations lands when every one has the same true effect ``mean`` and each
    measurement has noise ``sd`` (all in %), with a slider on N; the red rule is the ``claimed`` best."""
    hist, expected = best_of_n_table(mean, sd, max_n=max_n, bin_width=bin_width)
    p_n = slider("n_configs", 1, max_n, 1, n, "configurations compared N ")
    x = alt.X("Best (%):Q", title="best measured gain among N configurations (%)",
              scale=alt.Scale(domain=[float(hist["Best (%)"].min()), float(hist["Best (%)"].max()) + bin_width]))
    bars = alt.Chart(hist).transform_filter(alt.datum.N == p_n).mark_bar(
        color=PALETTE[0], opacity=0.75, width=6).encode(
        x=x, y=alt.Y("Share:Q", title="share of simulated sweeps", axis=alt.Axis(format="%")),
        tooltip=[alt.Tooltip("Best (%):Q", format=".1f"), alt.Tooltip("Share:Q", format=".1%")])
    exp_rule = alt.Chart(expected).transform_filter(alt.datum.N == p_n).mark_rule(
        color=PALETTE[2], strokeWidth=2.5, strokeDash=[6, 3]).encode(
        x="Expected best (%):Q", tooltip=[alt.Tooltip("Expected best (%):Q", format=".3~r")])
    claim = pd.DataFrame({"Claimed (%)": [claimed], "label": [f"claimed best {claimed:g} %"]})
    claim_rule = alt.Chart(claim).mark_rule(color=PALETTE[3], strokeWidth=2.5).encode(x="Claimed (%):Q")
    claim_text = alt.Chart(claim).mark_text(align="left", dx=4, dy=-6, color=PALETTE[3]).encode(
        x="Claimed (%):Q", y=alt.value(12), text="label:N")
    exp_text = alt.Chart(expected).transform_filter(alt.datum.N == p_n).transform_calculate(
        label="'expected best of ' + datum.N + ': ' + format(datum['Expected best (%)'], '.3~r') + ' %'"
    ).mark_text(align="left", dx=4, color=PALETTE[2]).encode(
        x="Expected best (%):Q", y=alt.value(30), text="label:N")
    return alt.layer(bars, exp_rule, exp_text, claim_rule, claim_text).add_params(p_n).properties(
        width=520, height=280,
        title=f"Best of N comparisons when every one is {mean:g} % ± {sd:g} % (noise only)")


def bootstrap_table(results, n_boot: int = 2000, bin_width: float = 0.1, seed: int = 0) -> pd.DataFrame:
    """Histogram rows (comparison label, bin start in %, share) of the bootstrap medians of each comparison's
    per-round relative differences, with its interval ends."""
    rows = []
    for r in results:
        d = 100 * ab.relative_difference(r["a_s"], r["b_s"])
        boot = ab.bootstrap_distribution(d, np.median, n_boot, seed)
        lo, hi = np.quantile(boot, [0.025, 0.975])
        edges = np.arange(np.floor(boot.min() / bin_width) * bin_width, boot.max() + bin_width, bin_width)
        counts, _ = np.histogram(boot, bins=edges)
        keep = counts > 0
        rows.append(pd.DataFrame({"Comparison": experiment_label(r), "Median difference (%)": edges[:-1][keep],
                                  "Share": counts[keep] / n_boot, "Low (%)": lo, "High (%)": hi}))
    return pd.concat(rows, ignore_index=True)


def experiment_label(r) -> str:
    return f"B={r['batch']}, T={r['tokens']}: {r['comparison']}"


def bootstrap_chart(results, n_boot: int = 2000, bin_width: float = 0.1) -> alt.LayerChart:
    """The bootstrap distribution of the median difference of each comparison, picked with a dropdown;
    the dashed rules are the 95 % interval, the black rule is zero."""
    df = bootstrap_table(results, n_boot, bin_width)
    labels = list(dict.fromkeys(df["Comparison"]))
    pick = dropdown("comparison", labels, labels[0], "comparison ")
    base = alt.Chart(df).transform_filter(alt.datum.Comparison == pick)
    x = alt.X("Median difference (%):Q", title="bootstrap median of (B − A) / A (%)")
    bars = base.mark_bar(color=PALETTE[0], opacity=0.75, width=4).encode(
        x=x, y=alt.Y("Share:Q", title="share of resamples", axis=alt.Axis(format="%")),
        tooltip=[alt.Tooltip("Median difference (%):Q", format=".2f"), alt.Tooltip("Share:Q", format=".1%")])
    ends = base.transform_aggregate(lo="min(Low (%))", hi="max(High (%))").transform_fold(
        ["lo", "hi"], as_=["end", "x"]).mark_rule(color=PALETTE[1], strokeDash=[6, 3], strokeWidth=2).encode(
        x="x:Q", tooltip=[alt.Tooltip("x:Q", format=".2f", title="interval end (%)")])
    zero = alt.Chart(pd.DataFrame({"x": [0.0]})).mark_rule(color="black", strokeWidth=1.5).encode(x="x:Q")
    return alt.layer(bars, ends, zero).add_params(pick).properties(
        width=520, height=260, title="Bootstrap distribution of the median difference (reference run)")
