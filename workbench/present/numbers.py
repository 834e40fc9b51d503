"""The one place numbers become text: costs, durations, rates, percentages, CIs, p-values, tokens,
counts with their noun (`plural`: "1 case", "0 cases").

CLI and TUI both format through here so the same fact reads the same everywhere. The formats core
needs for the sentences it stores or raises (budget refusals, assertion details, `plain_words`)
are defined in core/message_numbers.py and taken from there, so each format exists once.
"""

from __future__ import annotations

from workbench.core.message_numbers import format_cost, format_p, ms, plural, secs

__all__ = [
    "format_cost",
    "format_p",
    "signed_cost",
    "seconds",
    "ms",
    "plural",
    "short_ms",
    "secs",
    "clock",
    "eta",
    "coarse",
    "rate",
    "pct",
    "signed_pct",
    "points",
    "signed_points",
    "resolution_words",
    "resolves",
    "about",
    "score",
    "signed_score",
    "fixed",
    "pct_ci",
    "signed_ms",
    "tokens",
]


def signed_cost(value: float) -> str:
    """A cost difference with its sign, at `format_cost`'s precision: +0.00012, -1.25, ±0."""
    if not value:
        return "±0"
    return ("+" if value > 0 else "-") + format_cost(abs(value))


def seconds(ms_value: float) -> str:
    """A stored millisecond duration in seconds, one decimal: 1234 -> `1.2s` (runs listing)."""
    return f"{ms_value / 1000:.1f}s"


def short_ms(value: float) -> str:
    """Milliseconds in a narrow column: `412ms` (the runs listing, next to `1.2s`)."""
    return f"{value:.0f}ms"


def signed_ms(value: float) -> str:
    """A latency difference: `+40 ms`, `-12 ms`."""
    return f"{value:+.0f} ms"


def clock(value_s: float | None) -> str:
    """A duration as minutes:seconds, `3:07`; `?` when unknown (ingest timings)."""
    if value_s is None:
        return "?"
    whole = int(value_s)
    return f"{whole // 60}:{whole % 60:02d}"


def eta(value_s: float | None) -> str:
    """Time left in a training run: `24s`, `3m07s`; `?` when not known yet."""
    if value_s is None:
        return "?"
    whole = int(value_s)
    return f"{whole // 60}m{whole % 60:02d}s" if whole >= 60 else f"{whole}s"


def about(seconds_total: float) -> str:
    """How long runs take, rounded as people plan: `about 40 s`, `about 12 min`, `about 1.5 h`."""
    if seconds_total < 90:
        return f"about {max(1, round(seconds_total))} s"
    if seconds_total < 90 * 60:
        return f"about {round(seconds_total / 60)} min"
    return f"about {seconds_total / 3600:.1f} h"


def coarse(value_s: float) -> str:
    """An estimate people plan around: `45 s` under a minute and a half, else `12 min`."""
    return f"{value_s:.0f} s" if value_s < 90 else f"{value_s / 60:.0f} min"


def rate(tokens_per_s: float | None, decimals: int = 1) -> str:
    """Generation speed: `41.2 tok/s` (`41 tok/s` with decimals=0); `– tok/s` when unknown."""
    return "– tok/s" if tokens_per_s is None else f"{tokens_per_s:.{decimals}f} tok/s"


def score(value: float | None, decimals: int = 3, *, bare: bool = False) -> str:
    """A retrieval score or metric: `0.812` (`.81` with decimals=2, bare=True, for narrow
    columns); `-` when there is none."""
    if value is None:
        return "-"
    out = f"{value:.{decimals}f}"
    return out.removeprefix("0") if bare else out


def fixed(value: float, decimals: int) -> str:
    """A number with fixed decimals for files machines read: JUnit's `time="1.234"` (seconds)
    and its `pass_rate` property `0.7500`."""
    return f"{value:.{decimals}f}"


def signed_score(value: float, decimals: int = 3) -> str:
    """A metric delta: `+0.042`, `-0.100`."""
    return f"{value:+.{decimals}f}"


def pct(value: float | None, decimals: int = 0) -> str:
    """A share as a percentage, `75%` (`75.0%` with decimals=1); `–` when there is none."""
    return "–" if value is None else f"{value:.{decimals}%}"


def points(share: float) -> str:
    """A pass-rate difference in percentage points, unsigned: 0.046 -> "5", 0.0049 -> "0.5"."""
    value = abs(share) * 100
    return f"{value:.1f}" if value < 1 else f"{value:.0f}"


def signed_points(share: float) -> str:
    """A gain in points with its sign and one decimal: +1.2, -0.6."""
    return f"{share * 100:+.1f}"


def resolves(mde: float) -> str:
    """`resolves ±5 points`; a resolution of 100 points or more (a handful of shared cases) can
    resolve no change at all, and "±144 points" would read as a number to act on."""
    if mde >= 1.0:
        return "is too small to resolve any change"
    return f"resolves ±{points(mde)} points"


def resolution_words(n: int, flips: int, mde: float) -> str:
    """`the set resolves ±5 points (2 of 83 cases flipped; ...)`: what one comparison can tell."""
    tail = "a smaller change usually passes as noise" if mde < 1.0 else "run more cases to compare"
    return f"the set {resolves(mde)} ({flips} of {plural(n, 'case')} flipped; {tail})"


def signed_pct(value: float, decimals: int = 1) -> str:
    """A change in a share, as a percentage with its sign: `+5.0%`, `-2.5%` (CI bounds)."""
    return f"{value:+.{decimals}%}"


def pct_ci(value: float | None, lo: float | None, hi: float | None) -> str:
    """`75% [30–95]`: a rate and its 95% interval in points; just the rate when no interval."""
    if value is None:
        return "–"
    if lo is None or hi is None:
        return pct(value)
    return f"{value:.0%} [{lo * 100:.0f}–{hi * 100:.0f}]"


def tokens(prompt: int | None, completion: int | None) -> str:
    """`12+40` (prompt+completion), `?` for the unknown one, empty when neither is known."""
    if prompt is None and completion is None:
        return ""
    return f"{'?' if prompt is None else prompt}+{'?' if completion is None else completion}"
