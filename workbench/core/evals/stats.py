"""How sure can we be? Confidence intervals and paired tests for eval results.

Eval sets are small (tens to hundreds of cases), so "+3 cases" is often noise. The tools here are
the ones that stay honest at small n:
- Wilson score interval for one pass rate (the normal approximation collapses near 0 and 1);
- exact two-sided McNemar test for two runs over the *same* cases: only the discordant pairs
  (fixes and regressions) carry information, and under "no real change" each discordant pair
  is a fair coin, so the p-value is a binomial tail, computed exactly;
- a seeded bootstrap CI of the paired pass-rate delta (deterministic: same input, same output);
- one-sided bounds on the paired gain (Agresti-Min), the set's resolution (minimum detectable
  effect) and the cases needed to show a ceiling: what the fine-tune guard's plateau rule uses.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from statistics import NormalDist
from typing import Any

from workbench.core.message_numbers import format_p, plural

Z95 = 1.959963984540054  # two-sided 95% normal quantile
POWER = 0.8  # the resolution's convention: a change this large is detected 4 times in 5


def wilson_interval(passed: int, total: int, z: float = Z95) -> tuple[float, float]:
    """95% Wilson score interval for passed/total; (0, 1) when total is 0."""
    if total <= 0:
        return (0.0, 1.0)
    p = passed / total
    z2 = z * z
    denom = 1 + z2 / total
    center = (p + z2 / (2 * total)) / denom
    half = z * math.sqrt(p * (1 - p) / total + z2 / (4 * total * total)) / denom
    return (max(0.0, center - half), min(1.0, center + half))


def mcnemar_exact(fixes: int, regressions: int) -> float:
    """Two-sided exact McNemar p-value: P(as extreme a split) with discordant pairs ~ Bin(n, 1/2)."""
    n = fixes + regressions
    if n == 0:
        return 1.0
    k = min(fixes, regressions)
    tail: float = sum(math.comb(n, i) for i in range(k + 1)) / 2**n  # exact int division (no 2**n overflow)
    return min(1.0, 2 * tail)


def bootstrap_delta_ci(
    a: Sequence[float], b: Sequence[float], *, resamples: int = 2000, seed: int = 0, level: float = 0.95
) -> tuple[float, float]:
    """Percentile bootstrap CI of mean(b) - mean(a) over paired cases (same index = same case)."""
    import numpy as np  # lazy: only diff/summary code needs it

    if len(a) != len(b):
        raise ValueError("paired samples must have the same length")
    n = len(a)
    if n == 0:
        return (0.0, 0.0)
    d = np.asarray(b, dtype=np.float64) - np.asarray(a, dtype=np.float64)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, size=(resamples, n))
    means = d[idx].mean(axis=1)
    lo, hi = np.quantile(means, [(1 - level) / 2, 1 - (1 - level) / 2])
    return (float(lo), float(hi))


def _z(p: float) -> float:
    return NormalDist().inv_cdf(p)


def gain_bounds(fixes: int, regressions: int, n: int, alpha: float = 0.05) -> tuple[float, float]:
    """One-sided (1 - alpha) lower and upper bounds of the paired gain (B's pass rate - A's).

    Agresti & Min (2005, Stat Med 24:729): add 1/2 to each cell of the paired 2x2 table, then the
    Wald interval. The plain Wald interval (and a bootstrap over the cases) has zero width when
    no case flipped, so "0 of 30 flipped" would prove a ceiling; the added halves keep a width that
    shrinks with n, with close to nominal coverage at small n. A closed form, so the set's
    resolution and the cases needed come from the same variance.
    """
    m = n + 2
    gain = (fixes - regressions) / m
    var = max(0.0, (fixes + regressions + 1) / m - gain * gain) / m
    half = _z(1 - alpha) * math.sqrt(var)
    return (max(-1.0, gain - half), min(1.0, gain + half))


def discordance(fixes: int, regressions: int, n: int) -> float:
    """The share of cases that flipped, with Agresti-Min's added halves (never 0: "no case
    flipped" on 30 cases is weaker evidence than on 3,000)."""
    return (fixes + regressions + 1) / (n + 2)


def resolution(n: int, flip_share: float, alpha: float = 0.05, power: float = POWER) -> float:
    """Minimum detectable effect: the smallest gain (or loss) in pass rate that a one-sided test
    at `alpha` detects with probability `power` on n paired cases when `flip_share` of them flip
    (the paired difference's variance is about flip_share / n near no change)."""
    if n <= 0:
        return 1.0
    return (_z(1 - alpha) + _z(power)) * math.sqrt(flip_share / n)


def cases_for_ceiling(
    flip_share: float, gain: float, min_gain: float, alpha: float = 0.05, power: float = POWER
) -> int | None:
    """About how many cases show (with `power`) that the gain is below `min_gain`, if the flips
    and the gain stay as observed (a negative gain planned as 0). None when the gain observed is
    already min_gain or more: no number of cases shows a ceiling below it."""
    g = max(0.0, gain)
    if g >= min_gain:
        return None
    var = max(flip_share - g * g, 1e-12)
    return math.ceil((_z(1 - alpha) + _z(power)) ** 2 * var / (min_gain - g) ** 2)


def plain_words(fixes: int, regressions: int, p: float, alpha: float = 0.05) -> str:
    """One line a person can act on: "+4 cases, p=0.34: could be noise". Stored with a fine-tune
    job's eval and an eval diff as the verdict of record, so it is worded here."""
    if fixes + regressions == 0:
        return "no case flipped between pass and fail"
    net = fixes - regressions
    head = ("+" if net > 0 else "") + plural(net, "case") if net else "±0 cases"
    if fixes and regressions:
        head += f" ({fixes} fixed, {regressions} regressed)"
    if p < alpha and net > 0:
        verdict = "a real improvement"
    elif p < alpha and net < 0:
        verdict = "a real regression"
    else:
        verdict = "could be noise"
        if fixes + regressions < 6:
            verdict += f" (with {plural(fixes + regressions, 'flip')} no result can reach p<{alpha})"
    return f"{head}, {format_p(p)}: {verdict}"


@dataclass(frozen=True)
class PairedComparison:
    """Run B against run A on the cases both contain."""

    n: int
    fixes: int  # fail -> pass
    regressions: int  # pass -> fail
    pass_rate_a: float
    pass_rate_b: float
    delta: float  # pass_rate_b - pass_rate_a
    ci_low: float
    ci_high: float
    p_value: float
    words: str
    # Minimum detectable effect at this pair's flip rate (see `resolution`): smaller deltas
    # usually go unseen on this many cases.
    resolution: float = 1.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def compare_paired(a: Sequence[bool], b: Sequence[bool], *, seed: int = 0, resamples: int = 2000) -> PairedComparison:
    """Paired comparison of two runs' per-case pass/fail (index i is the same case in both)."""
    if len(a) != len(b):
        raise ValueError("paired samples must have the same length")
    n = len(a)
    fixes = sum(1 for x, y in zip(a, b, strict=True) if not x and y)
    regressions = sum(1 for x, y in zip(a, b, strict=True) if x and not y)
    ra = sum(map(bool, a)) / n if n else 0.0
    rb = sum(map(bool, b)) / n if n else 0.0
    lo, hi = bootstrap_delta_ci(a, b, seed=seed, resamples=resamples)
    p = mcnemar_exact(fixes, regressions)
    mde = resolution(n, discordance(fixes, regressions, n))
    return PairedComparison(n, fixes, regressions, ra, rb, rb - ra, lo, hi, p, plain_words(fixes, regressions, p), mde)
