"""Amounts and durations are parsed in one module (fleetctl.core.units): the syntax fleet.yml and
the command line accept, and the messages of the options that use it, unchanged."""

import pytest

from fleetctl.core.errors import UserError
from fleetctl.core.units import (
    UPOKT_PER_POKT,
    format_upokt,
    parse_amount,
    parse_amount_option,
    parse_duration,
)


@pytest.mark.parametrize(("text", "upokt"), [
    ("59,500 POKT", 59_500 * UPOKT_PER_POKT), ("10upokt", 10), ("0.000001 pokt", 1), ("1_000 POKT", 10**9),
    (" 7 UPOKT ", 7), (42, 42), ("1.5 POKT", 1_500_000),
])
def test_amounts(text, upokt):
    assert parse_amount(text) == upokt


@pytest.mark.parametrize("text", ["0.0000001 POKT", "1.5 upokt", "-3 POKT", "12", "POKT", True, -1, 1.5, None,
                                  "1e3 POKT", "10 pok"])
def test_not_amounts(text):
    assert parse_amount(text) is None


def test_option_amounts_take_bare_digits_as_upokt():
    assert parse_amount_option(" 60000000000 ") == 60_000_000_000
    assert parse_amount_option("60000 POKT") == 60_000_000_000
    assert parse_amount_option("sixty") is None


def test_format_upokt():
    assert format_upokt(59_500_000_000) == "59,500 POKT"
    assert format_upokt(3_000_007) == "3.000007 POKT"
    assert format_upokt(-1) == "-0.000001 POKT"


def test_durations():
    assert parse_duration("90s") == 90 and parse_duration("5m") == 300 and parse_duration("4h") == 14400
    assert parse_duration("1d") == 86400 and parse_duration("250ms") == 0.25 and parse_duration(12) == 12
    assert parse_duration("5M") is None and parse_duration("-1s") is None and parse_duration(True) is None
    assert parse_duration(".inf") is None and parse_duration(float("inf")) is None
    assert parse_duration(float("inf"), finite=False) == float("inf")


def test_option_messages_unchanged():
    from fleetctl.plan.scale import check_options
    from fleetctl.pocket.staking import parse_stake

    assert parse_stake("60000 POKT") == 60_000_000_000 and parse_stake("5") == 5
    with pytest.raises(UserError, match=r"^--stake: expected an amount above 0 such as \"60000 POKT\" or "
                                        r"60000000000 \(upokt\), got '0'$"):
        parse_stake("0")
    with pytest.raises(UserError, match=r"^--budget: expected an amount such as \"120000 POKT\", got 'lots'$"):
        check_options(budget="lots")
    check_options(budget="120000 POKT")
    check_options(budget="120000000000")
