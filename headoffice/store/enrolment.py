"""Tills and administrators: one-time enrolment codes, bearer tokens (both stored hashed), till status."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from headoffice.store.base import Principal
from headoffice.store.db import Db, now_iso, sha256
from headoffice.store.schema import HO_STORE, HO_TILL

CODE_VALID_DAYS = 7  # an enrolment code is a password sent to a store: it should not live forever

_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # nothing a cashier can misread (no 0/O, 1/I)


def new_code() -> str:
    """Twelve characters in three groups of four, read off a screen and typed at the till."""
    raw = "".join(secrets.choice(_CODE_ALPHABET) for _ in range(12))
    return f"{raw[:4]}-{raw[4:8]}-{raw[8:]}"


def _norm_code(code: str) -> str:
    """Case and dashes do not matter: the cashier may type it either way."""
    return "".join(ch for ch in code.upper() if ch.isalnum())


class Enrolment:
    """The `tills` table: who may push and pull, and as which store and till."""

    def __init__(self, db: Db) -> None:
        self._db = db

    def add_till(self, store_id: str, till_id: str, valid_days: int = CODE_VALID_DAYS) -> str:
        if (store_id, till_id) == (HO_STORE, HO_TILL):
            raise ValueError("HO/HO is reserved for head office's own entries")
        code = new_code()
        expires = (datetime.now(UTC) + timedelta(days=valid_days)).isoformat(timespec="microseconds")
        with self._db.write_till(store_id, till_id):
            self._db.execute(
                "INSERT INTO tills (store_id, till_id, role, code_hash, code_expires_at, created_at)"
                " VALUES (?, ?, 'till', ?, ?, ?) ON CONFLICT (store_id, till_id) DO UPDATE SET"
                " code_hash = excluded.code_hash, code_expires_at = excluded.code_expires_at",
                (store_id, till_id, sha256(_norm_code(code)), expires, now_iso()))
        return code

    def add_admin(self, name: str) -> str:
        token = "adm_" + secrets.token_urlsafe(32)
        with self._db.write():
            self._db.execute(
                "INSERT INTO tills (store_id, till_id, role, token_hash, created_at, registered_at)"
                " VALUES ('*', ?, 'admin', ?, ?, ?)"
                " ON CONFLICT (store_id, till_id) DO UPDATE SET token_hash = excluded.token_hash",
                (name, sha256(token), now_iso(), now_iso()))
        return token

    def register(self, code: str) -> tuple[str, Principal] | None:
        token = "till_" + secrets.token_urlsafe(32)
        with self._db.write():
            row = self._db.one("SELECT store_id, till_id FROM tills WHERE code_hash = ? AND role = 'till'"
                               " AND code_expires_at > ?", (sha256(_norm_code(code)), now_iso()))
            if row is None:
                return None
            self._db.execute("UPDATE tills SET code_hash = NULL, code_expires_at = NULL, token_hash = ?,"
                             " registered_at = ? WHERE store_id = ? AND till_id = ?",
                             (sha256(token), now_iso(), row[0], row[1]))
        return token, Principal(row[0], row[1], "till")

    def authenticate(self, token: str) -> Principal | None:
        if not token:
            return None
        with self._db.read():
            row = self._db.one("SELECT store_id, till_id, role FROM tills WHERE token_hash = ?", (sha256(token),))
        return Principal(*row) if row else None

    def till_status(self, store_id: str, till_id: str) -> dict[str, Any] | None:
        """How far a till's pushed sequence is complete, and when it last pushed."""
        with self._db.read():
            row = self._db.one("SELECT high_seq, last_push_at, registered_at FROM tills WHERE store_id = ?"
                               " AND till_id = ?", (store_id, till_id))
        return {"high_seq": int(row[0]), "last_push_at": row[1], "registered_at": row[2]} if row else None
