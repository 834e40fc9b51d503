"""Numbers inside sentences core itself stores or raises: an assertion's detail, a skipped file's
reason, a budget refusal, a paired verdict, a progress notice. They are facts recorded with a case
or an error, like an error message, so they are worded where they happen; one format per kind of
number keeps them reading as the displays do (present/numbers.py takes these same functions).
"""

from __future__ import annotations

import math


def format_cost(value: float) -> str:
    """A price to three significant digits, never rounded to nothing: 0.000051, 0.0012, 1.25.

    Local runs priced as their hosted equivalent cost fractions of a cent per call; a fixed
    '.5f' printed them as 0.00000, hiding exactly the number the pricing is there to show."""
    if not value:
        return "0"
    decimals = max(2, 2 - math.floor(math.log10(abs(value))))
    return f"{value:.{decimals}f}"


def format_p(p: float) -> str:
    """A p-value: `p=0.29`, `p<0.001`."""
    return "p<0.001" if p < 0.001 else f"p={p:.2f}"


def ms(value: float) -> str:
    """Milliseconds as a whole number: `412 ms`."""
    return f"{value:.0f} ms"


def secs(value_s: float, decimals: int = 2) -> str:
    """A duration in seconds: `0.42 s`, `2.3 s` with decimals=1."""
    return f"{value_s:.{decimals}f} s"


def megabytes(n_bytes: float) -> str:
    """A size in MB with one decimal, without the unit: 12_345_678 -> `12.3`."""
    return f"{n_bytes / 1e6:.1f}"


def pct(value: float) -> str:
    """A share as a whole percentage: `75%`."""
    return f"{value:.0%}"


def decimal(value: float, places: int) -> str:
    """A similarity or score as a plain decimal: `0.812` (places=3)."""
    return f"{value:.{places}f}"


def plural(n: int, word: str, many: str | None = None) -> str:
    """A count and its noun, singular for exactly one: `1 case`, `0 cases`, `3 flips`, `-1 case`.
    `many` for a plural that is not word + s (`1 mouse`, `2 mice`)."""
    return f"{n} {word if abs(n) == 1 else many or word + 's'}"
