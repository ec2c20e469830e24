"""Till-side helpers for the sync tests: register, sell, redeem, check the ledger invariant."""

from __future__ import annotations

import time

from cardread import parse_card
from cardread.barcode import with_check_digit
from pos_client.services.checkout import Basket, Line, commit_sale
from pos_client.services.members import enroll, member_for_card
from pos_client.store import ledger
from sync.register import register_till


def loyalty(n: int) -> str:
    return with_check_digit(f"2900000{n:05d}")


def register(ctx, store, url: str) -> None:
    register_till(ctx, url, store.add_till(ctx.store_id, ctx.till_id))


def enrol(ctx, n: int, phone: str | None = None):
    return enroll(ctx, card=parse_card(loyalty(n)), phone=phone, name=f"Member {n}", consent=["email"])


def sell(ctx, card_no: int, cents: int):
    member = member_for_card(ctx, parse_card(loyalty(card_no)))
    basket = Basket(member_id=member.member_id, card_number=loyalty(card_no))
    basket.add(Line.keyed(cents))
    return commit_sale(ctx, basket)


def redeem(ctx, member_id: str, points: int) -> None:
    from pos_client.services.marketing.offline_policy import check_offline_redeem

    check_offline_redeem(ctx, member_id, points)
    ledger.append(ctx.conn, ctx.store_id, ctx.till_id, [
        ledger.Entry(member_id=member_id, kind="redeem", points=-points, reason="reward")])


def card_balance(ctx, card_no: int) -> int:
    return member_for_card(ctx, parse_card(loyalty(card_no))).balance


def assert_invariant(ctx) -> None:
    """Every balance equals the sum of that member's ledger rows and its opening balance's rows."""
    bad = ctx.conn.execute(
        "SELECT member_id, points, total FROM (SELECT b.member_id, b.points,"
        " COALESCE((SELECT SUM(points) FROM ledger l WHERE l.member_id = b.member_id), 0)"
        " + COALESCE((SELECT SUM(points) FROM opening_balances o WHERE o.member_id = b.member_id), 0) AS total"
        " FROM balances b) WHERE points != total").fetchall()
    assert [tuple(r) for r in bad] == []


def own_entries(ctx) -> int:
    return ctx.conn.execute("SELECT COUNT(*) FROM ledger WHERE store_id = ? AND till_id = ?",
                            (ctx.store_id, ctx.till_id)).fetchone()[0]


def bulk_earn(ctx, member_id: str, n: int, points: int = 1) -> None:
    """n waiting entries in one transaction (the bench's 'entries waiting after days offline')."""
    ledger.append(ctx.conn, ctx.store_id, ctx.till_id,
                  [ledger.Entry(member_id=member_id, kind="earn", points=points) for _ in range(n)])


def pos_cli_cmd() -> list[str]:
    """`python -m pos_client`, as a store's scripts run it."""
    import sys

    return [sys.executable, "-m", "pos_client"]


def wait_for(predicate, timeout: float = 10.0, interval: float = 0.02):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(interval)
