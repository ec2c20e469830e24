"""Sales, returns and the ledger invariants behind them."""

from __future__ import annotations

import sqlite3

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cardread import parse_card
from cardread.barcode import with_check_digit
from pos_client.domain.errors import Conflict, NotFound, RefusedInput, UsageError
from pos_client.services import catalog, checkout, members, program_settings
from pos_client.store import ledger

CARD = with_check_digit("290000000001")
OIL = catalog.Product("OIL1", "4006381333931", "Olive oil 1L", "food", 1299)
SOAP = catalog.Product("SOAP", "96385074", "Olive soap", "hygiene", 450)
CIGS = catalog.Product("CIG", "036000291452", "Cigarettes", "tobacco", 1100)


@pytest.fixture
def shop(till):
    catalog.upsert_products(till, [OIL, SOAP, CIGS])
    member = members.enroll(till, card=parse_card(CARD), name="Ana")
    return till, member


def basket_for(member, *items):
    b = checkout.Basket(member_id=member.member_id, card_number=CARD)
    for product, qty in items:
        b.add(checkout.Line.of_product(product, qty))
    return b


def test_sale_earns_points_and_writes_everything_together(shop):
    ctx, m = shop
    r = checkout.commit_sale(ctx, basket_for(m, (OIL, 2), (CIGS, 1)))
    assert r.points_earned == 25 and r.balance == 25
    assert ledger.balance(ctx.conn, m.member_id) == ledger.ledger_sum(ctx.conn, m.member_id) == 25
    assert ctx.conn.execute("SELECT COUNT(*) FROM sale_lines WHERE sale_id = ?", (r.sale_id,)).fetchone()[0] == 2


def test_same_sale_twice_earns_once(shop):
    ctx, m = shop
    first = checkout.commit_sale(ctx, basket_for(m, (OIL, 1)), sale_id="S-1")
    again = checkout.commit_sale(ctx, basket_for(m, (OIL, 1)), sale_id="S-1")
    assert again.replayed and again.points_earned == first.points_earned and again.balance == first.balance
    assert ledger.balance(ctx.conn, m.member_id) == 12


def test_different_sale_under_same_id_is_refused(shop):
    ctx, m = shop
    checkout.commit_sale(ctx, basket_for(m, (OIL, 1)), sale_id="S-1")
    with pytest.raises(Conflict):
        checkout.commit_sale(ctx, basket_for(m, (OIL, 2)), sale_id="S-1")


def test_empty_basket_and_negative_lines_refused(shop):
    ctx, _m = shop
    with pytest.raises(UsageError):
        checkout.commit_sale(ctx, checkout.Basket())
    with pytest.raises(UsageError):
        checkout.Basket().add(checkout.Line.keyed(-5))


def test_anonymous_sale_earns_nothing(shop):
    ctx, _ = shop
    b = checkout.Basket()
    b.add(checkout.Line.of_product(OIL))
    assert checkout.commit_sale(ctx, b).points_earned == 0


def test_buy_earn_refund_keeps_no_points(shop):
    ctx, m = shop
    r = checkout.commit_sale(ctx, basket_for(m, (OIL, 3), (SOAP, 1)))
    for _ in range(3):
        checkout.refund(ctx, r.sale_id, {OIL.ean: 1})
    checkout.refund(ctx, r.sale_id, {SOAP.sku: 1})
    assert ledger.balance(ctx.conn, m.member_id) == 0 == ledger.ledger_sum(ctx.conn, m.member_id)
    with pytest.raises(RefusedInput):
        checkout.refund(ctx, r.sale_id)


def test_refund_replay_by_id_applies_once(shop):
    ctx, m = shop
    r = checkout.commit_sale(ctx, basket_for(m, (OIL, 2)))
    a = checkout.refund(ctx, r.sale_id, {OIL.ean: 1}, refund_id="R-1")
    b = checkout.refund(ctx, r.sale_id, {OIL.ean: 1}, refund_id="R-1")
    assert b.replayed and a.points_reversed == b.points_reversed
    assert ledger.balance(ctx.conn, m.member_id) == 25 - a.points_reversed


def test_refund_more_than_sold_is_refused(shop):
    ctx, m = shop
    r = checkout.commit_sale(ctx, basket_for(m, (OIL, 1)))
    with pytest.raises(RefusedInput):
        checkout.refund(ctx, r.sale_id, {OIL.ean: 2})
    with pytest.raises(NotFound):
        checkout.refund(ctx, r.sale_id, {SOAP.ean: 1})
    with pytest.raises(NotFound):
        checkout.refund(ctx, "nope")


def test_blocked_card_cannot_earn(shop):
    ctx, m = shop
    new = with_check_digit("290000000002")
    members.replace_card(ctx, parse_card(CARD), parse_card(new))
    with pytest.raises(RefusedInput):
        members.member_for_card(ctx, parse_card(CARD))
    with pytest.raises(RefusedInput):
        checkout.commit_sale(ctx, basket_for(m, (OIL, 1)))


def test_a_refused_card_leaves_no_sale_and_a_replay_still_answers(shop):
    """The sale row goes in first (a replay is found by its insert): a refusal after it rolls it back, and a sale
    recorded before its card was blocked still replays."""
    ctx, m = shop
    first = checkout.commit_sale(ctx, basket_for(m, (OIL, 1)), sale_id="S-B")
    members.replace_card(ctx, parse_card(CARD), parse_card(with_check_digit("290000000002")))
    again = checkout.commit_sale(ctx, basket_for(m, (OIL, 1)), sale_id="S-B")
    assert again.replayed and again.balance == first.balance and again.points_earned == first.points_earned
    with pytest.raises(RefusedInput):
        checkout.commit_sale(ctx, basket_for(m, (OIL, 1)), sale_id="S-C")
    assert ctx.conn.execute("SELECT COUNT(*) FROM sales WHERE sale_id = 'S-C'").fetchone()[0] == 0
    assert ledger.balance(ctx.conn, m.member_id) == ledger.ledger_sum(ctx.conn, m.member_id) == first.balance


def test_ledger_is_append_only(shop):
    ctx, m = shop
    checkout.commit_sale(ctx, basket_for(m, (OIL, 1)))
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        ctx.conn.execute("UPDATE ledger SET points = 1000")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        ctx.conn.execute("DELETE FROM ledger")


def test_failed_transaction_leaves_nothing(shop):
    ctx, m = shop

    def boom(*_):
        raise RuntimeError("power cut")

    ctx.extensions.sale_observers.append(boom)
    try:
        with pytest.raises(RuntimeError):
            checkout.commit_sale(ctx, basket_for(m, (OIL, 1)), sale_id="S-X")
    finally:
        ctx.extensions.sale_observers.remove(boom)
    assert ctx.conn.execute("SELECT COUNT(*) FROM sales").fetchone()[0] == 0
    assert ledger.balance(ctx.conn, m.member_id) == 0 == ledger.ledger_sum(ctx.conn, m.member_id)


def test_ledger_sequence_is_gap_free_per_till(shop):
    ctx, m = shop
    for _ in range(5):
        checkout.commit_sale(ctx, basket_for(m, (OIL, 1)))
    seqs = [r[0] for r in ctx.conn.execute("SELECT seq FROM ledger ORDER BY seq")]
    assert seqs == list(range(1, len(seqs) + 1))


def _statements_of_one_sale(ctx, basket) -> tuple[list[str], list[str]]:
    """(what ran before BEGIN IMMEDIATE, what ran inside the sale's transaction), a statement per entry: trigger
    bodies and executemany rows trace as repeats of their statement, counted once."""
    seen: list[str] = []
    ctx.conn.set_trace_callback(seen.append)
    try:
        checkout.commit_sale(ctx, basket)
    finally:
        ctx.conn.set_trace_callback(None)
    assert seen.count("BEGIN IMMEDIATE") == 1 and seen.count("COMMIT") == 1  # one write transaction
    begin, end = seen.index("BEGIN IMMEDIATE"), seen.index("COMMIT")
    inside = [s for i, s in enumerate(seen[begin + 1:end]) if i == 0 or s[:40] != seen[begin + i][:40]]
    return seen[:begin], inside


def test_a_member_sale_holds_the_write_lock_for_few_statements(shop):
    """bench sale_commit: every statement between BEGIN IMMEDIATE and COMMIT is on the sale's latency, with every
    hook on (coupons, tiers, lifecycle, the point_months trigger). The earning rules are read before the lock, a
    replay is found by the sale's own insert, and the hooks read only what can change their outcome (27 before).
    The program (rules marker, tier ladder) is read once before the lock (`TillContext.pinned`), not by each hook."""
    ctx, m = shop
    checkout.commit_sale(ctx, basket_for(m, (OIL, 1)))  # the member has a stage and a balance now
    before, inside = _statements_of_one_sale(ctx, basket_for(m, (OIL, 2), (SOAP, 1)))
    assert any("program_rules_at" in s for s in before)
    assert not any(s.startswith("SELECT * FROM sales") for s in inside)
    assert inside[0].startswith("INSERT INTO sales")
    assert not any("sync_rules" in s or "sync_state" in s for s in inside), inside
    assert len(inside) <= 12, inside  # 14 while each hook read the program itself


ops = st.lists(st.one_of(
    st.tuples(st.just("sale"), st.integers(0, 4), st.integers(1, 3), st.integers(0, 3)),
    st.tuples(st.just("refund"), st.integers(0, 30), st.integers(0, 3), st.booleans()),
    st.tuples(st.just("replay"), st.integers(0, 30), st.just(0), st.just(0)),
), max_size=25)


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(ops)
def test_balance_always_equals_ledger_sum(tmp_path_factory, script):
    from pos_client.till import open_till

    ctx = open_till(tmp_path_factory.mktemp("prop"))
    try:
        catalog.upsert_products(ctx, [OIL, SOAP, CIGS])
        m = members.enroll(ctx, card=parse_card(CARD))
        products = [OIL, SOAP, CIGS]
        sales: list[tuple[str, checkout.Basket]] = []
        for op, a, b, c in script:
            try:
                if op == "sale":
                    basket = basket_for(m, (products[a % 3], b), (products[c % 3], 1))
                    sales.append((checkout.commit_sale(ctx, basket).sale_id, basket))
                elif op == "refund" and sales:
                    sid = sales[a % len(sales)][0]
                    checkout.refund(ctx, sid, None if c else {str(b % 2 + 1): 1})
                elif op == "replay" and sales:
                    sid, basket = sales[a % len(sales)]
                    assert checkout.commit_sale(ctx, basket, sale_id=sid).replayed
            except (RefusedInput, NotFound):
                pass
            assert ledger.balance(ctx.conn, m.member_id) == ledger.ledger_sum(ctx.conn, m.member_id)
        assert ledger.balance(ctx.conn, m.member_id) >= 0
        for sid, _ in sales:  # buy, earn, refund: nothing may be left, tier bonuses included
            try:
                checkout.refund(ctx, sid)
            except RefusedInput:
                pass
        assert ledger.balance(ctx.conn, m.member_id) == 0 == ledger.ledger_sum(ctx.conn, m.member_id)
    finally:
        ctx.close()


def test_a_pin_reads_the_program_once_and_ends_with_the_sale(shop):
    """`TillContext.pinned`: inside, the tier ladder and rules are read once (a sale: before its lock); after it,
    every read asks again, so a pull that changed the program between two sales is seen by the second."""
    ctx, m = shop
    with ctx.pinned():
        ladder, rules = program_settings.tiers(ctx), ctx.rules
        with ctx.pinned():  # joins the outer pin
            assert program_settings.tiers(ctx) is ladder and ctx.rules is rules
    assert program_settings.tiers(ctx) is not ladder
    with pytest.raises(UsageError):
        checkout.commit_sale(ctx, checkout.Basket(member_id=m.member_id))  # empty: refused before the pin
    checkout.commit_sale(ctx, basket_for(m, (OIL, 1)))
    assert ctx.memo("tiers", object) is not ctx.memo("tiers", object)  # no pin left behind by the sale
