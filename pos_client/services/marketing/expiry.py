"""Points expiry, written as 'expire' entries in the ledger.

Two modes (`[program.expiry]`): `after_earning` - points expire `months` after they were
earned, oldest first (FIFO: redemptions and adjustments consume the oldest points first);
`inactivity` - the whole balance expires after `months` without a purchase.

Idempotent by construction: what has already expired is subtracted, so running twice for the
same day (or an earlier one) expires nothing more.
"""

from __future__ import annotations

from datetime import date

from pos_client.domain.dates import add_months, as_date, day_of, end_of_day, plus_days
from pos_client.services.marketing.settings import expiry as expiry_rules
from pos_client.store import ledger
from pos_client.store.context import TillContext
from pos_client.store.db import write_txn


def _entries(ctx: TillContext, member_id: str, upto: date) -> list[dict]:
    return [dict(r) for r in ctx.conn.execute(
        "SELECT kind, points, sale_id, created_at FROM ledger WHERE member_id = ? AND substr(created_at, 1, 10) <= ?"
        " ORDER BY created_at, seq", (member_id, upto.isoformat()))]


def _fifo_expirable(ctx: TillContext, member_id: str, cutoff: date, upto: date) -> int:
    """Points earned on or before `cutoff`, not yet spent, reversed or expired, counting entries up to `upto`.

    Entries tied to a sale (earn, tier bonus, refund reversal) net into one bucket dated at the
    sale, so a refund cancels that sale's points rather than the oldest ones.
    """
    buckets: dict[str, list] = {}  # key -> [day, points]
    outgoing = 0
    expired = -ctx.conn.execute(
        "SELECT COALESCE(SUM(points), 0) FROM ledger WHERE member_id = ? AND kind = 'expire'",
        (member_id,)).fetchone()[0]
    for i, e in enumerate(_entries(ctx, member_id, upto)):
        if e["kind"] == "expire":
            continue
        if e["sale_id"] and e["kind"] in ("earn", "bonus", "reverse"):
            bucket = buckets.setdefault("sale:" + e["sale_id"], [day_of(e["created_at"]), 0])
            bucket[1] += e["points"]
        elif e["points"] > 0:
            buckets[f"entry:{i}"] = [day_of(e["created_at"]), e["points"]]
        else:
            outgoing -= e["points"]
    old = sum(max(p, 0) for d, p in buckets.values() if d <= cutoff)
    outgoing += -sum(min(p, 0) for _, p in buckets.values())
    return max(0, old - outgoing - expired)


def _last_purchase(ctx: TillContext, member_id: str, upto: date) -> date | None:
    row = ctx.conn.execute(
        "SELECT MAX(substr(created_at, 1, 10)) FROM sales WHERE member_id = ? AND substr(created_at, 1, 10) <= ?",
        (member_id, upto.isoformat())).fetchone()
    if row[0]:
        return date.fromisoformat(row[0])
    row = ctx.conn.execute("SELECT substr(created_at, 1, 10) FROM members WHERE member_id = ?",
                           (member_id,)).fetchone()
    return date.fromisoformat(row[0]) if row else None


def _balance_upto(ctx: TillContext, member_id: str, upto: date) -> int:
    return int(ctx.conn.execute(
        "SELECT COALESCE(SUM(points), 0) FROM ledger WHERE member_id = ? AND substr(created_at, 1, 10) <= ?",
        (member_id, upto.isoformat())).fetchone()[0])


def due(ctx: TillContext, member_id: str, as_of: date | str | None = None) -> int:
    """Points that should expire for this member as of the day (0 when nothing is due)."""
    day = as_date(as_of)
    rules = expiry_rules(ctx)
    if rules["mode"] == "none":
        return 0
    if rules["mode"] == "inactivity":
        last = _last_purchase(ctx, member_id, day)
        if last is None or add_months(last, rules["months"]) > day:
            return 0
        points = _balance_upto(ctx, member_id, day)
    else:
        points = _fifo_expirable(ctx, member_id, add_months(day, -rules["months"]), day)
    return max(0, min(points, ledger.balance(ctx.conn, member_id)))


def run_expiry(ctx: TillContext, as_of: date | str | None = None) -> list[dict]:
    """Write the expiry entries due as of the day, for every member, in one transaction."""
    day = as_date(as_of)
    rules = expiry_rules(ctx)
    out: list[dict] = []
    with write_txn(ctx.conn):
        members = [r[0] for r in ctx.conn.execute(
            "SELECT member_id FROM balances WHERE points > 0 ORDER BY member_id")]
        for member_id in members:
            points = due(ctx, member_id, day)
            if points > 0:
                ledger.append(ctx.conn, ctx.store_id, ctx.till_id, [ledger.Entry(
                    member_id=member_id, kind="expire", points=-points, created_at=end_of_day(day),
                    reason=f"expiry:{rules['mode']}", ref=f"expiry:{day.isoformat()}", operator=ctx.operator)])
                out.append({"member_id": member_id, "points": points})
    return out


def expiring_soon(ctx: TillContext, member_id: str, days: int = 30, as_of: date | str | None = None) -> dict:
    """Points that will expire within `days` if nothing changes: {"points", "by"} for the receipt."""
    day = as_date(as_of)
    horizon = plus_days(day, days)
    rules = expiry_rules(ctx)
    if rules["mode"] == "none":
        return {"points": 0, "by": None}
    if rules["mode"] == "inactivity":
        last = _last_purchase(ctx, member_id, day)
        if last is None:
            return {"points": 0, "by": None}
        when = add_months(last, rules["months"])
        points = _balance_upto(ctx, member_id, day) if when <= horizon else 0
        return {"points": max(0, points), "by": when.isoformat() if points > 0 else None}
    points = _fifo_expirable(ctx, member_id, add_months(horizon, -rules["months"]), day)
    points = max(0, min(points, ledger.balance(ctx.conn, member_id)))
    return {"points": points, "by": horizon.isoformat() if points else None}
