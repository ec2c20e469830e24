"""The till's sync bookkeeping (table `sync_state`) and the status record the status bar shows."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from pos_client.store.db import now_iso, write_txn
from pos_client.store.token_file import read_token, token_path, write_token

TOKEN, PUSH_HIGH, CURSOR = "token", "push_high_seq", "pull_cursor"
LAST_SYNC, LAST_OK, STATE = "last_sync_at", "last_ok_at", "state"
LAST_ERROR, CLOCK_OFFSET = "last_error", "clock_offset_s"
SENT_FOR_APPROVAL = "sent_for_approval"  # changes the last push left waiting for approval at head office
PUSH_SALE = "push_sale_rowid"  # sales above this rowid have not been pushed (they are insert-only)
CLOCK_WARN_S = 300  # a till clock this far from head office's gets a warning in the status bar
OFFSET_SLACK_S = 1  # an offset this close to the stored one is the same (whole seconds, a round trip apart)


def get(conn: sqlite3.Connection, key: str, default: str | None = None) -> str | None:
    path = token_path(conn) if key == TOKEN else None
    if path is not None:  # the token is kept out of the database (pos_client/store/token_file.py)
        return read_token(path) or default
    row = conn.execute("SELECT value FROM sync_state WHERE key = ?", (key,)).fetchone()
    return row[0] if row and row[0] is not None else default


def get_int(conn: sqlite3.Connection, key: str) -> int:
    return int(get(conn, key, "0") or 0)


def put(conn: sqlite3.Connection, **values: Any) -> None:
    """Set state keys in one short transaction (joins an open one); the token goes to its own file."""
    path = token_path(conn) if TOKEN in values else None
    if path is not None:  # the row stays, empty: it marks a till that was registered (backup.restore)
        write_token(path, None if values[TOKEN] is None else str(values[TOKEN]))
        values[TOKEN] = None
    with write_txn(conn):
        conn.executemany(
            "INSERT INTO sync_state (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            [(k, None if v is None else str(v)) for k, v in values.items()])


def unsynced_entries(conn: sqlite3.Connection, store_id: str, till_id: str) -> int:
    row = conn.execute("SELECT COUNT(*) FROM ledger WHERE store_id = ? AND till_id = ? AND seq > ?",
                       (store_id, till_id, get_int(conn, PUSH_HIGH))).fetchone()
    return int(row[0])


def outbox_size(conn: sqlite3.Connection) -> int:
    """Records waiting to be pushed: outbox rows plus own sales above the sale cursor."""
    queued = conn.execute("SELECT COUNT(DISTINCT type || ':' || key) FROM sync_outbox").fetchone()[0]
    sales = conn.execute("SELECT COUNT(*) FROM sales WHERE rowid > ?", (get_int(conn, PUSH_SALE),)).fetchone()[0]
    return int(queued) + int(sales)


@dataclass(frozen=True)
class SyncStatus:
    """What the status bar shows: online/offline, entries waiting, last sync, last error."""

    state: str  # online | offline | unregistered | syncing
    entries_waiting: int
    records_waiting: int
    last_sync: str | None
    last_ok: str | None
    last_error: str | None
    clock_offset_s: int = 0
    sent_for_approval: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def line(self) -> str:
        """A one-line summary for a status bar or a script."""
        when = _ago(self.last_ok) if self.last_ok else "never"
        text = f"{self.state} · {self.entries_waiting} entries waiting · last sync {when}"
        if self.state == "offline" and self.last_error:
            text += f" · {self.last_error[:60]}"
        if self.sent_for_approval:
            text += f" · {self.sent_for_approval} sent for approval"
        if abs(self.clock_offset_s) >= CLOCK_WARN_S:
            text += f" · till clock off by {abs(self.clock_offset_s) // 60} min"
        return text


def _ago(ts: str) -> str:
    try:
        secs = int((datetime.now(UTC) - datetime.fromisoformat(ts)).total_seconds())
    except ValueError:
        return ts
    if secs < 90:
        return f"{max(secs, 0)}s ago"
    if secs < 5400:
        return f"{secs // 60} min ago"
    return f"{secs // 3600} h ago"


def read_status(conn: sqlite3.Connection, store_id: str, till_id: str, state: str | None = None) -> SyncStatus:
    registered = get(conn, TOKEN) is not None
    return SyncStatus(
        state=state or (get(conn, STATE, "offline") if registered else "unregistered") or "offline",
        entries_waiting=unsynced_entries(conn, store_id, till_id),
        records_waiting=outbox_size(conn),
        last_sync=get(conn, LAST_SYNC), last_ok=get(conn, LAST_OK), last_error=get(conn, LAST_ERROR),
        clock_offset_s=int(float(get(conn, CLOCK_OFFSET, "0") or 0)),
        sent_for_approval=get_int(conn, SENT_FOR_APPROVAL),
    )


def note_success(conn: sqlite3.Connection, server_time: str | None, every: float | None = None) -> tuple[str, int]:
    """Record a good round: (its time, the clock offset). With `every` (the worker's STATUS_EVERY_S) the row is
    written only when state, error or offset changed or the stored time is `every` seconds old: a commit by the
    worker's connection costs the till's connection its page cache, so the worker shows the time from memory in
    between and what other processes read (`sync --status`, `doctor`) is at most `every` seconds old."""
    now = now_iso()
    offset = 0
    if server_time:
        try:
            offset = int((datetime.fromisoformat(server_time) - datetime.fromisoformat(now)).total_seconds())
        except ValueError:
            offset = 0
    if every is not None and not _stale(conn, now, offset, every):
        return now, offset
    put(conn, **{LAST_SYNC: now, LAST_OK: now, STATE: "online", LAST_ERROR: None, CLOCK_OFFSET: offset})
    return now, offset


def _stale(conn: sqlite3.Connection, now: str, offset: int, every: float) -> bool:
    """Whether the stored status says something other than 'online, no error, this offset, recently'."""
    held = dict(conn.execute("SELECT key, value FROM sync_state WHERE key IN (?, ?, ?, ?)",
                             (LAST_OK, STATE, LAST_ERROR, CLOCK_OFFSET)).fetchall())
    if held.get(STATE) != "online" or held.get(LAST_ERROR) is not None or not held.get(LAST_OK):
        return True
    try:
        stored_offset = int(float(held.get(CLOCK_OFFSET) or 0))
        age = (datetime.fromisoformat(now) - datetime.fromisoformat(held[LAST_OK])).total_seconds()
    except ValueError:
        return True
    return abs(stored_offset - offset) > OFFSET_SLACK_S or not 0 <= age < every


def note_failure(conn: sqlite3.Connection, error: str) -> None:
    put(conn, **{LAST_SYNC: now_iso(), STATE: "offline", LAST_ERROR: error[:500]})


def pulled_rule(conn: sqlite3.Connection, key: str) -> Any:
    """A program rule head office sent (None when it never did)."""
    row = conn.execute("SELECT value FROM sync_rules WHERE key = ?", (key,)).fetchone()
    return json.loads(row[0]) if row else None
