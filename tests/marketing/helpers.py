"""Small builders for the marketing tests (members with cards, sales on a given day)."""

from __future__ import annotations

import itertools

from cardread import parse_card
from cardread.barcode import with_check_digit
from pos_client.services.catalog import Product
from pos_client.services.checkout import Basket, Line, commit_sale
from pos_client.services.members import enroll

_cards = itertools.count(1)


PRODUCTS = [
    Product("COFFEE", None, "Coffee beans 1kg", "grocery", 1500),
    Product("DOGFOOD", None, "Dog food 10kg", "pet", 4000),
    Product("CIGS", None, "Cigarettes", "tobacco", 1000),
]


def card_data() -> str:
    return with_check_digit(f"29{next(_cards):010d}")


def new_member(ctx, **kw):
    data = card_data()
    member = enroll(ctx, card=parse_card(data, loyalty_prefixes=("29",)), **kw)
    return member.member_id, data


def sell(ctx, member_id, amount_cents, day, category="general", sale_id=None, coupon=None, lines=None):
    """Commit a one-line sale (or the given lines) on a day (YYYY-MM-DD)."""
    basket = Basket(member_id=member_id)
    for line in lines or [Line.keyed(amount_cents, category)]:
        basket.add(line)
    if coupon:
        from pos_client.services.marketing.coupons import apply_coupon

        apply_coupon(ctx, basket, coupon, as_of=day)
    return commit_sale(ctx, basket, sale_id=sale_id, created_at=f"{day}T12:00:00+00:00")
