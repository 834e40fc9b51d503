"""Bootstrap confidence intervals over questions, for retrieval metrics.

A retrieval set has 40-200 questions, so a 0.02 nDCG difference can be noise. Resampling the
questions with replacement (seeded, so a report is reproducible) gives a 95% interval for a mean,
for a paired difference (both configurations on the same resampled questions: evals/stats.py's
bootstrap_delta_ci) and for a ratio of means.
"""

from __future__ import annotations

from collections.abc import Sequence

from workbench.core.evals.stats import bootstrap_delta_ci

RESAMPLES = 2000


def mean_ci(vals: Sequence[float], *, seed: int = 0) -> tuple[float, float, float]:
    """(mean, low, high) of a 95% bootstrap interval."""
    if not vals:
        return 0.0, 0.0, 0.0
    lo, hi = bootstrap_delta_ci([0.0] * len(vals), list(vals), seed=seed, resamples=RESAMPLES)
    return sum(vals) / len(vals), lo, hi


def paired_delta_ci(new: Sequence[float], old: Sequence[float], *, seed: int = 0) -> tuple[float, float, float]:
    """mean(new) - mean(old) with a 95% paired interval (new[i] and old[i]: the same question)."""
    if not new:
        return 0.0, 0.0, 0.0
    lo, hi = bootstrap_delta_ci(list(old), list(new), seed=seed, resamples=RESAMPLES)
    return (sum(new) - sum(old)) / len(new), lo, hi


def ratio_ci(a: Sequence[float], b: Sequence[float], *, seed: int = 0) -> tuple[float, float, float]:
    """mean(a) / mean(b) with a 95% paired bootstrap interval."""
    import numpy as np  # lazy: only reports need it

    if not a or not sum(b):
        return 0.0, 0.0, 0.0
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    idx = np.random.default_rng(seed).integers(0, len(x), size=(RESAMPLES, len(x)))
    den = y[idx].mean(axis=1)
    ratios = np.where(den > 0, x[idx].mean(axis=1) / np.where(den > 0, den, 1.0), 0.0)
    lo, hi = np.quantile(ratios, [0.025, 0.975])
    return float(x.sum() / y.sum()), float(lo), float(hi)


def is_real(low: float, high: float) -> bool:
    """A delta interval that excludes 0: the difference is not just the question sample."""
    return low > 0 or high < 0
