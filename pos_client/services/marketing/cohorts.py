"""Reports on coming back: the second purchase, reactivation of drifting members, cohort retention.

Definitions (docs/marketing.md) in short. A purchase day is a day with at least one sale recorded to
the member; only sales up to the end of the report's last day count (a report "as of" a past day
knows nothing after it). A member's cohort is the calendar month of their first purchase day ever.

- second-purchase: members whose first purchase day f is in the period; "bought again" when their
  next purchase day is within `days` (default 60) of f; "still open" when they have not yet and
  f + days is after the period's last day (they may still come back in time).
- reactivation: members at risk or lapsed at the end of the day before the period; "came back"
  when they have a purchase day in the period; "spent" the total of their sales in it.
- retention: for each cohort month in the period, how many of its members bought in the calendar
  month `m` months after it (m = 0 is the cohort month itself: everyone), as counts and % of the
  cohort; a month after the period's last day is not observed yet (None).

Every report reads each member's purchase days in one query (`purchase_table.read`) and works on
arrays of day numbers, so it stays a few vectorised passes at a million members.
"""

from __future__ import annotations

from collections import Counter
from datetime import date
from typing import Any

import numpy as np
import numpy.typing as npt

from pos_client.domain.dates import plus_days
from pos_client.domain.errors import UsageError
from pos_client.domain.lifecycle import AT_RISK, LAPSED
from pos_client.services.marketing import lifecycle, purchase_table
from pos_client.services.marketing.report_base import Report, month_index, month_label, of_store, pct, result
from pos_client.store.context import TillContext

SECOND_PURCHASE_DAYS = 60


def second_purchase(ctx: TillContext, start: date, end: date, *, days: int | None = SECOND_PURCHASE_DAYS,
                    store_id: str | None = None, **_: Any) -> Report:
    """Of the members whose first purchase falls in the period, how many bought again within `days`."""
    window = SECOND_PURCHASE_DAYS if days is None else int(days)
    if window < 1:
        raise UsageError("second-purchase: --days must be at least 1")
    s, e = start.toordinal(), end.toordinal()
    table = purchase_table.read(ctx, end, store_id)
    starts, ends, _members = table.groups()
    first = table.day[starts]
    second = np.where(ends - starts > 1, table.day[np.minimum(starts + 1, len(table.day) - 1)], first)
    cohort = (first >= s) & (first <= e)
    bought = cohort & (second > first) & (second - first <= window)
    waiting = cohort & ~bought & (first + window > e)
    months = purchase_table.month_indexes(first[cohort])
    per: dict[int, list[int]] = {}  # cohort month -> [first buyers, bought again, still open]
    for c in np.unique(months).tolist():
        here = months == c
        per[c] = [int(here.sum()), int(bought[cohort][here].sum()), int(waiting[cohort][here].sum())]
    rows: list[list[Any]] = [[month_label(c), n, again, pct(again, n), still] for c, (n, again, still)
                             in sorted(per.items())]
    n, again, still = (sum(r[i] for r in rows) for i in (1, 2, 4))
    summary = {"days": window, "first_buyers": n, "bought_again": again, "bought_again_pct": pct(again, n),
               "still_open": still}
    return result("second-purchase", start, end,
                  ["cohort", "first_buyers", "bought_again", "bought_again_pct", "still_open"],
                  rows, summary, ["total", n, again, pct(again, n), still])


def reactivation(ctx: TillContext, start: date, end: date, *, store_id: str | None = None, **_: Any) -> Report:
    """Of the members at risk or lapsed at the end of the day before the period, how many bought in it."""
    s = start.toordinal()
    table = purchase_table.read(ctx, end, store_id, amounts=True)
    ids, codes = purchase_table.stages(table, s - 1, lifecycle.stage_rules(ctx))
    starts, ends, _members = table.groups()
    last = np.zeros(len(table.ids), np.int64)
    last[table.member[starts]] = table.day[ends - 1]
    drifting = np.isin(codes, (purchase_table.AT_RISK, purchase_table.LAPSED))
    returning = drifting & (last[ids] >= s)
    spent = _spent_in(ctx, table, start, end, store_id)
    members: Counter[str] = Counter()
    came_back: Counter[str] = Counter()
    cents: Counter[str] = Counter()
    for code, stage in ((purchase_table.AT_RISK, AT_RISK), (purchase_table.LAPSED, LAPSED)):
        members[stage] = int((codes[drifting] == code).sum())
        returned = ids[returning & (codes == code)]
        came_back[stage] = len(returned)
        cents[stage] = int(spent[returned].sum())
    rows: list[list[Any]] = [[stage, members[stage], came_back[stage], pct(came_back[stage], members[stage]),
                              cents[stage]] for stage in (AT_RISK, LAPSED)]
    n, back, total_cents = members.total(), came_back.total(), cents.total()
    summary = {"members": n, "came_back": back, "came_back_pct": pct(back, n), "spent_cents": total_cents}
    return result("reactivation", start, end,
                  ["stage_at_start", "members", "came_back", "came_back_pct", "spent_cents"],
                  rows, summary, ["total", n, back, pct(back, n), total_cents])


def _spent_in(ctx: TillContext, table: purchase_table.PurchaseTable, start: date, end: date,
              store_id: str | None) -> npt.NDArray[np.int64]:
    """Each member's spend in the period, by member index of `table` (its amounts, or one SQL sum)."""
    out = np.zeros(len(table.ids), np.int64)
    if table.cents is not None:
        inside = table.day >= start.toordinal()
        member, cents = table.member[inside], table.cents[inside]  # sorted by member: sum each run
        if len(member):
            heads = np.flatnonzero(np.r_[True, member[1:] != member[:-1]])
            out[member[heads]] = np.add.reduceat(cents, heads)
        return out
    only, params = of_store(store_id)
    spent = dict(ctx.conn.execute(
        "SELECT member_id, SUM(total_cents) FROM sales WHERE member_id IS NOT NULL"
        f" AND created_at >= ? AND created_at < ?{only} GROUP BY member_id",
        (start.isoformat(), plus_days(end, 1).isoformat(), *params)))
    index = {m: i for i, m in enumerate(table.ids)}
    for member_id, cents in spent.items():
        if member_id in index:
            out[index[member_id]] = int(cents)
    return out


def retention(ctx: TillContext, start: date, end: date, *, store_id: str | None = None, **_: Any) -> Report:
    """Cohort matrix: first-purchase month x months since, counts in `rows`, % of the cohort in the summary."""
    s, e = start.toordinal(), end.toordinal()
    last = month_index(end)
    table = purchase_table.read(ctx, end, store_id)
    starts, _ends, _members = table.groups()
    first = np.zeros(len(table.ids), np.int64)
    first[table.member[starts]] = table.day[starts]
    in_period = (first >= s) & (first <= e) & (first > 0)
    keep = in_period[table.member]
    member, month = table.member[keep], purchase_table.month_indexes(table.day[keep])
    cohort_of = purchase_table.month_indexes(first)
    since = month - cohort_of[member]
    # each (member, month since) once, then counted per (cohort, month since)
    pairs = np.unique((member << 12) | since)
    cell_counts = np.unique(np.stack([cohort_of[pairs >> 12], pairs & 4095]), axis=1, return_counts=True)
    size: Counter[int] = Counter(dict(zip(*(a.tolist() for a in np.unique(cohort_of[in_period], return_counts=True)),
                                          strict=True)))
    counts: dict[int, Counter[int]] = {c: Counter() for c in size}
    for (c, k), n in zip(cell_counts[0].T.tolist(), cell_counts[1].tolist(), strict=True):
        counts[c][k] = n
    width = last - min(size) + 1 if size else 1
    columns = ["cohort", "members", *(f"m{k}" for k in range(width))]
    rows: list[list[Any]] = []
    pct_rows: list[list[Any]] = []
    for cohort in sorted(size):
        cells = [counts[cohort][k] if cohort + k <= last else None for k in range(width)]
        rows.append([month_label(cohort), size[cohort], *cells])
        pct_rows.append([month_label(cohort), size[cohort],
                         *(None if c is None else pct(c, size[cohort]) for c in cells)])
    # all cohorts together: at each month since, the cohorts observed that far
    seen_total = [sum(counts[c][k] for c in size if c + k <= last) for k in range(width)]
    base_total = [sum(size[c] for c in size if c + k <= last) for k in range(width)]
    total = ["total", size.total(), *seen_total]
    total_pct = ["total", size.total(), *(pct(a, b) if b else None for a, b in zip(seen_total, base_total,
                                                                                    strict=True))]
    summary = {"members": size.total(), "cohorts": len(size), "pct_rows": pct_rows, "total_pct": total_pct}
    return result("retention", start, end, columns, rows, summary, total)
