"""Per-role limits on manual points adjustments at the till: a manager's PIN approves up to
`[limits] adjust_points_manager` points either way, the owner's up to `adjust_points_owner`.

Why: an adjustment creates points from nothing, so one PIN (a manager's, or a cashier who saw it typed) should
only be able to give so much; a larger one needs the owner, as on head office's console, whose
`console.adjust_limit.<role>` settings start from the same defaults (`wire.bounds.ADJUST_LIMITS`). An owner is a
manager with a row in `manager_roles` (m0060): `pos-client manager add NAME --pin PIN --owner`.
"""

from __future__ import annotations

from typing import Literal

from pos_client.domain.bounds import KEYED_POINTS
from pos_client.domain.errors import RefusedInput, UsageError
from pos_client.services.marketing.manager import Manager, add_manager
from pos_client.store.context import TillContext
from pos_client.store.db import now_iso, write_txn
from wire.bounds import ADJUST_LIMITS

Role = Literal["manager", "owner"]
ROLES: tuple[Role, ...] = ("manager", "owner")


def role_of(ctx: TillContext, manager: Manager) -> Role:
    """"owner" when the manager has the owner's row, else "manager"."""
    row = ctx.conn.execute("SELECT role FROM manager_roles WHERE manager_id = ?", (manager.manager_id,)).fetchone()
    return "owner" if row is not None and row[0] == "owner" else "manager"


def make_owner(ctx: TillContext, manager: Manager) -> None:
    """Give a manager the owner's role (call inside the transaction that adds the manager)."""
    ctx.conn.execute("INSERT INTO manager_roles (manager_id, role, at) VALUES (?, 'owner', ?)"
                     " ON CONFLICT (manager_id) DO UPDATE SET role = 'owner', at = excluded.at",
                     (manager.manager_id, now_iso()))


def add_owner(ctx: TillContext, name: str, pin: str) -> Manager:
    """A manager with the owner's role, in one transaction (never a manager left without the role asked for)."""
    with write_txn(ctx.conn):
        owner = add_manager(ctx, name, pin)
        make_owner(ctx, owner)
    return owner


def adjust_limit(ctx: TillContext, role: Role) -> int:
    """The most points (either way) one adjustment approved by `role` may move; config checked here."""
    key = f"adjust_points_{role}"
    value = ctx.config.section("limits").get(key, ADJUST_LIMITS[role])
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= KEYED_POINTS.high:
        raise UsageError(f"[limits] {key} in config.toml must be a whole number of points from 0 to"
                         f" {KEYED_POINTS.high:,}, not {value!r}")
    return value


def check_adjustment(ctx: TillContext, approver: Manager, points: int) -> Role:
    """Refuse an adjustment above the approver's limit (the owner's when the manager's is passed)."""
    role = role_of(ctx, approver)
    limit = adjust_limit(ctx, role)
    if abs(points) <= limit:
        return role
    if role == "manager" and abs(points) <= adjust_limit(ctx, "owner"):
        raise RefusedInput(f"{abs(points):,} points is above a manager's limit of {limit:,} per adjustment:"
                           " the owner's PIN is needed")
    raise RefusedInput(f"{abs(points):,} points is above the {role}'s limit of {limit:,} per adjustment"
                       " ([limits] in config.toml)")
