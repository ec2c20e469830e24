"""The console's own tables: users, sessions and one-time links, login attempts, the audit trail, what tills
report about themselves, and the request counters behind /metrics.

Secrets are stored hashed (sessions and links as SHA-256 of a random token, passwords by the caller's slow
KDF), so a copy of the database logs no one in. Everything a second head-office worker must see (sessions,
lockouts, counters) lives here, not in a process.
"""

from __future__ import annotations

import secrets
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta
from typing import Any

from headoffice.store.db import Db, now_iso, sha256

SESSION_HOURS = 12
LINK_HOURS = 24
SESSION, PASSWORD_LINK = "session", "password"


def _at(delta: timedelta) -> str:
    return (datetime.now(UTC) + delta).isoformat(timespec="microseconds")


class ConsoleRecords:
    """Console users, sessions, login throttling, audit, till reports and counters, on either backend."""

    def __init__(self, db: Db) -> None:
        self._db = db

    # --- health -------------------------------------------------------------------------------
    def ping(self) -> bool:
        """The database answers a query (what /healthz checks)."""
        with self._db.read():
            return int(self._db.value("SELECT 1")) == 1

    # --- users ------------------------------------------------------------------------------------
    def add_user(self, name: str, role: str, store_id: str | None, password_hash: str | None) -> str:
        """A new user's id; ValueError when the name is taken."""
        user_id = "u_" + secrets.token_hex(8)
        now = now_iso()
        with self._db.write():
            if self._db.one("SELECT 1 FROM console_users WHERE name = ?", (name,)):
                raise ValueError(f"there is already a user called {name!r}")
            self._db.execute("INSERT INTO console_users (user_id, name, role, store_id, password_hash, active,"
                             " created_at, updated_at) VALUES (?, ?, ?, ?, ?, 1, ?, ?)",
                             (user_id, name, role, store_id, password_hash, now, now))
        return user_id

    def user_by_name(self, name: str) -> dict[str, Any] | None:
        """The user row with its password hash (login only)."""
        with self._db.read():
            row = self._db.one("SELECT user_id, name, role, store_id, password_hash, active FROM console_users"
                               " WHERE name = ?", (name,))
        return None if row is None else dict(zip(
            ("user_id", "name", "role", "store_id", "password_hash", "active"), row, strict=True))

    def users(self) -> list[dict[str, Any]]:
        """Every user (no hashes), by name."""
        with self._db.read():
            rows = self._db.execute("SELECT user_id, name, role, store_id, active, password_hash IS NOT NULL,"
                                    " created_at FROM console_users ORDER BY name")
        return [{"user_id": r[0], "name": r[1], "role": r[2], "store_id": r[3], "active": bool(r[4]),
                 "has_password": bool(r[5]), "created_at": r[6]} for r in rows]

    def set_active(self, user_id: str, active: bool) -> bool:
        """Enable or disable a user; disabling also ends their sessions and links."""
        with self._db.write():
            found = self._db.execute("UPDATE console_users SET active = ?, updated_at = ? WHERE user_id = ?"
                                     " RETURNING user_id", (int(active), now_iso(), user_id))
            if found and not active:
                self._db.execute("DELETE FROM console_tokens WHERE user_id = ?", (user_id,))
        return bool(found)

    # --- sessions and one-time password links ------------------------------------------------
    def _token(self, user_id: str, purpose: str, hours: int) -> tuple[str, str]:
        token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        now = now_iso()
        with self._db.write():
            self._db.execute("DELETE FROM console_tokens WHERE user_id = ? AND expires_at <= ?", (user_id, now))
            self._db.execute("INSERT INTO console_tokens (token_hash, user_id, purpose, csrf, created_at, expires_at)"
                             " VALUES (?, ?, ?, ?, ?, ?)",
                             (sha256(token), user_id, purpose, csrf, now, _at(timedelta(hours=hours))))
        return token, csrf

    def start_session(self, user_id: str, hours: int = SESSION_HOURS) -> str:
        """A new session token (the cookie's value; only its hash is kept)."""
        return self._token(user_id, SESSION, hours)[0]

    def session(self, token: str) -> dict[str, Any] | None:
        """The active user and CSRF token of an unexpired session, or None."""
        with self._db.read():
            row = self._db.one(
                "SELECT u.user_id, u.name, u.role, u.store_id, t.csrf FROM console_tokens t"
                " JOIN console_users u ON u.user_id = t.user_id"
                " WHERE t.token_hash = ? AND t.purpose = ? AND t.expires_at > ? AND u.active = 1",
                (sha256(token), SESSION, now_iso()))
        return None if row is None else dict(zip(("user_id", "name", "role", "store_id", "csrf"), row, strict=True))

    def end_session(self, token: str) -> None:
        with self._db.write():
            self._db.execute("DELETE FROM console_tokens WHERE token_hash = ? AND purpose = ?",
                             (sha256(token), SESSION))

    def password_link(self, user_id: str, hours: int = LINK_HOURS) -> str:
        """A one-time token for the set-password page (valid `hours`; replaces earlier links)."""
        with self._db.write():
            self._db.execute("DELETE FROM console_tokens WHERE user_id = ? AND purpose = ?", (user_id, PASSWORD_LINK))
            return self._token(user_id, PASSWORD_LINK, hours)[0]

    def link_user(self, token: str) -> dict[str, Any] | None:
        """Whose unexpired password link this is (the form shows the name), or None."""
        with self._db.read():
            row = self._db.one("SELECT u.user_id, u.name, u.role, u.store_id FROM console_tokens t JOIN console_users u"
                               " ON u.user_id = t.user_id WHERE t.token_hash = ? AND t.purpose = ?"
                               " AND t.expires_at > ? AND u.active = 1", (sha256(token), PASSWORD_LINK, now_iso()))
        return None if row is None else dict(zip(("user_id", "name", "role", "store_id"), row, strict=True))

    def use_password_link(self, token: str, password_hash: str) -> dict[str, Any] | None:
        """Set the password of the link's user and spend the link (and the user's sessions) in one write."""
        with self._db.write():
            found = self.link_user(token)
            if found is None:
                return None
            self._db.execute("UPDATE console_users SET password_hash = ?, updated_at = ? WHERE user_id = ?",
                             (password_hash, now_iso(), found["user_id"]))
            self._db.execute("DELETE FROM console_tokens WHERE user_id = ?", (found["user_id"],))
        return found

    def set_password(self, user_id: str, password_hash: str) -> None:
        with self._db.write():
            self._db.execute("UPDATE console_users SET password_hash = ?, updated_at = ? WHERE user_id = ?",
                             (password_hash, now_iso(), user_id))

    # --- login throttling (atomic: one write per failure, shared by every worker) -------------------
    def locked_until(self, key: str) -> str | None:
        """When a locked key (a user name or an address) may try again, or None when it may now."""
        with self._db.read():
            row = self._db.one("SELECT locked_until FROM login_attempts WHERE akey = ? AND locked_until > ?",
                               (key, now_iso()))
        return None if row is None else str(row[0])

    def login_failed(self, key: str, limit: int, window: timedelta, lock: timedelta) -> str | None:
        """Count one failure in the key's window; at `limit` the key is locked for `lock` (returned)."""
        now = now_iso()
        window_start = _at(-window)
        with self._db.write():
            failures = int(self._db.value(
                "INSERT INTO login_attempts (akey, failures, window_start, locked_until) VALUES (?, 1, ?, NULL)"
                " ON CONFLICT (akey) DO UPDATE SET"
                " failures = CASE WHEN login_attempts.window_start < ? THEN 1 ELSE login_attempts.failures + 1 END,"
                " window_start = CASE WHEN login_attempts.window_start < ? THEN excluded.window_start"
                " ELSE login_attempts.window_start END RETURNING failures", (key, now, window_start, window_start)))
            if failures < limit:
                return None
            until = _at(lock)
            self._db.execute("UPDATE login_attempts SET failures = 0, window_start = ?, locked_until = ?"
                             " WHERE akey = ?", (now, until, key))
        return until

    def login_succeeded(self, key: str) -> None:
        with self._db.write():
            self._db.execute("DELETE FROM login_attempts WHERE akey = ?", (key,))

    # --- audit --------------------------------------------------------------------------------------
    def transaction(self, till: tuple[str, str] | None = None) -> AbstractContextManager[None]:
        """One write transaction a console change and its audit record share (the change's own writes join it),
        so a crash between them cannot leave a change that nobody recorded. `till`: the change writes that
        till's row (a revocation, a new code), so the transaction locks the row first (`Db.write_till`)."""
        return self._db.write() if till is None else self._db.write_till(*till)

    def audit_add(self, user_id: str, user_name: str, store_id: str | None, action: str, target: str,
                  reason: str, detail: str) -> int:
        """Append one audit record (never updated or deleted) and return its id."""
        with self._db.write():
            audit_id = int(self._db.value(
                "INSERT INTO meta (key, value) VALUES ('audit_seq', 1) ON CONFLICT (key)"
                " DO UPDATE SET value = meta.value + 1 RETURNING value"))
            self._db.execute("INSERT INTO audit (audit_id, at, user_id, user_name, store_id, action, target, reason,"
                             " detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                             (audit_id, now_iso(), user_id, user_name, store_id, action, target, reason, detail))
        return audit_id

    def audit_page(self, store_id: str | None, before: int | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """Newest first, `limit` records older than `before`; a store's records only when `store_id` is given."""
        where, params = ["audit_id < ?"], [before if before is not None else 2 ** 62]
        if store_id is not None:
            where.append("store_id = ?")
            params.append(store_id)  # type: ignore[arg-type]
        with self._db.read():
            rows = self._db.execute(
                "SELECT audit_id, at, user_name, store_id, action, target, reason, detail FROM audit"
                f" WHERE {' AND '.join(where)} ORDER BY audit_id DESC LIMIT ?", (*params, limit))
        keys = ("audit_id", "at", "user_name", "store_id", "action", "target", "reason", "detail")
        return [dict(zip(keys, r, strict=True)) for r in rows]

    # --- tills: what they report, revocation ------------------------------------------------------------
    def record_contact(self, store_id: str, till_id: str, kind: str, *, pending: int | None = None,
                       version: str | None = None, skew_ms: int | None = None, error: str | None = None,
                       entries: int = 0, program_version: int | None = None) -> None:
        """A till's push or pull: when, what it says about itself, its error if refused; pushed entries counted."""
        now = now_iso()
        with self._db.note():
            self._db.execute(
                "INSERT INTO till_reports (store_id, till_id, last_contact_at, last_push_at, last_pull_at, pending,"
                " version, clock_skew_ms, last_error, last_error_at, program_version)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (store_id, till_id) DO UPDATE SET last_contact_at = excluded.last_contact_at,"
                " last_push_at = COALESCE(excluded.last_push_at, till_reports.last_push_at),"
                " last_pull_at = COALESCE(excluded.last_pull_at, till_reports.last_pull_at),"
                " pending = COALESCE(excluded.pending, till_reports.pending),"
                " version = COALESCE(excluded.version, till_reports.version),"
                " clock_skew_ms = COALESCE(excluded.clock_skew_ms, till_reports.clock_skew_ms),"
                " last_error = COALESCE(excluded.last_error, till_reports.last_error),"
                " last_error_at = COALESCE(excluded.last_error_at, till_reports.last_error_at),"
                " program_version = COALESCE(excluded.program_version, till_reports.program_version)",
                (store_id, till_id, now, now if kind == "push" and error is None else None,
                 now if kind == "pull" and error is None else None, pending, version, skew_ms,
                 error, now if error is not None else None, program_version))
            if entries:
                self._add(("ingest_entries", ""), entries)

    def tills(self, store_id: str | None = None) -> list[dict[str, Any]]:
        """Every till (one store's when given) with what it last reported and its quarantined-record count."""
        where = "t.role = 'till'" + (" AND t.store_id = ?" if store_id is not None else "")
        with self._db.read():
            rows = self._db.execute(
                "SELECT t.store_id, t.till_id, t.registered_at, t.token_hash IS NOT NULL, t.code_expires_at,"
                " t.high_seq, r.last_contact_at, r.last_push_at, r.last_pull_at, r.pending, r.version,"
                " r.clock_skew_ms, r.last_error, r.last_error_at, r.revoked_at, r.program_version,"
                " (SELECT COUNT(*) FROM rejects q WHERE q.store_id = t.store_id AND q.till_id = t.till_id)"
                " FROM tills t LEFT JOIN till_reports r ON r.store_id = t.store_id AND r.till_id = t.till_id"
                f" WHERE {where} ORDER BY t.store_id, t.till_id", (store_id,) if store_id is not None else ())
        keys = ("store_id", "till_id", "registered_at", "active", "code_expires_at", "high_seq", "last_contact_at",
                "last_push_at", "last_pull_at", "pending", "version", "clock_skew_ms", "last_error",
                "last_error_at", "revoked_at", "program_version", "quarantined")
        return [dict(zip(keys, r, strict=True)) | {"active": bool(r[3])} for r in rows]

    def till_rejects(self, store_id: str, till_id: str, limit: int = 100) -> list[dict[str, Any]]:
        """A till's quarantined records, newest first, with their reasons (card numbers were scrubbed on ingest)."""
        with self._db.read():
            rows = self._db.execute("SELECT type, seq, reasons, raw, received_at FROM rejects WHERE store_id = ?"
                                    " AND till_id = ? ORDER BY received_at DESC LIMIT ?", (store_id, till_id, limit))
        return [{"type": r[0], "seq": r[1], "reasons": r[2], "raw": r[3], "received_at": r[4]} for r in rows]

    def revoke_till(self, store_id: str, till_id: str) -> bool:
        """Clear a till's token and code (its next call is refused 401); False when there is no such till."""
        now = now_iso()
        with self._db.write_till(store_id, till_id):
            found = self._db.execute("UPDATE tills SET token_hash = NULL, code_hash = NULL, code_expires_at = NULL"
                                     " WHERE store_id = ? AND till_id = ? AND role = 'till' RETURNING till_id",
                                     (store_id, till_id))
            if found:
                self._db.execute("INSERT INTO till_reports (store_id, till_id, revoked_at) VALUES (?, ?, ?)"
                                 " ON CONFLICT (store_id, till_id) DO UPDATE SET revoked_at = excluded.revoked_at",
                                 (store_id, till_id, now))
        return bool(found)

    # --- counters (/metrics) --------------------------------------------------------------------------
    def _add(self, key: tuple[str, str], n: int) -> None:
        self._db.execute("INSERT INTO counters (name, label, value) VALUES (?, ?, ?) ON CONFLICT (name, label)"
                         " DO UPDATE SET value = counters.value + excluded.value", (*key, n))

    def add_counts(self, counts: dict[tuple[str, str], int]) -> None:
        """Add a batch of counter increments in one write."""
        if counts:
            with self._db.note():
                for key, n in sorted(counts.items()):
                    self._add(key, n)

    def counters(self, name: str) -> dict[str, int]:
        with self._db.read():
            rows = self._db.execute("SELECT label, value FROM counters WHERE name = ?", (name,))
        return {str(r[0]): int(r[1]) for r in rows}
