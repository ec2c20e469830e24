import itertools
from datetime import date, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pos_client.domain.dates import add_months
from pos_client.services.checkout import refund
from pos_client.services.marketing import expiry
from pos_client.store import ledger
from tests.marketing.helpers import new_member, sell

_homes = itertools.count()
NO_TIERS = {"tiers": [{"name": "Member", "min_spend_cents": 0, "multiplier_pct": 100}]}


def _expired(ctx, mid):
    return -ctx.conn.execute("SELECT COALESCE(SUM(points), 0) FROM ledger WHERE member_id = ? AND kind = 'expire'",
                             (mid,)).fetchone()[0]


def test_fifo_after_earning_is_idempotent(make_ctx):
    ctx = make_ctx({**NO_TIERS, "expiry": {"mode": "after_earning", "months": 12}})
    mid, _ = new_member(ctx)
    sell(ctx, mid, 10000, "2025-01-15")  # 100 points
    sell(ctx, mid, 5000, "2025-06-01")  # 50 points
    ledger.append(ctx.conn, ctx.store_id, ctx.till_id, [ledger.Entry(
        member_id=mid, kind="redeem", points=-30, created_at="2025-07-01T10:00:00+00:00")])  # eats the oldest
    assert expiry.run_expiry(ctx, "2026-01-14") == []  # nothing is 12 months old yet
    assert expiry.run_expiry(ctx, "2026-01-15") == [{"member_id": mid, "points": 70}]  # 100 - 30 spent
    assert expiry.run_expiry(ctx, "2026-01-15") == []  # idempotent
    assert expiry.run_expiry(ctx, "2026-01-20") == []
    assert expiry.run_expiry(ctx, "2026-06-01") == [{"member_id": mid, "points": 50}]
    assert ledger.balance(ctx.conn, mid) == 0 == ledger.ledger_sum(ctx.conn, mid)
    row = ctx.conn.execute("SELECT created_at, ref FROM ledger WHERE kind = 'expire' ORDER BY seq").fetchone()
    assert row["created_at"].startswith("2026-01-15") and row["ref"] == "expiry:2026-01-15"


def test_refunded_sale_points_are_not_expired_twice(make_ctx):
    ctx = make_ctx({**NO_TIERS, "expiry": {"mode": "after_earning", "months": 12}})
    mid, _ = new_member(ctx)
    sell(ctx, mid, 10000, "2025-01-15")
    s = sell(ctx, mid, 4000, "2025-01-16")
    refund(ctx, s.sale_id)  # refund cancels that sale's own bucket, not the oldest points
    assert expiry.run_expiry(ctx, "2026-02-01") == [{"member_id": mid, "points": 100}]
    assert ledger.balance(ctx.conn, mid) == 0


def test_expiring_soon_warns_within_30_days(make_ctx):
    ctx = make_ctx({**NO_TIERS, "expiry": {"mode": "after_earning", "months": 12}})
    mid, _ = new_member(ctx)
    sell(ctx, mid, 10000, "2025-01-15")
    sell(ctx, mid, 5000, "2025-03-01")
    assert expiry.expiring_soon(ctx, mid, 30, "2025-12-15") == {"points": 0, "by": None}
    assert expiry.expiring_soon(ctx, mid, 30, "2025-12-20") == {"points": 100, "by": "2026-01-19"}
    assert expiry.expiring_soon(ctx, mid, 90, "2025-12-20") == {"points": 150, "by": "2026-03-20"}


def test_inactivity_mode_expires_whole_balance(make_ctx):
    ctx = make_ctx({**NO_TIERS, "expiry": {"mode": "inactivity", "months": 6}})
    mid, _ = new_member(ctx)
    sell(ctx, mid, 10000, "2025-01-15")
    sell(ctx, mid, 5000, "2025-03-01")  # last purchase
    assert expiry.run_expiry(ctx, "2025-08-31") == []
    assert expiry.expiring_soon(ctx, mid, 30, "2025-08-15") == {"points": 150, "by": "2025-09-01"}
    assert expiry.run_expiry(ctx, "2025-09-01") == [{"member_id": mid, "points": 150}]
    assert expiry.run_expiry(ctx, "2025-09-01") == []
    assert _expired(ctx, mid) == 150


def test_none_mode(make_ctx):
    ctx = make_ctx({"expiry": {"mode": "none"}})
    mid, _ = new_member(ctx)
    sell(ctx, mid, 10000, "2020-01-15")
    assert expiry.run_expiry(ctx, "2026-01-01") == []


def test_receipt_warns_of_points_expiring_within_30_days(make_ctx):
    from pos_client.services.receipt import build_receipt

    ctx = make_ctx({**NO_TIERS, "expiry": {"mode": "after_earning", "months": 12}, "offers": []})
    mid, _ = new_member(ctx)
    sell(ctx, mid, 10000, "2025-01-15")
    s = sell(ctx, mid, 2000, "2025-12-20")
    from pos_client.services.marketing import expiry as exp

    assert exp.expiring_soon(ctx, mid, 30, "2025-12-20") == {"points": 100, "by": "2026-01-19"}
    text = build_receipt(ctx, s.sale_id).as_text()
    assert "Points this sale" in text and "120 pts" in text


# A reference model: a queue of (day earned, points) buckets, spent and expired oldest first.
_event = st.one_of(
    st.tuples(st.just("earn"), st.integers(0, 45), st.integers(1, 50)),
    st.tuples(st.just("spend"), st.integers(0, 45), st.integers(1, 80)),
    st.tuples(st.just("expire"), st.integers(0, 45), st.just(0)),
)


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(st.lists(_event, min_size=1, max_size=25))
def test_fifo_matches_a_queue_of_buckets(make_ctx, events):
    ctx = make_ctx({**NO_TIERS, "expiry": {"mode": "after_earning", "months": 2}}, name=f"q{next(_homes)}")
    mid, _ = new_member(ctx)
    queue: list[list] = []
    day = date(2025, 1, 1)
    for kind, gap, points in events:
        day += timedelta(days=gap)
        if kind == "earn":
            sell(ctx, mid, points * 100, day.isoformat())
            queue.append([day, points])
        elif kind == "spend" and sum(p for _, p in queue) >= points:
            ledger.append(ctx.conn, ctx.store_id, ctx.till_id, [ledger.Entry(
                member_id=mid, kind="redeem", points=-points, created_at=f"{day}T13:00:00+00:00")])
            while points:
                take = min(points, queue[0][1])
                queue[0][1] -= take
                points -= take
                if not queue[0][1]:
                    queue.pop(0)
        elif kind == "expire":
            cutoff = add_months(day, -2)
            expected = sum(p for d, p in queue if d <= cutoff)
            queue = [b for b in queue if b[0] > cutoff]
            got = expiry.run_expiry(ctx, day)
            assert sum(r["points"] for r in got) == expected
            day += timedelta(days=1)  # later events happen after the expiry run
        assert ledger.balance(ctx.conn, mid) == sum(p for _, p in queue) == ledger.ledger_sum(ctx.conn, mid)
