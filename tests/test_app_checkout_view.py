"""The checkout screen's plain helpers: what the item slot accepts and the points preview."""

from __future__ import annotations

from datetime import date

import pytest

from pos_client.domain.errors import UsageError
from pos_client.services.checkout import Basket, Line, commit_sale
from pos_client.services.checkout_view import Entry, member_summary, parse_entry, preview_points
from tests.test_app_support import make_till


def test_parse_entry_codes_amounts_and_categories():
    assert parse_entry("4006381333931") == Entry(code="4006381333931")
    assert parse_entry("3*4006381333931") == Entry(code="4006381333931", qty=3)
    assert parse_entry(" 2 x 96385074 ") == Entry(code="96385074", qty=2)
    assert parse_entry("12.50") == Entry(amount_cents=1250)
    assert parse_entry("12,5 Gift card", decimal_separator=",") == Entry(amount_cents=1250, category="gift_card")
    for bad in ("", "abc", "0", "12.345", "-3", "0*4006381333931"):
        with pytest.raises(UsageError):
            parse_entry(bad)


def test_preview_matches_what_the_sale_earns(tmp_path):
    ctx, member = make_till(tmp_path, with_history=False)
    basket = Basket(member_id=member.member_id)
    for cents, category in ((1999, "grocery"), (5000, "tobacco"), (101, "bakery")):
        basket.add(Line.keyed(cents, category))
    assert preview_points(ctx, Basket()) == 0
    preview = preview_points(ctx, basket, date(2026, 11, 23))
    assert preview == 21  # 19.99 + 1.01 qualify, tobacco excluded
    assert commit_sale(ctx, basket, created_at="2026-11-23T12:00:00+00:00").points_earned == preview
    summary = member_summary(ctx, member.member_id)
    assert (summary.name, summary.balance, summary.visits[0].day) == ("Ada Lovelace", 21, "2026-11-23")
    assert summary.visits[0].items == ("Grocery", "Tobacco", "Bakery")
    assert "12 34" not in summary.phone and summary.phone.endswith("678")
