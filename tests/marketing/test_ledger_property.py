"""Property: whatever mix of sales, refunds, redemptions, coupons, expiries and tier changes,
every balance equals its ledger sum, replays count nothing twice, and a fully refunded sale
nets to zero points (tier bonus included)."""

import tempfile
from datetime import date, timedelta
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pos_client.domain.errors import PosError
from pos_client.services.checkout import Basket, Line, commit_sale, refund
from pos_client.services.marketing import coupons, expiry, rewards, tiers
from pos_client.services.marketing.manager import hash_pin
from pos_client.store import ledger
from pos_client.store.config import write_config
from pos_client.till import open_till
from tests.marketing.helpers import new_member

PIN = "2468"
# short expiry and low tier thresholds so a short sequence meets every rule
PROGRAM = {"program": {
    "expiry": {"mode": "after_earning", "months": 2},
    "tiers": [{"name": "Member", "min_spend_cents": 0, "multiplier_pct": 100},
              {"name": "Silver", "min_spend_cents": 20000, "multiplier_pct": 125},
              {"name": "Gold", "min_spend_cents": 100000, "multiplier_pct": 150}],
}}
START = date(2025, 1, 1)

sale = st.tuples(st.just("sale"), st.integers(0, 2), st.integers(1, 2000).map(lambda n: n * 100 + 37),
                 st.sampled_from(["general", "general", "tobacco"]), st.integers(0, 60))
op = st.one_of(
    sale, sale,
    st.tuples(st.just("refund"), st.integers(0, 50), st.booleans()),
    st.tuples(st.just("redeem"), st.integers(0, 2), st.sampled_from(["R500", "COFFEE", "GIFT20"]),
              st.one_of(st.none(), st.integers(1, 400))),
    st.tuples(st.just("coupon_sale"), st.integers(0, 2), st.integers(600, 5000)),
    st.tuples(st.just("expire"), st.integers(0, 200)),
    st.tuples(st.just("tiers"), st.integers(0, 200)),
)


@settings(max_examples=50, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(st.lists(op, min_size=5, max_size=30))
def test_balance_is_always_the_ledger_sum(ops):
    with tempfile.TemporaryDirectory() as tmp:
        write_config(Path(tmp), PROGRAM)
        ctx = open_till(tmp)
        try:
            _run(ctx, ops)
        finally:
            ctx.close()


def _run(ctx, ops):
    # a cheap hash keeps the property fast; the cost is stored with the hash, so checks use it
    ctx.conn.execute("INSERT INTO managers VALUES ('m1', 'Prop', ?, 'x')", (hash_pin(PIN, n=2**8),))
    members = [new_member(ctx)[0] for _ in range(3)]
    day = START
    sales: list[str] = []
    fully_refunded: set[str] = set()
    unused: list[tuple[str, str]] = []  # (member, coupon code)
    for i, m in enumerate(members):  # opening purchases, so redemptions can happen
        basket = Basket(member_id=m)
        basket.add(Line.keyed(30000 * (i + 1)))
        sales.append(commit_sale(ctx, basket, sale_id=f"o{i}", created_at=f"{day}T09:00:00+00:00").sale_id)
    for step in ops:
        kind = step[0]
        if kind == "sale":
            _, who, cents, category, gap = step
            day += timedelta(days=gap)
            basket = Basket(member_id=members[who])
            basket.add(Line.keyed(cents, category))
            sid = f"s{len(sales)}"
            first = commit_sale(ctx, basket, sale_id=sid, created_at=f"{day}T10:00:00+00:00")
            again = commit_sale(ctx, basket, sale_id=sid, created_at=f"{day}T10:00:00+00:00")
            assert again.replayed and ledger.balance(ctx.conn, members[who]) == first.balance
            sales.append(sid)
        elif kind == "refund" and sales:
            _, pick, whole = step
            sid = sales[pick % len(sales)]
            try:
                refund(ctx, sid, None if whole else {"1": 1}, refund_id=f"r-{sid}-{pick}")
                refund(ctx, sid, None if whole else {"1": 1}, refund_id=f"r-{sid}-{pick}")  # replay
            except PosError:
                pass
            left = ctx.conn.execute(
                "SELECT SUM(l.qty) - COALESCE((SELECT SUM(qty) FROM refund_lines r WHERE r.sale_id = ?), 0)"
                " FROM sale_lines l WHERE l.sale_id = ?", (sid, sid)).fetchone()[0]
            if left == 0:
                fully_refunded.add(sid)
        elif kind == "redeem":
            _, who, reward, points = step
            try:
                out = rewards.redeem(ctx, members[who], reward, PIN, points=points if reward == "GIFT20" else None)
                unused.append((members[who], out["coupon"]))
            except PosError:
                pass
        elif kind == "coupon_sale" and unused:
            _, who, cents = step
            _, code = unused.pop()
            basket = Basket(member_id=members[who])
            basket.add(Line.keyed(cents))
            try:
                coupons.apply_coupon(ctx, basket, code, as_of=day)
                sale = commit_sale(ctx, basket, sale_id=f"c{len(sales)}", created_at=f"{day}T11:00:00+00:00")
                sales.append(sale.sale_id)
            except PosError:
                pass
        elif kind == "expire":
            as_of = day + timedelta(days=step[1])
            expiry.run_expiry(ctx, as_of)
            assert expiry.run_expiry(ctx, as_of) == []  # never expires twice
        elif kind == "tiers":
            as_of = day + timedelta(days=step[1])
            tiers.evaluate_tiers(ctx, as_of)
            assert tiers.evaluate_tiers(ctx, as_of) == []
        for m in members:
            assert ledger.balance(ctx.conn, m) == ledger.ledger_sum(ctx.conn, m)
    for sid in fully_refunded:
        net = ctx.conn.execute("SELECT COALESCE(SUM(points), 0) FROM ledger WHERE sale_id = ? AND kind != 'expire'",
                               (sid,)).fetchone()[0]
        assert net == 0, sid
    entries = ctx.conn.execute("SELECT COUNT(*), COUNT(DISTINCT entry_id) FROM ledger").fetchone()
    assert entries[0] == entries[1]
