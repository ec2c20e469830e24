"""Manager approvals: a PIN stored as a slow salted hash, a persisted lock, a record of who approved.

Five wrong PINs in a row lock manager approvals at this till for five minutes; the counter and
the lock live in the database, so restarting the till does not reset them. A try is counted in the
transaction that checks the lock, before its PIN is evaluated, so concurrent tries cannot race past it. PIN checks write
their bookkeeping in their own transaction, so they must run before the approved action's
transaction opens (a rolled-back action must not roll back a failed try).
"""

from __future__ import annotations

import hashlib
import hmac
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypedDict

from pos_client.domain.errors import RefusedInput, UsageError
from pos_client.store import ledger
from pos_client.store.context import TillContext
from pos_client.store.db import now_iso, write_txn

MAX_TRIES = 5
LOCK_SECONDS = 300
SCOPE = "till"
# scrypt cost: ~50 ms per check on a cheap till, 16 MiB of memory; stored with the hash.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1


@dataclass(frozen=True)
class Manager:
    manager_id: str
    name: str


class LockState(TypedDict):
    """Wrong PINs in a row, and the end of the running lock (None when approvals are open)."""

    failures: int
    locked_until: str | None


@dataclass(frozen=True)
class Approval:
    approval_id: str
    manager_id: str
    manager_name: str


def hash_pin(pin: str, *, salt: bytes | None = None, n: int = SCRYPT_N) -> str:
    salt = salt or os.urandom(16)
    digest = hashlib.scrypt(pin.encode(), salt=salt, n=n, r=SCRYPT_R, p=SCRYPT_P, dklen=32)
    return f"scrypt${n}${SCRYPT_R}${SCRYPT_P}${salt.hex()}${digest.hex()}"


def pin_matches(pin: str, stored: str) -> bool:
    algo, n, r, p, salt, digest = stored.split("$")
    if algo != "scrypt":
        return False
    got = hashlib.scrypt(pin.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p), dklen=32)
    return hmac.compare_digest(got.hex(), digest)


def _check_pin_format(pin: str) -> None:
    if not (pin.isdigit() and 4 <= len(pin) <= 12):
        raise UsageError("a manager PIN is 4 to 12 digits")


def add_manager(ctx: TillContext, name: str, pin: str) -> Manager:
    """Register a manager; two managers may not share a PIN (the PIN says who approved)."""
    name = name.strip()
    if not name:
        raise UsageError("a manager needs a name")
    _check_pin_format(pin)
    rows = ctx.conn.execute("SELECT name, pin_hash FROM managers").fetchall()
    if any(r["name"] == name for r in rows):
        raise RefusedInput(f"manager {name!r} already exists")
    if any(pin_matches(pin, r["pin_hash"]) for r in rows):
        raise RefusedInput("another manager already uses this PIN: choose another one")
    manager = Manager(ledger.new_id(), name)
    with write_txn(ctx.conn):
        ctx.conn.execute("INSERT INTO managers (manager_id, name, pin_hash, created_at) VALUES (?,?,?,?)",
                         (manager.manager_id, name, hash_pin(pin), now_iso()))
    return manager


def list_managers(ctx: TillContext) -> list[Manager]:
    return [Manager(r[0], r[1]) for r in ctx.conn.execute("SELECT manager_id, name FROM managers ORDER BY name")]


def _now(now: datetime | None) -> datetime:
    return now or datetime.now(UTC)


def lock_state(ctx: TillContext, now: datetime | None = None) -> LockState:
    """{"failures", "locked_until"} where locked_until is None unless the lock is still running."""
    row = ctx.conn.execute("SELECT failures, locked_until FROM pin_lock WHERE scope = ?", (SCOPE,)).fetchone()
    if row is None:
        return {"failures": 0, "locked_until": None}
    until: str | None = row["locked_until"]
    if until and datetime.fromisoformat(until) <= _now(now):
        until = None
    return {"failures": int(row["failures"]), "locked_until": until}


def _reserve_try(ctx: TillContext, moment: datetime) -> int:
    """Count this try before its PIN is evaluated, in the same transaction that checks the lock: concurrent
    tries (several screens, processes) each see the others' count, so at most MAX_TRIES are ever evaluated.
    Returns the number of tries counted before this one; raises when approvals are locked."""
    refusal = None
    with write_txn(ctx.conn):  # a refusal is raised after the commit: raising inside would roll the lock back
        state = lock_state(ctx, moment)
        before = state["failures"]
        if state["locked_until"]:
            left = int((datetime.fromisoformat(state["locked_until"]) - moment).total_seconds()) + 1
            refusal = f"manager PIN locked after {MAX_TRIES} wrong tries: try again in {left} s"
        elif before >= MAX_TRIES:  # the other tries in flight already used every chance: lock now
            _write_lock(ctx, 0, (moment + timedelta(seconds=LOCK_SECONDS)).isoformat())
            refusal = f"manager PIN locked after {MAX_TRIES} wrong tries: try again in {LOCK_SECONDS} s"
        else:
            _write_lock(ctx, before + 1, None)
    if refusal:
        raise RefusedInput(refusal)
    return before


def _write_lock(ctx: TillContext, failures: int, until: str | None) -> None:
    ctx.conn.execute(
        "INSERT INTO pin_lock (scope, failures, locked_until) VALUES (?,?,?) ON CONFLICT(scope) DO UPDATE"
        " SET failures = excluded.failures, locked_until = excluded.locked_until", (SCOPE, failures, until))


def check_pin(ctx: TillContext, pin: str, now: datetime | None = None) -> Manager:
    """The manager whose PIN this is, or a refusal that counts toward the lock (counted atomically first)."""
    if ctx.conn.in_transaction:
        raise RuntimeError("check the manager PIN before opening the action's transaction")
    moment = _now(now)
    rows = ctx.conn.execute("SELECT manager_id, name, pin_hash FROM managers ORDER BY created_at").fetchall()
    if not rows:
        raise RefusedInput("no manager is set up: pos-client manager add NAME --pin PIN")
    before = _reserve_try(ctx, moment)
    for r in rows:
        if pin_matches(str(pin), r["pin_hash"]):
            with write_txn(ctx.conn):  # the right PIN clears the count, unless a lock started meanwhile
                ctx.conn.execute("UPDATE pin_lock SET failures = 0 WHERE scope = ? AND locked_until IS NULL",
                                 (SCOPE,))
            return Manager(r["manager_id"], r["name"])
    with write_txn(ctx.conn):
        row = ctx.conn.execute("SELECT failures, locked_until FROM pin_lock WHERE scope = ?", (SCOPE,)).fetchone()
        failures, locked = int(row[0]), row[1] is not None
        if failures >= MAX_TRIES:
            _write_lock(ctx, 0, (moment + timedelta(seconds=LOCK_SECONDS)).isoformat())
    if failures >= MAX_TRIES or locked:
        raise RefusedInput(f"wrong manager PIN: locked for {LOCK_SECONDS // 60} minutes")
    raise RefusedInput(f"wrong manager PIN ({MAX_TRIES - max(failures, before + 1)} tries left)")


def record_approval(ctx: TillContext, manager: Manager, action: str, ref: str | None = None,
                    reason: str | None = None) -> Approval:
    """Write who approved what; call inside the approved action's transaction."""
    approval = Approval(ledger.new_id(), manager.manager_id, manager.name)
    ctx.conn.execute(
        "INSERT INTO approvals (approval_id, manager_id, manager_name, action, ref, reason, store_id, till_id, at)"
        " VALUES (?,?,?,?,?,?,?,?,?)",
        (approval.approval_id, manager.manager_id, manager.name, action, ref, reason, ctx.store_id, ctx.till_id,
         now_iso()))
    return approval


def approvals(ctx: TillContext, ref: str | None = None) -> list[dict[str, Any]]:
    sql, params = "SELECT * FROM approvals", tuple[str, ...]()
    if ref is not None:
        sql, params = sql + " WHERE ref = ?", (ref,)
    return [dict(r) for r in ctx.conn.execute(sql + " ORDER BY at, rowid", params)]


def locked_minutes(ctx: TillContext, now: datetime | None = None) -> int | None:
    """Whole minutes (rounded up) until approvals unlock, or None when not locked: for the screen."""
    until = lock_state(ctx, now)["locked_until"]
    if not until:
        return None
    seconds = (datetime.fromisoformat(until) - _now(now)).total_seconds()
    return max(1, -(-int(seconds) // 60))
