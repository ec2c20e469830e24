"""Where each member is in their relationship with the store: RFM figures and a lifecycle stage.

The stage rules are written down in docs/marketing.md and implemented, exactly, by the pure
`pos_client.domain.lifecycle` (thresholds from `[program.lifecycle]`); this module only reads each
member's distinct purchase days from the sales table (a day with at least one sale recorded to the
member, as of the end of the day asked; refunds do not remove a purchase day). Members with no
purchase have no stage (None).

Stages are pure functions of history, so reports can ask "as of" any day; changes seen at a
sale or by `stage_review.record_stages` are also kept in `member_stages` with their date. Every member
at once (numpy, over `purchase_table`) is `stage_review`'s: this module is on the till's start path.
"""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass
from datetime import date
from itertools import pairwise
from typing import TYPE_CHECKING, Any

from pos_client.domain.dates import as_date, day_of
from pos_client.domain.lifecycle import STAGES as STAGES  # re-exported: the reports list the stages in this order
from pos_client.domain.lifecycle import StageRules, stage_of_days
from pos_client.services.program_settings import lifecycle as lifecycle_rules
from pos_client.services.program_settings import rfm as rfm_rules
from pos_client.store.context import TillContext
from pos_client.store.db import now_iso

if TYPE_CHECKING:
    from pos_client.services.checkout import Basket


@dataclass(frozen=True)
class Metrics:
    frequency: int  # sales
    monetary_cents: int  # net of refunds
    first: date | None
    last: date | None
    recency_days: int | None
    interval_days: float | None  # usual time between purchase days: the median gap (may be a half), None before two
    days: tuple[date, ...]

    def public(self) -> dict[str, Any]:
        out = asdict(self)
        out["first"] = self.first.isoformat() if self.first else None
        out["last"] = self.last.isoformat() if self.last else None
        del out["days"]
        return out


def stage_rules(ctx: TillContext) -> StageRules:
    return StageRules.of(lifecycle_rules(ctx))


def metrics(ctx: TillContext, member_id: str, as_of: date | str | None = None) -> Metrics:
    day = as_date(as_of)
    upto = day.isoformat()
    rows = ctx.conn.execute(
        "SELECT created_at, total_cents FROM sales WHERE member_id = ? AND substr(created_at, 1, 10) <= ?"
        " ORDER BY created_at", (member_id, upto)).fetchall()
    refunded = ctx.conn.execute(
        "SELECT COALESCE(SUM(r.amount_cents), 0) FROM refunds r JOIN sales s ON s.sale_id = r.sale_id"
        " WHERE s.member_id = ? AND substr(r.created_at, 1, 10) <= ? AND substr(s.created_at, 1, 10) <= ?",
        (member_id, upto, upto)).fetchone()[0]
    days = tuple(sorted({day_of(r["created_at"]) for r in rows}))
    gaps = [(b - a).days for a, b in pairwise(days)]
    return Metrics(
        frequency=len(rows),
        monetary_cents=sum(int(r["total_cents"]) for r in rows) - int(refunded),
        first=days[0] if days else None,
        last=days[-1] if days else None,
        recency_days=(day - days[-1]).days if days else None,
        interval_days=statistics.median(gaps) if gaps else None,
        days=days,
    )


def stage_of(m: Metrics, rules: dict[str, int], as_of: date) -> str | None:
    """The lifecycle stage for these figures (docs/marketing.md; `pos_client.domain.lifecycle`)."""
    return stage_of_days(m.days, as_of, StageRules.of(rules))


def stage_at(ctx: TillContext, member_id: str, as_of: date | str | None = None) -> str | None:
    day = as_date(as_of)
    return stage_of_days(purchase_days(ctx, member_id, day), day, stage_rules(ctx))


def purchase_days(ctx: TillContext, member_id: str, day: date) -> tuple[date, ...]:
    """The member's distinct purchase days up to `day`, oldest first: all a stage needs (`metrics.days`
    without the totals and refunds a sale's hook does not use)."""
    rows = ctx.conn.execute(
        "SELECT DISTINCT substr(created_at, 1, 10) FROM sales WHERE member_id = ? AND substr(created_at, 1, 10) <= ?",
        (member_id, day.isoformat())).fetchall()
    return tuple(sorted(date.fromisoformat(r[0]) for r in rows))


def rfm_scores_of(rules: dict[str, list[int]], recency_days: int | None, frequency: int,
                  monetary_cents: int) -> tuple[int, int, int]:
    """R, F, M each 1-3 against `[program.rfm]` thresholds (3 is best): R3 when recency <= the near
    threshold, R2 <= the far one; F3 when sales >= the high count, F2 >= the low; M likewise on net spend."""
    r_near, r_far = rules["recency_days"]
    f_lo, f_hi = rules["frequency"]
    m_lo, m_hi = rules["monetary_cents"]
    rec = recency_days if recency_days is not None else 10**6
    r = 3 if rec <= r_near else 2 if rec <= r_far else 1
    f = 3 if frequency >= f_hi else 2 if frequency >= f_lo else 1
    mon = 3 if monetary_cents >= m_hi else 2 if monetary_cents >= m_lo else 1
    return r, f, mon


def rfm_scores(ctx: TillContext, m: Metrics) -> tuple[int, int, int]:
    """R, F, M each 1-3 against the thresholds in `[program.rfm]` (3 is best)."""
    return rfm_scores_of(rfm_rules(ctx), m.recency_days, m.frequency, m.monetary_cents)


SEGMENTS = ("champions", "loyal", "newcomers", "promising", "cant_lose", "hibernating")


def segment_of(scores: tuple[int, int, int]) -> str:
    """Named RFM segments a manager recognises (the first rule that matches, in this order)."""
    r, f, m = scores
    if r == 3 and f == 3 and m >= 2:
        return "champions"
    if r >= 2 and f >= 2:
        return "loyal"
    if r == 3 and f == 1:
        return "newcomers"
    if r == 1 and f >= 2:
        return "cant_lose"
    if r == 1:
        return "hibernating"
    return "promising"


def segment(ctx: TillContext, member_id: str, as_of: date | str | None = None) -> str | None:
    m = metrics(ctx, member_id, as_of)
    return segment_of(rfm_scores(ctx, m)) if m.frequency else None


def recorded_stage(ctx: TillContext, member_id: str) -> str | None:
    row = ctx.conn.execute(
        "SELECT stage FROM member_stages WHERE member_id = ? ORDER BY rowid DESC LIMIT 1", (member_id,)).fetchone()
    return row[0] if row else None


def record(ctx: TillContext, member_id: str, stage: str | None, day: date,
           prev: str | None) -> dict[str, Any] | None:
    """Keep a stage change in `member_stages` (nothing when it is no change); the change, for the upkeep's list."""
    if stage is None or stage == prev:
        return None
    ctx.conn.execute(
        "INSERT INTO member_stages (member_id, stage, prev_stage, since, created_at) VALUES (?,?,?,?,?)",
        (member_id, stage, prev, day.isoformat(), now_iso()))
    return {"member_id": member_id, "from": prev, "to": stage, "since": day.isoformat()}


def on_sale(ctx: TillContext, sale_id: str, basket: Basket) -> None:
    """Sale hook: the visit may move the member (new, reactivated); record it with the sale's day."""
    if not basket.member_id:
        return
    row = ctx.conn.execute(  # the sale's time and the stage recorded last, in one read (`recorded_stage`)
        "SELECT (SELECT created_at FROM sales WHERE sale_id = ?),"
        " (SELECT stage FROM member_stages WHERE member_id = ? ORDER BY rowid DESC LIMIT 1)",
        (sale_id, basket.member_id)).fetchone()
    day = day_of(row[0])
    record(ctx, basket.member_id, stage_at(ctx, basket.member_id, day), day, row[1])
