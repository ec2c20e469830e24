"""Reports a manager acts on, computed "as of" any day from the till's own history.

Every report returns {"report", "from", "to", "columns", "rows", "summary"} (`report_base`), plus a
"total" row where adding up makes sense: `rows` are plain lists (the CSV), `summary` the headline
figures (the JSON). "At the start of the period" means at the end of the day before `from`; "at the
end" means at the end of `to`. Percentages are rounded to one decimal; points and money stay
integers. Each report is defined, with a worked example, in docs/marketing.md; the coming-back
family (second purchase, reactivation, retention) lives in `cohorts`; text for people in `report_text`.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Callable, Mapping
from datetime import date
from types import MappingProxyType
from typing import Any

import numpy as np

from pos_client.domain.dates import as_date, plus_days
from pos_client.domain.errors import UsageError
from pos_client.services.marketing import liability, lifecycle, purchase_table
from pos_client.services.marketing.cohorts import reactivation, retention, second_purchase
from pos_client.services.marketing.offer_lift import offer_lift
from pos_client.services.marketing.report_base import Report, of_store, pct, result
from pos_client.services.marketing.report_text import render_text as render_text  # re-exported for the CLIs
from pos_client.services.members import CHANNELS
from pos_client.services.program_settings import lifecycle as lifecycle_rules
from pos_client.services.program_settings import point_value_cents
from pos_client.services.program_settings import rfm as rfm_rules
from pos_client.services.program_settings import tiers as tier_ladder
from pos_client.store.context import TillContext

DEFAULT_DAYS = 30
_NONE = len(lifecycle.STAGES)  # the stage code of "no purchase yet" in the moves


# Members that existed by the end day: enrolled by then, or with a sale by then (imported history). EXISTS
# looks a member's sales up only when they enrolled later (few): no pass over every sale.
_KNOWN_BY = ("status != 'merged' AND (substr(created_at, 1, 10) <= :upto OR EXISTS (SELECT 1 FROM sales s"
             " WHERE s.member_id = members.member_id AND s.created_at < :next))")


def new_customers(ctx: TillContext, start: date, end: date, *, store_id: str | None = None, **_: Any) -> Report:
    """New customers (first purchase ever within the period) among the active ones (bought in it)."""
    table = purchase_table.read(ctx, end, store_id)
    starts, _ends, _members = table.groups()
    s = start.toordinal()
    new = int((table.day[starts] >= s).sum())
    active = len(np.unique(table.member[table.day >= s]))
    summary = {"new": new, "active": active, "new_pct": pct(new, active)}
    return result("new-customers", start, end, ["new", "active", "new_pct"], [[new, active, summary["new_pct"]]],
                   summary)


def lifecycle_report(ctx: TillContext, start: date, end: date, *, store_id: str | None = None, **_: Any) -> Report:
    """Members per stage at the end (with % of the members who have bought), and who moved between stages
    from the start of the period to its end."""
    table = purchase_table.read(ctx, end, store_id)
    rules = lifecycle.stage_rules(ctx)
    before_members, before_codes = purchase_table.stages(table, start.toordinal() - 1, rules)
    members, codes = purchase_table.stages(table, end.toordinal(), rules)
    prev = np.full(len(table.ids), _NONE, np.int64)  # stage code at the start, "no purchase" yet by default
    prev[before_members] = before_codes
    prev = prev[members]
    moved = prev != codes
    pairs = np.bincount(prev[moved] * (_NONE + 1) + codes[moved], minlength=(_NONE + 1) ** 2)
    names = [*lifecycle.STAGES, "none"]
    moves = Counter({(names[p // (_NONE + 1)], names[p % (_NONE + 1)]): int(pairs[p]) for p in np.flatnonzero(pairs)})
    at_end = Counter(dict(zip(lifecycle.STAGES, np.bincount(codes, minlength=_NONE).tolist(), strict=True)))
    only, params = of_store(store_id)
    recorded = ctx.conn.execute(
        f"SELECT COUNT(*) FROM member_stages WHERE prev_stage IS NOT NULL AND since BETWEEN ? AND ?{only}",
        (start.isoformat(), end.isoformat(), *params)).fetchone()[0]
    n = len(members)
    rows: list[list[Any]] = [[stage, at_end.get(stage, 0), pct(at_end.get(stage, 0), n)] for stage in lifecycle.STAGES]
    summary = {"stages": {stage: count for stage, count, _ in rows}, "members": n, "moved": moves.total(),
               "moves": [{"from": a, "to": b, "members": count} for (a, b), count in sorted(moves.items())],
               "recorded_changes": recorded}
    return result("lifecycle", start, end, ["stage", "members", "pct"], rows, summary, ["total", n, pct(n, n)])


def tier_migration(ctx: TillContext, start: date, end: date, *, store_id: str | None = None, **_: Any) -> Report:
    """The matrix of tier at the start of the period against tier at its end, with row percentages."""
    before, upto = plus_days(start, -1).isoformat(), end.isoformat()
    names = [t.name for t in tier_ladder(ctx)]
    # a member's tier on a day is their last change by then (`tiers.tier_at`), the lowest tier before any
    held: dict[str, tuple[str, str]] = {}
    for member_id, tier, since in ctx.conn.execute(
            "SELECT member_id, tier, since FROM member_tiers WHERE since <= ? ORDER BY member_id, since, rowid",
            (upto,)):
        at_start, _at_end = held.get(member_id, (names[0], names[0]))
        held[member_id] = (tier if since <= before else at_start, tier)
    only, params = of_store(store_id)
    args = {"upto": upto, "next": plus_days(end, 1).isoformat(), **{f"p{i}": p for i, p in enumerate(params)}}
    only = only.replace("?", ":p0")
    known = ctx.conn.execute(f"SELECT COUNT(*) FROM members WHERE {_KNOWN_BY}{only}", args).fetchone()[0]
    changed = [r[0] for r in ctx.conn.execute(
        f"SELECT member_id FROM members WHERE member_id IN (SELECT member_id FROM member_tiers) AND {_KNOWN_BY}{only}",
        args) if r[0] in held]
    matrix: Counter[tuple[str, str]] = Counter(held[m] for m in changed)
    matrix[(names[0], names[0])] += known - len(changed)  # never changed: the lowest tier throughout
    totals: Counter[str] = Counter()
    for (a, _b), n in matrix.items():
        totals[a] += n
    rows = [[a, b, matrix[(a, b)], pct(matrix[(a, b)], totals[a])]
            for a in names for b in names if matrix[(a, b)]]
    summary = {"matrix": {a: {b: matrix[(a, b)] for b in names} for a in names},
               "at_start": {a: totals[a] for a in names},
               "at_end": {b: sum(matrix[(a, b)] for a in names) for b in names}}
    return result("tier-migration", start, end, ["from_tier", "to_tier", "members", "pct_of_from"], rows, summary)


def _rfm_counts(table: purchase_table.PurchaseTable, end: date, rules: dict[str, list[int]],
                refunded: dict[str, int]) -> Counter[str]:
    """Members per RFM segment from a table with amounts: the scores as arrays, each of the 27 score
    triples named once by the definition (`lifecycle.segment_of`)."""
    assert table.sales is not None and table.cents is not None
    counts: Counter[str] = Counter()
    starts, ends, members = table.groups()
    if not len(starts):
        return counts
    (r_near, r_far), (f_lo, f_hi), (m_lo, m_hi) = rules["recency_days"], rules["frequency"], rules["monetary_cents"]
    rec = end.toordinal() - table.day[ends - 1]
    freq = np.add.reduceat(table.sales, starts)
    spent = np.add.reduceat(table.cents, starts)
    if refunded:
        spent = spent - np.array([int(refunded.get(table.ids[i], 0)) for i in members.tolist()], np.int64)
    r = np.where(rec <= r_near, 3, np.where(rec <= r_far, 2, 1))
    f = np.where(freq >= f_hi, 3, np.where(freq >= f_lo, 2, 1))
    m = np.where(spent >= m_hi, 3, np.where(spent >= m_lo, 2, 1))
    for code, k in enumerate(np.bincount((r - 1) * 9 + (f - 1) * 3 + (m - 1), minlength=27).tolist()):
        if k:
            counts[lifecycle.segment_of((code // 9 + 1, code // 3 % 3 + 1, code % 3 + 1))] += k
    return counts


def rfm(ctx: TillContext, start: date | None, end: date, **_: Any) -> Report:
    """RFM segments as of the end day (thresholds in `[program.rfm]`), with % of the members who have bought."""
    upto = end.isoformat()
    rules = rfm_rules(ctx)
    refunded = dict(ctx.conn.execute(
        # CROSS JOIN keeps refunds (few) as the outer loop: otherwise SQLite walks every sale of every member
        "SELECT s.member_id, SUM(r.amount_cents) FROM refunds r CROSS JOIN sales s ON s.sale_id = r.sale_id"
        " WHERE s.member_id IS NOT NULL AND substr(r.created_at, 1, 10) <= ? AND substr(s.created_at, 1, 10) <= ?"
        " GROUP BY s.member_id", (upto, upto)))
    counts: Counter[str] = Counter()
    rows_in: list[Any] = []
    if purchase_table.has_summary(ctx.conn):  # a snapshot's summary: every member at once in arrays
        counts = _rfm_counts(purchase_table.read(ctx, end, amounts=True), end, rules, refunded)
    else:
        rows_in = ctx.conn.execute(
            # NOT INDEXED: one sequential scan and a sort beats a lookup of each sale's row through the
            # member index (3x at 100k sales; the index does not hold total_cents)
            "SELECT member_id, COUNT(*), SUM(total_cents), MAX(substr(created_at, 1, 10)) FROM sales NOT INDEXED"
            " WHERE member_id IS NOT NULL AND substr(created_at, 1, 10) <= ? GROUP BY member_id", (upto,)).fetchall()
    for member_id, frequency, spent_cents, last in rows_in:
        recency = (end - date.fromisoformat(last)).days
        monetary_cents = int(spent_cents) - int(refunded.get(member_id, 0))
        counts[lifecycle.segment_of(lifecycle.rfm_scores_of(rules, recency, int(frequency), monetary_cents))] += 1
    n = counts.total()
    rows: list[list[Any]] = [[seg, counts.get(seg, 0), pct(counts.get(seg, 0), n)] for seg in lifecycle.SEGMENTS]
    segments = {seg: counts.get(seg, 0) for seg in lifecycle.SEGMENTS}
    return result("rfm", None, end, ["segment", "members", "pct"], rows, {"segments": segments, "members": n},
                  ["total", n, pct(n, n)])


def points_liability(ctx: TillContext, start: date | None, end: date, *, store_id: str | None = None,
                     **_: Any) -> Report:
    """Points members could still spend at the end day, and what they are worth: the expiry due by that
    day counts as expired even where the day's upkeep has not written it yet (`liability.totals`)."""
    holders, points = liability.totals(ctx, end, store_id)
    value = points * point_value_cents(ctx)
    summary = {"members": holders, "points": points, "value_cents": value,
               "point_value_cents": point_value_cents(ctx)}
    return result("points-liability", None, end, ["members", "points", "value_cents"], [[holders, points, value]],
                   summary)


def rewards_redeemed(ctx: TillContext, start: date, end: date, *, store_id: str | None = None, **_: Any) -> Report:
    """Rewards redeemed in the period: how many, for how many points, and their value in cents (amount off
    and gift certificates; percent-off and free-product rewards count 0 here). A redemption without its
    coupon row is head office's (rebuilt from the ledger, its value already 0 for the kinds that count 0)."""
    only, params = of_store(store_id, "r.member_id")
    rows = [list(r) for r in ctx.conn.execute(
        "SELECT r.reward_id, COUNT(*), SUM(r.points),"
        " SUM(CASE WHEN c.kind IN ('amount_off', 'gift_certificate') OR c.kind IS NULL THEN r.value ELSE 0 END),"
        " SUM(r.restored_entry_id IS NOT NULL) FROM redemptions r LEFT JOIN coupons c ON c.code = r.coupon_code"
        f" WHERE substr(r.created_at, 1, 10) BETWEEN ? AND ?{only} GROUP BY r.reward_id ORDER BY r.reward_id",
        (start.isoformat(), end.isoformat(), *params))]
    summary = {"redemptions": sum(r[1] for r in rows), "points": sum(r[2] for r in rows)}
    return result("rewards-redeemed", start, end, ["reward", "redemptions", "points", "value_cents", "restored"], rows,
                   summary)


CONTACT_RULES = ("first-purchase-no-second", "no-purchase", "at-risk", "lapsed")


def contact_list(ctx: TillContext, start: date | None, end: date, *, rule: str = "first-purchase-no-second",
                 days: int = 60, channel: str = "email", **_: Any) -> Report:
    """Members for a campaign, only those who consented to the channel (and not erased)."""
    if rule not in CONTACT_RULES:
        raise UsageError(f"contact rule must be one of: {', '.join(CONTACT_RULES)}")
    if channel not in CHANNELS:
        raise UsageError(f"channel must be one of: {', '.join(sorted(CHANNELS))}")
    rows: list[list[Any]] = []
    for r in ctx.conn.execute(
            "SELECT m.member_id, m.name, m.email, m.phone FROM members m JOIN member_consent c"
            " ON c.member_id = m.member_id AND c.channel = ? AND c.granted = 1 WHERE m.status = 'active'"
            " ORDER BY m.member_id", (channel,)).fetchall():
        m = lifecycle.metrics(ctx, r["member_id"], end)
        if not m.frequency or m.first is None or m.last is None:  # never bought (by `end`): no campaign
            continue
        stage = lifecycle.stage_of(m, lifecycle_rules(ctx), end)
        wanted = {
            "first-purchase-no-second": m.frequency == 1 and (m.recency_days or 0) >= days,
            "no-purchase": (m.recency_days or 0) >= days,
            "at-risk": stage == "at_risk",
            "lapsed": stage == "lapsed",
        }[rule]
        if wanted:
            contact = r["email"] if channel == "email" else r["phone"] if channel in ("sms", "phone") else None
            rows.append([r["member_id"], r["name"], contact, m.first.isoformat(), m.last.isoformat()])
    return result("contact-list", None, end, ["member_id", "name", "contact", "first_purchase", "last_purchase"],
                   rows, {"rule": rule, "days": days, "channel": channel, "members": len(rows)})


# Read-only: the CLI (`pos-client report NAME`), the app's reports screen and head office pick reports from here.
REPORTS: Mapping[str, Callable[..., Report]] = MappingProxyType({
    "new-customers": new_customers,
    "lifecycle": lifecycle_report,
    "tier-migration": tier_migration,
    "rfm": rfm,
    "points-liability": points_liability,
    "rewards-redeemed": rewards_redeemed,
    "contact-list": contact_list,
    "second-purchase": second_purchase,
    "reactivation": reactivation,
    "retention": retention,
    "offer-lift": offer_lift,
})


PERIODS = ("this-month", "last-month", "last-quarter", "last-30-days", "as-of")


def period(preset: str, today: date | str | None = None, as_of: date | str | None = None) -> tuple[date, date]:
    """(start, end) of a period preset, for the manager screen: the calendar month so far, the last
    full month or calendar quarter, the 30 days to today, or the 30 days to an as-of date."""
    day = as_date(today)
    if preset == "this-month":
        return day.replace(day=1), day
    if preset == "last-month":
        end = plus_days(day.replace(day=1), -1)
        return end.replace(day=1), end
    if preset == "last-quarter":
        first_this = date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)
        end = plus_days(first_this, -1)
        return date(end.year, end.month - 2, 1), end
    if preset == "last-30-days":
        return plus_days(day, -(DEFAULT_DAYS - 1)), day
    if preset == "as-of":
        end = as_date(as_of) if as_of else day
        return plus_days(end, -(DEFAULT_DAYS - 1)), end
    raise UsageError(f"unknown period {preset!r}: one of {', '.join(PERIODS)}")


def run_report(ctx: TillContext, name: str, *, start: date | str | None = None, end: date | str | None = None,
               **options: Any) -> Report:
    """Run a report by name over [start, end] (end defaults to today, start to 30 days before it)."""
    if name not in REPORTS:
        raise UsageError(f"unknown report {name!r}: one of {', '.join(REPORTS)}")
    last = as_date(end)
    first = as_date(start) if start else plus_days(last, -(DEFAULT_DAYS - 1))
    if first > last:
        raise UsageError("--from is after --to")
    return REPORTS[name](ctx, first, last, **options)


def render_csv(report: Report) -> str:
    """The rows under their column names (machine field names; no total line: a script adds up itself)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(report["columns"])
    writer.writerows(report["rows"])
    return buf.getvalue()

