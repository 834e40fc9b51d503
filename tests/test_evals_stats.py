"""Statistics against values computed by hand (the arithmetic is in the comments)."""

from __future__ import annotations

import pytest

from workbench.core.evals.stats import (
    bootstrap_delta_ci,
    compare_paired,
    mcnemar_exact,
    plain_words,
    wilson_interval,
)


def test_wilson_8_of_10():
    # p = 0.8, n = 10, z = 1.95996398, z^2 = 3.84145882
    # denom  = 1 + z^2/n            = 1.38414588
    # center = (0.8 + z^2/20)/denom = 0.99207294/1.38414588 = 0.7167402
    # half   = z*sqrt(0.8*0.2/10 + z^2/400)/denom
    #        = 1.95996398*sqrt(0.016 + 0.00960365)/1.38414588
    #        = 1.95996398*0.1600114/1.38414588 = 0.31361658/1.38414588 = 0.2265777
    lo, hi = wilson_interval(8, 10)
    assert lo == pytest.approx(0.7167402 - 0.2265777, abs=1e-6)  # 0.4901625 (tables: 0.4902)
    assert hi == pytest.approx(0.7167402 + 0.2265777, abs=1e-6)  # 0.9433179 (tables: 0.9433)


def test_wilson_edges():
    # 0 of 5: center = (z^2/10)/(1 + z^2/5) = 0.38414588/1.76829176 = 0.2172412,
    # half = z*sqrt(z^2/100)/denom = (z^2/10)/denom = center -> (0, 2*0.2172412 = 0.4344824)
    lo, hi = wilson_interval(0, 5)
    assert lo == pytest.approx(0.0, abs=1e-9) and hi == pytest.approx(0.4344824, abs=1e-6)
    lo, hi = wilson_interval(5, 5)  # symmetric
    assert lo == pytest.approx(1 - 0.4344824, abs=1e-6) and hi == pytest.approx(1.0)
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_mcnemar_exact_hand_values():
    # b=1, c=6: n=7, 2*(C(7,0)+C(7,1))/2^7 = 2*(1+7)/128 = 0.125
    assert mcnemar_exact(6, 1) == pytest.approx(0.125)
    assert mcnemar_exact(1, 6) == pytest.approx(0.125)
    # b=0, c=6: 2*1/64 = 0.03125
    assert mcnemar_exact(0, 6) == pytest.approx(0.03125)
    # b=2, c=8: 2*(1+10+45)/1024 = 112/1024 = 0.109375
    assert mcnemar_exact(8, 2) == pytest.approx(0.109375)
    # b=4, c=0: 2/16 = 0.125 ; b=c: the tail passes 1/2, capped at 1
    assert mcnemar_exact(4, 0) == pytest.approx(0.125)
    assert mcnemar_exact(3, 3) == 1.0
    assert mcnemar_exact(0, 0) == 1.0


def test_bootstrap_is_deterministic_and_sane():
    a = [1, 1, 0, 0, 1, 0, 1, 0, 0, 1] * 3
    b = [1, 0, 1, 1, 1, 0, 1, 1, 0, 1] * 3
    # observed delta = (21 - 15)/30 = +0.2
    ci = bootstrap_delta_ci(a, b, seed=7)
    assert ci == bootstrap_delta_ci(a, b, seed=7)
    assert ci[0] < 0.2 < ci[1]
    # every case flipped fail -> pass: each resample's delta is exactly 1
    assert bootstrap_delta_ci([0] * 5, [1] * 5) == (1.0, 1.0)
    # no change at all: (0, 0)
    assert bootstrap_delta_ci([1, 0, 1], [1, 0, 1]) == (0.0, 0.0)


def test_plain_words():
    assert plain_words(6, 2, 0.2890625) == "+4 cases (6 fixed, 2 regressed), p=0.29: could be noise"
    assert plain_words(0, 6, 0.03125) == "-6 cases, p=0.03: a real regression"
    assert plain_words(7, 0, 0.015625) == "+7 cases, p=0.02: a real improvement"
    assert plain_words(2, 1, 1.0) == (
        "+1 case (2 fixed, 1 regressed), p=1.00: could be noise (with 3 flips no result can reach p<0.05)"
    )
    assert plain_words(0, 0, 1.0) == "no case flipped between pass and fail"


def test_compare_paired():
    a = [True] * 6 + [False] * 4
    b = [True] * 4 + [False] * 2 + [True] * 1 + [False] * 3
    # regressions: cases 4,5 (2); fixes: case 6 (1); n=3 discordant: p = 2*(1+3)/8 = 1.0
    c = compare_paired(a, b)
    assert (c.fixes, c.regressions, c.n) == (1, 2, 10)
    assert c.pass_rate_a == 0.6 and c.pass_rate_b == 0.5 and c.delta == pytest.approx(-0.1)
    assert c.p_value == 1.0 and c.words.startswith("-1 case (")
    assert c.ci_low <= -0.1 <= c.ci_high
