"""Conflict rules the till applies before head office can arbitrate.

Offline redemption: a member may redeem up to the balance this till knows, and while the till is
offline only up to the program's offline cap (`[program] offline_redeem_cap`, or the value head
office last sent) per member, counting the redemptions still waiting to be pushed. Two stores
spending the same points offline are both kept; head office shows the overdraft in a report.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from pos_client.domain.errors import RefusedInput, UsageError
from pos_client.services.members import get_member
from pos_client.store import sync_state as state
from pos_client.store.context import TillContext
from pos_client.store.sync_state import pulled_rule

OFFLINE_AFTER_S = 600


@dataclass(frozen=True)
class RedeemCheck:
    member_id: str
    points: int
    balance: int
    offline: bool
    cap: int | None
    cap_left: int | None


def offline_redeem_cap(ctx: TillContext) -> int | None:
    value = pulled_rule(ctx.conn, "offline_redeem_cap")
    if value is None:
        value = ctx.config.section("program").get("offline_redeem_cap")
    return None if value is None else int(value)


def is_offline(ctx: TillContext, now: datetime | None = None) -> bool:
    """Offline means: a head office is configured and the last good sync is missing or too old."""
    if not ctx.config.section("headoffice").get("url") and state.get(ctx.conn, state.TOKEN) is None:
        return False
    last_ok = state.get(ctx.conn, state.LAST_OK)
    if state.get(ctx.conn, state.STATE) != "online" or not last_ok:
        return True
    age = ((now or datetime.now(UTC)) - datetime.fromisoformat(last_ok)).total_seconds()
    return age > OFFLINE_AFTER_S


def check_offline_redeem(ctx: TillContext, member_id: str, points: int) -> RedeemCheck:
    """Raise RefusedInput when this redemption is not allowed now; otherwise say what is left."""
    if not isinstance(points, int) or isinstance(points, bool) or points <= 0:
        raise UsageError("points to redeem must be a positive whole number")
    member = get_member(ctx, member_id)
    if points > member.balance:
        raise RefusedInput(f"only {member.balance} points available")
    offline = is_offline(ctx)
    cap = offline_redeem_cap(ctx)
    left = None
    if offline and cap is not None:
        row = ctx.conn.execute(
            "SELECT COALESCE(-SUM(points), 0) FROM ledger WHERE store_id = ? AND till_id = ? AND seq > ?"
            " AND kind = 'redeem' AND member_id = ?",
            (ctx.store_id, ctx.till_id, state.get_int(ctx.conn, state.PUSH_HIGH), member.member_id)).fetchone()
        left = cap - int(row[0])
        if points > left:
            raise RefusedInput(f"offline: at most {max(left, 0)} more points can be redeemed until head office is back")
    return RedeemCheck(member.member_id, points, member.balance, offline, cap, left)
