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

Every report reads each member's purchase days in one query (`lifecycle.purchase_days`) and works
in day numbers, so it stays a single pass at a million members.
"""

from __future__ import annotations

from collections import Counter
from datetime import date
from typing import Any

from pos_client.domain.dates import plus_days
from pos_client.domain.errors import UsageError
from pos_client.domain.lifecycle import AT_RISK, LAPSED
from pos_client.services.marketing import lifecycle
from pos_client.services.marketing.report_base import Report, month_index, month_label, pct, result
from pos_client.store.context import TillContext

SECOND_PURCHASE_DAYS = 60


class _Months:
    """Day number -> month index, remembered: a log has few distinct days and many purchases."""

    def __init__(self) -> None:
        self.seen: dict[int, int] = {}

    def __call__(self, ordinal: int) -> int:
        index = self.seen.get(ordinal)
        if index is None:
            index = self.seen[ordinal] = month_index(date.fromordinal(ordinal))
        return index


def second_purchase(ctx: TillContext, start: date, end: date, *, days: int | None = SECOND_PURCHASE_DAYS,
                    **_: Any) -> Report:
    """Of the members whose first purchase falls in the period, how many bought again within `days`."""
    window = SECOND_PURCHASE_DAYS if days is None else int(days)
    if window < 1:
        raise UsageError("second-purchase: --days must be at least 1")
    s, e = start.toordinal(), end.toordinal()
    month = _Months()
    per: dict[int, list[int]] = {}  # cohort month -> [first buyers, bought again, still open]
    for ordinals in lifecycle.purchase_days(ctx, end).values():
        first = ordinals[0]
        if not s <= first <= e:
            continue
        row = per.setdefault(month(first), [0, 0, 0])
        row[0] += 1
        if len(ordinals) > 1 and ordinals[1] - first <= window:
            row[1] += 1
        elif first + window > e:
            row[2] += 1
    rows: list[list[Any]] = [[month_label(c), n, again, pct(again, n), still] for c, (n, again, still)
                             in sorted(per.items())]
    n, again, still = (sum(r[i] for r in rows) for i in (1, 2, 4))
    summary = {"days": window, "first_buyers": n, "bought_again": again, "bought_again_pct": pct(again, n),
               "still_open": still}
    return result("second-purchase", start, end,
                  ["cohort", "first_buyers", "bought_again", "bought_again_pct", "still_open"],
                  rows, summary, ["total", n, again, pct(again, n), still])


def reactivation(ctx: TillContext, start: date, end: date, **_: Any) -> Report:
    """Of the members at risk or lapsed at the end of the day before the period, how many bought in it."""
    s = start.toordinal()
    days = lifecycle.purchase_days(ctx, end)
    at_start = lifecycle.stages_at(ctx, plus_days(start, -1), days)
    spent = dict(ctx.conn.execute(
        "SELECT member_id, SUM(total_cents) FROM sales WHERE member_id IS NOT NULL"
        " AND substr(created_at, 1, 10) BETWEEN ? AND ? GROUP BY member_id", (start.isoformat(), end.isoformat())))
    members: Counter[str] = Counter()
    came_back: Counter[str] = Counter()
    cents: Counter[str] = Counter()
    for member_id, stage in at_start.items():
        if stage not in (AT_RISK, LAPSED):
            continue
        members[stage] += 1
        if days[member_id][-1] >= s:
            came_back[stage] += 1
            cents[stage] += int(spent.get(member_id, 0))
    rows: list[list[Any]] = [[stage, members[stage], came_back[stage], pct(came_back[stage], members[stage]),
                              cents[stage]] for stage in (AT_RISK, LAPSED)]
    n, back, total_cents = members.total(), came_back.total(), cents.total()
    summary = {"members": n, "came_back": back, "came_back_pct": pct(back, n), "spent_cents": total_cents}
    return result("reactivation", start, end,
                  ["stage_at_start", "members", "came_back", "came_back_pct", "spent_cents"],
                  rows, summary, ["total", n, back, pct(back, n), total_cents])


def retention(ctx: TillContext, start: date, end: date, **_: Any) -> Report:
    """Cohort matrix: first-purchase month x months since, counts in `rows`, % of the cohort in the summary."""
    s, e = start.toordinal(), end.toordinal()
    last = month_index(end)
    month = _Months()
    size: Counter[int] = Counter()
    counts: dict[int, Counter[int]] = {}
    for ordinals in lifecycle.purchase_days(ctx, end).values():
        first = ordinals[0]
        if not s <= first <= e:
            continue
        cohort = month(first)
        size[cohort] += 1
        seen = counts.setdefault(cohort, Counter())
        for since in {month(o) - cohort for o in ordinals}:
            seen[since] += 1
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
