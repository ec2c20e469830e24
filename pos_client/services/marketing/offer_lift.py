"""The offer-lift report: did an offer change what members did, measured against its held-out control group.

Defined in docs/offer-lift.md. A member enters the report at their first randomised targeting of the offer
(an `offer_targets` row with a holdout share above 0) on a day t0 in [from, to], in the group recorded
there. Their window is the days t0+1 .. t0+W (W = the row's `window_days`): they "bought" when they have a
sale on one of those days; their revenue is the sum of those sales' totals; they "redeemed" when the
coupon the offer gave them at t0 was used on a sale in the window. The statistics are `domain.lift`'s.
The same function runs at head office on its till-shaped snapshot of every store's data.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from pos_client.domain.dates import plus_days
from pos_client.domain.errors import UsageError
from pos_client.domain.lift import CONTROL, MIN_EVENTS, MIN_MEMBERS, TREATED, Group, Interval, MemberOutcome, lift
from pos_client.domain.money import format_cents
from pos_client.services.marketing.report_base import Report, pct, result
from pos_client.store.context import TillContext

CONFIDENCE = 0.95
COLUMNS = ["group", "members", "bought", "bought_pct", "revenue_cents", "revenue_per_member_cents", "redeemed",
           "redemption_pct"]
RULE = (f"too small to conclude unless each group has at least {MIN_MEMBERS} members, {MIN_EVENTS} who bought"
        f" and {MIN_EVENTS} who did not")

# One row per member: their first randomised targeting in the period, and what they did in its window.
# Days compare as text: a stored timestamp "YYYY-MM-DDT..." sorts after its day "YYYY-MM-DD" and before the next.
_OUTCOMES = """
WITH firsts AS (
    SELECT member_id, grp, day, window_days, coupon_code FROM (
        SELECT member_id, grp, day, window_days, coupon_code,
               ROW_NUMBER() OVER (PARTITION BY member_id ORDER BY day, at, sale_id) AS k
        FROM offer_targets WHERE offer_id = :offer AND holdout_bp > 0 AND day BETWEEN :start AND :end
            AND (:store IS NULL OR store_id = :store))
    WHERE k = 1),
windows AS (
    SELECT member_id, grp, day, window_days, coupon_code, date(day, '+1 day') AS w_from,
           date(day, '+' || (window_days + 1) || ' days') AS w_to FROM firsts)
SELECT w.member_id, w.grp, w.day, w.window_days,
       (SELECT COUNT(*) FROM sales s WHERE s.member_id = w.member_id
           AND s.created_at >= w.w_from AND s.created_at < w.w_to) AS sales,
       (SELECT COALESCE(SUM(s.total_cents), 0) FROM sales s WHERE s.member_id = w.member_id
           AND s.created_at >= w.w_from AND s.created_at < w.w_to) AS revenue,
       (w.coupon_code IS NOT NULL AND EXISTS (SELECT 1 FROM coupon_uses u JOIN sales s ON s.sale_id = u.sale_id
           WHERE u.code = w.coupon_code AND s.created_at >= w.w_from AND s.created_at < w.w_to)) AS redeemed
FROM windows w ORDER BY w.member_id
"""


@dataclass(frozen=True)
class Targeted:
    """One member in the report: group, first targeting day t0, window W and what they did in it."""

    member_id: str
    group: str
    day: date
    window_days: int
    outcome: MemberOutcome


def scope(ctx: TillContext) -> str | None:
    """The store whose targetings a report counts: a till sees only its own store's sales, so it measures its
    own store's targetings (others' arrive by sync for the caps); head office's snapshot is chain-wide."""
    return None if ctx.config.section("reports").get("chain_wide") else ctx.store_id


def targeted(ctx: TillContext, offer_id: str, start: date, end: date, store: str | None = None) -> list[Targeted]:
    """The report's members (as defined in the module docstring), by member id; `store` narrows head office's
    chain-wide snapshot to one store's targetings (a till's own scope)."""
    return [Targeted(str(r["member_id"]), str(r["grp"]), date.fromisoformat(r["day"]), int(r["window_days"]),
                     MemberOutcome(int(r["sales"]) > 0, int(r["revenue"]), bool(r["redeemed"])))
            for r in ctx.conn.execute(_OUTCOMES, {"offer": offer_id, "start": start.isoformat(),
                                                  "end": end.isoformat(), "store": store or scope(ctx)})]


def _offers_seen(ctx: TillContext) -> list[str]:
    return [str(r[0]) for r in ctx.conn.execute("SELECT DISTINCT offer_id FROM offer_targets ORDER BY offer_id")]


def _cents(value: float) -> int:
    """A mean or a bound in cents, rounded to a whole cent for display and the rows (half away from zero)."""
    return int(value + 0.5) if value >= 0 else -int(-value + 0.5)


def _row(name: str, g: Group, has_coupon: bool) -> list[Any]:
    per_member = _cents(g.revenue_cents / g.members) if g.members else 0
    redeemed = g.redeemers if has_coupon and name == TREATED else None
    return [name, g.members, g.buyers, pct(g.buyers, g.members), g.revenue_cents, per_member, redeemed,
            pct(g.redeemers, g.members) if redeemed is not None else None]


def _signed_pct(p: float) -> str:
    return f"{p * 100:+.1f}"


def _interval(ci: Interval | None, fmt: Any) -> str:
    return f"{fmt(ci[0])} to {fmt(ci[1])}" if ci else "not defined"


def _findings(offer_id: str, treated: Group, control: Group, summary: dict[str, Any], sep: str) -> list[str]:
    """The lift in sentences for the text output (the numbers are in `summary`)."""
    lf = summary["lift"]
    level = f"{CONFIDENCE * 100:g}%"
    out = [f"Offer {offer_id}: {treated.members} treated, {control.members} held out"
           f" (window {', '.join(str(w) for w in summary['window_days']) or '-'} days after the visit)"]
    if lf["bought_diff"] is not None:
        ratio = f"{lf['bought_ratio']:.2f}" if lf["bought_ratio"] is not None else "not defined (no control buyer)"
        out.append(f"Bought in the window: difference {_signed_pct(lf['bought_diff'])} points ({level} CI"
                   f" {_interval(lf['bought_diff_ci'], _signed_pct)}), ratio {ratio} ({level} CI"
                   f" {_interval(lf['bought_ratio_ci'], lambda v: f'{v:.2f}')})")
    if lf["revenue_per_member_diff_cents"] is not None:
        def money(v: float) -> str:
            return ("+" if v >= 0 else "") + format_cents(_cents(v), decimal_separator=sep, group=True)
        out.append(f"Revenue per member: difference {money(lf['revenue_per_member_diff_cents'])} ({level} CI"
                   f" {_interval(lf['revenue_per_member_diff_ci_cents'], money)}, Welch)")
    if summary["windows_open"]:
        out.append(f"{summary['windows_open']} members' windows end after the last sale recorded: their figures"
                   " may still rise")
    out.append(("Too small to conclude: " + "; ".join(summary["too_small"])) if summary["too_small"]
               else f"Verdict: {summary['verdict']}")
    out.append(f"Rule: {RULE}")
    return out


def offer_lift(ctx: TillContext, start: date, end: date, *, offer: str | None = None, store_id: str | None = None,
               **_: Any) -> Report:
    """Treated against control for one offer, targeted in [start, end] (docs/offer-lift.md)."""
    if not offer:
        seen = _offers_seen(ctx)
        raise UsageError("offer-lift needs --offer ID" + (f": one of {', '.join(seen)}" if seen else
                                                           " (no offer has been targeted yet)"))
    members = targeted(ctx, offer, start, end, store_id)
    where = store_id or scope(ctx)
    treated = Group.of(m.outcome for m in members if m.group == TREATED)
    control = Group.of(m.outcome for m in members if m.group == CONTROL)
    facts = ctx.conn.execute(
        "SELECT COUNT(DISTINCT CASE WHEN holdout_bp = 0 THEN member_id END), SUM(coupon_code IS NOT NULL)"
        " FROM offer_targets WHERE offer_id = ? AND day BETWEEN ? AND ? AND (? IS NULL OR store_id = ?)",
        (offer, start.isoformat(), end.isoformat(), where, where)).fetchone()
    last = ctx.conn.execute("SELECT MAX(substr(created_at, 1, 10)) FROM sales").fetchone()[0]
    last_sale = date.fromisoformat(last) if last else None
    open_windows = sum(1 for m in members if last_sale is None or plus_days(m.day, m.window_days) > last_sale)
    windows = sorted({m.window_days for m in members})
    has_coupon = bool(facts[1])
    stats = lift(treated, control, CONFIDENCE)
    welch = stats.revenue
    summary: dict[str, Any] = {
        "offer": offer, "confidence": CONFIDENCE, "window_days": windows,
        "groups": {name: {"members": g.members, "bought": g.buyers, "bought_pct": pct(g.buyers, g.members),
                          "revenue_cents": g.revenue_cents, "redeemed": g.redeemers if name == TREATED else 0}
                   for name, g in ((TREATED, treated), (CONTROL, control))},
        "lift": {"bought_diff": stats.rate_diff, "bought_diff_ci": stats.rate_diff_ci,
                 "bought_ratio": stats.rate_ratio, "bought_ratio_ci": stats.rate_ratio_ci,
                 "revenue_per_member_diff_cents": welch.diff if welch else None,
                 "revenue_per_member_diff_ci_cents": welch.interval if welch else None,
                 "welch_df": welch.df if welch else None},
        "conclusive": not stats.too_small, "too_small": stats.too_small, "verdict": stats.verdict, "rule": RULE,
        "not_randomised": int(facts[0] or 0), "windows_open": open_windows}
    rows = [_row(TREATED, treated, has_coupon), _row(CONTROL, control, has_coupon)]
    report = result("offer-lift", start, end, COLUMNS, rows, summary)
    report["findings"] = _findings(offer, treated, control, summary, ctx.config.decimal_separator)
    return report
