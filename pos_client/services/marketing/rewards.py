"""The rewards catalog and what a manager does with points: redeem, adjust, reverse, restore.

The catalog is the one head office sent (`headoffice rule set rewards JSON`), else
`[[program.rewards]]` in config.toml; a fresh till has DEFAULT_REWARDS. Spending points (a
redemption, a negative adjustment) first passes `offline_policy.check_offline_redeem`: up to the
balance this till knows and, while offline, under the program's offline cap. A redemption is
one 'redeem' ledger entry and one signed coupon, written with the manager's approval in a single
transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from pos_client.domain.bounds import KEYED_POINTS, require
from pos_client.domain.dates import as_date, plus_days
from pos_client.domain.errors import NotFound, RefusedInput, UsageError
from pos_client.domain.money import format_cents
from pos_client.services import checkout
from pos_client.services.marketing import coupons, limits, manager
from pos_client.services.marketing.offline_policy import check_offline_redeem
from pos_client.services.marketing.tiers import current_tier
from pos_client.services.members import get_member
from pos_client.services.program_settings import program, pulled, reason_codes, tiers
from pos_client.store import ledger
from pos_client.store.context import TillContext
from pos_client.store.db import now_iso, write_txn

DEFAULT_REWARDS: list[dict[str, Any]] = [
    {"id": "R500", "name": "5.00 off your basket", "kind": "amount_off", "points": 500, "value": 500},
    {"id": "PCT10", "name": "10% off your basket", "kind": "percent_off", "points": 800, "value": 10},
    {"id": "COFFEE", "name": "A free coffee", "kind": "free_product", "points": 300, "sku": "COFFEE"},
    {"id": "GIFT20", "name": "20.00 gift certificate", "kind": "gift_certificate", "points": 2000, "value": 2000,
     "tier": "Silver"},
]
PARTIAL_KINDS = frozenset({"amount_off", "gift_certificate"})


@dataclass(frozen=True)
class Reward:
    id: str
    name: str
    kind: str
    points: int
    value: int = 0  # cents (amount off, gift certificate) or percent (percent off)
    sku: str | None = None
    tier: str | None = None  # lowest tier allowed to redeem it
    valid_days: int = 90

    def public(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "points": self.points, "kind": self.kind, "value": self.value,
                "sku": self.sku, "tier": self.tier, "partial": self.kind in PARTIAL_KINDS}


def catalog(ctx: TillContext) -> list[Reward]:
    out = []
    for r in pulled(ctx, "rewards") or program(ctx).get("rewards") or DEFAULT_REWARDS:
        reward = Reward(str(r["id"]), str(r["name"]), str(r["kind"]), int(r["points"]), int(r.get("value", 0)),
                        r.get("sku"), r.get("tier"), int(r.get("valid_days", 90)))
        if reward.kind not in coupons.KINDS or reward.points <= 0:
            raise ValueError(f"program rules: reward {reward.id} needs a known kind and a positive points cost")
        out.append(reward)
    return out


def get_reward(ctx: TillContext, reward_id: str) -> Reward:
    for reward in catalog(ctx):
        if reward.id.lower() == str(reward_id).lower():
            return reward
    raise NotFound(f"no reward {reward_id}")


def _tier_allows(ctx: TillContext, member_tier: str, required: str | None) -> bool:
    if not required:
        return True
    names = [t.name for t in tiers(ctx)]
    return required in names and member_tier in names and names.index(member_tier) >= names.index(required)


def price(reward: Reward, points: int | None = None, amount_cents: int | None = None) -> tuple[int, int]:
    """(points, value) for a whole or partial redemption; value scales down with the points."""
    if points is None and amount_cents is None:
        return reward.points, reward.value
    if reward.kind not in PARTIAL_KINDS:
        raise UsageError(f"{reward.name}: only the whole reward can be redeemed")
    if points is not None and amount_cents is not None:
        raise UsageError("give either a number of points or an amount, not both")
    if amount_cents is not None:
        if amount_cents <= 0 or amount_cents > reward.value:
            raise UsageError(f"amount must be between {format_cents(1)} and the reward's value"
                             f" ({format_cents(reward.value)})")
        points = -(-amount_cents * reward.points // reward.value)  # the customer pays whole points, rounded up
        return points, amount_cents
    assert points is not None
    if points <= 0 or points > reward.points:
        raise UsageError(f"points must be between 1 and {reward.points}")
    value = reward.value * points // reward.points
    if value <= 0:
        raise UsageError("too few points for any value")
    return points, value


def _spend_allowed(ctx: TillContext, member_id: str, points: int) -> None:
    """The offline redemption policy (sync/policy.py): refused with a clear message when over it."""
    check_offline_redeem(ctx, member_id, points)


def _survivor(ctx: TillContext, member_id: str) -> str:
    """The member points are spent on: a member merged at head office spends on the one it was merged into."""
    return get_member(ctx, member_id).member_id


def _active_member(ctx: TillContext, member_id: str) -> None:
    row = ctx.conn.execute("SELECT status FROM members WHERE member_id = ?", (member_id,)).fetchone()
    if row is None:
        raise NotFound("no such member")
    if row[0] != "active":
        raise RefusedInput(f"this member is {row[0]}")


def redeem(ctx: TillContext, member_id: str, reward_id: str, pin: str, *, points: int | None = None,
           amount_cents: int | None = None, as_of: date | str | None = None) -> dict[str, Any]:
    """Spend points on a reward with a manager's approval: one ledger entry, one signed coupon.

    The PIN is checked first: nothing about the member or the reward is said to someone not authorised.
    """
    approver = manager.check_pin(ctx, pin)
    reward = get_reward(ctx, reward_id)
    member_id = _survivor(ctx, member_id)
    _active_member(ctx, member_id)
    spend, value = price(reward, points, amount_cents)
    held = current_tier(ctx, member_id)
    if not _tier_allows(ctx, held, reward.tier):
        raise RefusedInput(f"{reward.name} is for {reward.tier} members and above (this member is {held})")
    if ledger.balance(ctx.conn, member_id) < spend:
        raise RefusedInput(f"not enough points: {spend} needed, {ledger.balance(ctx.conn, member_id)} available")
    redemption_id = ledger.new_id()
    with write_txn(ctx.conn):
        have = ledger.balance(ctx.conn, member_id)
        if have < spend:  # re-checked inside the transaction: another till may have spent them
            raise RefusedInput(f"not enough points: {spend} needed, {have} available")
        _spend_allowed(ctx, member_id, spend)
        approval = manager.record_approval(ctx, approver, "redeem", redemption_id, reward.id)
        coupon = coupons.issue(ctx, reward.kind, value, sku=reward.sku, member_id=member_id,
                               expires=plus_days(as_date(as_of), reward.valid_days), source="reward")
        (entry_id,) = ledger.append(ctx.conn, ctx.store_id, ctx.till_id, [ledger.Entry(
            member_id=member_id, kind="redeem", points=-spend, operator=approver.name, reason=f"reward:{reward.id}",
            ref=redemption_id, amount_cents=value if reward.kind != "percent_off" else 0)])
        ctx.conn.execute(
            "INSERT INTO redemptions (redemption_id, member_id, reward_id, points, value, coupon_code, entry_id,"
            " approval_id, created_at) VALUES (?,?,?,?,?,?,?,?,?)",
            (redemption_id, member_id, reward.id, spend, value, coupon.code, entry_id, approval.approval_id,
             now_iso()))
        balance = ledger.balance(ctx.conn, member_id)
    return {"coupon": coupon.code, "token": coupon.token, "points_spent": spend, "balance": balance,
            "reward": reward.id, "kind": reward.kind, "value": value, "expires": coupon.expires,
            "redemption_id": redemption_id, "approved_by": approver.name}


def _reason(ctx: TillContext, code: str) -> str:
    if code not in reason_codes(ctx):
        raise UsageError(f"reason code must be one of: {', '.join(reason_codes(ctx))}")
    return code


def adjust(ctx: TillContext, member_id: str, points: int, reason_code: str, pin: str) -> dict[str, Any]:
    """A manual correction (+ or -), with a reason code and the approving manager (PIN checked first)."""
    approver = manager.check_pin(ctx, pin)
    if not isinstance(points, int) or isinstance(points, bool) or points == 0:
        raise UsageError("an adjustment is a non-zero whole number of points")
    require(KEYED_POINTS, points)
    reason = _reason(ctx, reason_code)
    member_id = _survivor(ctx, member_id)
    _active_member(ctx, member_id)
    if ledger.balance(ctx.conn, member_id) + points < 0:
        raise RefusedInput(f"the balance would go below zero ({ledger.balance(ctx.conn, member_id)} points)")
    limits.check_adjustment(ctx, approver, points)  # a larger one needs the owner's PIN
    entry_id = ledger.new_id()
    with write_txn(ctx.conn):
        if points < 0:
            _spend_allowed(ctx, member_id, -points)
        manager.record_approval(ctx, approver, "adjust", entry_id, reason)
        ledger.append(ctx.conn, ctx.store_id, ctx.till_id, [ledger.Entry(
            member_id=member_id, kind="adjust", points=points, operator=approver.name, reason=reason,
            entry_id=entry_id)])
    return {"entry_id": entry_id, "points": points, "balance": ledger.balance(ctx.conn, member_id),
            "approved_by": approver.name}


def reverse_entry(ctx: TillContext, entry_id: str, reason_code: str, pin: str) -> dict[str, Any]:
    """Cancel one ledger entry with its exact opposite, once; redemptions are undone by restoring instead."""
    approver = manager.check_pin(ctx, pin)
    reason = _reason(ctx, reason_code)
    row = ctx.conn.execute("SELECT * FROM ledger WHERE entry_id = ?", (entry_id,)).fetchone()
    if row is None:
        raise NotFound("no such ledger entry")
    if row["kind"] == "redeem":
        raise RefusedInput("a redemption's coupon may already be spent: restore its points on the refund instead")
    new_id = ledger.new_id()
    with write_txn(ctx.conn):
        if ctx.conn.execute("SELECT 1 FROM ledger WHERE ref = ? AND reason LIKE 'reversal:%'",
                            (entry_id,)).fetchone():
            raise RefusedInput("this entry has already been reversed")
        manager.record_approval(ctx, approver, "reverse", entry_id, reason)
        ledger.append(ctx.conn, ctx.store_id, ctx.till_id, [ledger.Entry(
            member_id=row["member_id"], kind="reverse", points=-int(row["points"]), sale_id=row["sale_id"],
            operator=approver.name, reason=f"reversal:{reason}", ref=entry_id, entry_id=new_id)])
    return {"entry_id": new_id, "points": -int(row["points"]),
            "balance": ledger.balance(ctx.conn, row["member_id"]), "approved_by": approver.name}


def rewards_on_sale(ctx: TillContext, sale_id: str) -> list[dict[str, Any]]:
    """Redemptions whose coupon paid part of this sale."""
    return [dict(r) for r in ctx.conn.execute(
        "SELECT r.* FROM redemptions r JOIN coupon_uses u ON u.code = r.coupon_code WHERE u.sale_id = ?"
        " ORDER BY r.created_at", (sale_id,))]


def refund_sale(ctx: TillContext, sale_id: str, items: dict[str, int] | None = None, *,
                restore_reward_points: bool = False, pin: str | None = None,
                refund_id: str | None = None) -> dict[str, Any]:
    """Refund a sale; the points it earned go back as usual. When a reward paid part of it, its points
    come back only if a manager chooses so (the default is that they do not)."""
    approver = None
    if restore_reward_points:
        if not pin:
            raise UsageError("giving a reward's points back needs the manager's PIN")
        approver = manager.check_pin(ctx, pin)
    restored = 0
    with write_txn(ctx.conn):
        result = checkout.refund(ctx, sale_id, items, refund_id=refund_id)
        if approver is not None and not result.replayed:
            for r in rewards_on_sale(ctx, sale_id):
                if r["restored_entry_id"]:
                    continue
                manager.record_approval(ctx, approver, "restore-reward", r["redemption_id"], "refund")
                (entry_id,) = ledger.append(ctx.conn, ctx.store_id, ctx.till_id, [ledger.Entry(
                    member_id=r["member_id"], kind="reverse", points=int(r["points"]), operator=approver.name,
                    reason="reward-restored", ref=r["redemption_id"])])
                ctx.conn.execute("UPDATE redemptions SET restored_entry_id = ? WHERE redemption_id = ?",
                                 (entry_id, r["redemption_id"]))
                restored += int(r["points"])
        sale = ctx.conn.execute("SELECT member_id FROM sales WHERE sale_id = ?", (sale_id,)).fetchone()
        balance = ledger.balance(ctx.conn, sale["member_id"]) if sale["member_id"] else None
    return {**result.as_dict(), "reward_points_restored": restored, "balance": balance}
