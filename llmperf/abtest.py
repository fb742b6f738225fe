"""Telling an effect from noise: interleaved A/B timing and intervals on the difference.

numpy only, except :func:`compare`, which times two callables (with
``time.perf_counter``, after warm-up, in interleaved rounds so that slow drifts
of the machine hit both sides alike).

The statistics are deterministic given their ``seed``: a bootstrap interval
resamples with ``numpy.random.default_rng(seed)``.
"""
from __future__ import annotations

import datetime as _dt
import gc
import math
import os
import platform
import time
from dataclasses import dataclass

import numpy as np

__all__ = ["ABResult", "compare", "relative_difference", "bootstrap_interval", "bootstrap_distribution",
           "t_interval", "t_quantile", "normal_cdf", "normal_quantile", "summary_interval",
           "expected_max_normal", "expected_max_of_noise", "best_of_many_samples", "simulate_best_of_many",
           "share_below", "examine_claims", "shrink_toward_mean", "rounds_for_halfwidth", "apparent_drift_difference",
           "qkv_split_experiment", "qkv_block_experiment", "experiment_table", "difference_summary", "reference_run", "machine_info", "LLAMA7B_QKV"]


def _finite_1d(name, x):
    a = np.asarray(x, dtype=float).ravel()
    if a.size < 2 or not np.all(np.isfinite(a)):
        raise ValueError(f"{name} must hold at least two finite numbers")
    return a


def relative_difference(a, b) -> np.ndarray:
    """Paired relative differences ``(b - a) / a``: positive when B is slower."""
    a, b = _finite_1d("a", a), _finite_1d("b", b)
    if a.shape != b.shape:
        raise ValueError("a and b must pair up (the same number of rounds)")
    if np.any(a <= 0):
        raise ValueError("times must be positive")
    return (b - a) / a


def bootstrap_distribution(x, stat=np.median, n_boot: int = 5000, seed: int = 0) -> np.ndarray:
    """``n_boot`` values of ``stat`` over resamples (with replacement) of ``x``: its bootstrap distribution."""
    x = _finite_1d("x", x)
    if n_boot < 100:
        raise ValueError("use at least 100 bootstrap resamples")
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, x.size, size=(int(n_boot), x.size))
    if stat in (np.median, np.mean):
        return stat(x[idx], axis=1)
    return np.apply_along_axis(stat, 1, x[idx])


def bootstrap_interval(x, stat=np.median, level: float = 0.95, n_boot: int = 5000, seed: int = 0):
    """Percentile bootstrap interval of ``stat`` over the sample ``x`` (vectorized resampling).

    The same ``seed`` gives the same interval. (``scipy.stats.bootstrap`` does the same with more
    refined intervals, BCa by default; this one needs numpy only.)
    """
    if not 0 < level < 1:
        raise ValueError("level must be between 0 and 1")
    stats = bootstrap_distribution(x, stat, n_boot, seed)
    lo, hi = np.quantile(stats, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)


def _t_cdf(x: float, df: int) -> float:
    """Student's t distribution function, by Simpson's rule on its density (accurate to ~1e-12)."""
    if x == 0:
        return 0.5
    c = math.exp(math.lgamma((df + 1) / 2) - math.lgamma(df / 2)) / math.sqrt(df * math.pi)
    u = np.linspace(0.0, abs(x), 4001)
    f = c * (1 + u * u / df) ** (-(df + 1) / 2)
    h = u[1] - u[0]
    area = h / 3 * (f[0] + f[-1] + 4 * f[1:-1:2].sum() + 2 * f[2:-1:2].sum())
    return 0.5 + math.copysign(float(area), x)


def _t_quantile(p: float, df: int) -> float:
    """Student's t quantile: Cornish-Fisher start, then Newton steps on the exact distribution function."""
    z = _norm_ppf(p)
    g1 = (z ** 3 + z) / 4
    g2 = (5 * z ** 5 + 16 * z ** 3 + 3 * z) / 96
    g3 = (3 * z ** 7 + 19 * z ** 5 + 17 * z ** 3 - 15 * z) / 384
    x = z + g1 / df + g2 / df ** 2 + g3 / df ** 3
    c = math.exp(math.lgamma((df + 1) / 2) - math.lgamma(df / 2)) / math.sqrt(df * math.pi)
    for _ in range(8):
        step = (_t_cdf(x, df) - p) / (c * (1 + x * x / df) ** (-(df + 1) / 2))
        x -= step
        if abs(step) < 1e-12:
            break
    return float(x)


def t_quantile(p: float, df: int) -> float:
    """The ``p`` quantile of Student's t with ``df`` degrees of freedom (t_{0.975, 34} = 2.032)."""
    if not 0 < p < 1 or df < 1:
        raise ValueError("need 0 < p < 1 and df >= 1")
    return _t_quantile(p, int(df))


def normal_cdf(x: float) -> float:
    """The standard normal distribution function Φ(x)."""
    return 0.5 * math.erfc(-x / math.sqrt(2))


def normal_quantile(p: float) -> float:
    """The standard normal quantile Φ⁻¹(p) (Acklam's approximation, then one Newton step)."""
    if not 0 < p < 1:
        raise ValueError("need 0 < p < 1")
    x = _norm_ppf(p)
    return float(x - (normal_cdf(x) - p) * math.sqrt(2 * math.pi) * math.exp(x * x / 2))


def _norm_ppf(p: float) -> float:
    a = [-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02, 1.383577518672690e+02,
         -3.066479806614716e+01, 2.506628277459239e+00]
    b = [-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02, 6.680131188771972e+01,
         -1.328068155288572e+01]
    c = [-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00, -2.549732539343734e+00,
         4.374664141464968e+00, 2.938163982698783e+00]
    d = [7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00, 3.754408661907416e+00]
    q = min(p, 1 - p)
    if q < 0.02425:
        r = math.sqrt(-2 * math.log(q))
        x = (((((c[0] * r + c[1]) * r + c[2]) * r + c[3]) * r + c[4]) * r + c[5]) / \
            ((((d[0] * r + d[1]) * r + d[2]) * r + d[3]) * r + 1)
    else:
        r = q - 0.5
        s = r * r
        x = (((((a[0] * s + a[1]) * s + a[2]) * s + a[3]) * s + a[4]) * s + a[5]) * r / \
            (((((b[0] * s + b[1]) * s + b[2]) * s + b[3]) * s + b[4]) * s + 1)
    return x if p < 0.5 else -x


def t_interval(x, level: float = 0.95):
    """Student-t interval of the mean of ``x`` (independent samples assumed)."""
    x = _finite_1d("x", x)
    return summary_interval(float(x.mean()), float(x.std(ddof=1)), x.size, level)


def summary_interval(mean: float, sd: float, n: int, level: float = 0.95):
    """Student-t interval of a mean from a reported mean, standard deviation and count."""
    if n < 2 or not (sd >= 0) or not math.isfinite(mean):
        raise ValueError("need a finite mean, sd >= 0 and n >= 2")
    half = _t_quantile((1 + level) / 2, n - 1) * sd / math.sqrt(n)
    return float(mean - half), float(mean + half)


def expected_max_normal(n: int) -> float:
    """Expected largest of ``n`` independent standard normal values (numerical integration).

    E[max] = ∫ x · n φ(x) Φ(x)^(n-1) dx: 0.564 for n = 2 (1/√π), 1.539 for n = 10, 2.508 for n = 100.
    """
    if n < 1:
        raise ValueError("n must be at least 1")
    if n == 1:
        return 0.0
    x = np.linspace(-12.0, 12.0, 24001)
    phi = np.exp(-x * x / 2) / math.sqrt(2 * math.pi)
    cdf = 0.5 * np.array([math.erfc(-v / math.sqrt(2)) for v in x])
    f = x * n * phi * cdf ** (n - 1)
    h = x[1] - x[0]
    return float(h / 3 * (f[0] + f[-1] + 4 * f[1:-1:2].sum() + 2 * f[2:-1:2].sum()))


def expected_max_of_noise(n: int, sd: float, n_sim: int = 200_000, seed: int = 0) -> float:
    """Expected largest of ``n`` independent N(0, sd) values, by simulation: the "best case" pure noise
    produces (compare :func:`expected_max_normal`, its exact value per unit sd)."""
    if n < 1:
        raise ValueError("n must be at least 1")
    rng = np.random.default_rng(seed)
    out = 0.0
    chunk = max(1, 2_000_000 // n)
    done = 0
    while done < n_sim:  # chunks bound the memory for large n
        k = min(chunk, n_sim - done)
        out += rng.standard_normal((k, n)).max(axis=1).sum()
        done += k
    return float(sd * out / n_sim)


def simulate_best_of_many(n_configs: int, sd: float, true_effect: float = 0.0, n_sim: int = 20_000, seed: int = 0):
    """Regression to the mean: pick the best of ``n_configs`` noisy measurements, then measure it again.

    Returns the mean of the best first measurement and the mean of its re-measurement (which falls back to
    ``true_effect``), by simulation.
    """
    rng = np.random.default_rng(seed)
    first = true_effect + sd * rng.standard_normal((n_sim, n_configs))
    best = first.max(axis=1)
    again = true_effect + sd * rng.standard_normal(n_sim)
    return float(best.mean()), float(again.mean())


def best_of_many_samples(max_n: int, n_sim: int = 4000, seed: int = 0) -> np.ndarray:
    """Simulated best of N standard-normal comparisons for every N = 1 .. ``max_n``.

    Returns an array [n_sim, max_n] whose column N - 1 holds ``n_sim`` draws of the largest of N
    independent N(0, 1) values (a running maximum over one set of draws).
    """
    rng = np.random.default_rng(seed)
    return np.maximum.accumulate(rng.standard_normal((int(n_sim), int(max_n))), axis=1)


def share_below(threshold: float, mean: float, sd: float) -> float:
    """Share of a normal population N(mean, sd) below ``threshold``: Φ((threshold - mean) / sd)."""
    if not sd > 0:
        raise ValueError("sd must be positive")
    return normal_cdf((threshold - mean) / sd)


def shrink_toward_mean(observed: float, mean: float, spread_true: float, noise_sd: float) -> float:
    """Expected true effect of a configuration given its single noisy measurement.

    With true effects spread N(mean, spread_true) across configurations and measurement noise
    N(0, noise_sd), E[true | observed] = mean + τ² / (τ² + σ²) · (observed - mean): a re-measurement
    of the best-looking configuration is expected to fall back toward the mean (regression to the mean).
    """
    if spread_true < 0 or not noise_sd > 0:
        raise ValueError("need spread_true >= 0 and noise_sd > 0")
    w = spread_true ** 2 / (spread_true ** 2 + noise_sd ** 2)
    return float(mean + w * (observed - mean))


def rounds_for_halfwidth(sd: float, halfwidth: float, level: float = 0.95) -> int:
    """Fewest independent rounds n whose t interval of a mean has half-width ≤ ``halfwidth``.

    Solves t_{(1+level)/2, n-1} · sd / √n ≤ halfwidth (the t quantile shrinks as n grows).
    """
    if not sd > 0 or not halfwidth > 0:
        raise ValueError("sd and halfwidth must be positive")
    p = (1 + level) / 2
    n = max(2, math.ceil((normal_quantile(p) * sd / halfwidth) ** 2))
    while t_quantile(p, n - 1) * sd / math.sqrt(n) > halfwidth:
        n += 1
    return int(n)


def apparent_drift_difference(rounds: int, drift: float, design: str = "alternate") -> float:
    """Relative difference B vs A that a steady drift alone produces, for two *identical* functions.

    Each measurement slot takes ``1 + drift · i`` time units (slot i = 0, 1, ...): the machine slows down
    (or speeds up, ``drift < 0``) steadily. Designs, with ``rounds`` measurements of each side:

    - ``"blocked"``: all A rounds, then all B rounds;
    - ``"fixed"``: interleaved A, B, A, B ... (A always first in a round);
    - ``"alternate"``: interleaved with the order flipped every round (AB, BA, AB ...), as :func:`compare`.

    Returns mean(B) / mean(A) - 1: the bias of the design (0 for an even number of alternating rounds).
    """
    if rounds < 1:
        raise ValueError("rounds must be at least 1")
    k = np.arange(rounds)
    if design == "blocked":
        a_slot, b_slot = k, rounds + k
    elif design == "fixed":
        a_slot, b_slot = 2 * k, 2 * k + 1
    elif design == "alternate":
        first_a = k % 2 == 0
        a_slot, b_slot = np.where(first_a, 2 * k, 2 * k + 1), np.where(first_a, 2 * k + 1, 2 * k)
    else:
        raise ValueError("design must be 'blocked', 'fixed' or 'alternate'")
    a, b = 1 + drift * a_slot, 1 + drift * b_slot
    return round(float(b.mean() / a.mean() - 1), 12) + 0.0  # rounding: an exact cancellation shows as 0


@dataclass(frozen=True)
class ABResult:
    """An interleaved A/B comparison: per-round times and the relative difference with its interval."""

    a_s: np.ndarray
    b_s: np.ndarray
    median_difference: float
    interval: tuple
    level: float

    @property
    def distinguishable(self) -> bool:
        """True when the interval excludes zero."""
        lo, hi = self.interval
        return lo > 0 or hi < 0

    @property
    def differences(self) -> np.ndarray:
        """Per-round relative differences (B - A) / A."""
        return relative_difference(self.a_s, self.b_s)

    @property
    def spread(self) -> float:
        """Interquartile range of the per-round relative differences (how noisy one round is)."""
        q1, q3 = np.quantile(self.differences, [0.25, 0.75])
        return float(q3 - q1)

    def sentence(self, a: str = "A", b: str = "B") -> str:
        """The result in one sentence, at 3 significant figures."""
        from .book import fmt
        lo, hi = self.interval
        verdict = "distinguishable from zero" if self.distinguishable else "not distinguishable from zero"
        return (f"{b} vs {a}: median difference {fmt(100 * self.median_difference, '+.2f')} % "
                f"({self.level:.0%} bootstrap interval {fmt(100 * lo, '+.2f')} % to {fmt(100 * hi, '+.2f')} %), "
                f"{verdict}; {self.a_s.size} interleaved rounds, median {a} "
                f"{fmt(float(np.median(self.a_s)) * 1e6)} µs per call")

    def __repr__(self) -> str:
        return self.sentence()


def compare(fn_a, fn_b, *, rounds: int = 30, inner: int = 50,
            warmup: int = 3, level: float = 0.95,
            seed: int = 0) -> ABResult:
    """Time ``fn_a`` and ``fn_b`` in interleaved rounds; report the
    median relative difference with a bootstrap interval.

    Each round calls each function ``inner`` times in a row and records
    the mean time per call; the order within a round alternates (A then
    B, B then A) so neither side always runs first. ``warmup`` rounds
    are run and discarded.
    """
    if rounds < 5 or inner < 1 or warmup < 0:
        raise ValueError("use at least 5 rounds, 1 call per round "
                         "and warmup >= 0")
    a_t, b_t = [], []

    def once(fn):
        t0 = time.perf_counter()
        for _ in range(inner):
            fn()
        return (time.perf_counter() - t0) / inner

    gc_was_on = gc.isenabled()
    gc.disable()  # as timeit does: a collection inside one round is noise
    try:
        for r in range(warmup + rounds):
            if r % 2 == 0:
                ta, tb = once(fn_a), once(fn_b)
            else:
                tb, ta = once(fn_b), once(fn_a)
            if r >= warmup:
                a_t.append(ta)
                b_t.append(tb)
    finally:
        if gc_was_on:
            gc.enable()
    a, b = np.asarray(a_t), np.asarray(b_t)
    d = relative_difference(a, b)
    lo_hi = bootstrap_interval(d, np.median, level, seed=seed)
    return ABResult(a, b, float(np.median(d)), lo_hi, level)


def examine_claims(mean: float, sd: float, n: int, best: float | None = None, level: float = 0.95):
    """What a report's mean, standard deviation and count of per-configuration gains (in %) imply,
    if the configurations were independent measurements of one effect plus normal noise.

    Returns a table (quantity, value, unit): the t interval of the mean gain, the best and worst of
    ``n`` that noise alone is expected to give around that mean, the expected number of configurations
    that measure a loss, and (with ``best``) the chance that the largest of ``n`` reaches ``best``.
    """
    import pandas as pd

    lo, hi = summary_interval(mean, sd, n, level)
    e_max = expected_max_normal(int(n))
    below = share_below(0.0, mean, sd)
    rows = [(f"{level:.0%} interval of the mean: low", lo, "%"),
            (f"{level:.0%} interval of the mean: high", hi, "%"),
            (f"expected best of {n}", mean + sd * e_max, "%"),
            (f"expected worst of {n}", mean - sd * e_max, "%"),
            ("expected configurations measuring a loss", n * below, f"of {n}"),
            ("share measuring a loss", 100 * below, "%")]
    if best is not None:
        p_best = 1 - normal_cdf((best - mean) / sd) ** int(n)
        rows.append((f"chance the best of {n} reaches {best:g} %", 100 * p_best, "%"))
    return pd.DataFrame(rows, columns=["Quantity", "Value", "Unit"]).set_index("Quantity")


# --- the seed's experiment: q/k/v split sizes, cached or built afresh ---------------------------------

#: LLaMA-7B: D = 4096, N = K = 32 heads of H = 128, so q, k and v are 4096 wide each
LLAMA7B_QKV = (4096, 4096, 4096)


def machine_info() -> dict:
    """Where a measurement ran: machine, CPU count, load average, date (and torch's version and threads)."""
    try:
        load = [round(float(v), 2) for v in os.getloadavg()]
    except (OSError, AttributeError):
        load = None
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    info = {"machine": platform.machine(), "processor": cpu,
            "system": f"{platform.system()} {platform.release()}", "python": platform.python_version(),
            "cpus": os.cpu_count(), "load_average": load,
            "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}
    try:
        import torch
        info.update(torch=torch.__version__, threads=torch.get_num_threads())
    except ImportError:
        info.update(torch=None, threads=None)
    return info


def qkv_split_experiment(configs=((1, 128), (16, 512)), *, rounds: int = 30, inner: int = 200, warmup: int = 3,
                         control: bool = True, dtype: str = "bfloat16", sizes=LLAMA7B_QKV, seed: int = 0) -> list:
    """Redo the seed's experiment: ``torch.split`` of a q/k/v projection output with a cached tuple of sizes
    (B) against a list built afresh at every call (A), interleaved with :func:`compare`.

    ``configs`` are (batch B, tokens T) pairs; the tensor is [B, T, sum(sizes)] (LLaMA-7B: [B, T, 12288]),
    allocated uninitialized (a split returns views, so its values are never read). With ``control`` each
    configuration also runs an A/A comparison (the fresh list against itself): the noise floor.
    Needs torch (an optional extra); returns a list of dicts, one per comparison.
    """
    import torch

    q, k, v = (int(x) for x in sizes)
    cached = (q, k, v)
    out = []
    for B, T in configs:
        qkv = torch.empty(int(B), int(T), q + k + v, dtype=getattr(torch, dtype))

        def fresh():
            return torch.split(qkv, [q, k, v], dim=-1)

        def fresh_again():
            return torch.split(qkv, [q, k, v], dim=-1)

        def cached_split():
            return torch.split(qkv, cached, dim=-1)

        pairs = [("cached vs fresh", fresh, cached_split)]
        if control:
            pairs.append(("fresh vs fresh (A/A)", fresh, fresh_again))
        for kind, fa, fb in pairs:
            r = compare(fa, fb, rounds=rounds, inner=inner, warmup=warmup, seed=seed)
            out.append({"batch": int(B), "tokens": int(T), "comparison": kind,
                        "a_s": [float(x) for x in r.a_s], "b_s": [float(x) for x in r.b_s],
                        "median_difference": r.median_difference, "interval": list(r.interval),
                        "distinguishable": r.distinguishable})
        del qkv
    return out


def qkv_block_experiment(batch: int = 1, tokens: int = 128, *, rounds: int = 20, inner: int = 1, warmup: int = 2,
                         dtype: str = "float32", d_model: int = 4096, sizes=LLAMA7B_QKV, seed: int = 0) -> dict:
    """The same comparison inside the block: the q/k/v projection ``x @ W_qkv`` ([B, T, D] × [D, 3D]) followed
    by the split, with the sizes built afresh (A) or cached (B). Needs torch; returns one dict as
    :func:`qkv_split_experiment` does (comparison ``"projection + split"``)."""
    import torch

    q, k, v = (int(x) for x in sizes)
    cached = (q, k, v)
    g = torch.Generator().manual_seed(seed)
    dt = getattr(torch, dtype)
    x = torch.randn(int(batch), int(tokens), int(d_model), generator=g).to(dt)
    w = (0.02 * torch.randn(int(d_model), q + k + v, generator=g)).to(dt)

    def fresh():
        return torch.split(x @ w, [q, k, v], dim=-1)

    def cached_split():
        return torch.split(x @ w, cached, dim=-1)

    r = compare(fresh, cached_split, rounds=rounds, inner=inner, warmup=warmup, seed=seed)
    return {"batch": int(batch), "tokens": int(tokens), "comparison": "projection + split",
            "a_s": [float(t) for t in r.a_s], "b_s": [float(t) for t in r.b_s],
            "median_difference": r.median_difference, "interval": list(r.interval),
            "distinguishable": r.distinguishable}


def difference_summary(results) -> "pandas.DataFrame":
    """Per comparison: mean, median and interquartile range of the per-round relative differences, with the
    95 % t interval of the mean and the bootstrap interval of the median (all in %)."""
    import pandas as pd

    rows = []
    for r in results:
        d = 100 * relative_difference(r["a_s"], r["b_s"])
        q1, q3 = np.quantile(d, [0.25, 0.75])
        tl, th = t_interval(d)
        bl, bh = bootstrap_interval(d, np.median)
        rows.append({"B": r["batch"], "T": r["tokens"], "Run": RUN_LABELS.get(r["comparison"], r["comparison"]),
                     "Mean (%)": float(d.mean()), "Median (%)": float(np.median(d)), "IQR (%)": float(q3 - q1),
                     "t, mean (%)": f"{_sig(tl)} to {_sig(th)}",
                     "Bootstrap, median (%)": f"{_sig(bl)} to {_sig(bh)}"})
    return pd.DataFrame(rows)


def _sig(x) -> str:
    from .book import significant
    return significant(x, 3)


def reference_run() -> dict:
    """The book's stored reference run of the q/k/v split experiment (``scripts/benchmark_split.py``)."""
    import json
    from importlib import resources

    text = resources.files("llmperf").joinpath("data/measurements/qkv_split_reference.json").read_text()
    return json.loads(text)


#: short labels of the comparisons in tables
RUN_LABELS = {"cached vs fresh": "A/B", "fresh vs fresh (A/A)": "A/A", "projection + split": "block A/B"}


def experiment_table(results) -> "pandas.DataFrame":
    """One row per comparison of :func:`qkv_split_experiment` (or a stored run): median times per call of
    A and B (µs), the median relative difference with its bootstrap interval (%), and whether the interval
    excludes zero. ``Run`` labels: A/B = cached vs fresh, A/A = fresh vs fresh, block A/B = projection + split."""
    import pandas as pd

    rows = []
    for r in results:
        a, b = np.asarray(r["a_s"]), np.asarray(r["b_s"])
        lo, hi = r["interval"]
        rows.append({"B": r["batch"], "T": r["tokens"], "Run": RUN_LABELS.get(r["comparison"], r["comparison"]),
                     "A (µs)": float(np.median(a)) * 1e6, "B (µs)": float(np.median(b)) * 1e6,
                     "Diff. (%)": 100 * r["median_difference"], "Low (%)": 100 * lo, "High (%)": 100 * hi,
                     "Excl. 0": "yes" if (lo > 0 or hi < 0) else "no"})
    return pd.DataFrame(rows)
