"""Points liability as of a day: what members could still spend at its end, the expiry due by then taken off.

docs/marketing.md ("points-liability", "Points expiry"): a lot earned on day E is due at the end of E + `months`,
and what was spent or already expired comes out of the oldest lots first. So what a member still holds at the
end of day D is min(balance by D, the lots dated in the `months` before D): spending and expiry never reach a
younger lot while an older one is left. Written or not, the expiry due by D counts, whatever the member holds
today (a member at 0 today may have held points on D).

Why not the ledger: summing ten million entries took minutes at chain scale; the fast path reads the
per-member month summary (`store.point_months`), the ledger only for the part months at the window's two
ends, and today's balance. Members whose sale lots net refunds (`point_irregular`) get the exact FIFO from their
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
# Per regular member, in one pass over the summary in its key order: balance by D (the months to D's, less the
# part of D's month after D) against the lots of the window (the months from the cutoff's to D's, less the
# cutoff's month up to the cutoff and D's month after D), both part months read from the ledger by date.
_HELD_SQL = """
WITH corr AS MATERIALIZED (
    SELECT member_id, SUM(later) AS later, SUM(gain) AS gain FROM (
        SELECT member_id, points AS later, {gain} AS gain FROM ledger
        WHERE created_at >= :after_day AND created_at < :next_month
        UNION ALL
        SELECT member_id, 0, {gain} FROM ledger WHERE created_at >= :cut_month_start AND created_at < :after_cut
    ) GROUP BY member_id
), held AS (
    SELECT p.member_id, MIN(p.upto - COALESCE(c.later, 0), p.gain - COALESCE(c.gain, 0)) AS held
    FROM (SELECT member_id, SUM(CASE WHEN month <= :month THEN net ELSE 0 END) AS upto,
                 SUM(CASE WHEN month BETWEEN :cut_month AND :month THEN gain ELSE 0 END) AS gain
          FROM point_months GROUP BY member_id) p
    LEFT JOIN corr c ON c.member_id = p.member_id
    WHERE p.member_id NOT IN (SELECT member_id FROM point_irregular){store}
)
SELECT {select} FROM held WHERE held > 0
"""


class Liability(NamedTuple):
    """The report's figures: members holding points at the day's end, and their points."""

    members: int
    points: int


def _params(day: date, months: int, store_id: str | None) -> dict[str, str | None]:
    cutoff = add_months(day, -months)
    next_month = date(day.year + day.month // 12, day.month % 12 + 1, 1)
    return {"after_day": plus_days(day, 1).isoformat(), "next_month": next_month.isoformat(),
            "month": day.isoformat()[:7], "cut_month": cutoff.isoformat()[:7],
            "cut_month_start": cutoff.replace(day=1).isoformat(), "after_cut": plus_days(cutoff, 1).isoformat(),
            "store": store_id}


def _sql(select: str, store_id: str | None) -> str:
    return _HELD_SQL.format(gain=GAIN.format(t="ledger"), store=_OF_STORE if store_id is not None else "",
                            select=select)


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
    rows = ctx.conn.execute(_sql("member_id, held", store_id), _params(day, int(rules["months"]), store_id))
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
    n, points = ctx.conn.execute(_sql("COUNT(*), COALESCE(SUM(held), 0)", store_id),
                                 _params(day, int(rules["months"]), store_id)).fetchone()
    rest = _irregular(ctx, day, store_id)
    return Liability(int(n) + len(rest), int(points) + sum(rest.values()))
