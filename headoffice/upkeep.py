"""Head office's day's upkeep: a fresh marketing snapshot with the day's lifecycle stages, on a schedule.

Head office's ledger holds every till's entries, and each till writes its own expiry and tier rows (its
day's upkeep, `pos_client.services.marketing.upkeep`) which reach head office by sync: head office writing
expiry or tier rows of its own would count them twice. What head office runs instead is the part only it
can do, over the whole chain: it rebuilds the till-shaped marketing snapshot (`marketing_reports.snapshot`)
and records on it every member's lifecycle stage for each day not yet done (`stage_review.record_stages`, the
same function the tills run, in `upkeep_runs` like a till's), so `headoffice report` reads a precomputed
snapshot instead of copying the whole chain per request.

The snapshot is one SQLite file (beside a SQLite head office: `ho.db` -> `ho.marketing.db`; else
`--snapshot` / `$HEADOFFICE_SNAPSHOT`). A daily refresh applies head office's changes to it in place
(`snapshot_delta`) and records the days due, in one write transaction: a report (opened `mode=ro`, one read
transaction) sees the day before or after, a crash leaves the day before. When it cannot (a first build,
another program, an order a rebuild would keep differently) a refresh builds a new file next to it, carries
the stages and runs recorded so far over, records the days due and renames it into place. A refresh is due
when the snapshot has not recorded the day due now: today once past `at` (`--upkeep-at`, UTC, 22:00 by
default: after the tills' closing time and their last sync), else yesterday. `headoffice serve` runs
`UpkeepScheduler` (a thread with a stop event: at start when due, then every day at `at`); `headoffice
upkeep` refreshes by hand, `--status` says when.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import sqlite3
import threading
import time as clock
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from headoffice import snapshot_delta, snapshot_load
from headoffice.marketing_reports import HO_REPORTS, config_for, program_of, run, snapshot, valued_rewards
from headoffice.paths import beside_store
from headoffice.store import Store, open_store
from pos_client.domain.dates import plus_days
from pos_client.services.marketing import stage_review, upkeep
from pos_client.services.marketing.report_base import Report
from pos_client.services.marketing.reports import run_report
from pos_client.store.config import Config
from pos_client.store.context import TillContext
from pos_client.store.db import connect, now_iso, write_txn

log = logging.getLogger(__name__)

SNAPSHOT_ENV = "HEADOFFICE_SNAPSHOT"
AT_ENV = "HEADOFFICE_UPKEEP_AT"
DEFAULT_AT = time(22, 0)
SOURCE = "headoffice"
_META = "CREATE TABLE IF NOT EXISTS ho_snapshot_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)"
_STAGE_COLUMNS = "member_id, stage, prev_stage, since, created_at"
_RUN_COLUMNS = ("day, source, expired_members, expired_points, tier_changes, stage_changes, started_at,"
                " finished_at")

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


def parse_at(text: str) -> time:
    """`--upkeep-at HH:MM` (UTC)."""
    try:
        return time.fromisoformat(text)
    except ValueError:
        raise ValueError(f"the upkeep time is HH:MM (UTC), not {text!r}") from None


def snapshot_path(db_url: str, explicit: str | None = None) -> Path:
    """Where the snapshot lives: --snapshot, $HEADOFFICE_SNAPSHOT, beside a SQLite head office, else here."""
    return beside_store(db_url, explicit, SNAPSHOT_ENV, ".marketing.db") or Path("headoffice-marketing.db")


def due_through(now: datetime, at: time) -> date:
    """The last day whose upkeep is due at `now`: today once past `at`, else yesterday."""
    today = now.date()
    return today if now.time() >= at else today - timedelta(days=1)


@dataclass(frozen=True)
class RefreshResult:
    """What one refresh did: the days whose stages it recorded, and how long the whole rebuild took."""

    path: str
    built_at: str
    seconds: float
    days: list[str] = field(default_factory=list)
    stage_changes: int = 0
    steps: dict[str, float] = field(default_factory=dict)  # in place: seconds per step (`snapshot_delta.apply`)

    def public(self) -> dict[str, Any]:
        return asdict(self)


@contextmanager
def _exclusive(path: Path) -> Iterator[None]:
    """One refresh at a time per snapshot (the server's thread and a `headoffice upkeep` by hand)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _open_readonly(path: Path) -> sqlite3.Connection:
    """Read-only, in one read transaction for the connection's life: a refresh in place commits its day
    whole after the readers that began before it end (a full rebuild renames a new file over it)."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False, isolation_level=None)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA busy_timeout = 10000")  # a refresh's commit takes its lock for moments
    conn.execute("BEGIN")
    return conn


def _meta(conn: sqlite3.Connection) -> dict[str, str]:
    try:
        return dict(conn.execute("SELECT key, value FROM ho_snapshot_meta").fetchall())
    except sqlite3.OperationalError:  # not a snapshot this module published
        return {}


def _carry_over(ctx: TillContext, previous: Path) -> None:
    """The stages and runs recorded so far: the new copy goes on from the published snapshot's last day.

    In SQL (ATTACH, INSERT ... SELECT): a year of a big chain's stage changes is millions of rows.
    """
    conn = ctx.conn
    conn.execute("ATTACH DATABASE ? AS previous", (str(previous),))
    try:
        with write_txn(conn):
            conn.execute(f"INSERT INTO member_stages ({_STAGE_COLUMNS}) SELECT {_STAGE_COLUMNS}"
                         " FROM previous.member_stages ORDER BY rowid")
            conn.execute(f"INSERT INTO upkeep_runs ({_RUN_COLUMNS}) SELECT {_RUN_COLUMNS} FROM previous.upkeep_runs")
    finally:
        conn.execute("DETACH DATABASE previous")


def _record_days(ctx: TillContext, through: date, stop: threading.Event | None) -> tuple[list[str], int]:
    """Each day after the last one recorded through `through`, in order, one transaction each (a first
    snapshot starts at `through`: the stage history before it is the tills', not head office's)."""
    last = upkeep.last_run(ctx)
    day = plus_days(last, 1) if last else through
    days: list[str] = []
    changes = 0
    while day <= through:
        if stop is not None and stop.is_set():
            break
        started = now_iso()
        with write_txn(ctx.conn):
            recorded = stage_review.record_stages(ctx, day)
            upkeep.record(ctx, upkeep.DayResult(day.isoformat(), SOURCE, 0, 0, 0, len(recorded)), started)
        days.append(day.isoformat())
        changes += len(recorded)
        day = plus_days(day, 1)
    return days, changes


class _Stopped(Exception):
    """Stop asked between two days: the in-place refresh rolls back whole."""


def _open_in_place(store: Store, path: Path) -> TillContext | None:
    """The published snapshot opened for writing, when it can be brought up to date in place: a SQLite head
    office, a snapshot built by this schema (else None: rebuild in full)."""
    ho_path = getattr(store, "path", None)
    if ho_path is None or not path.is_file():
        return None
    conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    fresh = connect(":memory:")
    try:
        known = {r[0] for r in fresh.execute("SELECT name FROM schema_migrations")}
        held = {r[0] for r in conn.execute("SELECT name FROM schema_migrations")}
    except sqlite3.OperationalError:
        held = set()
    finally:
        fresh.close()
    if held != known or "config" not in _meta(conn):
        conn.close()
        return None
    for pragma in ("PRAGMA busy_timeout = 60000", "PRAGMA foreign_keys = OFF",  # readers end within seconds
                   f"PRAGMA cache_size = {snapshot_load.CACHE_KIB // 4}"):  # the day's pages stay in memory
        conn.execute(pragma)
    snapshot_load.attach(conn, ho_path)
    return TillContext(conn, config_for(program_of(store)))


def _refresh_in_place(store: Store, path: Path, through: date, stop: threading.Event | None,
                      began: float) -> RefreshResult | bool | None:
    """The day's changes, the days due and the meta in one write transaction on the published file (readers
    keep the state they began with); False when it must be rebuilt in full, None when stopped."""
    ctx = _open_in_place(store, path)
    if ctx is None:
        return False
    try:
        with write_txn(ctx.conn):
            ctx.conn.execute("UPDATE sync_apply SET applying = 1")  # a snapshot queues nothing for sync
            steps = snapshot_delta.apply(ctx.conn, program_of(store), valued_rewards(ctx), now_iso())
            if steps is None:
                return False
            t0 = clock.monotonic()
            days, changes = _record_days(ctx, through, stop)
            steps["stages"] = round(clock.monotonic() - t0, 3)
            if stop is not None and stop.is_set():
                raise _Stopped
            built_at = _write_meta(ctx, through)
            t0 = clock.monotonic()
        steps["commit"] = round(clock.monotonic() - t0, 3)
    except _Stopped:
        return None
    finally:
        if ctx.conn.in_transaction:
            ctx.conn.execute("ROLLBACK")
        snapshot_load.detach(ctx.conn)
        ctx.close()
    return RefreshResult(str(path), built_at, round(clock.monotonic() - began, 3), days, changes, steps)


def _write_meta(ctx: TillContext, through: date) -> str:
    built_at = now_iso()
    meta = {"built_at": built_at, "config": json.dumps(ctx.config.raw), "through": through.isoformat()}
    ctx.conn.execute(_META)
    with write_txn(ctx.conn):
        ctx.conn.executemany("INSERT OR REPLACE INTO ho_snapshot_meta (key, value) VALUES (?,?)", meta.items())
    return built_at


def refresh(store: Store, path: Path, through: date, *, stop: threading.Event | None = None) -> RefreshResult | None:
    """Bring the snapshot up to head office's data and record the days due: in place when only the day's
    changes need applying (`snapshot_delta`), else a new file built in full and renamed over it (None: stopped
    first)."""
    began = clock.monotonic()
    with _exclusive(path):
        for stale in path.parent.glob(f"{path.name}.*.building*"):  # a refresh killed half-way (we hold the lock)
            stale.unlink(missing_ok=True)
        done = _refresh_in_place(store, path, through, stop, began)
        if done is not False:
            return done if isinstance(done, RefreshResult) else None
        building = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.building")
        ctx = snapshot(store, building)
        try:
            ctx.conn.execute("UPDATE sync_apply SET applying = 1")  # a snapshot queues nothing for sync
            if path.exists():
                _carry_over(ctx, path)
            days, changes = _record_days(ctx, through, stop)
            if stop is not None and stop.is_set():
                return None
            built_at = _write_meta(ctx, through)
            ctx.conn.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, refreshed in place later
            ctx.close()
            os.replace(building, path)
        finally:
            ctx.close()
            for leftover in (building, Path(f"{building}-wal"), Path(f"{building}-shm"), Path(f"{building}-journal")):
                leftover.unlink(missing_ok=True)
    return RefreshResult(str(path), built_at, round(clock.monotonic() - began, 3), days, changes)


def open_snapshot(path: Path) -> TillContext | None:
    """The published snapshot as a read-only TillContext with the program it was built with (None: none yet)."""
    if not path.is_file():
        return None
    conn = _open_readonly(path)
    meta = _meta(conn)
    if "config" not in meta:
        conn.close()
        return None
    return TillContext(conn, Config(json.loads(meta["config"])))


def status(path: Path, at: time, now: datetime) -> dict[str, Any]:
    """When it last ran, through which day, whether a refresh is due, the latest days recorded."""
    due = due_through(now, at)
    out: dict[str, Any] = {"snapshot": str(path), "built_at": None, "last_day": None, "due_through": due.isoformat(),
                           "stale": True, "upkeep_at": at.strftime("%H:%M"), "runs": []}
    ctx = open_snapshot(path)
    if ctx is None:
        return out
    try:
        last = upkeep.last_run(ctx)
        out["built_at"] = _meta(ctx.conn)["built_at"]
        out["last_day"] = last.isoformat() if last else None
        out["stale"] = last is None or last < due
        out["runs"] = [dict(r) for r in ctx.conn.execute(
            f"SELECT {_RUN_COLUMNS} FROM upkeep_runs ORDER BY day DESC LIMIT 7")]
    finally:
        ctx.close()
    return out


def status_text(info: dict[str, Any]) -> str:
    if info["built_at"] is None:
        return (f"no marketing snapshot yet at {info['snapshot']}: `headoffice upkeep` builds it"
                f" (`headoffice serve` does at start and daily at {info['upkeep_at']} UTC)")
    lines = [f"snapshot {info['snapshot']}", f"last built  {info['built_at']}",
             f"stages through {info['last_day']}; due through {info['due_through']}"
             f" ({'due now: run `headoffice upkeep`' if info['stale'] else 'up to date'});"
             f" daily at {info['upkeep_at']} UTC"]
    lines += [f"  {r['day']}  {r['stage_changes']:>7,} stage changes  ({r['source']}, {r['finished_at']})"
              for r in info["runs"]]
    return "\n".join(lines)


def report(store: Store, name: str, path: Path, *, at: time, now: datetime, fresh: bool = False,
           **options: Any) -> tuple[Report, str]:
    """A marketing report from the published snapshot when it is up to date, else from a fresh copy made
    for this request (as before the scheduler existed); the second value says which, for stderr."""
    ctx = None if fresh or name not in HO_REPORTS else open_snapshot(path)
    if ctx is not None:
        try:
            last = upkeep.last_run(ctx)
            if last is not None and last >= due_through(now, at):
                return (run_report(ctx, name, **options),
                        f"from the marketing snapshot built {_meta(ctx.conn)['built_at']}")
        finally:
            ctx.close()
    why = "as asked (--fresh)" if fresh else "the marketing snapshot is not up to date: `headoffice upkeep`"
    return run(store, name, **options), f"from a fresh copy of head office's data ({why})"


class UpkeepScheduler:
    """Refreshes the snapshot off the server's threads: at start when due, then daily at `at`."""

    def __init__(self, db_url: str, path: Path, *, at: time = DEFAULT_AT, tick: float = 60.0,
                 clock_fn: Clock = utc_now, after: Callable[[Path], object] | None = None) -> None:
        self.db_url = db_url
        self.after = after  # run on the published snapshot after each refresh (the console's figures)
        self.path = path
        self.at = at
        self.tick = tick
        self.clock = clock_fn
        self.last: RefreshResult | None = None
        self.error: str | None = None
        self.ran = threading.Event()  # set after each completed refresh (tests wait on it)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> UpkeepScheduler:
        self._thread = threading.Thread(target=self._run, name="headoffice-upkeep", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 30.0) -> None:
        """Stop between two days; a refresh cut short publishes nothing."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def run_once(self, store: Store) -> RefreshResult | None:
        """Refresh when the snapshot has not recorded the day due now; None when nothing was due."""
        through = due_through(self.clock(), self.at)
        info = status(self.path, self.at, self.clock())
        if not info["stale"]:
            return None
        result = refresh(store, self.path, through, stop=self._stop)
        if result is not None:
            if self.after is not None:
                self.after(self.path)
            self.last = result
            self.ran.set()
            log.info("marketing snapshot refreshed through %s in %.1f s", through, result.seconds)
        return result

    def _run(self) -> None:
        store = open_store(self.db_url)  # its own connection: the API's stays with the API
        try:
            while not self._stop.is_set():
                try:
                    self.run_once(store)
                    self.error = None
                except Exception as exc:  # a locked database or a full disk: the API serves on, retry next tick
                    self.error = f"{type(exc).__name__}: {exc}"
                    log.warning("head-office upkeep failed", exc_info=True)
                self._stop.wait(self.tick)
        finally:
            store.close()
