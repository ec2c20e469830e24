"""Points liability as of a day: what members could still spend at its end, the expiry due by then taken off.

docs/marketing.md ("points-liability", "Points expiry"): a lot earned on day E is due at the end of E + `months`,
and what was spent or already expired comes out of the oldest lots first. So what a member still holds at the
end of day D is min(balance by D, the lots dated in the `months` before D): spending and expiry never reach a
younger lot while an older one is left. Written or not, the expiry due by D counts, whatever the member holds
today (a member at 0 today may have held points on D).

Why not the ledger: summing ten million entries took minutes at chain scale; the fast path reads the
per-member month summary (`store.point_months`) and the ledger only for the smaller part of each end month
(none for a day at a month's end whose cutoff is one too: `plan`): a ledger row found by its date costs a page
read of its own, the summary's rows are read in order. The totals take the summary's one aggregate as it
stands, corrected for the part months' members alone (at 1M members, a correction looked up for every member
cost about a second). Members whose sale lots net refunds (`point_irregular`) get the exact FIFO from their
own ledger rows (`expiry.due_by_member`). `inactivity` and `none` modes sum the ledger: no month summary
answers "last purchase day".
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import NamedTuple

from pos_client.domain.dates import add_months, as_date, plus_days
from pos_client.services.marketing import expiry
from pos_client.services.program_settings import expiry as expiry_rules
from pos_client.store.context import TillContext
from pos_client.store.point_months import GAIN

_OF_STORE = " AND p.member_id IN (SELECT member_id FROM members WHERE store_id = :store)"
# Per regular member, in one pass over the summary in its key order: balance by D against the lots of the window
# (C, D], both from whole months (`Plan`) set right by the ledger's rows of at most two part months.
_HELD_SQL = """
{corr}held AS (
    SELECT p.member_id, MIN(p.upto{c_net}, p.gain{c_gain}) AS held
    FROM (SELECT member_id, COALESCE(SUM(net) FILTER (WHERE month <= :upto), 0) AS upto,
                 COALESCE(SUM(gain) FILTER (WHERE month BETWEEN :lo AND :upto), 0) AS gain
          FROM point_months GROUP BY member_id) p{join}
    WHERE p.member_id NOT IN (SELECT member_id FROM point_irregular){store}
)
SELECT {select} FROM held WHERE held > 0
"""
# The same without part months, in one aggregate over the summary (no join, no per-member filter: the members
# in `point_irregular` are counted, then taken off by the same statement over them alone). `{net}`: every month
# when D's month is the ledger's last, else the months to D's.
_WHOLE_SQL = ("SELECT COUNT(*), COALESCE(SUM(held), 0) FROM (SELECT MIN({net}, {gain}) AS held FROM {source}"
              " GROUP BY p.member_id) WHERE held > 0")
# Set right by the part months (`plan`): only their members' held changes, so the whole-month totals are taken as
# they stand and corrected for those members alone, each read by key (joining the corrections to every member
# cost a lookup per member). Irregular members are left out here as in `_WHOLE_SQL`'s difference.
_DELTA_SQL = """
WITH corr AS MATERIALIZED (SELECT member_id, SUM(net) AS net, SUM(gain) AS gain FROM ({union}) GROUP BY member_id),
sums AS MATERIALIZED (SELECT c.net AS c_net, c.gain AS c_gain,
    COALESCE((SELECT SUM(p.net) FROM point_months p WHERE p.member_id = c.member_id AND p.month <= :upto), 0) AS upto,
    COALESCE((SELECT SUM(p.gain) FROM point_months p
              WHERE p.member_id = c.member_id AND p.month BETWEEN :lo AND :upto), 0) AS gain
    FROM corr c WHERE c.member_id NOT IN (SELECT member_id FROM point_irregular){store}),
held AS (SELECT MAX(MIN(upto, gain), 0) AS was, MAX(MIN(upto + c_net, gain + c_gain), 0) AS now FROM sums)
SELECT COALESCE(SUM(now > 0) - SUM(was > 0), 0), COALESCE(SUM(now) - SUM(was), 0) FROM held
"""
_ALL = "point_months p"
_IRREGULAR = "point_irregular i CROSS JOIN point_months p ON p.member_id = i.member_id"  # CROSS: the few outside
# The part months' rows, from the covering `idx_ledger_created` alone (m0480): in the dataset's order the rows
# of a month lie all over the ledger, and each read from the table was a page read of its own.
_PART_SQL = ("SELECT member_id, points * {net} AS net, {gain} * {gain_sign} AS gain FROM ledger"
             " WHERE created_at >= :from{i} AND created_at < :to{i}")


class Liability(NamedTuple):
    """The report's figures: members holding points at the day's end, and their points."""

    members: int
    points: int


class Part(NamedTuple):
    """Ledger rows dated in [start, stop) added to (sign 1) or taken off (-1) the month sums: to the balance
    (`net`, 0 or the sign) and to the window's lots (`gain`)."""

    start: date
    stop: date
    net: int
    gain: int


class Plan(NamedTuple):
    """Balance by D = the months to `upto`; the lots of (C, D] = the months from `lo` to `upto`; each then set
    right by `parts`. Each end takes the smaller side of its month (days to it, or days after it), none at a
    month's last day: as of a month's end with a cutoff at a month's end, no ledger row is read."""

    upto: str
    lo: str
    parts: tuple[Part, ...]


def _month(day: date) -> str:
    return day.isoformat()[:7]


def _next_month(day: date) -> date:
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


def plan(day: date, months: int) -> Plan:
    """The whole months and the part months' ledger rows that make D's balance and the lots of (C, D]."""
    cutoff = add_months(day, -months)
    parts = []
    first, after = day.replace(day=1), _next_month(day)
    if plus_days(day, 1) == after:
        upto = _month(day)
    elif (day - first).days < (after - day).days:  # days 1..D fewer than D+1..end: the months before, plus them
        upto = _month(plus_days(first, -1))
        parts.append(Part(first, plus_days(day, 1), 1, 1))
    else:
        upto = _month(day)
        parts.append(Part(plus_days(day, 1), after, -1, -1))
    c_first, c_after = cutoff.replace(day=1), _next_month(cutoff)
    if plus_days(cutoff, 1) == c_after:
        lo = _month(c_after)
    elif (cutoff - c_first).days < (c_after - cutoff).days:  # lots dated to the cutoff are due: off the month
        lo = _month(cutoff)
        parts.append(Part(c_first, plus_days(cutoff, 1), 0, -1))
    else:
        lo = _month(c_after)
        parts.append(Part(plus_days(cutoff, 1), c_after, 0, 1))
    return Plan(upto, lo, tuple(parts))


def _parts(parts: Sequence[Part], params: dict[str, str | int | None]) -> str:
    """The part months' ledger rows as one UNION ALL (their bounds put in `params`)."""
    gain = GAIN.format(t="ledger")
    for i, part in enumerate(parts):
        params[f"from{i}"], params[f"to{i}"] = part.start.isoformat(), part.stop.isoformat()
    return " UNION ALL ".join(_PART_SQL.format(net=part.net, gain=gain, gain_sign=part.gain, i=i)
                              for i, part in enumerate(parts))


def _query(select: str, day: date, months: int, store_id: str | None) -> tuple[str, dict[str, str | int | None]]:
    p = plan(day, months)
    params: dict[str, str | int | None] = {"upto": p.upto, "lo": p.lo, "store": store_id}
    corr = c_net = c_gain = join = ""
    if p.parts:
        union = _parts(p.parts, params)
        corr = (f"corr AS MATERIALIZED (SELECT member_id, SUM(net) AS net, SUM(gain) AS gain FROM ({union})"
                " GROUP BY member_id), ")
        c_net, c_gain = " + COALESCE(c.net, 0)", " + COALESCE(c.gain, 0)"
        join = " LEFT JOIN corr c ON c.member_id = p.member_id"
    sql = "WITH " + _HELD_SQL.format(corr=corr, c_net=c_net, c_gain=c_gain, join=join, select=select,
                                     store=_OF_STORE if store_id is not None else "").lstrip()
    return sql, params


def _whole_months(ctx: TillContext, day: date, months: int, store_id: str | None) -> Liability:
    """The totals of regular members from the plan's whole months, set right by its part months' rows for the
    members these have (none read when D and its cutoff are month ends)."""
    p = plan(day, months)
    (last,) = ctx.conn.execute("SELECT substr(MAX(created_at), 1, 7) FROM ledger").fetchone()
    if last is None or p.upto >= last:  # nothing dated after D's month: no month to leave out
        net, gain = "SUM(p.net)", "SUM(p.gain) FILTER (WHERE p.month >= :lo)"
    else:
        net = "SUM(p.net) FILTER (WHERE p.month <= :upto)"
        gain = "SUM(p.gain) FILTER (WHERE p.month BETWEEN :lo AND :upto)"
    store = "" if store_id is None else " WHERE p.member_id IN (SELECT member_id FROM members WHERE store_id = :store)"
    params: dict[str, str | int | None] = {"upto": p.upto, "lo": p.lo, "store": store_id}
    every, irregular = (ctx.conn.execute(_WHOLE_SQL.format(net=net, gain=gain, source=source + store), params)
                        .fetchone() for source in (_ALL, _IRREGULAR))
    n, points = int(every[0]) - int(irregular[0]), int(every[1]) - int(irregular[1])
    if p.parts:
        sql = _DELTA_SQL.format(union=_parts(p.parts, params), store="" if store_id is None else
                                " AND c.member_id IN (SELECT member_id FROM members WHERE store_id = :store)")
        dn, dp = ctx.conn.execute(sql, params).fetchone()
        n, points = n + int(dn), points + int(dp)
    return Liability(n, points)


def _irregular(ctx: TillContext, day: date, store_id: str | None) -> dict[str, int]:
    """The exact FIFO for the members whose sale lots net refunds or span days, from their ledger rows."""
    sql = "SELECT member_id FROM point_irregular"
    params: tuple[str, ...] = ()
    if store_id is not None:
        sql += " WHERE member_id IN (SELECT member_id FROM members WHERE store_id = ?)"
        params = (store_id,)
    ids = [r[0] for r in ctx.conn.execute(sql, params)]
    out: dict[str, int] = {}
    for i in range(0, len(ids), expiry.CHUNK):
        out.update(_exact(ctx, day, ids[i:i + expiry.CHUNK], store_id))
    return out


def _exact(ctx: TillContext, day: date, members: Sequence[str] | None, store_id: str | None) -> dict[str, int]:
    """Balance by the day less the expiry due by it, from the ledger (all members when `members` is None)."""
    dues = expiry.due_by_member(ctx, day, members=members, historical=True, store_id=store_id)
    held = {m: b - dues.get(m, 0) for m, b in expiry.balances_upto(ctx, day, members, store_id).items()}
    return {m: b for m, b in held.items() if b > 0}


def liability_as_of(ctx: TillContext, as_of: date | str | None = None, store_id: str | None = None
                    ) -> dict[str, int]:
    """Points each member held at the end of the day once the expiry due by then is taken off (> 0 only;
    with `store_id`: the members whose home store it is)."""
    day = as_date(as_of)
    rules = expiry_rules(ctx)
    if rules["mode"] != "after_earning":
        return _exact(ctx, day, None, store_id)
    rows = ctx.conn.execute(*_query("member_id, held", day, int(rules["months"]), store_id))
    out = {r[0]: int(r[1]) for r in rows}
    out.update(_irregular(ctx, day, store_id))
    return out


def totals(ctx: TillContext, as_of: date | str | None = None, store_id: str | None = None) -> Liability:
    """The members holding points at the end of the day and the sum of what they hold (`liability_as_of`,
    added up in SQL: the report at a million members builds no per-member dict)."""
    day = as_date(as_of)
    rules = expiry_rules(ctx)
    if rules["mode"] != "after_earning":
        held = _exact(ctx, day, None, store_id)
        return Liability(len(held), sum(held.values()))
    n, points = _whole_months(ctx, day, int(rules["months"]), store_id)
    rest = _irregular(ctx, day, store_id)
    return Liability(int(n) + len(rest), int(points) + sum(rest.values()))
