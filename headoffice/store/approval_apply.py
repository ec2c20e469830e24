"""Deciding an approval request: approving applies it through the functions the console's own actions use.

Erasure: `Documents.erase_member` (the console's Erase). Merge: `Directory.merge` (the console's Merge).
A till's large adjustment: the till's own entry goes into the ledger as it wrote it (the till already holds
it, so a head-office entry would count twice); denied, the entry still goes in with a head-office reversal
beside it (`Directory.adjust`), so the ledger stays append-only and every till, the writer included, ends at
the balance it had. A profile change: `Members.update_details`, as a till of the member's store would.
Each decision joins the caller's transaction, which also writes its audit record (`Console.audited`).
"""

from __future__ import annotations

from typing import Any

from headoffice.store.approvals import ApprovalRefused, Approvals
from headoffice.store.db import Db, now_iso
from headoffice.store.directory import Directory
from headoffice.store.docs import Documents
from headoffice.store.feed import ChangeFeed
from headoffice.store.ledger import Ledger
from headoffice.store.members import Members
from wire.protocol import LedgerRecord


class Decisions:
    """Approve or deny a pending request, in one transaction with whatever approving it writes."""

    def __init__(self, db: Db, approvals: Approvals, feed: ChangeFeed, members: Members, ledger: Ledger,
                 docs: Documents, directory: Directory) -> None:
        self._db = db
        self._approvals = approvals
        self._feed = feed
        self._members = members
        self._ledger = ledger
        self._docs = docs
        self._directory = directory

    def decide(self, request_id: str, approve: bool, user_name: str, reason: str) -> dict[str, Any]:
        """Approve (apply it) or deny a pending request; returns what the audit records about it."""
        with self._db.write():
            request = self._approvals.decide(request_id, "approved" if approve else "denied", user_name, reason)
            kind, payload, member_id = request["kind"], request["payload"], request["member_id"]
            detail = {"store_id": request["member_store"], "kind": kind, "member_id": member_id,
                      "till": f"{request['store_id']}/{request['till_id']}", "approved": approve}
            if kind == "adjust":
                detail["points"] = self._adjust(payload, approve, user_name, reason)
            elif not approve:
                self._feed.record("member", [member_id])  # the asking till learns head office's state again
            elif kind == "erase":
                if not self._docs.erase_member(member_id):
                    raise ApprovalRefused("the member is no longer at head office")
            elif kind == "merge":
                self._directory.merge(payload["loser"], payload["winner"])
                detail["into"] = payload["winner"]
            elif kind == "profile":
                self._profile(member_id, payload)
        return detail

    def _adjust(self, payload: dict[str, Any], approve: bool, user_name: str, reason: str) -> int:
        entry = LedgerRecord.parse(payload)
        now = now_iso()
        accepted, _, conflicts = self._ledger.ingest([entry], now)
        if conflicts:
            raise ApprovalRefused("head office already holds another entry with this entry's number")
        self._ledger.sweep_merged({m for m, _ in accepted}, now)
        if not approve:  # the till already counted it: a reversal beside it brings everyone back
            self._directory.adjust(self._members.final(entry.member_id), -entry.points,
                                   f"denied: {reason}"[:200], f"console:{user_name}")
        return entry.points

    def _profile(self, member_id: str, payload: dict[str, Any]) -> None:
        row = self._db.one("SELECT status FROM members WHERE member_id = ?", (member_id,))
        if row is None or row[0] != "active":
            raise ApprovalRefused(f"the member is {row[0] if row else 'unknown'} now: nothing to change")
        self._members.update_details(member_id, payload.get("name"), payload.get("phone"), payload.get("email"),
                                     payload.get("consent") or {}, payload["updated_at"], now_iso())
        self._feed.record("member", [member_id])
