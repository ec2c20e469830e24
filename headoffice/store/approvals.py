"""What a till token may do on its own, and the requests for what it may not (issue 11, finding 5).

A till appends ledger entries for any member (the program is chain-wide) within `adjust_limit.till`, and
updates or erases its own store's members. An erasure or a profile change of another store's member, a merge
reaching outside its store, or a larger adjustment becomes a row of `approval_requests` instead, answered
to the till as pending (push 202); an owner or the member's store manager approves or denies it in the
console (`headoffice/console/approvals.py`), or a configured policy (`approvals.auto_<kind>` = 1) approves
it at once, audited as "policy". What applying a decision does is in `approval_apply.py`; this module
keeps the table, the settings and the `Gate` a push asks.

Requests are idempotent by (kind, key): a till that pushes the same batch again gets the same request.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from typing import Any

from headoffice.store.console import ConsoleRecords
from headoffice.store.db import Db, now_iso
from headoffice.store.settings import IntSettings

KINDS = ("erase", "merge", "adjust", "profile")
WHAT = {"erase": "erase another store's member", "merge": "merge two members",
        "adjust": "a points adjustment above the till limit", "profile": "change another store's member"}
# Integer settings (meta "console.<name>"), with their defaults: the till's adjustment limit sits beside the
# console's `adjust_limit.manager`/`.owner`; nothing is auto-approved unless an owner says so.
SETTINGS: dict[str, int] = {"adjust_limit.till": 500, **{f"approvals.auto_{k}": 0 for k in KINDS},
                            "lookup_limit.per_minute": 600}
POLICY = "policy"  # the audit's user for an auto-approval
COLUMNS = ("request_id", "kind", "rkey", "store_id", "till_id", "member_id", "member_store", "seq", "payload",
           "why", "status", "created_at", "decided_at", "decided_by", "decision_reason")


class ApprovalRefused(ValueError):
    """A decision head office will not take (already decided, unknown, outside the user's stores)."""


@dataclass(frozen=True)
class Pending:
    """A change a push asked for that waits for approval."""

    request_id: str
    kind: str
    member_id: str


class Approvals:
    """The `approval_requests` table and the approval settings, on either backend."""

    def __init__(self, db: Db, console: ConsoleRecords) -> None:
        self._db = db
        self._console = console
        self._settings = IntSettings(db, SETTINGS, 0, None, ApprovalRefused)

    # --- settings -------------------------------------------------------------------------------
    def setting(self, name: str) -> int:
        return self._settings.get(name)

    def set_setting(self, name: str, value: int) -> None:
        self._settings.set(name, value)

    def settings(self) -> dict[str, int]:
        return self._settings.all()

    def gate(self, store_id: str, till_id: str) -> Gate:
        """What one till's push may do by itself, read once inside the push's transaction."""
        values = self.settings()
        auto = frozenset(k for k in KINDS if values[f"approvals.auto_{k}"])
        return Gate(self, store_id, till_id, auto, values["adjust_limit.till"])

    # --- requests -------------------------------------------------------------------------------
    def record(self, kind: str, key: str, who: tuple[str, str], member_id: str, member_store: str | None,
               payload: dict[str, Any], why: str, *, status: str, seq: int | None = None) -> tuple[str, str, bool]:
        """(request_id, status, new) of the request for `kind`/`key`, recorded now when it is new."""
        with self._db.write():
            row = self._db.one("SELECT request_id, status FROM approval_requests WHERE kind = ? AND rkey = ?",
                               (kind, key))
            if row is not None:
                return str(row[0]), str(row[1]), False
            request_id = secrets.token_hex(8)
            now = now_iso()
            decided = (now, POLICY, "approvals.auto_" + kind) if status == "auto" else (None, None, None)
            self._db.execute(
                f"INSERT INTO approval_requests ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})",
                (request_id, kind, key, who[0], who[1], member_id, member_store, seq,
                 json.dumps(payload, sort_keys=True, default=str), why, status, now, *decided))
        return request_id, status, True

    def get(self, request_id: str) -> dict[str, Any] | None:
        with self._db.read():
            row = self._db.one(f"SELECT {', '.join(COLUMNS)} FROM approval_requests WHERE request_id = ?",
                               (request_id,))
        return _as_dict(row) if row else None

    def page(self, store_id: str | None, status: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
        """Requests newest first; a manager's (`store_id`) only for their store's members."""
        where, args = [], []
        if store_id is not None:
            where.append("member_store = ?")
            args.append(store_id)
        if status is not None:
            where.append("status = ?")
            args.append(status)
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        with self._db.read():
            rows = self._db.execute(f"SELECT {', '.join(COLUMNS)} FROM approval_requests{clause}"
                                    " ORDER BY created_at DESC, request_id LIMIT ?", (*args, limit))
        return [_as_dict(r) for r in rows]

    def decide(self, request_id: str, status: str, user_name: str, reason: str) -> dict[str, Any]:
        """Mark a pending request approved or denied (joins the caller's transaction); the request as it was."""
        with self._db.write():
            row = self._db.one(f"SELECT {', '.join(COLUMNS)} FROM approval_requests WHERE request_id = ?",
                               (request_id,))
            if row is None:
                raise ApprovalRefused("no such request")
            request = _as_dict(row)
            if request["status"] != "pending":
                raise ApprovalRefused(f"this request was already {request['status']}")
            self._db.execute("UPDATE approval_requests SET status = ?, decided_at = ?, decided_by = ?,"
                             " decision_reason = ? WHERE request_id = ? AND status = 'pending'",
                             (status, now_iso(), user_name, reason, request_id))
        return request

    def audit_policy(self, request_id: str, kind: str, member_store: str | None, detail: dict[str, Any]) -> None:
        """An auto-approval is on /audit like a person's decision, under the user "policy"."""
        self._console.audit_add(POLICY, POLICY, member_store, f"approval.auto.{kind}", request_id,
                                f"approvals.auto_{kind} is on", json.dumps(detail, sort_keys=True, default=str))


@dataclass
class Gate:
    """One push's view of what its till may do; `pending` collects what it had to ask for."""

    approvals: Approvals
    store_id: str
    till_id: str
    auto: frozenset[str]
    adjust_limit: int
    pending: list[Pending] = field(default_factory=list)

    def hold(self, kind: str, key: str, member_id: str, member_store: str | None, payload: dict[str, Any],
             why: str, seq: int | None = None) -> bool:
        """True when the change waits (or was denied) and the caller must not apply it; False to apply it now.

        A profile change of the till's own store's member is the till's to make (the member asks at their store's
        counter): never held. An erasure always waits for a decision (or the `approvals.auto_erase` policy): it
        cannot be undone, and a leaked token must not be able to empty even its own store's directory."""
        if kind == "profile" and member_store == self.store_id:
            return False
        auto = kind in self.auto
        request_id, status, new = self.approvals.record(kind, key, (self.store_id, self.till_id), member_id,
                                                        member_store, payload, why,
                                                        status="auto" if auto else "pending", seq=seq)
        if status == "auto" and new:
            self.approvals.audit_policy(request_id, kind, member_store,
                                        {"till": f"{self.store_id}/{self.till_id}", "member_id": member_id})
        if status == "pending":
            self.pending.append(Pending(request_id, kind, member_id))
        return status in ("pending", "denied")

    def large(self, points: int) -> bool:
        """An adjustment the till may not make by itself."""
        return abs(points) > self.adjust_limit


def _as_dict(row: Any) -> dict[str, Any]:
    data = dict(zip(COLUMNS, row, strict=True))
    data["payload"] = json.loads(data["payload"] or "{}")
    return data
