"""Points expiry, written as 'expire' entries in the ledger.

Two modes (`[program.expiry]`): `after_earning` - points expire `months` after they were
earned, oldest first (FIFO: redemptions and adjustments consume the oldest points first);
`inactivity` - the whole balance expires after `months` without a purchase.

Idempotent by construction: what has already expired is subtracted, so running twice for the
same day (or an earlier one) expires nothing more. The day's upkeep (`upkeep.py`) runs it for every
day in order; `liability_as_of` gives the points-liability report the expiry due by a past day.
"""

from __future__ import annotations

from datetime import date
from typing import Any, TypedDict

from pos_client.domain.dates import add_months, as_date, end_of_day, plus_days
from pos_client.services.program_settings import expiry as expiry_rules
from pos_client.store import ledger
from pos_client.store.context import TillContext
from pos_client.store.db import write_txn

# Only the members whose home store is the given one (head office's per-store points liability).
_OF_STORE = "member_id IN (SELECT member_id FROM members WHERE store_id = ?)"


class ExpiringSoon(TypedDict):
    """Points that will expire by a day if nothing changes (the receipt's warning); by is None when none."""

    points: int
    by: str | None


# The FIFO rule as one SQL statement, so a day's upkeep for a million members is one pass over the ledger.
# Buckets: the entries tied to a sale (earn, tier bonus, refund reversal) net into one bucket dated at the
# sale's first entry; any other entry but an expiry is a bucket of its own. Positive buckets dated on or before
# the cutoff are "old"; negative ones are points spent (redemptions, adjustments, reversals beyond the sale).
# Spent and already-expired points come out of the old ones first.
_FIFO_SQL = """
WITH e AS (
    SELECT member_id, kind, points, sale_id, substr(created_at, 1, 10) AS d FROM ledger
    WHERE substr(created_at, 1, 10) <= :upto AND {members}
), b AS (
    SELECT member_id, MIN(d) AS d, SUM(points) AS p FROM e
    WHERE sale_id IS NOT NULL AND kind IN ('earn', 'bonus', 'reverse') GROUP BY member_id, sale_id
    UNION ALL
    SELECT member_id, d, points FROM e
    WHERE kind != 'expire' AND NOT (sale_id IS NOT NULL AND kind IN ('earn', 'bonus', 'reverse'))
)
SELECT member_id, SUM(CASE WHEN p > 0 AND d <= :cutoff THEN p ELSE 0 END) AS old,
       -SUM(CASE WHEN p < 0 THEN p ELSE 0 END) AS spent
FROM b GROUP BY member_id
"""


def _fifo_old_and_spent(ctx: TillContext, cutoff: date, upto: date, member_id: str | None,
                        store_id: str | None = None) -> dict[str, tuple[int, int]]:
    """member -> (points earned on or before `cutoff`, points spent), counting entries up to `upto` (with
    `store_id`: only the members whose home store it is)."""
    members = "member_id = :member" if member_id else "member_id IN (SELECT member_id FROM balances WHERE points != 0)"
    if store_id is not None:
        members += " AND member_id IN (SELECT member_id FROM members WHERE store_id = :store)"
    rows = ctx.conn.execute(_FIFO_SQL.format(members=members), {"upto": upto.isoformat(), "cutoff": cutoff.isoformat(),
                                                                 "member": member_id, "store": store_id})
    return {r[0]: (int(r[1]), int(r[2])) for r in rows}


def _expired(ctx: TillContext, upto: date | None, member_id: str | None, store_id: str | None = None
             ) -> dict[str, int]:
    """Points already expired per member (all of them, or those written up to a day)."""
    where = ["kind = 'expire'"]
    params: list[str] = []
    if store_id is not None:
        where.append(_OF_STORE)
        params.append(store_id)
    if upto is not None:
        where.append("substr(created_at, 1, 10) <= ?")
        params.append(upto.isoformat())
    if member_id:
        where.append("member_id = ?")
        params.append(member_id)
    return {r[0]: -int(r[1]) for r in ctx.conn.execute(
        f"SELECT member_id, SUM(points) FROM ledger WHERE {' AND '.join(where)} GROUP BY member_id", params)}


def _balances_upto(ctx: TillContext, upto: date, member_id: str | None, store_id: str | None = None
                   ) -> dict[str, int]:
    sql = "SELECT member_id, SUM(points) FROM ledger WHERE substr(created_at, 1, 10) <= ?"
    params: list[str] = [upto.isoformat()]
    if store_id is not None:
        sql += f" AND {_OF_STORE}"
        params.append(store_id)
    if member_id:
        sql += " AND member_id = ?"
        params.append(member_id)
    return {r[0]: int(r[1]) for r in ctx.conn.execute(sql + " GROUP BY member_id", params)}


def _current_balances(ctx: TillContext, member_id: str | None) -> dict[str, int]:
    if member_id:
        return {member_id: ledger.balance(ctx.conn, member_id)}
    return {r[0]: int(r[1]) for r in ctx.conn.execute("SELECT member_id, points FROM balances WHERE points > 0")}


def _last_purchases(ctx: TillContext, upto: date, member_id: str | None) -> dict[str, date]:
    """The last purchase day on or before `upto`, else the day the member joined (inactivity mode)."""
    one = " AND member_id = ?" if member_id else ""
    params: tuple[str, ...] = (member_id,) if member_id else ()
    out = {r[0]: date.fromisoformat(r[1]) for r in ctx.conn.execute(
        "SELECT member_id, substr(created_at, 1, 10) FROM members WHERE true" + one, params)}
    out.update({r[0]: date.fromisoformat(r[1]) for r in ctx.conn.execute(
        "SELECT member_id, MAX(substr(created_at, 1, 10)) FROM sales WHERE member_id IS NOT NULL"
        " AND substr(created_at, 1, 10) <= ?" + one + " GROUP BY member_id", (upto.isoformat(), *params))})
    return out


def due_by_member(ctx: TillContext, as_of: date | str | None = None, *, member_id: str | None = None,
                  historical: bool = False, store_id: str | None = None) -> dict[str, int]:
    """Points due to expire as of the end of the day, per member (members with nothing due are left out).

    At the till (`historical=False`) every expiry already written counts as done and nothing is taken
    beyond today's balance: running a day twice, or an earlier day later, expires nothing more. For a
    report as of a past day (`historical=True`) only the ledger up to that day counts.
    """
    day = as_date(as_of)
    rules = expiry_rules(ctx)
    if rules["mode"] == "none":
        return {}
    expired = _expired(ctx, day if historical else None, member_id, store_id)
    upto = _balances_upto(ctx, day, member_id, store_id)
    cap = upto if historical else {m: min(b, upto.get(m, 0)) for m, b in _current_balances(ctx, member_id).items()}
    out: dict[str, int] = {}
    if rules["mode"] == "inactivity":
        last = _last_purchases(ctx, day, member_id)
        for m, held in cap.items():
            if m in last and add_months(last[m], rules["months"]) <= day:
                points = min(upto.get(m, 0), held)
                if points > 0:
                    out[m] = points
        return out
    for m, (old, spent) in _fifo_old_and_spent(ctx, add_months(day, -rules["months"]), day, member_id,
                                               store_id).items():
        points = min(old - spent - expired.get(m, 0), cap.get(m, 0))
        if points > 0:
            out[m] = points
    return out


def due(ctx: TillContext, member_id: str, as_of: date | str | None = None) -> int:
    """Points that should expire for this member as of the day (0 when nothing is due)."""
    return due_by_member(ctx, as_of, member_id=member_id).get(member_id, 0)


def run_expiry(ctx: TillContext, as_of: date | str | None = None) -> list[dict[str, Any]]:
    """Write the expiry entries due as of the day, for every member, in one transaction.

    Each entry is dated at the end of the day (after that day's sales), ref `expiry:DAY`.
    """
    day = as_date(as_of)
    rules = expiry_rules(ctx)
    with write_txn(ctx.conn):
        dues = sorted(due_by_member(ctx, day).items())
        if dues:
            ledger.append(ctx.conn, ctx.store_id, ctx.till_id, [ledger.Entry(
                member_id=m, kind="expire", points=-points, created_at=end_of_day(day),
                reason=f"expiry:{rules['mode']}", ref=f"expiry:{day.isoformat()}", operator=ctx.operator)
                for m, points in dues])
    return [{"member_id": m, "points": points} for m, points in dues]


def liability_as_of(ctx: TillContext, as_of: date | str | None = None, store_id: str | None = None) -> dict[str, int]:
    """Points members held at the end of the day once the expiry due by then is taken off, per member.

    What the points-liability report counts: a till that has not run its upkeep for a while (or a
    head-office snapshot) still reports what members could really spend on that day.
    """
    day = as_date(as_of)
    dues = due_by_member(ctx, day, historical=True, store_id=store_id)
    held = {m: b - dues.get(m, 0) for m, b in _balances_upto(ctx, day, None, store_id).items()}
    return {m: b for m, b in held.items() if b > 0}


def expiring_soon(ctx: TillContext, member_id: str, days: int = 30, as_of: date | str | None = None) -> ExpiringSoon:
    """Points that will expire within `days` if nothing changes: {"points", "by"} for the receipt."""
    day = as_date(as_of)
    horizon = plus_days(day, days)
    rules = expiry_rules(ctx)
    if rules["mode"] == "none":
        return {"points": 0, "by": None}
    if rules["mode"] == "inactivity":
        last = _last_purchases(ctx, day, member_id).get(member_id)
        if last is None:
            return {"points": 0, "by": None}
        when = add_months(last, rules["months"])
        points = _balances_upto(ctx, day, member_id).get(member_id, 0) if when <= horizon else 0
        return {"points": max(0, points), "by": when.isoformat() if points > 0 else None}
    old, spent = _fifo_old_and_spent(ctx, add_months(horizon, -rules["months"]), day, member_id).get(member_id, (0, 0))
    points = old - spent - _expired(ctx, None, member_id).get(member_id, 0)
    points = max(0, min(points, ledger.balance(ctx.conn, member_id)))
    return {"points": points, "by": horizon.isoformat() if points else None}
