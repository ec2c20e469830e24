"""Points expiry, written as 'expire' entries in the ledger.

Two modes (`[program.expiry]`): `after_earning` - points expire `months` after they were
earned, oldest first (FIFO: redemptions and adjustments consume the oldest points first);
`inactivity` - the whole balance expires after `months` without a purchase.

Idempotent by construction: what has already expired is subtracted, so running twice for the
same day (or an earlier one) expires nothing more. The day's upkeep (`upkeep.py`) runs it for every
day in order; `liability.liability_as_of` gives the points-liability report the expiry due by a past day.

One writer per member (docs/marketing.md, "Points expiry"): a member's expiry entries are written only by
their home store's expiry till (`[program.expiry] till`, T1 by default); every other till and head office
see them through sync, so nothing expires twice. A day's pass (`run_expiry`) reads what is due outside any
write transaction and writes it in short ones of `WRITE_CHUNK` members; under the write lock it computes again
only the due of members with a ledger row written since the read began: a sale never waits on the pass for
long. Given where yesterday's pass stood (`Since`), it looks only at the members whose points could have come
due since (`candidates`), not at every member; without it (the first pass) the members the month summary
(`store.point_months`) leaves room for (`full_candidates`), not the whole ledger.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import date
from typing import Any, NamedTuple, TypedDict

from pos_client.domain.dates import add_months, as_date, end_of_day, plus_days
from pos_client.services.marketing import pacing
from pos_client.services.program_settings import expiry as expiry_rules
from pos_client.store import ledger
from pos_client.store.context import TillContext
from pos_client.store.db import write_txn

# Only the members whose home store is the given one (head office's per-store points liability).
_OF_STORE = "member_id IN (SELECT member_id FROM members WHERE store_id = ?)"
CHUNK = 1000  # members per IN list of a read
WRITE_CHUNK = 250  # members per write transaction: their entries only, a few milliseconds under the write lock
DEFAULT_TILL = "T1"  # the till of each store that writes its members' expiry, unless [program.expiry] till says


class Since(NamedTuple):
    """Where an earlier day's complete pass stood: its day, the ledger's last rowid when it began, its rule."""

    day: date
    ledger_mark: int
    rule: str


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


def _among(members: Sequence[str] | None) -> tuple[str, list[str]]:
    """` AND member_id IN (?, ...)` and its values (nothing when every member counts)."""
    if members is None:
        return "", []
    return f" AND member_id IN ({','.join('?' * len(members))})", list(members)


def _fifo_old_and_spent(ctx: TillContext, cutoff: date, upto: date, members: Sequence[str] | None,
                        store_id: str | None = None, *, historical: bool = False) -> dict[str, tuple[int, int]]:
    """member -> (points earned on or before `cutoff`, points spent), counting entries up to `upto` (with
    `store_id`: only the members whose home store it is). Every member is those with a balance today, or
    (`historical`) with a ledger row: one at 0 today may have held points on `upto`."""
    if members is None:
        which = "true" if historical else "member_id IN (SELECT member_id FROM balances WHERE points != 0)"
        params = {}
    else:
        which = f"member_id IN ({','.join(f':m{i}' for i in range(len(members)))})"
        params = {f"m{i}": m for i, m in enumerate(members)}
    if store_id is not None:
        which += " AND member_id IN (SELECT member_id FROM members WHERE store_id = :store)"
    rows = ctx.conn.execute(_FIFO_SQL.format(members=which), {"upto": upto.isoformat(), "cutoff": cutoff.isoformat(),
                                                               "store": store_id, **params})
    return {r[0]: (int(r[1]), int(r[2])) for r in rows}


def _expired(ctx: TillContext, upto: date | None, members: Sequence[str] | None, store_id: str | None = None
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
    among, ids = _among(members)
    return {r[0]: -int(r[1]) for r in ctx.conn.execute(
        f"SELECT member_id, SUM(points) FROM ledger WHERE {' AND '.join(where)}{among} GROUP BY member_id",
        [*params, *ids])}


def balances_upto(ctx: TillContext, upto: date, members: Sequence[str] | None, store_id: str | None = None
                   ) -> dict[str, int]:
    sql = "SELECT member_id, SUM(points) FROM ledger WHERE substr(created_at, 1, 10) <= ?"
    params: list[str] = [upto.isoformat()]
    if store_id is not None:
        sql += f" AND {_OF_STORE}"
        params.append(store_id)
    among, ids = _among(members)
    return {r[0]: int(r[1]) for r in ctx.conn.execute(sql + among + " GROUP BY member_id", [*params, *ids])}


def _current_balances(ctx: TillContext, members: Sequence[str] | None) -> dict[str, int]:
    among, ids = _among(members)
    return {r[0]: int(r[1]) for r in ctx.conn.execute(
        "SELECT member_id, points FROM balances WHERE points > 0" + among, ids)}


def _last_purchases(ctx: TillContext, upto: date, members: Sequence[str] | None) -> dict[str, date]:
    """The last purchase day on or before `upto`, else the day the member joined (inactivity mode)."""
    among, ids = _among(members)
    out = {r[0]: date.fromisoformat(r[1]) for r in ctx.conn.execute(
        "SELECT member_id, substr(created_at, 1, 10) FROM members WHERE true" + among, ids)}
    out.update({r[0]: date.fromisoformat(r[1]) for r in ctx.conn.execute(
        "SELECT member_id, MAX(substr(created_at, 1, 10)) FROM sales WHERE member_id IS NOT NULL"
        " AND substr(created_at, 1, 10) <= ?" + among + " GROUP BY member_id", (upto.isoformat(), *ids))})
    return out


def due_by_member(ctx: TillContext, as_of: date | str | None = None, *, member_id: str | None = None,
                  members: Sequence[str] | None = None, historical: bool = False,
                  store_id: str | None = None) -> dict[str, int]:
    """Points due to expire as of the end of the day, per member (members with nothing due are left out;
    `member_id` or `members`: only those).

    At the till (`historical=False`) every expiry already written counts as done and nothing is taken
    beyond today's balance: running a day twice, or an earlier day later, expires nothing more. For a
    report as of a past day (`historical=True`) only the ledger up to that day counts.
    """
    day = as_date(as_of)
    rules = expiry_rules(ctx)
    if member_id is not None:
        members = [member_id]
    if rules["mode"] == "none" or (members is not None and not members):
        return {}
    expired = _expired(ctx, day if historical else None, members, store_id)
    upto = balances_upto(ctx, day, members, store_id)
    cap = upto if historical else {m: min(b, upto.get(m, 0)) for m, b in _current_balances(ctx, members).items()}
    out: dict[str, int] = {}
    if rules["mode"] == "inactivity":
        last = _last_purchases(ctx, day, members)
        for m, held in cap.items():
            if m in last and add_months(last[m], rules["months"]) <= day:
                points = min(upto.get(m, 0), held)
                if points > 0:
                    out[m] = points
        return out
    for m, (old, spent) in _fifo_old_and_spent(ctx, add_months(day, -rules["months"]), day, members,
                                               store_id, historical=historical).items():
        points = min(old - spent - expired.get(m, 0), cap.get(m, 0))
        if points > 0:
            out[m] = points
    return out


def due(ctx: TillContext, member_id: str, as_of: date | str | None = None) -> int:
    """Points that should expire for this member as of the day (0 when nothing is due)."""
    return due_by_member(ctx, as_of, member_id=member_id).get(member_id, 0)


def writer_till(ctx: TillContext) -> str:
    """`[program.expiry] till`: the till of each store that writes its home members' expiry (T1 by default)."""
    return str(expiry_rules(ctx).get("till") or DEFAULT_TILL)


def rule_key(ctx: TillContext) -> str:
    """What a day's pass ran under: a change (mode, months, writer) makes the next pass a full one."""
    rules = expiry_rules(ctx)
    writer = f"{ctx.store_id}/{ctx.till_id}" if ctx.till_id == writer_till(ctx) else "-"
    return f"{rules['mode']}:{rules['months']}:{writer}"


def ledger_mark(ctx: TillContext) -> int:
    """The ledger's last rowid (rows are only ever appended): a later pass looks at the rows after it."""
    return int(ctx.conn.execute("SELECT COALESCE(MAX(rowid), 0) FROM ledger").fetchone()[0])


def _chunks(ids: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    for i in range(0, len(ids), size):
        yield ids[i:i + size]


def candidates(ctx: TillContext, day: date, since: Since) -> list[str]:
    """The home members with points whose due may have changed since `since.day`'s complete pass.

    After that pass nothing more was due for anyone. FIFO due grows only when a bucket crosses the cutoff
    (an entry dated after the earlier day's cutoff, up to this day's) or when a member's balance moves
    again after a pass capped by it (a row written after the mark, wherever it is dated: a sale, a
    pulled entry, a transfer): everyone else still has nothing due.
    """
    months = int(expiry_rules(ctx)["months"])
    lo = plus_days(add_months(since.day, -months), 1).isoformat()
    hi = plus_days(add_months(day, -months), 1).isoformat()
    return [r[0] for r in ctx.conn.execute(
        "SELECT c.member_id FROM (SELECT member_id FROM ledger WHERE created_at >= ? AND created_at < ?"
        " UNION SELECT member_id FROM ledger WHERE rowid > ?) c"
        " JOIN members m ON m.member_id = c.member_id JOIN balances b ON b.member_id = c.member_id"
        " WHERE m.store_id = ? AND b.points > 0 ORDER BY c.member_id", (lo, hi, since.ledger_mark, ctx.store_id))]


def _has_summary(ctx: TillContext) -> bool:
    return ctx.conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'point_months'").fetchone() is not None


def full_candidates(ctx: TillContext, day: date) -> list[str]:
    """The home members with points who may have FIFO points due as of `day`, from `point_months` (no ledger scan).

    For a member whose lots are regular (not in `point_irregular`), what could be due is the ledger's sum up to
    the day less the lots dated after the cutoff; the months after the cutoff's month hold no more lots than that,
    so `SUM(net) - SUM(gain after the cutoff's month) > 0` is an upper bound that keeps every member with points
    due. Members with a row dated after `day` (the day's month in the summary counts it) and the irregular ones
    are kept whatever their sums. Their due is then computed exactly (`due_by_member`), member by member set.
    """
    months = int(expiry_rules(ctx)["months"])
    params = {"store": ctx.store_id, "day_month": day.isoformat()[:7], "after": plus_days(day, 1).isoformat(),
              "cut_month": add_months(day, -months).isoformat()[:7]}
    home = ("FROM members m CROSS JOIN balances b ON b.member_id = m.member_id AND b.points > 0"
            " WHERE m.store_id = :store")
    return [r[0] for r in ctx.conn.execute(
        f"SELECT m.member_id {home} AND (SELECT SUM(p.net) - SUM(CASE WHEN p.month > :cut_month THEN p.gain"
        " ELSE 0 END) FROM point_months p WHERE p.member_id = m.member_id AND p.month <= :day_month) > 0"
        f" UNION SELECT m.member_id {home} AND m.member_id IN (SELECT member_id FROM point_irregular)"
        f" UNION SELECT m.member_id {home} AND m.member_id IN"
        " (SELECT member_id FROM ledger WHERE created_at >= :after) ORDER BY 1", params)]


def _still_due(ctx: TillContext, day: date, part: Sequence[str], seen: dict[str, int], mark: int) -> dict[str, int]:
    """The due of `part` now (call under the write lock): what the read found, except for the members with a
    ledger row after `mark` (a sale, a pull, another pass), whose due is computed again. Rows are only ever
    appended and balances move only with them, so everyone else's due is still the read's."""
    among, ids = _among(part)
    moved = sorted({r[0] for r in ctx.conn.execute("SELECT member_id FROM ledger WHERE rowid > ?" + among,
                                                   [mark, *ids])})
    out = {m: seen[m] for m in part if seen.get(m, 0) > 0}
    for m in moved:
        out.pop(m, None)
    out.update(due_by_member(ctx, day, members=moved) if moved else {})
    return out


def run_expiry(ctx: TillContext, as_of: date | str | None = None, *, since: Since | None = None
               ) -> list[dict[str, Any]]:
    """Write the expiry entries due as of the day for the members this till writes for (module docstring).

    Each entry is dated at the end of the day (after that day's sales), ref `expiry:DAY`. With `since`
    (an earlier day's complete pass under the same rule) only `candidates` are looked at; else, in FIFO mode, the
    `full_candidates` of the month summary (inactivity mode: everyone). Writes are paced (`pacing`).
    """
    day = as_date(as_of)
    rules = expiry_rules(ctx)
    if rules["mode"] == "none" or ctx.till_id != writer_till(ctx):
        return []
    mark = ledger_mark(ctx)  # before the read: whoever moves after it is read again under the lock
    fifo = rules["mode"] == "after_earning"
    if fifo and since is not None and since.day < day and since.rule == rule_key(ctx):
        ids: list[str] | None = candidates(ctx, day, since)
    else:  # a full pass: the month summary says who may have lots due, where there is one
        ids = full_candidates(ctx, day) if fifo and _has_summary(ctx) else None
    if ids is None:
        seen = due_by_member(ctx, day, store_id=ctx.store_id)  # one read of the whole ledger, no write lock held
    else:
        seen = {}
        for part in _chunks(ids, CHUNK):  # home members already: no store filter, which
            seen.update(due_by_member(ctx, day, members=part))  # would lead SQLite to read all the store's rows
    out: list[dict[str, Any]] = []
    for part in pacing.paced(ctx.conn, list(_chunks(sorted(seen), WRITE_CHUNK))):
        with write_txn(ctx.conn):  # under the lock, the due again for those a sale or a pull moved since the read
            dues = sorted(_still_due(ctx, day, part, seen, mark).items())
            if dues:
                ledger.append(ctx.conn, ctx.store_id, ctx.till_id, [ledger.Entry(
                    member_id=m, kind="expire", points=-points, created_at=end_of_day(day),
                    reason=f"expiry:{rules['mode']}", ref=f"expiry:{day.isoformat()}", operator=ctx.operator)
                    for m, points in dues])
        out += [{"member_id": m, "points": points} for m, points in dues]
    return out


def expiring_soon(ctx: TillContext, member_id: str, days: int = 30, as_of: date | str | None = None) -> ExpiringSoon:
    """Points that will expire within `days` if nothing changes: {"points", "by"} for the receipt."""
    day = as_date(as_of)
    horizon = plus_days(day, days)
    rules = expiry_rules(ctx)
    if rules["mode"] == "none":
        return {"points": 0, "by": None}
    if rules["mode"] == "inactivity":
        last = _last_purchases(ctx, day, [member_id]).get(member_id)
        if last is None:
            return {"points": 0, "by": None}
        when = add_months(last, rules["months"])
        points = balances_upto(ctx, day, [member_id]).get(member_id, 0) if when <= horizon else 0
        return {"points": max(0, points), "by": when.isoformat() if points > 0 else None}
    old, spent = _fifo_old_and_spent(ctx, add_months(horizon, -rules["months"]), day, [member_id]).get(member_id,
                                                                                                        (0, 0))
    points = old - spent - _expired(ctx, None, [member_id]).get(member_id, 0)
    points = max(0, min(points, ledger.balance(ctx.conn, member_id)))
    return {"points": points, "by": horizon.isoformat() if points else None}
