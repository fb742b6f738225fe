"""Exercises of the chapter "Benchmarking Honestly" (labels ``benchmarking-ex1`` ...).

Each function takes the exercise's numbers as keyword arguments (the defaults are the book's version,
``variants`` the values a per-student variant draws from) and returns a
:class:`~llmperf.exercises.Worked`. The statistics are deterministic: every number comes from
:mod:`llmperf.abtest`'s exact formulas (no random draws).
"""
from __future__ import annotations

import math

from llmperf import abtest as ab
from llmperf.book import fmt

from . import Part, Worked, exercise


def _pct(x, spec="sig3"):
    return fmt(x, spec)


@exercise("benchmarking-ex1", variants={"mean": [0.9, 1.5, 2.4], "sd": [3.2, 4.0], "n": [12, 20, 48]})
def interval_from_report(mean: float = 0.9, sd: float = 3.2, n: int = 20) -> Worked:
    """A t interval of the mean gain from a report's mean, standard deviation and count."""
    t = ab.t_quantile(0.975, n - 1)
    half = t * sd / math.sqrt(n)
    lo, hi = mean - half, mean + half
    excludes = lo > 0 or hi < 0
    prompt = (f"A benchmark report measures a change on $n = {n}$ configurations, once each, and reports a mean "
              f"latency gain of {mean:g} % with a standard deviation of {sd:g} % across the configurations. "
              "Treat the configurations as independent measurements of one effect plus noise. "
              "Compute the 95 % Student-t confidence interval of the mean gain (low and high end, in %), "
              "and say whether it excludes zero. "
              f"*Hint:* $t_{{0.975,\\,{n - 1}}}$ is `llmperf.abtest.t_quantile(0.975, {n - 1})` or in any t table.")
    verdict = ("excludes zero: the mean gain is distinguishable from zero, *if* the measurements are independent "
               "and free of a common bias (an A/A run checks the second)" if excludes else
               "contains zero: the data cannot tell this gain from no gain at all")
    solution = (
        "The interval of a mean from $n$ values with standard deviation $s$ is "
        "$\\bar x \\pm t_{0.975,\\,n-1}\\, s / \\sqrt{n}$.\n\n"
        f"- standard error: ${sd:g} / \\sqrt{{{n}}} = {fmt(sd / math.sqrt(n), 'sig3')}$ %;\n"
        f"- $t_{{0.975,\\,{n - 1}}} = {fmt(t, 'sig4')}$, so the half-width is "
        f"${fmt(t, 'sig4')} \\times {fmt(sd / math.sqrt(n), 'sig3')} = {fmt(half, 'sig3')}$ %;\n"
        f"- interval: ${mean:g} \\pm {fmt(half, 'sig3')}$ = **{_pct(lo)} % to {_pct(hi)} %**.\n\n"
        f"The interval {verdict}. The spread of single configurations ({sd:g} %) is much wider than the "
        "interval of their mean: averaging $n$ values divides the noise by $\\sqrt{n}$, but only noise that "
        "is independent from one configuration to the next.")
    return Worked(prompt, {"low": Part(lo, "%", rel=0, abs=0.02, what="low end of the interval"),
                           "high": Part(hi, "%", rel=0, abs=0.02, what="high end of the interval"),
                           "excludes_zero": Part(excludes, rel=0, what="interval excludes zero (True or False)")},
                  solution)


@exercise("benchmarking-ex2", variants={"n": [12, 24, 60], "sd": [2.0, 3.0, 4.5], "claimed": [8.0, 10.0]})
def best_of_noise(n: int = 24, sd: float = 3.0, claimed: float = 8.0) -> Worked:
    """The best of n comparisons when nothing changed: its expected value and the chance it reaches a claim."""
    e = ab.expected_max_normal(n)
    best = sd * e
    phi = ab.normal_cdf(claimed / sd)
    p = 1 - phi ** n
    prompt = (f"A change that does nothing is benchmarked on $n = {n}$ configurations; each measured gain is pure "
              f"noise, independent and normal with mean 0 and standard deviation {sd:g} %. "
              f"What best-case gain (in %) should the report expect to find among the {n}, and what is the "
              f"chance (in %) that at least one configuration shows a gain of {claimed:g} % or more? "
              f"*Hint:* the expected largest of {n} standard normal values is "
              f"`llmperf.abtest.expected_max_normal({n})`, or in a table of normal order statistics.")
    solution = (
        f"The expected largest of $n$ standard normal values is $E_n$; for $n = {n}$, $E_n = {fmt(e, 'sig4')}$. "
        f"Scaled by the noise: ${fmt(e, 'sig4')} \\times {sd:g} = $ **{_pct(best)} %**: a best case the "
        "report finds with no effect at all.\n\n"
        f"One configuration stays below {claimed:g} % with probability $\\Phi({claimed:g} / {sd:g}) = "
        f"\\Phi({fmt(claimed / sd, 'sig3')}) = {fmt(phi, 'sig4')}$; all {n} stay below with "
        f"${fmt(phi, 'sig4')}^{{{n}}} = {fmt(phi ** n, 'sig3')}$. So at least one reaches it with probability "
        f"$1 - {fmt(phi ** n, 'sig3')}$ = **{_pct(100 * p)} %**.\n\n"
        "Why it matters: the best of many noisy comparisons grows with the number compared (about "
        "$\\sqrt{2 \\ln n}$ standard deviations), so a best case is evidence only when it is far above what "
        "noise gives for that many tries.")
    return Worked(prompt, {"expected_best": Part(best, "%", rel=0.01, what="expected best gain from noise"),
                           "p_reach": Part(100 * p, "%", rel=0.02, what=f"chance the best reaches {claimed:g} %")},
                  solution)


@exercise("benchmarking-ex3", variants={"mean": [1.5, 2.5, 4.0], "sd": [3.5, 5.0], "n": [20, 30, 40]})
def how_many_regress(mean: float = 2.5, sd: float = 3.5, n: int = 30) -> Worked:
    """How many configurations a reported mean and spread imply measure a loss."""
    share = ab.share_below(0.0, mean, sd)
    none = (1 - share) ** n
    prompt = (f"A report gives a mean gain of {mean:g} % with a standard deviation of {sd:g} % over $n = {n}$ "
              "configurations, and also states that every configuration improved or stayed unchanged. "
              "If the per-configuration gains were normal with that mean and standard deviation, how many of the "
              f"{n} configurations would you expect to measure a loss (a gain below zero), and what is the "
              "probability (in %) that none does?")
    solution = (
        f"A configuration measures a loss with probability $\\Phi((0 - {mean:g}) / {sd:g}) = "
        f"\\Phi({fmt(-mean / sd, 'sig3')}) = {fmt(share, 'sig3')}$, so about "
        f"${n} \\times {fmt(share, 'sig3')} = $ **{fmt(n * share, 'sig3')}** of the {n} should show a loss.\n\n"
        f"None does with probability $(1 - {fmt(share, 'sig3')})^{{{n}}}$ = **{fmt(100 * none, 'sig3')} %**.\n\n"
        "A standard deviation this large next to that mean and \"all improved\" cannot both be true: either "
        "the spread is noise, and then losses must appear, or the report rounds its losses away. Look at the "
        "worst configurations before believing the mean.")
    return Worked(prompt, {"expected_losses": Part(n * share, "configurations", rel=0.01,
                                                   what="expected number measuring a loss"),
                           "p_none": Part(100 * none, "%", rel=0.02, what="probability that none measures a loss")},
                  solution)


@exercise("benchmarking-ex4", variants={"spread_true": [0.5, 1.0, 2.0], "noise_sd": [3.0, 4.0],
                                        "observed": [9.0, 11.0, 13.0]})
def regression_to_the_mean(mean: float = 1.0, spread_true: float = 1.0, noise_sd: float = 4.0,
                           observed: float = 11.0) -> Worked:
    """Expected re-measurement of the best-looking configuration."""
    w = spread_true ** 2 / (spread_true ** 2 + noise_sd ** 2)
    exp = ab.shrink_toward_mean(observed, mean, spread_true, noise_sd)
    prompt = (f"Across configurations, the true gain of a change varies around {mean:g} % with a standard deviation "
              f"of {spread_true:g} %; each single measurement adds independent noise with a standard deviation of "
              f"{noise_sd:g} % (both normal). The best configuration of a sweep measured {observed:g} %. "
              "What share of its distance from the mean is expected to be real (the shrinkage weight, a number "
              "between 0 and 1), and what gain (in %) do you expect when you measure that configuration again?")
    solution = (
        "For normal true effects and noise, the expected true effect given a measurement $x$ is "
        "$\\mu + w (x - \\mu)$ with $w = \\tau^2 / (\\tau^2 + \\sigma^2)$.\n\n"
        f"- $w = {spread_true:g}^2 / ({spread_true:g}^2 + {noise_sd:g}^2) = {fmt(w, 'sig3')}$;\n"
        f"- expected re-measurement: ${mean:g} + {fmt(w, 'sig3')} \\times ({observed:g} - {mean:g}) = $ "
        f"**{fmt(exp, 'sig3')} %**.\n\n"
        "Why: the best of a sweep is best partly because its noise happened to be high, and noise does not "
        "repeat. The noisier the measurement compared with the real differences, the smaller $w$ and the "
        "further the re-measurement falls back toward the mean: regression to the mean.")
    return Worked(prompt, {"weight": Part(w, "", rel=0.01, what="shrinkage weight"),
                           "remeasured": Part(exp, "%", rel=0.01, what="expected re-measured gain")}, solution)


@exercise("benchmarking-ex5", variants={"rounds": [20, 40, 60], "drift": [0.0002, 0.0005, 0.001]})
def drift_and_order(rounds: int = 40, drift: float = 0.0005) -> Worked:
    """What a steady drift does to three measurement orders of two identical functions."""
    blocked = 100 * ab.apparent_drift_difference(rounds, drift, "blocked")
    fixed = 100 * ab.apparent_drift_difference(rounds, drift, "fixed")
    alternate = round(100 * ab.apparent_drift_difference(rounds, drift, "alternate"), 9) + 0.0
    r = drift
    prompt = (f"Two identical functions A and B are timed {rounds} times each. The machine slows down steadily: "
              f"measurement number $i$ ($i = 0, 1, 2, \\dots$ in the order they run) takes $1 + r i$ time units "
              f"with $r = {fmt(100 * r, 'g')}$ % per measurement. Compute the apparent relative difference "
              "mean(B) / mean(A) − 1 (in %) for three orders: **blocked** (all A, then all B), **fixed** "
              "(A, B, A, B, ...) and **alternate** (A B, B A, A B, ...: the order flips every round).")
    n = rounds
    solution = (
        f"With $n = {n}$ and $r = {fmt(r, 'g')}$:\n\n"
        f"- blocked: A takes slots $0 \\dots n-1$ (mean $1 + r (n-1)/2$), B slots $n \\dots 2n-1$ "
        f"(mean $1 + r (3n-1)/2$): $\\frac{{r n}}{{1 + r (n-1)/2}}$ = **{fmt(blocked, 'sig3')} %**;\n"
        f"- fixed: A takes the even slots, B the odd ones, each one slot later: "
        f"$\\frac{{r}}{{1 + r (n-1)}}$ = **{fmt(fixed, 'sig3')} %**;\n"
        f"- alternate: in each pair of rounds A and B take slots that sum to the same total: "
        f"**{fmt(abs(alternate), '.2f')} %** (exactly zero for an even number of rounds).\n\n"
        "Why: a drift (a CPU warming up or throttling, another job starting) hits whatever runs later. "
        "Blocked runs turn the whole drift into a fake difference; interleaving cuts it to one slot's worth; "
        "flipping the order cancels a linear drift entirely, which is why `llmperf.abtest.compare` alternates.")
    return Worked(prompt, {"blocked": Part(blocked, "%", rel=0.01, what="blocked order"),
                           "fixed": Part(fixed, "%", rel=0.01, what="fixed interleaved order"),
                           "alternate": Part(alternate, "%", rel=0, abs=0.001, what="alternating order")},
                  solution)


@exercise("benchmarking-ex6", variants={"sd": [1.0, 1.5, 3.0], "halfwidth": [0.25, 0.5], "rounds_now": [20, 30]})
def rounds_needed(sd: float = 1.5, halfwidth: float = 0.25, rounds_now: int = 30) -> Worked:
    """How many interleaved rounds a target interval half-width needs."""
    now = ab.t_quantile(0.975, rounds_now - 1) * sd / math.sqrt(rounds_now)
    need = ab.rounds_for_halfwidth(sd, halfwidth)
    z = ab.normal_quantile(0.975)
    approx = (z * sd / halfwidth) ** 2
    prompt = (f"The per-round relative differences of an interleaved A/B comparison have a standard deviation "
              f"of {sd:g} %. With {rounds_now} rounds, what is the half-width (in %) of the 95 % t interval of their "
              f"mean? How many rounds are needed for a half-width of {halfwidth:g} % (enough to tell a "
              f"{2 * halfwidth:g} % effect from zero)? *Hint:* start from $n \\approx (1.96\\, s / h)^2$, then "
              "check with the t quantile.")
    solution = (
        "The half-width is $t_{0.975,\\,n-1}\\, s / \\sqrt{n}$.\n\n"
        f"- now: $t_{{0.975,\\,{rounds_now - 1}}} = {fmt(ab.t_quantile(0.975, rounds_now - 1), 'sig4')}$, "
        f"so the half-width is ${fmt(ab.t_quantile(0.975, rounds_now - 1), 'sig4')} \\times {sd:g} / "
        f"\\sqrt{{{rounds_now}}} = $ **{fmt(now, 'sig3')} %**;\n"
        f"- target: $(1.96 \\times {sd:g} / {halfwidth:g})^2 = {fmt(approx, 'sig4')}$; the t quantile is a "
        f"little larger than 1.96, and the smallest $n$ that meets the target is **{need}** rounds.\n\n"
        "The half-width shrinks only as $1/\\sqrt{n}$: halving it costs four times the rounds. Cutting the "
        "per-round noise (a quiet machine, more calls per round) is usually cheaper than adding rounds.")
    return Worked(prompt, {"halfwidth_now": Part(now, "%", rel=0.01, what=f"half-width with {rounds_now} rounds"),
                           "rounds": Part(need, "rounds", rel=0.03, what="rounds needed")}, solution)


def _round_sd(k, call_us, jitter_us, floor):
    """Per-round noise (%): a fixed timing jitter spread over k calls, plus a load floor."""
    return math.sqrt((100 * jitter_us / (k * call_us)) ** 2 + floor ** 2)


def _plan_numbers(plan, call_us, jitter_us, floor):
    n, k = int(plan["rounds"]), int(plan["inner"])
    sd = _round_sd(k, call_us, jitter_us, floor)
    half = ab.t_quantile(0.975, n - 1) * sd / math.sqrt(n)
    seconds = 2 * n * k * call_us * 1e-6
    return n, k, sd, half, seconds


def plan_verdict(plan, effect, call_us, jitter_us, floor, budget_s):
    """None when an A/B plan {"rounds": n, "inner": k} resolves a third of ``effect`` within the budget, else a hint."""
    try:
        n, k = int(plan["rounds"]), int(plan["inner"])
    except (KeyError, TypeError, ValueError):
        return 'submit {"plan": {"rounds": n, "inner": k}} with whole numbers'
    if n < 5 or k < 1:
        return "use at least 5 rounds and 1 call per round"
    n, k, sd, half, seconds = _plan_numbers(plan, call_us, jitter_us, floor)
    bad = []
    if half > effect / 3:
        bad.append(f"the half-width is {fmt(half)} %, above a third of the effect ({fmt(effect / 3)} %): "
                   f"one round's noise is {fmt(sd)} % (more calls per round shrink it, down to the {floor:g} % "
                   "floor; more rounds divide it by √n)")
    if seconds > budget_s:
        bad.append(f"it takes {fmt(seconds * 1e3)} ms of timed calls, above the {1e3 * budget_s:g} ms budget")
    return "; ".join(bad) or None


def _best_plan(effect, call_us, jitter_us, floor, budget_s):
    best = None
    for k in (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000):
        n = max(5, ab.rounds_for_halfwidth(_round_sd(k, call_us, jitter_us, floor), effect / 3))
        seconds = 2 * n * k * call_us * 1e-6
        if seconds <= budget_s and (best is None or seconds < best[2]):
            best = (n, k, seconds)
    if best is None:
        raise ValueError("no plan meets this budget")
    return {"rounds": best[0], "inner": best[1]}


@exercise("benchmarking-ex7", variants={"effect": [1.0, 2.0, 3.0], "call_us": [4.0, 50.0],
                                        "budget_ms": [10.0, 50.0]})
def plan_a_measurement(effect: float = 2.0, call_us: float = 4.0, jitter_us: float = 1.0, floor: float = 0.5,
                       budget_ms: float = 10.0) -> Worked:
    budget_s = budget_ms / 1e3
    """Open design: rounds and calls per round of an interleaved A/B comparison that resolves an effect."""
    best = _best_plan(effect, call_us, jitter_us, floor, budget_s)
    n, k, sd, half, seconds = _plan_numbers(best, call_us, jitter_us, floor)
    sd1 = _round_sd(1, call_us, jitter_us, floor)
    prompt = (f"You want to know whether a change makes a {call_us:g} µs function {effect:g} % faster, with an "
              "interleaved A/B comparison (as `llmperf.abtest.compare`): $n$ rounds, each timing $k$ calls of A "
              "in a row and $k$ calls of B. Each timed round carries a jitter of about "
              f"{jitter_us:g} µs (the timer, interrupts), whatever its length, and background load adds a noise "
              f"of {floor:g} % to every round, whatever its length: the per-round relative difference has a "
              f"standard deviation of $\\sqrt{{(100 \\times {jitter_us:g} / ({call_us:g}\\,k))^2 + {floor:g}^2}}$ %. "
              f"Choose $n$ (at least 5) and $k$ so that the 95 % t interval of the mean difference has a "
              f"half-width of at most a third of the effect, while the timed calls ($2 n k$ of them) take at most "
              f"{budget_ms:g} ms. Justify the choice.")
    solution = (
        f"One plan that works: **{n} rounds of {k} calls** (submitted as "
        f'`{{"plan": {{"rounds": {n}, "inner": {k}}}}}`).\n\n'
        f"- noise of one round: $\\sqrt{{(100 \\times {jitter_us:g} / ({call_us:g} \\times {k}))^2 + {floor:g}^2}}"
        f" = {fmt(sd)}$ % (with one call per round it would be {fmt(sd1)} %);\n"
        f"- half-width: $t_{{0.975,\\,{n - 1}}} \\times {fmt(sd)} / \\sqrt{{{n}}} = "
        f"{fmt(ab.t_quantile(0.975, n - 1), 'sig4')} \\times {fmt(sd)} / {fmt(math.sqrt(n))} = {fmt(half)}$ %, "
        f"within {fmt(effect / 3)} %;\n"
        f"- time: $2 \\times {n} \\times {k} \\times {call_us:g}$ µs $= {fmt(seconds * 1e3)}$ ms, within "
        f"{budget_ms:g} ms.\n\n"
        "Why this shape: calls per round dilute the fixed jitter (its share falls as $1/k$) but not the load "
        "floor; once the jitter's share is well below the floor, longer rounds only cost time and more rounds "
        "are the cheaper way down, as $1/\\sqrt{n}$. The cheapest plan balances the two: $k$ near "
        f"$100 \\times {jitter_us:g} / ({call_us:g} \\times {floor:g}) = {fmt(100 * jitter_us / (call_us * floor))}$. "
        "Other plans pass; check yours with "
        '`check("benchmarking-ex7", {"plan": {"rounds": n, "inner": k}})`.')
    accept = lambda p: plan_verdict(p, effect, call_us, jitter_us, floor, budget_s)  # noqa: E731
    return Worked(prompt, {"plan": Part(best, "", what="measurement plan", accept=accept)}, solution)
