"""Erasure requests: the member becomes anonymous everywhere, their points history stays.

Name, phone and email are nulled, consents withdrawn, cards blocked and the status set to
'erased'; ledger rows (no personal data in them) keep their totals, so reports and the
liability stay right. The `erasures` row is what sync carries to head office and other tills.
Nothing here logs or returns personal data.
"""

from __future__ import annotations

from typing import Any

from pos_client.domain.errors import NotFound, RefusedInput
from pos_client.services.marketing import manager
from pos_client.store import ledger
from pos_client.store.context import TillContext
from pos_client.store.db import now_iso, write_txn


def erase(ctx: TillContext, member_id: str, pin: str) -> dict[str, Any]:
    """Anonymise a member with a manager's approval (PIN first); returns only ids and the kept balance."""
    approver = manager.check_pin(ctx, pin)
    row = ctx.conn.execute("SELECT status FROM members WHERE member_id = ?", (member_id,)).fetchone()
    if row is None:
        raise NotFound("no such member")
    if row[0] == "erased":
        raise RefusedInput("this member has already been erased")
    erasure_id = ledger.new_id()
    ts = now_iso()
    with write_txn(ctx.conn):
        approval = manager.record_approval(ctx, approver, "erase", member_id, "erasure request")
        apply_erasure(ctx, member_id, ts)
        ctx.conn.execute(
            "INSERT INTO erasures (erasure_id, member_id, store_id, till_id, approval_id, at) VALUES (?,?,?,?,?,?)",
            (erasure_id, member_id, ctx.store_id, ctx.till_id, approval.approval_id, ts))
    return {"erasure_id": erasure_id, "member_id": member_id, "status": "erased",
            "balance": ledger.balance(ctx.conn, member_id), "approved_by": approver.name}


def apply_erasure(ctx: TillContext, member_id: str, ts: str | None = None) -> None:
    """The anonymising writes themselves; also what sync calls for an erasure made elsewhere."""
    ts = ts or now_iso()
    ctx.conn.execute(
        "UPDATE members SET name = NULL, phone = NULL, email = NULL, status = 'erased', updated_at = ?"
        " WHERE member_id = ?", (ts, member_id))
    ctx.conn.execute("UPDATE member_consent SET granted = 0, at = ? WHERE member_id = ?", (ts, member_id))
    ctx.conn.execute("UPDATE cards SET status = 'blocked', updated_at = ? WHERE member_id = ?", (ts, member_id))


def erasures_since(ctx: TillContext, after: int = 0) -> list[dict[str, Any]]:
    """Erasures in insertion order after a cursor (rowid), for sync to push."""
    return [dict(r) for r in ctx.conn.execute(
        "SELECT rowid AS cursor, erasure_id, member_id, store_id, till_id, at FROM erasures WHERE rowid > ?"
        " ORDER BY rowid", (after,))]


def record_erasures(ctx: TillContext, rows: list[dict[str, Any]]) -> int:
    """Erasures made at other tills (pulled by sync): anonymise here too; replays are ignored."""
    added = 0
    with write_txn(ctx.conn):
        for r in rows:
            if ctx.conn.execute("SELECT 1 FROM erasures WHERE erasure_id = ?", (r["erasure_id"],)).fetchone():
                continue
            if ctx.conn.execute("SELECT 1 FROM members WHERE member_id = ?", (r["member_id"],)).fetchone():
                apply_erasure(ctx, r["member_id"])
            ctx.conn.execute(
                "INSERT INTO erasures (erasure_id, member_id, store_id, till_id, approval_id, at) VALUES (?,?,?,?,?,?)",
                (r["erasure_id"], r["member_id"], r["store_id"], r["till_id"], r.get("approval_id", "remote"),
                 r["at"]))
            added += 1
    return added
