"""llmperf.abtest: intervals, order statistics, drift, and the interleaved A/B timer.

Expected values come from published tables (Student-t quantiles; expected normal order statistics,
Harter 1961 / Tippett 1925), from closed forms worked out here by hand, or from seeded simulations
that check a stated coverage rate. Timing tests use generous effects and no exact-time assertions:
the machine that runs them may be loaded.
"""
import math

import numpy as np
import pytest

from llmperf import abtest as ab


# --- quantiles ----------------------------------------------------------------------------------

@pytest.mark.parametrize("p, df, table", [
    (0.975, 34, 2.0322), (0.975, 1, math.tan(math.pi * 0.475)), (0.975, 4, 2.7764), (0.975, 9, 2.2622),
    (0.975, 19, 2.0930), (0.995, 34, 2.7284), (0.95, 10, 1.8125), (0.975, 120, 1.9799)])
def test_t_quantile_matches_tables(p, df, table):
    assert ab.t_quantile(p, df) == pytest.approx(table, abs=1e-4)


def test_t_quantile_symmetry_and_normal_limit():
    assert ab.t_quantile(0.025, 7) == pytest.approx(-ab.t_quantile(0.975, 7), abs=1e-10)
    assert ab.t_quantile(0.975, 100_000) == pytest.approx(1.959964, abs=1e-4)
    with pytest.raises(ValueError):
        ab.t_quantile(1.0, 5)


def test_normal_cdf_and_quantile():
    assert ab.normal_cdf(0.0) == 0.5
    assert ab.normal_cdf(1.959964) == pytest.approx(0.975, abs=1e-6)
    assert ab.normal_quantile(0.975) == pytest.approx(1.959964, abs=1e-6)
    assert ab.normal_quantile(0.8413447) == pytest.approx(1.0, abs=1e-6)


# --- intervals ----------------------------------------------------------------------------------

def test_summary_interval_by_hand():
    # the report's numbers: 1.83 ± t_{0.975,34} · 4.91 / √35, with t = 2.0322 from a table
    half = 2.0322 * 4.91 / math.sqrt(35)
    lo, hi = ab.summary_interval(1.83, 4.91, 35)
    assert lo == pytest.approx(1.83 - half, abs=1e-3) and hi == pytest.approx(1.83 + half, abs=1e-3)
    assert lo > 0                                    # just above zero: 0.143
    with pytest.raises(ValueError):
        ab.summary_interval(1.0, -1.0, 10)


def test_t_interval_covers_the_true_mean_at_the_stated_rate():
    rng = np.random.default_rng(1)
    mu, reps, n = 3.0, 4000, 12
    x = mu + 2.0 * rng.standard_normal((reps, n))
    hits = sum(lo <= mu <= hi for lo, hi in (ab.t_interval(row) for row in x))
    # 95 % nominal; binomial sd over 4000 repetitions is 0.34 %
    assert 0.94 <= hits / reps <= 0.96
    hits90 = sum(lo <= mu <= hi for lo, hi in (ab.t_interval(row, level=0.90) for row in x))
    assert 0.885 <= hits90 / reps <= 0.915


def test_bootstrap_interval_covers_the_true_median_roughly_at_the_stated_rate():
    rng = np.random.default_rng(2)
    reps, n = 400, 60
    # skewed, like timings: a lognormal with median 1
    x = np.exp(0.5 * rng.standard_normal((reps, n)))
    hits = sum(lo <= 1.0 <= hi for lo, hi in (ab.bootstrap_interval(row, n_boot=1000, seed=i)
                                               for i, row in enumerate(x)))
    # the percentile bootstrap of a median is approximate: allow 91-99 % for a 95 % interval
    assert 0.91 <= hits / reps <= 0.99


def test_bootstrap_is_reproducible_and_brackets_the_statistic():
    x = np.array([1.0, 2.0, 3.0, 4.0, 100.0, 2.5, 3.5, 1.5])
    a, b = ab.bootstrap_interval(x, seed=5), ab.bootstrap_interval(x, seed=5)
    assert a == b
    assert a[0] <= np.median(x) <= a[1]
    assert ab.bootstrap_interval(x, np.mean, seed=5)[1] > a[1]   # the outlier pulls the mean, not the median
    assert ab.bootstrap_distribution(x, n_boot=500).shape == (500,)
    with pytest.raises(ValueError):
        ab.bootstrap_interval([1.0])


# --- the best of many, regression to the mean -------------------------------------------------

@pytest.mark.parametrize("n, table", [
    (2, 1 / math.sqrt(math.pi)),          # E[max of 2] = 1/√π exactly
    (3, 3 / (2 * math.sqrt(math.pi))),    # E[max of 3] = 3/(2√π) exactly
    (5, 1.16296), (10, 1.53875), (20, 1.86748), (100, 2.50759)])
def test_expected_max_normal_matches_tables(n, table):
    assert ab.expected_max_normal(n) == pytest.approx(table, abs=2e-5)


def test_expected_max_of_35_is_about_2_1_sd():
    e35 = ab.expected_max_normal(35)
    assert 2.09 < e35 < 2.12
    assert ab.expected_max_normal(20) < e35 < ab.expected_max_normal(50)
    assert ab.expected_max_normal(1) == 0.0
    # the simulation agrees with the integral
    assert ab.expected_max_of_noise(35, 4.91, n_sim=50_000) == pytest.approx(4.91 * e35, rel=0.01)


def test_best_of_many_samples_is_a_running_maximum():
    s = ab.best_of_many_samples(10, n_sim=20_000, seed=3)
    assert s.shape == (20_000, 10) and np.all(np.diff(s, axis=1) >= 0)
    assert s[:, 9].mean() == pytest.approx(1.53875, abs=0.03)
    assert s[:, 0].mean() == pytest.approx(0.0, abs=0.03)


def test_simulated_regression_to_the_mean():
    first, again = ab.simulate_best_of_many(35, 4.91, true_effect=1.83, n_sim=20_000)
    assert first == pytest.approx(1.83 + 4.91 * 2.1066, rel=0.02)
    assert again == pytest.approx(1.83, abs=0.1)


def test_shrink_toward_mean_limits_and_hand_value():
    assert ab.shrink_toward_mean(10.0, 1.0, 0.0, 4.0) == 1.0                 # no true spread: all noise
    assert ab.shrink_toward_mean(10.0, 1.0, 100.0, 1e-3) == pytest.approx(10.0)  # no noise: all real
    assert ab.shrink_toward_mean(11.0, 1.0, 1.0, 4.0) == pytest.approx(1 + 10 / 17)


def test_share_below_by_table():
    # Φ(-1.83/4.91) = Φ(-0.3727); tables: Φ(-0.37) = 0.3557, Φ(-0.38) = 0.3520
    assert ab.share_below(0.0, 1.83, 4.91) == pytest.approx(0.3557 - 0.27 * 0.0037, abs=2e-4)


def test_examine_claims_by_hand():
    t = ab.examine_claims(1.83, 4.91, 35, 14.5)["Value"]
    assert t.iloc[4] == pytest.approx(35 * 0.3547, rel=2e-3)        # configurations measuring a loss
    assert t.iloc[2] == pytest.approx(1.83 + 2.1066 * 4.91, rel=1e-3)
    # P(best of 35 >= 14.5) = 1 - Φ((14.5 - 1.83)/4.91)^35 = 1 - Φ(2.5804)^35; Φ(2.58) = 0.99506
    assert t.iloc[6] == pytest.approx(100 * (1 - 0.99507 ** 35), abs=0.2)


def test_rounds_for_halfwidth_by_table():
    # sd 1, half-width 1: n = 6 gives 2.5706/√6 = 1.049 > 1, n = 7 gives 2.4469/√7 = 0.925
    assert ab.rounds_for_halfwidth(1.0, 1.0) == 7
    n = ab.rounds_for_halfwidth(1.5, 0.25)
    assert ab.t_quantile(0.975, n - 1) * 1.5 / math.sqrt(n) <= 0.25
    assert ab.t_quantile(0.975, n - 2) * 1.5 / math.sqrt(n - 1) > 0.25
    assert n > (1.96 * 1.5 / 0.25) ** 2                               # above the normal approximation


# --- drift ---------------------------------------------------------------------------------------

def test_drift_by_hand():
    n, r = 40, 0.0005
    assert ab.apparent_drift_difference(n, r, "blocked") == pytest.approx(r * n / (1 + r * (n - 1) / 2))
    assert ab.apparent_drift_difference(n, r, "fixed") == pytest.approx(r / (1 + r * (n - 1)))
    assert ab.apparent_drift_difference(n, r, "alternate") == 0.0
    assert ab.apparent_drift_difference(n, 0.0, "blocked") == 0.0
    assert ab.apparent_drift_difference(n, -r, "blocked") < 0                # a machine speeding up
    assert abs(ab.apparent_drift_difference(41, r, "alternate")) < ab.apparent_drift_difference(41, r, "fixed")
    with pytest.raises(ValueError):
        ab.apparent_drift_difference(10, r, "random")


# --- compare: real timings, generous effects ------------------------------------------------------

def _loop(n):
    def f():
        s = 0
        for i in range(n):
            s += i
        return s
    return f


def test_compare_detects_a_20_percent_slowdown():
    fast, slow = _loop(20_000), _loop(24_000)        # 20 % more iterations of the same loop
    # a burst of load from other jobs can swamp one run on a shared 2-core machine: up to 3 tries
    for _ in range(3):
        r = ab.compare(fast, slow, rounds=30, inner=3, warmup=2)
        if r.distinguishable:
            break
    assert r.distinguishable and r.interval[0] > 0
    assert 0.05 < r.median_difference < 0.6
    assert r.a_s.size == r.b_s.size == 30
    assert "distinguishable from zero" in repr(r)


def test_compare_does_not_flag_identical_functions():
    f = _loop(20_000)
    runs = [ab.compare(f, f, rounds=30, inner=3, warmup=2) for _ in range(2)]
    # each run flags a false difference 5 % of the time at most if the design is sound: both, ~0.25 %
    assert not all(r.distinguishable for r in runs)
    assert all(abs(r.median_difference) < 0.1 for r in runs)


def test_compare_checks_its_arguments():
    with pytest.raises(ValueError):
        ab.compare(lambda: None, lambda: None, rounds=2)


# --- the stored reference run ---------------------------------------------------------------------

def test_reference_run_records_where_and_is_consistent():
    ref = ab.reference_run()
    for key in ("processor", "cpus", "torch", "threads", "load_average_before", "date", "rounds", "inner"):
        assert ref[key] is not None, key
    assert len(ref["load_average_before"]) == 3
    kinds = {r["comparison"] for r in ref["results"]}
    assert kinds == {"cached vs fresh", "fresh vs fresh (A/A)", "projection + split"}
    for r in ref["results"]:
        d = ab.relative_difference(r["a_s"], r["b_s"])
        assert r["median_difference"] == pytest.approx(float(np.median(d)), rel=1e-12)
        assert tuple(r["interval"]) == pytest.approx(ab.bootstrap_interval(d), rel=1e-12)  # seed 0, as compare
        if r["comparison"] != "projection + split":
            assert len(r["a_s"]) == ref["rounds"]


def test_experiment_table_and_summary_shapes():
    ref = ab.reference_run()
    t = ab.experiment_table(ref["results"])
    assert len(t) == len(ref["results"])
    assert set(t["Excl. 0"]) <= {"yes", "no"}
    s = ab.difference_summary(ref["results"])
    assert (s["IQR (%)"] >= 0).all()


def test_qkv_split_experiment_runs_with_torch():
    pytest.importorskip("torch")
    out = ab.qkv_split_experiment([(1, 8)], rounds=5, inner=5, warmup=1, sizes=(64, 64, 64))
    assert [r["comparison"] for r in out] == ["cached vs fresh", "fresh vs fresh (A/A)"]
    assert all(len(r["a_s"]) == 5 and min(r["a_s"]) > 0 for r in out)
    blk = ab.qkv_block_experiment(1, 4, rounds=5, d_model=64, sizes=(64, 64, 64))
    assert blk["comparison"] == "projection + split" and len(blk["b_s"]) == 5
    info = ab.machine_info()
    assert info["cpus"] >= 1 and info["torch"]
