"""Tiers by qualifying spend over a rolling 12 months, each with a points multiplier.

Upgrade happens on the sale that qualifies (a sale hook, inside the sale's transaction);
downgrade waits for the end of the review period (`[program.tiers_review] period`, the calendar
quarter by default), when the day's upkeep runs `evaluate_tiers`. Every change is a new `member_tiers` row
with its date, so "who was Gold on 1 January" is a query, not a guess.

The multiplier is paid as one 'bonus' ledger entry per sale (ref = sale id), at the tier held
after that sale: points_earned x (multiplier - 100) / 100, rounded down. A refund reverses the
bonus in proportion to the points it reverses (rounded up, so a full refund nets to zero).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from typing import TYPE_CHECKING, Any, TypedDict

from pos_client.domain.dates import add_months, as_date, day_of, plus_days
from pos_client.services.marketing import pacing
from pos_client.services.members import tier_of
from pos_client.services.program_settings import Tier, tiers
from pos_client.store import ledger
from pos_client.store.context import TillContext
from pos_client.store.db import now_iso, write_txn

if TYPE_CHECKING:
    from pos_client.services.checkout import Basket

BONUS_REASON = "tier:"
CHUNK = 1000  # tier changes per write transaction in the review: a sale never waits long on it
BONUS_REFUND_REASON = "tier-bonus-refund"


class TierProgress(TypedDict):
    """The receipt's progress line: the tier held, the next one up and the spend still needed (None at the top)."""

    tier: str
    next_tier: str | None
    spend_needed_cents: int | None


def excluded_sql(ctx: TillContext) -> tuple[str, list[str]]:
    """Placeholders and values for `category NOT IN (...)`: excluded categories never qualify."""
    cats = sorted(ctx.rules.excluded_categories)
    return ",".join("?" * len(cats)) or "''", cats


def qualifying_spend(ctx: TillContext, member_id: str, as_of: date | str) -> int:
    """Cents spent in the 12 months ending on `as_of` (inclusive), refunds and coupons deducted.

    Excluded categories (tobacco, gift cards...) never qualify, as for points.
    """
    end = as_date(as_of)
    return max(0, _sold(ctx, member_id, end) - _returned(ctx, member_id, end))


def _sold(ctx: TillContext, member_id: str, end: date) -> int:
    """Qualifying cents sold to the member in the 12 months ending on `end`, before refunds."""
    marks, cats = excluded_sql(ctx)
    return int(ctx.conn.execute(
        "SELECT COALESCE(SUM(l.amount_cents), 0) FROM sale_lines l JOIN sales s ON s.sale_id = l.sale_id"
        f" WHERE s.member_id = ? AND substr(s.created_at, 1, 10) > ? AND substr(s.created_at, 1, 10) <= ?"
        f" AND l.category NOT IN ({marks})",
        (member_id, add_months(end, -12).isoformat(), end.isoformat(), *cats)).fetchone()[0])


def _returned(ctx: TillContext, member_id: str, end: date) -> int:
    """Qualifying cents of the member's sales refunded in the 12 months ending on `end`."""
    marks, cats = excluded_sql(ctx)
    return int(ctx.conn.execute(
        "SELECT COALESCE(SUM(rl.amount_cents), 0) FROM refund_lines rl JOIN refunds r ON r.refund_id = rl.refund_id"
        " JOIN sale_lines l ON l.sale_id = rl.sale_id AND l.line_no = rl.line_no"
        " JOIN sales s ON s.sale_id = rl.sale_id"
        f" WHERE s.member_id = ? AND substr(r.created_at, 1, 10) > ? AND substr(r.created_at, 1, 10) <= ?"
        f" AND l.category NOT IN ({marks})",
        (member_id, add_months(end, -12).isoformat(), end.isoformat(), *cats)).fetchone()[0])


def tier_for_spend(ladder: list[Tier], spend_cents: int) -> Tier:
    return [t for t in ladder if t.min_spend_cents <= spend_cents][-1]


def _rank(ladder: list[Tier], name: str) -> int:
    names = [t.name for t in ladder]
    return names.index(name) if name in names else 0


def current_tier(ctx: TillContext, member_id: str) -> str:
    """The tier the member holds now (read in one place: `members.tier_of`)."""
    return tier_of(ctx, member_id)


def tier_progress(ctx: TillContext, member_id: str, as_of: date | str | None = None) -> TierProgress:
    """Tier held, the next one up and the qualifying spend still needed: the receipt's progress line."""
    ladder = tiers(ctx)
    held = current_tier(ctx, member_id)
    higher = [t for t in ladder if _rank(ladder, t.name) > _rank(ladder, held)]
    if not higher:
        return {"tier": held, "next_tier": None, "spend_needed_cents": None}
    spend = qualifying_spend(ctx, member_id, as_date(as_of))
    return {"tier": held, "next_tier": higher[0].name,
            "spend_needed_cents": max(0, higher[0].min_spend_cents - spend)}


def tier_at(ctx: TillContext, member_id: str, day: date | str) -> str:
    """The tier the member held at the end of `day` (the lowest tier before any change)."""
    row = ctx.conn.execute(
        "SELECT tier FROM member_tiers WHERE member_id = ? AND since <= ? ORDER BY since DESC, rowid DESC LIMIT 1",
        (member_id, as_date(day).isoformat())).fetchone()
    return str(row[0]) if row else tiers(ctx)[0].name


def record_change(ctx: TillContext, member_id: str, tier: str, prev: str | None, since: date, reason: str,
                  sale_id: str | None = None) -> None:
    ctx.conn.execute(
        "INSERT INTO member_tiers (member_id, tier, prev_tier, since, reason, sale_id, created_at)"
        " VALUES (?,?,?,?,?,?,?)", (member_id, tier, prev, since.isoformat(), reason, sale_id, now_iso()))


def multiplier_pct(ctx: TillContext, tier_name: str) -> int:
    return _multiplier(tiers(ctx), tier_name)


def _multiplier(ladder: list[Tier], tier_name: str) -> int:
    return next((t.multiplier_pct for t in ladder if t.name == tier_name), 100)


def on_sale(ctx: TillContext, sale_id: str, basket: Basket) -> None:
    """Sale hook: upgrade the member if this sale qualifies them, then pay the tier bonus.

    Inside the sale's transaction, so it reads only what can decide: the ladder once, the 12-month spend
    only when a higher tier exists, and the refunds only when the sales alone reach the next tier (refunds
    only lower the spend). Same result as `tier_for_spend(qualifying_spend(...))`, fewer statements."""
    if not basket.member_id:
        return
    sale = ctx.conn.execute("SELECT created_at, points_earned FROM sales WHERE sale_id = ?", (sale_id,)).fetchone()
    day = day_of(sale["created_at"])
    ladder = tiers(ctx)
    held = tier_of(ctx, basket.member_id, lowest=ladder[0].name)
    rank = _rank(ladder, held)
    if rank + 1 < len(ladder):
        sold = _sold(ctx, basket.member_id, day)
        if sold >= ladder[rank + 1].min_spend_cents:
            target = tier_for_spend(ladder, max(0, sold - _returned(ctx, basket.member_id, day)))
            if _rank(ladder, target.name) > rank:
                record_change(ctx, basket.member_id, target.name, held, day, "upgrade", sale_id)
                held = target.name
    bonus = int(sale["points_earned"]) * (_multiplier(ladder, held) - 100) // 100
    if bonus > 0:
        ledger.append(ctx.conn, ctx.store_id, ctx.till_id, [ledger.Entry(
            member_id=basket.member_id, kind="bonus", points=bonus, sale_id=sale_id, ref=sale_id,
            reason=f"{BONUS_REASON}{held}", operator=ctx.operator, created_at=sale["created_at"])])


def on_refund(ctx: TillContext, refund_id: str, sale_id: str) -> None:
    """Refund hook: take back the tier bonus in proportion to the sale's points now reversed."""
    sale = ctx.conn.execute("SELECT member_id, points_earned FROM sales WHERE sale_id = ?", (sale_id,)).fetchone()
    if sale is None or not sale["member_id"] or not sale["points_earned"]:
        return
    bonus = ctx.conn.execute(
        "SELECT COALESCE(SUM(points), 0) FROM ledger WHERE sale_id = ? AND kind = 'bonus' AND reason LIKE ?",
        (sale_id, BONUS_REASON + "%")).fetchone()[0]
    if bonus <= 0:
        return
    reversed_points = ctx.conn.execute(
        "SELECT COALESCE(SUM(points_reversed), 0) FROM refunds WHERE sale_id = ?", (sale_id,)).fetchone()[0]
    already = -ctx.conn.execute(
        "SELECT COALESCE(SUM(points), 0) FROM ledger WHERE sale_id = ? AND kind = 'reverse' AND reason = ?",
        (sale_id, BONUS_REFUND_REASON)).fetchone()[0]
    target = -(-bonus * min(reversed_points, sale["points_earned"]) // sale["points_earned"])  # ceil
    if target > already:
        ledger.append(ctx.conn, ctx.store_id, ctx.till_id, [ledger.Entry(
            member_id=sale["member_id"], kind="reverse", points=-(target - already), sale_id=sale_id,
            ref=refund_id, reason=BONUS_REFUND_REASON, operator=ctx.operator)])


REVIEW_PERIODS = {"month": 1, "quarter": 3, "half": 6, "year": 12}


def review_period(ctx: TillContext) -> str:
    """`[program.tiers_review] period`: month, quarter (the default), half or year, in calendar terms."""
    section = ctx.config.section("program").get("tiers_review") or {}
    period = str(section.get("period", "quarter"))
    if period not in REVIEW_PERIODS:
        raise ValueError(f"program rules: tiers_review.period is one of {', '.join(REVIEW_PERIODS)}, not {period!r}")
    return period


def is_review_day(day: date, period: str) -> bool:
    """The last day of a review period (31 Mar, 30 Jun, 30 Sep, 31 Dec for quarters): downgrades happen here."""
    return plus_days(day, 1).day == 1 and day.month % REVIEW_PERIODS[period] == 0


def _spend_by_member(ctx: TillContext, end: date) -> dict[str, int]:
    """Every member's qualifying spend over the 12 months ending on `end` (`qualifying_spend`, in bulk)."""
    start = add_months(end, -12)
    marks, cats = excluded_sql(ctx)
    window = (start.isoformat(), end.isoformat(), *cats)
    out: dict[str, int] = defaultdict(int)
    for member_id, cents in ctx.conn.execute(
            "SELECT s.member_id, SUM(l.amount_cents) FROM sale_lines l JOIN sales s ON s.sale_id = l.sale_id"
            " WHERE s.member_id IS NOT NULL AND substr(s.created_at, 1, 10) > ? AND substr(s.created_at, 1, 10) <= ?"
            f" AND l.category NOT IN ({marks}) GROUP BY s.member_id", window):
        out[member_id] += int(cents)
    for member_id, cents in ctx.conn.execute(
            "SELECT s.member_id, SUM(rl.amount_cents) FROM refund_lines rl JOIN refunds r ON r.refund_id = rl.refund_id"
            " JOIN sale_lines l ON l.sale_id = rl.sale_id AND l.line_no = rl.line_no"
            " JOIN sales s ON s.sale_id = rl.sale_id"
            " WHERE s.member_id IS NOT NULL AND substr(r.created_at, 1, 10) > ? AND substr(r.created_at, 1, 10) <= ?"
            f" AND l.category NOT IN ({marks}) GROUP BY s.member_id", window):
        out[member_id] -= int(cents)
    return {m: max(0, c) for m, c in out.items()}


def _held(ctx: TillContext, members: list[str]) -> dict[str, str]:
    """The tier each of `members` holds now (their last `member_tiers` row; absent: the lowest)."""
    marks = ",".join("?" * len(members))
    return {r[0]: str(r[1]) for r in ctx.conn.execute(
        "SELECT member_id, tier FROM member_tiers WHERE rowid IN (SELECT MAX(rowid) FROM member_tiers"
        f" WHERE member_id IN ({marks}) GROUP BY member_id)", members)}


def evaluate_tiers(ctx: TillContext, as_of: date | str | None = None) -> list[dict[str, Any]]:
    """Period-end evaluation: move every active member to the tier their 12-month spend earns.

    Running it twice for the same day changes nothing the second time. A member whose tier
    already changed after `day` is left alone: evaluate periods in date order. The day's upkeep
    runs it on each review day (`is_review_day`): a few queries for the whole till read outside any write
    transaction, then the changes written `CHUNK` members at a time, each member's tier read again under the
    write lock (a sale that moved them meanwhile wins: its upgrade is the newer fact).
    """
    day = as_date(as_of)
    iso = day.isoformat()
    ladder = tiers(ctx)
    lowest = ladder[0].name
    members = [r[0] for r in ctx.conn.execute(
        "SELECT member_id FROM members WHERE status = 'active' AND (substr(created_at, 1, 10) <= ?"
        " OR member_id IN (SELECT member_id FROM sales WHERE substr(created_at, 1, 10) <= ?))"
        " ORDER BY member_id", (iso, iso))]
    moved_on = {r[0] for r in ctx.conn.execute("SELECT DISTINCT member_id FROM member_tiers WHERE since > ?",
                                               (iso,))}
    held_now = {r[0]: str(r[1]) for r in ctx.conn.execute(
        "SELECT member_id, tier FROM member_tiers WHERE rowid IN (SELECT MAX(rowid) FROM member_tiers"
        " GROUP BY member_id)")}
    spends = _spend_by_member(ctx, day)
    proposed: list[tuple[str, str, str, int]] = []
    for member_id in members:
        if member_id in moved_on:
            continue  # history already moved on past this day (re-evaluating imported history)
        held = held_now.get(member_id, lowest)
        spend = spends.get(member_id, 0)
        target = tier_for_spend(ladder, spend).name
        if target != held:
            proposed.append((member_id, held, target, spend))
    changes: list[dict[str, Any]] = []
    for part in pacing.paced(ctx.conn, [proposed[i:i + CHUNK] for i in range(0, len(proposed), CHUNK)]):
        with write_txn(ctx.conn):  # paced: a sale waiting for the lock gets it between two chunks
            ids = [p[0] for p in part]
            now = _held(ctx, ids)
            moved = {r[0] for r in ctx.conn.execute(
                "SELECT DISTINCT member_id FROM member_tiers WHERE since > ?"
                f" AND member_id IN ({','.join('?' * len(ids))})", (iso, *ids))}
            for member_id, held, target, spend in part:
                if member_id in moved or now.get(member_id, lowest) != held:
                    continue
                reason = "upgrade" if _rank(ladder, target) > _rank(ladder, held) else "downgrade"
                record_change(ctx, member_id, target, held, day, reason)
                changes.append({"member_id": member_id, "from": held, "to": target, "since": iso,
                                "reason": reason, "spend_cents": spend})
    return changes


def tier_changes(ctx: TillContext, start: date | str, end: date | str) -> list[dict[str, Any]]:
    """Recorded tier moves dated within [start, end]."""
    rows = ctx.conn.execute(
        "SELECT member_id, prev_tier, tier, since, reason, sale_id FROM member_tiers"
        " WHERE since >= ? AND since <= ? ORDER BY since, rowid",
        (as_date(start).isoformat(), as_date(end).isoformat()))
    return [dict(r) for r in rows]
