"""Triggered offers as data: conditions, an action, a priority and a frequency cap.

`[[program.offers]]` in config.toml replaces DEFAULT_OFFERS. Conditions (all must hold):
  stage / tier / segment: a name or a list of names;
  min_frequency / max_frequency: purchases so far (max_frequency = 1: "first purchase");
  bought_category: {category, days} - bought that category in the last N days;
  refill: {sku, days} - bought that product before, but not in the last N days;
  points_to_reward: N - within N points of the cheapest reward not yet affordable.
Action: {type: coupon | message | prompt, message, and for a coupon: kind, value, sku, valid_days}.
Messages may use {points_needed} and {reward}. cap: {max, days} - at most `max` times per member
in `days` days (no days: ever). At each visit the eligible offer with the highest priority wins.

Test and learn (docs/offer-lift.md): `holdout_pct` (per offer, else `[program] holdout_pct`, else 10) is
the share of targeted members held out as a control group. The group is `domain.lift.assign` under the
program key (`[program] holdout_key`, the same at every till), fixed by the first recorded targeting.
Every targeting is recorded in `offer_targets`; a held-out member gets nothing at that visit (no
coupon, no message, no prompt) and counts against the cap like a treated one. `window_days` (default:
the coupon's `valid_days`, else 30) is how long after the visit the offer-lift report looks for a purchase.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from pos_client.domain.dates import as_date, plus_days
from pos_client.domain.lift import CONTROL, TREATED, assign, holdout_basis_points
from pos_client.services.marketing import coupons, lifecycle
from pos_client.services.marketing.published_offers import published
from pos_client.services.marketing.rewards import catalog as rewards_catalog
from pos_client.services.marketing.tiers import tier_at
from pos_client.services.program_settings import program
from pos_client.store import ledger
from pos_client.store.context import TillContext
from pos_client.store.db import now_iso, write_txn

DEFAULT_HOLDOUT_PCT = 10
# The program key when config.toml names none: a constant, so every till of every store assigns alike.
DEFAULT_HOLDOUT_KEY = "pos-client offer holdout v1"
DEFAULT_WINDOW_DAYS = 30

DEFAULT_OFFERS: list[dict[str, Any]] = [
    {"id": "welcome", "priority": 100,
     "conditions": {"max_frequency": 1},
     "action": {"type": "coupon", "kind": "amount_off", "value": 500, "valid_days": 30,
                "message": "Welcome! Here is 5.00 off your next visit within 30 days."},
     "cap": {"max": 1}},
    {"id": "we-miss-you", "priority": 90,
     "conditions": {"stage": "reactivated"},
     "action": {"type": "coupon", "kind": "percent_off", "value": 10, "valid_days": 30,
                "message": "We missed you! 10% off your next visit."},
     "cap": {"max": 1, "days": 180}},
    {"id": "points-close", "priority": 10,
     "conditions": {"points_to_reward": 100},
     "action": {"type": "message", "message": "Only {points_needed} points to go for {reward}!"},
     "cap": {"max": 1, "days": 7}},
]


@dataclass(frozen=True)
class Offer:
    id: str
    priority: int
    conditions: dict[str, Any]
    action: dict[str, Any]
    cap: dict[str, Any] = field(default_factory=dict)
    holdout_pct: float = DEFAULT_HOLDOUT_PCT
    window_days: int = DEFAULT_WINDOW_DAYS

    @property
    def holdout_bp(self) -> int:
        return holdout_basis_points(self.holdout_pct)


@dataclass(frozen=True)
class Chosen:
    offer: Offer
    message: str


def _offer(raw: dict[str, Any], holdout_default: float) -> Offer:
    action = dict(raw["action"])
    pct = float(raw.get("holdout_pct", holdout_default))
    try:
        holdout_basis_points(pct)
    except ValueError as exc:
        raise ValueError(f"program rules: offer {raw['id']!r}: {exc}") from None
    window = int(raw.get("window_days") or (action.get("valid_days", DEFAULT_WINDOW_DAYS)
                                            if action.get("type") == "coupon" else DEFAULT_WINDOW_DAYS))
    return Offer(str(raw["id"]), int(raw.get("priority", 0)), dict(raw.get("conditions", {})), action,
                 dict(raw.get("cap", {})), pct, window)


def catalog(ctx: TillContext) -> list[Offer]:
    """Head office's published offers, else `[[program.offers]]`, else the defaults; highest priority first."""
    raw = published(ctx)
    raw = program(ctx).get("offers") if raw is None else raw
    raw = DEFAULT_OFFERS if raw is None else raw
    default = float(program(ctx).get("holdout_pct", DEFAULT_HOLDOUT_PCT))
    return sorted((_offer(o, default) for o in raw), key=lambda o: -o.priority)


def find_offer(ctx: TillContext, offer_id: str) -> Offer | None:
    return next((o for o in catalog(ctx) if o.id == offer_id), None)


def holdout_key(ctx: TillContext) -> bytes:
    """The program key of the holdout hash: `[program] holdout_key`, the same at every till."""
    return str(program(ctx).get("holdout_key") or DEFAULT_HOLDOUT_KEY).encode()


def group_of(ctx: TillContext, offer: Offer, member_id: str) -> str:
    """The member's group for this offer: as first recorded, else the keyed hash under today's share.

    No holdout (0 %) means everyone is treated, whatever was recorded under an earlier share."""
    if offer.holdout_bp == 0:
        return TREATED
    row = ctx.conn.execute("SELECT grp FROM offer_targets WHERE offer_id = ? AND member_id = ? AND holdout_bp > 0"
                           " ORDER BY day, at LIMIT 1", (offer.id, member_id)).fetchone()
    return str(row[0]) if row else assign(holdout_key(ctx), offer.id, member_id, offer.holdout_pct)


def _names(value: Any) -> set[str]:
    return {value} if isinstance(value, str) else set(value)


def _next_reward(ctx: TillContext, balance: int) -> tuple[int, str] | None:
    above = sorted((r.points - balance, r.name) for r in rewards_catalog(ctx) if r.points > balance)
    return above[0] if above else None


def _bought(ctx: TillContext, member_id: str, column: str, value: str, since: date, upto: date) -> bool:
    return ctx.conn.execute(
        f"SELECT 1 FROM sale_lines l JOIN sales s ON s.sale_id = l.sale_id WHERE s.member_id = ? AND l.{column} = ?"
        " AND substr(s.created_at, 1, 10) >= ? AND substr(s.created_at, 1, 10) <= ? LIMIT 1",
        (member_id, value, since.isoformat(), upto.isoformat())).fetchone() is not None


def _capped(ctx: TillContext, offer: Offer, member_id: str, day: date) -> bool:
    if not offer.cap:
        return False
    sql = "SELECT COUNT(*) FROM offer_targets WHERE offer_id = ? AND member_id = ?"
    params: list[Any] = [offer.id, member_id]
    if offer.cap.get("days"):
        sql += " AND day > ?"
        params.append(plus_days(day, -int(offer.cap["days"])).isoformat())
    return int(ctx.conn.execute(sql, params).fetchone()[0]) >= int(offer.cap.get("max", 1))


def eligible(ctx: TillContext, offer: Offer, member_id: str, day: date) -> str | None:
    """The offer's message for this member if every condition holds, else None."""
    c = offer.conditions
    m = lifecycle.metrics(ctx, member_id, day)
    extra: dict[str, Any] = {}
    if "stage" in c and lifecycle.stage_at(ctx, member_id, day) not in _names(c["stage"]):
        return None
    if "tier" in c and tier_at(ctx, member_id, day) not in _names(c["tier"]):
        return None
    if "segment" in c and (not m.frequency or
                           lifecycle.segment_of(lifecycle.rfm_scores(ctx, m)) not in _names(c["segment"])):
        return None
    if "min_frequency" in c and m.frequency < int(c["min_frequency"]):
        return None
    if "max_frequency" in c and not 0 < m.frequency <= int(c["max_frequency"]):
        return None
    if "bought_category" in c:
        spec = c["bought_category"]
        if not _bought(ctx, member_id, "category", spec["category"], plus_days(day, -int(spec["days"])), day):
            return None
    if "refill" in c:
        spec = c["refill"]
        recent = plus_days(day, -int(spec["days"]))
        if (not _bought(ctx, member_id, "sku", spec["sku"], date.min, day)
                or _bought(ctx, member_id, "sku", spec["sku"], recent, day)):
            return None
    if "points_to_reward" in c:
        nxt = _next_reward(ctx, ledger.balance(ctx.conn, member_id))
        if nxt is None or nxt[0] > int(c["points_to_reward"]):
            return None
        extra = {"points_needed": nxt[0], "reward": nxt[1]}
    if _capped(ctx, offer, member_id, day):
        return None
    return str(offer.action.get("message", "")).format(**extra)


def choose(ctx: TillContext, member_id: str, as_of: date | str | None = None) -> Chosen | None:
    """The eligible offer with the highest priority at this visit, whichever group the member is in."""
    day = as_date(as_of)
    for offer in catalog(ctx):
        message = eligible(ctx, offer, member_id, day)
        if message is not None:
            return Chosen(offer, message)
    return None


def best_offer(ctx: TillContext, member_id: str, as_of: date | str | None = None) -> Chosen | None:
    """What this member gets at this visit: the chosen offer, or None when nothing applies or the member
    is held out of it (a control member gets no other offer instead: the visit is the control's)."""
    chosen = choose(ctx, member_id, as_of)
    if chosen is None or group_of(ctx, chosen.offer, member_id) == CONTROL:
        return None
    return chosen


def present(ctx: TillContext, member_id: str, sale_id: str, as_of: date | str | None = None) -> dict[str, Any] | None:
    """Pick and record the offer for a sale (once per sale: a reprint shows the same one).

    Returns {"offer_id", "type", "message", "coupon"} where coupon is a Coupon or None; None when nothing
    applies or the member is held out (recorded in `offer_targets` as 'control': would have received it).
    """
    day = as_date(as_of)
    with write_txn(ctx.conn):
        row = ctx.conn.execute("SELECT offer_id, coupon_code, message FROM offer_log WHERE sale_id = ?",
                               (sale_id,)).fetchone()
        if row is not None:
            coupon = coupons.get(ctx, row["coupon_code"]) if row["coupon_code"] else None
            return {"offer_id": row["offer_id"], "type": "coupon" if coupon else "message", "coupon": coupon,
                    "message": row["message"]}
        if ctx.conn.execute("SELECT 1 FROM offer_targets WHERE sale_id = ? AND grp = ?",
                            (sale_id, CONTROL)).fetchone():
            return None  # held out at this visit: a reprint shows nothing either
        chosen = choose(ctx, member_id, day)
        if chosen is None:
            return None
        offer, at = chosen.offer, f"{day.isoformat()}T{now_iso()[11:]}"
        group = group_of(ctx, offer, member_id)
        coupon = None
        if group != CONTROL and offer.action["type"] == "coupon":
            action = offer.action
            coupon = coupons.issue(ctx, action["kind"], int(action.get("value", 0)), sku=action.get("sku"),
                                   expires=plus_days(day, int(action.get("valid_days", 30))), member_id=member_id,
                                   source=f"offer:{offer.id}")
        ctx.conn.execute(
            "INSERT INTO offer_targets (offer_id, member_id, sale_id, grp, holdout_bp, window_days, coupon_code,"
            " store_id, till_id, day, at) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (offer.id, member_id, sale_id, group, offer.holdout_bp, offer.window_days, coupon.code if coupon else None,
             ctx.store_id, ctx.till_id, day.isoformat(), at))
        if group == CONTROL:
            return None
        ctx.conn.execute(
            "INSERT INTO offer_log (offer_id, member_id, sale_id, coupon_code, message, at) VALUES (?,?,?,?,?,?)",
            (offer.id, member_id, sale_id, coupon.code if coupon else None, chosen.message, at))
    return {"offer_id": offer.id, "type": offer.action["type"], "message": chosen.message, "coupon": coupon}
