"""Noticing a damaged till database, and the "stopped writing" state that follows (issue 11, finding 4).

Why: a flipped byte in `till.db` used to go unnoticed while the till kept selling on it. Three checks:
- `PRAGMA quick_check` when the till opens (`check_on_open`), bounded in time: what does not finish within
  the budget goes on in a background thread on a connection of its own; on a database over
  `OPEN_CHECK_MAX_BYTES` whose whole check ran less than `WHOLE_CHECK_EVERY_S` ago, only the chain of the
  entries appended since (`chain_mark.whole_within`);
- the ledger's hash chain (`verify_chain`, `wire.ledger_chain`): each entry's hash covers its content and
  the entry before it, so a changed, damaged or removed entry breaks it;
- the full `PRAGMA integrity_check` plus the chain in `pos-client doctor`, and before the day's upkeep
  (`services.db_check.before_upkeep`: on a database over `OPEN_CHECK_MAX_BYTES` only the chain of the
  entries appended since the last verification's `chain_mark`).
On a failure the till stops writing: a small file beside the database (`till.db.stopped`, JSON: what
happened, what to do) that `db.write_txn` looks for before every write, in every process and thread, so
no sale, adjustment or sync lands on a damaged database. Reads (lookups, reports, doctor) still work.
Restoring a backup (`store.backup.restore`) removes the file.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pos_client.domain.errors import StoppedWriting
from pos_client.store import chain_mark
from pos_client.store.faults import RESTORE_ADVICE
from wire.ledger_chain import CHAIN_COLUMNS, chain_hash

log = logging.getLogger("pos_client.integrity")

STOP_SUFFIX = ".stopped"
OPEN_BUDGET_S = 0.25  # what opening the till may spend on checks before the rest goes to the background
# Above this size the checks all go to the background: SQLite 3.40's quick_check runs as one VM step, which the
# progress handler (the deadline) cannot interrupt; at 1M members (5 GB) it held the first screen for ~5 s.
OPEN_CHECK_MAX_BYTES = 64 * 1024 * 1024
WHOLE_CHECK_EVERY_S = 24 * 3600  # a large database's opening check reads the whole file at most this often
_PROGRESS_STEPS = 2000  # SQLite VM steps between deadline looks
_PACE_S = 0.002  # the background chain check's pause every 4096 entries (about a third of one core at most)


def stop_file(db: Path) -> Path:
    """The file whose presence means "this database is damaged: write nothing"."""
    return db.with_name(db.name + STOP_SUFFIX)


def advice_text(latest: Path | None) -> str:
    """What to do, naming the latest good backup when there is one."""
    if latest is None:
        return (f"{RESTORE_ADVICE}. No backup was found in the backup directory: copy till.db aside, then"
                " `pos-client init` and `pos-client register` give a till that pulls the chain's members and"
                " points back from head office")
    return (f"restore the latest good backup: `pos-client restore {latest} --force`; on a registered till the"
            " restore then brings back from head office everything pushed after that backup")


# --- the stopped-writing state ------------------------------------------------------------------

def stop_writing(db: Path, what: str, advice: str) -> StoppedWriting:
    """Record that `db` is damaged (atomically, for every process), and the error every write now gets."""
    record = {"what": what, "advice": advice, "at": datetime.now(UTC).isoformat(timespec="seconds")}
    target = stop_file(db)
    staged = target.with_name(target.name + ".tmp")
    try:
        staged.write_text(json.dumps(record), encoding="utf-8")
        os.replace(staged, target)
    except OSError:  # a read-only disk: every write fails there anyway; the log says why
        _log(logging.ERROR, f"could not record the stopped-writing state beside {db}", exc_info=True)
    _log(logging.ERROR, f"till database damaged, writing stopped: {what}")
    return _error(record)


def _log(level: int, message: str, *, exc_info: bool = False) -> None:
    """To the till's log when there is one; never to the user's terminal through logging's last resort
    (the CLI and the app say what happened in their own words)."""
    if log.hasHandlers():
        log.log(level, "%s", message, exc_info=exc_info)


def stopped(db: Path) -> StoppedWriting | None:
    """The refusal for `db` when it is in the stopped-writing state, else None."""
    return stopped_at(str(stop_file(db)))


def stopped_at(marker: str) -> StoppedWriting | None:
    """`stopped` by the marker's path (what `db.write_txn` holds): one stat when all is well."""
    if not os.path.exists(marker):
        return None
    try:
        record: dict[str, Any] = json.loads(Path(marker).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        record = {}
    return _error(record)


def _error(record: dict[str, Any]) -> StoppedWriting:
    what = record.get("what") or "a check found the till database damaged"
    advice = record.get("advice") or RESTORE_ADVICE
    return StoppedWriting(f"the till has stopped writing: its database is damaged ({what}). Nothing was"
                          f" recorded, and nothing will be until it is restored: {advice}.")


# --- the checks -----------------------------------------------------------------------------------

def quick_check(conn: sqlite3.Connection, deadline: float | None = None) -> list[str] | None:
    """`PRAGMA quick_check`'s problems ([] when sound), or None when it did not finish by `deadline`."""
    return _pragma_check(conn, "quick_check", deadline)


def integrity_check(conn: sqlite3.Connection, deadline: float | None = None) -> list[str] | None:
    """The full `PRAGMA integrity_check` (indexes against their tables too): its problems, [] when sound,
    None when it did not finish by `deadline`."""
    return _pragma_check(conn, "integrity_check", deadline)


def points_rows(conn: sqlite3.Connection) -> str:
    """SQL of the (member_id, points) rows a balance sums: the ledger's entries and, on a till whose first pull was
    a snapshot (sync/snapshot.py), its opening balances (head office's database and an older till have none)."""
    opening = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'opening_balances'").fetchone()
    return "SELECT member_id, points FROM ledger" + (
        " UNION ALL SELECT member_id, points FROM opening_balances" if opening else "")


def balances_off(conn: sqlite3.Connection, deadline: float | None = None) -> list[str] | None:
    """Members whose cached balance differs from the sum of their ledger entries (the till's invariant),
    None when the deadline came first."""
    if deadline is not None:
        conn.set_progress_handler(lambda: int(time.monotonic() > deadline), _PROGRESS_STEPS)
    try:
        rows = conn.execute(
            "SELECT member_id, SUM(cached), SUM(summed) FROM (SELECT member_id, points AS cached, 0 AS summed"
            f" FROM balances UNION ALL SELECT member_id, 0, points FROM ({points_rows(conn)})) GROUP BY member_id"
            " HAVING SUM(cached) != SUM(summed) LIMIT 3").fetchall()
    except sqlite3.OperationalError as exc:
        if deadline is not None and "interrupted" in str(exc):
            return None
        raise
    finally:
        if deadline is not None:
            conn.set_progress_handler(None, 0)
    return [f"member {r[0]}: balance {r[1]} but ledger sum {r[2]}" for r in rows]


def _pragma_check(conn: sqlite3.Connection, pragma: str, deadline: float | None) -> list[str] | None:
    if deadline is not None:
        conn.set_progress_handler(lambda: int(time.monotonic() > deadline), _PROGRESS_STEPS)
    try:
        rows = [str(r[0]) for r in conn.execute(f"PRAGMA {pragma}(20)")]
    except sqlite3.OperationalError as exc:
        if deadline is not None and "interrupted" in str(exc):
            return None
        raise
    except sqlite3.DatabaseError as exc:  # "database disk image is malformed", "file is not a database"
        return [str(exc)]
    finally:
        if deadline is not None:
            conn.set_progress_handler(None, 0)
    return [] if rows == ["ok"] else rows


@dataclass(frozen=True)
class ChainReport:
    """What `verify_chain` found: entries checked, entries written before the chain (no hash), the first break."""

    checked: int
    unchained: int
    first_bad: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return self.first_bad is None

    def words(self) -> str:
        if self.first_bad is None:
            return f"ledger hash chain intact ({self.checked:,} entries)"
        b = self.first_bad
        return (f"ledger hash chain broken at entry {b['entry_id']} (store {b['store_id']}, till {b['till_id']},"
                f" seq {b['seq']}): {b['why']}")


def has_chain(conn: sqlite3.Connection) -> bool:
    """True once migration m0070 gave the ledger its hash columns."""
    return any(r[1] == "entry_hash" for r in conn.execute("PRAGMA table_info(ledger)"))


def verify_chain(conn: sqlite3.Connection, own: tuple[str, str] | None = None,
                 deadline: float | None = None, *, pace: bool = False, upto: int | None = None) -> ChainReport | None:
    """Recompute every entry's hash and check each link; None when `deadline` came first.

    `own` is this till's (store, till): its entries link to the one before them whatever the gap (that is
    how `ledger.append` chains them); other tills' entries, pulled, are linked only where the seq before is
    here too. `pace` (the background check) lets the till's own threads run between batches: hashing holds the GIL.
    `upto`: only the entries up to that rowid (what a `chain_mark` then records as verified)."""
    if not has_chain(conn):
        return ChainReport(0, 0)
    where = "" if upto is None else f" WHERE rowid <= {int(upto)}"
    rows = conn.execute(f"SELECT {', '.join(CHAIN_COLUMNS)}, prev_hash, entry_hash FROM ledger{where}"
                        " ORDER BY store_id, till_id, seq")
    return _verify_rows(rows, own, deadline, pace)


def verify_since(conn: sqlite3.Connection, own: tuple[str, str] | None, after: int, upto: int) -> ChainReport:
    """The chain of the entries with a rowid in (after, upto]: each (store, till) run of them from the entry
    before its first one (already verified), so every link into and between them is checked."""
    if not has_chain(conn) or upto <= after:
        return ChainReport(0, 0)
    cols = ", ".join(CHAIN_COLUMNS)
    runs = conn.execute("SELECT store_id, till_id, MIN(seq) FROM ledger WHERE rowid > ? AND rowid <= ?"
                        " GROUP BY store_id, till_id ORDER BY store_id, till_id", (after, upto)).fetchall()
    rows: list[tuple[Any, ...]] = []
    for store, till, first in runs:
        rows += conn.execute(
            f"SELECT {cols}, prev_hash, entry_hash FROM ledger WHERE store_id = ? AND till_id = ? AND rowid <= ?"
            " AND seq >= COALESCE((SELECT MAX(seq) FROM ledger WHERE store_id = ? AND till_id = ? AND seq < ?), ?)"
            " ORDER BY seq", (store, till, upto, store, till, first, first)).fetchall()
    report = _verify_rows(iter(rows), own, None, False)
    assert report is not None  # no deadline
    return report


def _verify_rows(rows: Iterator[Any], own: tuple[str, str] | None, deadline: float | None,
                 pace: bool) -> ChainReport | None:
    """`verify_chain`'s loop over rows in (store, till, seq) order."""
    n_content = len(CHAIN_COLUMNS)
    checked = unchained = 0
    pred: tuple[str, str, int, str | None] | None = None
    for row in rows:
        checked += 1
        if checked % 4096 == 0:
            if deadline is not None and time.monotonic() > deadline:
                return None
            if pace:
                time.sleep(_PACE_S)
        content = tuple(row[:n_content])
        store, till, seq = str(row[2]), str(row[3]), int(row[4])
        prev_hash, entry_hash = row[n_content], row[n_content + 1]
        same = pred is not None and (pred[0], pred[1]) == (store, till)
        link = pred if same else None
        pred = (store, till, seq, entry_hash)
        if entry_hash is None:
            unchained += 1
            continue
        why = None
        if chain_hash(prev_hash, content) != entry_hash:
            why = "its content does not match its hash (the entry was changed or its bytes damaged)"
        elif link is not None and link[3] is not None and (own == (store, till) or link[2] == seq - 1) \
                and (prev_hash or "") != link[3]:
            why = f"it does not link to the entry before it (seq {link[2]}): an entry was changed or removed"
        if why is not None:
            bad = {"entry_id": content[0], "store_id": store, "till_id": till, "seq": seq, "why": why}
            return ChainReport(checked, unchained, bad)
    return ChainReport(checked, unchained)


def full_check(conn: sqlite3.Connection, own: tuple[str, str] | None = None) -> list[str]:
    """The day's and doctor's check: `integrity_check` and the whole chain; the problems in words."""
    problems = [f"PRAGMA integrity_check: {p}" for p in integrity_check(conn) or []]
    if problems:
        return problems
    try:
        report = verify_chain(conn, own)
    except sqlite3.DatabaseError as exc:
        if isinstance(exc, sqlite3.OperationalError) and "interrupted" in str(exc):
            raise  # the app closing stopped the check (Periodic.stop): not damage
        return [f"reading the ledger failed: {exc}"]
    return [] if report is None or report.ok else [report.words()]


# --- when the till opens ----------------------------------------------------------------------------

def check_on_open(db: Path, advice: str, own: tuple[str, str] | None = None,
                  budget_s: float = OPEN_BUDGET_S) -> threading.Thread | None:
    """quick_check and the chain within `budget_s`; what does not finish goes on in a background thread
    (returned, a daemon) that stops writing on a failure. A failure found now stops writing at once.
    `budget_s` 0: everything in the background."""
    if not db.exists() or db.stat().st_size == 0:
        return None
    large = db.stat().st_size > OPEN_CHECK_MAX_BYTES
    if large:
        budget_s = 0  # quick_check is one SQLite step: no deadline can stop it, and at 5 GB it takes seconds
    if budget_s > 0 and _check(db, advice, own, time.monotonic() + budget_s):
        return None
    thread = threading.Thread(target=_check, args=(db, advice, own, None, large), name="till-db-check",
                              daemon=True)
    thread.start()
    return thread


def _deeper(db: Path, conn: sqlite3.Connection, advice: str, deadline: float) -> None:
    """integrity_check (index against table) and balances against the ledger, if they fit in the budget;
    what does not is left to the day's upkeep."""
    problems = integrity_check(conn, deadline)
    if problems:
        stop_writing(db, "PRAGMA integrity_check: " + "; ".join(problems[:3]), advice)
        return
    off = balances_off(conn, deadline) if problems is not None else None
    if off:
        stop_writing(db, "balances differ from the ledger: " + "; ".join(off), advice)


def note_damage(marker: str, exc: sqlite3.Error) -> None:
    """SQLite reported damage during a write (`db.write_txn`): stop writing from now on, in every process."""
    db = Path(marker[: -len(STOP_SUFFIX)])
    if not os.path.exists(marker):
        stop_writing(db, f"SQLite: {exc}", RESTORE_ADVICE)


def _check(db: Path, advice: str, own: tuple[str, str] | None, deadline: float | None,
           large: bool = False) -> bool:
    """One pass: True when it finished (sound, or damage recorded), False when the deadline came first.
    Without a deadline it is the background pass: its thread runs at the lowest CPU priority. `large`: a
    database whose whole check ran less than `WHOLE_CHECK_EVERY_S` ago gets only its new entries' chain."""
    if deadline is None:
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)  # Linux: this thread only
        except (OSError, AttributeError):
            pass
        with chain_mark.checking(db):  # the day's upkeep waits for this check rather than doing it again
            return _pass(db, advice, own, None, since_mark=large and chain_mark.whole_within(db, WHOLE_CHECK_EVERY_S))
    return _pass(db, advice, own, deadline)


def _pass(db: Path, advice: str, own: tuple[str, str] | None, deadline: float | None,
          since_mark: bool = False) -> bool:
    """`since_mark` (the whole check ran recently): only the chain of the entries appended since the last
    verified mark; with no valid mark (a restored or replaced database), the whole check."""
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, check_same_thread=False)
    except sqlite3.Error as exc:
        _log(logging.WARNING, f"could not open {db} to check it: {exc}")
        return True  # opening the till itself will report it
    try:
        since = chain_mark.valid(db, conn) if since_mark else None
        if since is not None:
            top = chain_mark.upto(conn)
            found = verify_since(conn, own, since.rowid, top.rowid)
            if not found.ok:
                stop_writing(db, found.words(), advice)
            else:
                chain_mark.record(db, top, "the check when the till opened: the chain since the last mark")
            return True
        problems = quick_check(conn, deadline)
        if problems is None:
            return False
        if problems:
            stop_writing(db, "PRAGMA quick_check: " + "; ".join(problems[:3]), advice)
            return True
        try:
            mark = chain_mark.upto(conn)
            report = verify_chain(conn, own, deadline, pace=deadline is None, upto=mark.rowid)
        except sqlite3.DatabaseError as exc:
            stop_writing(db, f"reading the ledger failed: {exc}", advice)
            return True
        if report is None:
            return False
        if not report.ok:
            stop_writing(db, report.words(), advice)
            return True
        chain_mark.record(db, mark, "the check when the till opened", whole=True)  # the upkeep: what follows
        if deadline is not None:  # time left on a small database: the upkeep's deeper checks too
            _deeper(db, conn, advice, deadline)
        return True
    except sqlite3.Error as exc:  # a read-only or vanished file: opening the till reports it in words
        _log(logging.WARNING, f"checking {db} failed: {exc}")
        return True
    finally:
        conn.close()
