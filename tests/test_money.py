"""Money text in and out (issue 13): one parser and one formatter, by the till's decimal separator."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pos_client.domain.errors import UsageError
from pos_client.domain.money import MAX_AMOUNT_CENTS, format_cents, format_date, parse_amount
from pos_client.services.checkout_view import parse_entry


def test_comma_is_refused_and_explained_when_the_till_uses_a_point():
    """Finding: `12,50` was silently taken whatever the till's locale; now it is decided and said."""
    with pytest.raises(UsageError, match=r"this till uses '\.' for decimals"):
        parse_amount("12,50")
    assert parse_amount("12.50") == 1250


def test_comma_till_takes_comma_and_refuses_point():
    assert parse_amount("12,50", decimal_separator=",") == 1250
    assert parse_amount("12,5", decimal_separator=",") == 1250
    with pytest.raises(UsageError, match="this till uses ',' for decimals"):
        parse_amount("12.50", decimal_separator=",")


@pytest.mark.parametrize("text", ["1,250.00", "1.250,00", "1 250.00", "12.345", "12.", ".5", "abc", "", "--1"])
def test_grouped_or_malformed_amounts_are_refused(text):
    with pytest.raises(UsageError):
        parse_amount(text)


def test_huge_amount_says_too_large_with_the_maximum():
    """Finding: a huge amount said "not an amount" instead of "too large (max ...)"."""
    with pytest.raises(UsageError, match=r"too large \(max 999,999\.99\)"):
        parse_amount("99999999999")
    with pytest.raises(UsageError, match=r"too large \(max 999,999\.99\)"):
        parse_amount("1000000")
    assert parse_amount("999999.99") == MAX_AMOUNT_CENTS == 99_999_999
    with pytest.raises(UsageError, match=r"too large \(max 999 999,99\)"):
        parse_amount("1000000", decimal_separator=",")


def test_zero_is_refused_where_an_amount_must_be_positive():
    """Finding: `0` was accepted as a sale."""
    assert parse_amount("0") == 0  # a free product's price
    with pytest.raises(UsageError, match="must be more than 0"):
        parse_amount("0", positive=True)
    with pytest.raises(UsageError, match="must be more than 0"):
        parse_amount("0.00", positive=True)


def test_negative_only_when_allowed():
    with pytest.raises(UsageError, match="negative"):
        parse_amount("-1.00")
    assert parse_amount("-1.00", allow_negative=True) == -100


def test_format_groups_thousands_by_the_separator():
    assert format_cents(123456789, group=True) == "1,234,567.89"
    assert format_cents(-123456, group=True) == "-1,234.56"
    assert format_cents(5, group=True) == "0.05"
    assert format_cents(123456789, decimal_separator=",", group=True) == "1 234 567,89"
    assert format_cents(123456) == "1234.56"  # receipts keep their compact form
    assert format_cents(1250, "€") == "€12.50"


@given(st.integers(-MAX_AMOUNT_CENTS, MAX_AMOUNT_CENTS), st.sampled_from([".", ","]))
def test_format_then_parse_round_trips(cents, sep):
    text = format_cents(cents, decimal_separator=sep)
    assert parse_amount(text, decimal_separator=sep, allow_negative=True) == cents


def test_format_date_is_the_iso_day():
    assert format_date("2026-01-10T12:34:56.123+00:00") == "2026-01-10"
    assert format_date(date(2026, 3, 1)) == "2026-03-01"
    assert format_date(datetime(2026, 3, 1, 23, 59)) == "2026-03-01"
    assert format_date(None) == "-" and format_date("") == "-"


def test_app_item_slot_uses_the_same_parser():
    """Finding: the app's item slot must decide `12,50` the way the CLI does."""
    assert parse_entry("12.50 grocery").amount_cents == 1250
    with pytest.raises(UsageError, match=r"this till uses '\.' for decimals"):
        parse_entry("12,50")
    assert parse_entry("12,50 grocery", decimal_separator=",").amount_cents == 1250
    with pytest.raises(UsageError, match="too large"):
        parse_entry("1000000")
    with pytest.raises(UsageError, match="more than 0"):
        parse_entry("0")
