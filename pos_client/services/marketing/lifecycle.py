"""Where each member is in their relationship with the store: RFM figures and a lifecycle stage.

Stages (parameters in `[program.lifecycle]`), decided as of a day from the member's sales:
- lapsed: no purchase for `lapsed_days`;
- new: first purchase within `new_days`;
- reactivated: bought again within `reactivated_days` after a gap that had made them at risk
  (longer than k x their usual interval, no second purchase for `second_purchase_days`, or lapsed);
- at_risk: one purchase and no second one `second_purchase_days` after it, or no purchase for
  k (`at_risk_factor`) x their usual interval (the median gap between purchase days);
- active: everyone else who has bought. Members with no purchase have no stage (None).

Stages are pure functions of history, so reports can ask "as of" any day; changes seen at a
sale or by `record_stages` are also kept in `member_stages` with their date.
"""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass
from datetime import date
from itertools import pairwise

from pos_client.domain.dates import as_date, day_of
from pos_client.services.marketing.settings import lifecycle as lifecycle_rules
from pos_client.services.marketing.settings import rfm as rfm_rules
from pos_client.store.context import TillContext
from pos_client.store.db import now_iso, write_txn

STAGES = ("new", "active", "at_risk", "lapsed", "reactivated")


@dataclass(frozen=True)
class Metrics:
    frequency: int  # sales
    monetary_cents: int  # net of refunds
    first: date | None
    last: date | None
    recency_days: int | None
    interval_days: int | None  # usual time between purchase days (median), None before a second one
    days: tuple[date, ...]

    def public(self) -> dict:
        out = asdict(self)
        out["first"] = self.first.isoformat() if self.first else None
        out["last"] = self.last.isoformat() if self.last else None
        del out["days"]
        return out


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
        interval_days=int(statistics.median_low(gaps)) if gaps else None,
        days=days,
    )


def stage_of(m: Metrics, rules: dict[str, int], as_of: date) -> str | None:
    """The lifecycle stage for these figures (see the module docstring for the rules)."""
    if not m.days:
        return None
    assert m.first is not None and m.recency_days is not None
    if m.recency_days > rules["lapsed_days"]:
        return "lapsed"
    if (as_of - m.first).days <= rules["new_days"]:
        return "new"
    if len(m.days) == 1:
        return "at_risk" if m.recency_days > rules["second_purchase_days"] else "active"
    gaps = [(b - a).days for a, b in pairwise(m.days)]
    last_gap, earlier = gaps[-1], gaps[:-1]
    came_back = (
        last_gap > rules["lapsed_days"]
        or (not earlier and last_gap > rules["second_purchase_days"])
        or (bool(earlier) and last_gap > rules["at_risk_factor"] * max(statistics.median_low(earlier), 1))
    )
    if came_back and m.recency_days <= rules["reactivated_days"]:
        return "reactivated"
    if m.recency_days > rules["at_risk_factor"] * max(m.interval_days or 1, 1):
        return "at_risk"
    return "active"


def stage_at(ctx: TillContext, member_id: str, as_of: date | str | None = None) -> str | None:
    day = as_date(as_of)
    return stage_of(metrics(ctx, member_id, day), lifecycle_rules(ctx), day)


def rfm_scores(ctx: TillContext, m: Metrics) -> tuple[int, int, int]:
    """R, F, M each 1-3 against the thresholds in `[program.rfm]` (3 is best)."""
    rules = rfm_rules(ctx)
    r_near, r_far = rules["recency_days"]
    f_lo, f_hi = rules["frequency"]
    m_lo, m_hi = rules["monetary_cents"]
    rec = m.recency_days if m.recency_days is not None else 10**6
    r = 3 if rec <= r_near else 2 if rec <= r_far else 1
    f = 3 if m.frequency >= f_hi else 2 if m.frequency >= f_lo else 1
    mon = 3 if m.monetary_cents >= m_hi else 2 if m.monetary_cents >= m_lo else 1
    return r, f, mon


def segment_of(scores: tuple[int, int, int]) -> str:
    """Named RFM segments a manager recognises."""
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


def _record(ctx: TillContext, member_id: str, stage: str | None, day: date) -> dict | None:
    prev = recorded_stage(ctx, member_id)
    if stage is None or stage == prev:
        return None
    ctx.conn.execute(
        "INSERT INTO member_stages (member_id, stage, prev_stage, since, created_at) VALUES (?,?,?,?,?)",
        (member_id, stage, prev, day.isoformat(), now_iso()))
    return {"member_id": member_id, "from": prev, "to": stage, "since": day.isoformat()}


def on_sale(ctx: TillContext, sale_id: str, basket) -> None:
    """Sale hook: the visit may move the member (new, reactivated); record it with the sale's day."""
    if not basket.member_id:
        return
    row = ctx.conn.execute("SELECT created_at FROM sales WHERE sale_id = ?", (sale_id,)).fetchone()
    day = day_of(row[0])
    _record(ctx, basket.member_id, stage_at(ctx, basket.member_id, day), day)


def record_stages(ctx: TillContext, as_of: date | str | None = None) -> list[dict]:
    """Evaluate every member's stage as of the day (time alone moves people to at risk or lapsed)."""
    day = as_date(as_of)
    out = []
    with write_txn(ctx.conn):
        for (member_id,) in ctx.conn.execute(
                "SELECT DISTINCT member_id FROM sales WHERE member_id IS NOT NULL ORDER BY member_id").fetchall():
            change = _record(ctx, member_id, stage_at(ctx, member_id, day), day)
            if change:
                out.append(change)
    return out
