"""The one number-format module: what a user reads for each kind of number."""

from __future__ import annotations

from workbench.present import numbers as n


def test_costs_never_round_to_nothing_and_keep_their_sign():
    assert n.format_cost(0.0000512) == "0.0000512"
    assert n.format_cost(1.25) == "1.25"
    assert n.signed_cost(0.00012) == "+0.000120"
    assert n.signed_cost(-0.0000512) == "-0.0000512"
    assert n.signed_cost(0) == "±0"


def test_durations_rates_and_shares():
    assert n.seconds(1234) == "1.2s" and n.short_ms(412.4) == "412ms" and n.ms(412.6) == "413 ms"
    assert n.signed_ms(40) == "+40 ms" and n.signed_ms(-12) == "-12 ms" and n.secs(0.4249) == "0.42 s"
    assert n.clock(187) == "3:07" and n.clock(None) == "?"
    assert n.coarse(45) == "45 s" and n.coarse(720) == "12 min"
    assert n.rate(41.23) == "41.2 tok/s"
    assert n.pct(0.754) == "75%" and n.pct(None) == "–"
    assert n.pct_ci(0.75, 0.3, 0.95) == "75% [30–95]" and n.pct_ci(0.75, None, None) == "75%"
    assert n.format_p(0.0004) == "p<0.001" and n.format_p(0.289) == "p=0.29"
    assert n.tokens(12, None) == "12+?" and n.tokens(None, None) == ""
