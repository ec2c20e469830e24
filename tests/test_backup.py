"""Backups that restore, and migrations that cannot lose data: real SQLite files, the real CLI, real sockets.

The restore-then-sync recovery through head office is in tests/sync/test_restore_recovery.py.
"""

from __future__ import annotations

import importlib
import json
import os
import sqlite3
import stat
from datetime import UTC, datetime, time, timedelta

import pytest

from headoffice.cli import main as ho_main
from headoffice.store import open_store
from headoffice.store.schema import SchemaTooNew as HoSchemaTooNew
from pos_client.cli.main import main
from pos_client.domain.errors import RefusedInput
from pos_client.store import sync_state
from pos_client.store.backup import STALE_TMP_S, BackupError, back_up, backup_dir, latest_backup, verify
from pos_client.store.config import from_mapping, write_config
from pos_client.store.db import SchemaTooNew, connect, migration_names
from pos_client.store.home import db_path
from pos_client.till import open_till
from pos_client.till.backup_scheduler import BackupScheduler
from pos_client.till.devices import TillDevices
from tests.ports import refusing_port
from tests.sync.tillkit import enrol, sell


def _mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def till(tmp_path):
    home = tmp_path / "till"
    home.mkdir()
    write_config(home, {"store_id": "S1", "till_id": "T1"})
    ctx = open_till(home)
    enrol(ctx, 1)
    sell(ctx, 1, 2500)
    sell(ctx, 1, 1000)
    yield ctx
    ctx.close()


def _cli(capsys, *argv: str) -> tuple[int, dict]:
    code = main([*argv, "--json"])
    out = capsys.readouterr().out.strip().splitlines()
    return code, json.loads(out[-1])


# --- backing up ---------------------------------------------------------------------------------

def test_backup_is_checked_private_and_found_by_latest_backup(till):
    report = back_up(till.conn, till.home, till.config)
    assert report.path.parent == backup_dir(till.home, till.config) == till.home / "backups"
    assert report.path.name.startswith("till-") and report.path.suffix == ".db"
    assert _mode(report.path) == 0o600 and _mode(report.path.parent) == 0o700
    assert (report.check.entries, report.check.members, report.check.points) == (2, 1, 35)
    assert verify(report.path) == report.check
    found = latest_backup(till.home, till.config)
    assert found is not None and found[0] == report.path
    assert abs((found[1] - datetime.now(UTC)).total_seconds()) < 60 and found[1].tzinfo is not None
    # the copy stands alone (rollback journal, no -wal beside it) and holds the same ledger
    copy = sqlite3.connect(report.path)
    assert copy.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    assert copy.execute("SELECT SUM(points) FROM ledger").fetchone()[0] == 35
    copy.close()


def test_keeps_last_k_and_copies_are_best_effort(till, tmp_path):
    usb = tmp_path / "usb"
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("x")
    config = from_mapping({**till.config.raw, "backup": {"keep": 2, "copy_to": [str(usb), str(not_a_dir / "sub")]}})
    reports = [back_up(till.conn, till.home, config) for _ in range(3)]
    kept = sorted(p.name for p in (till.home / "backups").glob("till-*.db"))
    assert kept == sorted(r.path.name for r in reports[1:])
    first = reports[0].path.name
    assert reports[2].removed == [first, str(usb / first)]
    assert sorted(p.name for p in usb.glob("till-*.db")) == kept
    assert _mode(usb / reports[2].path.name) == 0o600 and _mode(usb) == 0o700
    assert len(reports[2].copy_errors) == 1 and str(not_a_dir) in reports[2].copy_errors[0]
    assert not list(usb.glob(".*tmp"))  # never half a file at the destination


def test_verify_refuses_a_damaged_file_and_a_broken_ledger(till, tmp_path):
    good = back_up(till.conn, till.home, till.config).path
    broken = tmp_path / "broken.db"
    broken.write_bytes(good.read_bytes())
    conn = sqlite3.connect(broken)
    conn.execute("UPDATE balances SET points = points + 1")  # balances are not trigger-protected
    conn.commit()
    conn.close()
    with pytest.raises(BackupError, match="differ from the sum"):
        verify(broken)
    garbage = tmp_path / "garbage.db"
    data = bytearray(good.read_bytes())
    data[100:8192] = b"\xff" * (8192 - 100)
    garbage.write_bytes(bytes(data))
    with pytest.raises(BackupError):
        verify(garbage)


def test_cli_backup_to_a_directory(till, tmp_path, capsys):
    code, out = _cli(capsys, "backup", "--home", str(till.home), "--to", str(tmp_path / "elsewhere"))
    assert code == 0
    assert out["entries"] == 2 and out["path"].startswith(str(tmp_path / "elsewhere"))
    assert out["copy_errors"] == []


# --- restoring ------------------------------------------------------------------------------------

def test_restore_refuses_a_newer_ledger_unless_forced_and_keeps_the_replaced_file(till, capsys):
    backup = back_up(till.conn, till.home, till.config).path
    sell(till, 1, 4000)  # the till now holds more than the backup
    till.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    code, out = _cli(capsys, "restore", str(backup), "--home", str(till.home))
    assert code == 3 and "newer than this backup" in out["error"]
    assert till.conn.execute("SELECT COUNT(*) FROM ledger").fetchone()[0] == 3  # nothing touched
    till.close()
    code, out = _cli(capsys, "restore", str(backup), "--home", str(till.home), "--force")
    assert code == 0, out
    assert out["recovery_pending"] is False  # not registered: nothing to fetch back
    kept = out["replaced_kept_as"]
    assert kept and _mode(db_path(till.home)) == 0o600
    assert sqlite3.connect(kept).execute("SELECT COUNT(*) FROM ledger").fetchone()[0] == 3
    ctx = open_till(till.home)
    try:
        assert ctx.conn.execute("SELECT COUNT(*), SUM(points) FROM ledger").fetchone()[:] == (2, 35)
        sell(ctx, 1, 500)  # an unregistered till sells on at once
    finally:
        ctx.close()


def test_restore_of_a_missing_or_bad_file(till, tmp_path, capsys):
    code, out = _cli(capsys, "restore", str(tmp_path / "nope.db"), "--home", str(till.home))
    assert code == 4
    bad = tmp_path / "bad.db"
    bad.write_bytes(b"not a database at all" * 100)
    code, out = _cli(capsys, "restore", str(bad), "--home", str(till.home))
    assert code == 1 and "bad.db" in out["error"]
    assert till.conn.execute("SELECT COUNT(*) FROM ledger").fetchone()[0] == 2


def test_restored_registered_till_gives_no_points_until_it_has_synced(till, capsys):
    with refusing_port() as port:  # nothing listens there: head office is down
        write_config(till.home, {"headoffice": {"url": f"http://127.0.0.1:{port}"}})
        sync_state.put(till.conn, **{sync_state.TOKEN: "secret-token"})  # kept in <home>/secrets/token
        backup = back_up(till.conn, till.home, till.config).path
        till.close()
        code, out = _cli(capsys, "restore", str(backup), "--home", str(till.home), "--timeout", "2")
    assert code == 1 and out["recovery_pending"] is True and "unreachable" in out["sync_error"]
    ctx = open_till(till.home)
    try:
        with pytest.raises(RefusedInput, match="restored from a backup"):
            sell(ctx, 1, 700)
        assert ctx.conn.execute("SELECT COUNT(*) FROM ledger").fetchone()[0] == 2
    finally:
        ctx.close()


# --- migrations --------------------------------------------------------------------------------------

def _partly_migrated(path, upto: int) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("CREATE TABLE schema_migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
    for name in migration_names()[:upto]:
        importlib.import_module(f"pos_client.store.migrations.{name}").apply(conn)
        conn.execute("INSERT INTO schema_migrations VALUES (?, 'then')", (name,))
    conn.close()


def test_pending_migrations_run_after_a_backup_named_for_the_version(tmp_path):
    path = tmp_path / "till.db"
    _partly_migrated(path, 2)
    conn = connect(path)
    conn.close()
    old = migration_names()[1]
    backups = list((tmp_path / "backups").glob(f"pre-migration-{old}-*.db"))
    assert len(backups) == 1 and _mode(backups[0]) == 0o600
    copy = sqlite3.connect(backups[0])
    assert {r[0] for r in copy.execute("SELECT name FROM schema_migrations")} == set(migration_names()[:2])
    copy.close()
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    connect(fresh / "till.db").close()
    assert not (fresh / "backups").exists()  # a new empty database needs no backup


def test_a_failing_migration_rolls_every_pending_one_back(tmp_path):
    path = tmp_path / "till.db"
    names = migration_names()
    core = names.index("m0001_core")
    _partly_migrated(path, core + 1)
    raw = sqlite3.connect(path)
    raw.execute("CREATE TABLE sync_state (key TEXT PRIMARY KEY, value TEXT)")  # m0200 will fail on it
    raw.commit()
    raw.close()
    with pytest.raises(sqlite3.OperationalError, match="sync_state"):
        connect(path)
    raw = sqlite3.connect(path)
    assert [r[0] for r in raw.execute("SELECT name FROM schema_migrations ORDER BY name")] == names[:core + 1]
    tables = {r[0] for r in raw.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert "print_jobs" not in tables  # m0100 ran before m0200 failed, and was rolled back with it
    raw.close()


def test_a_database_from_a_newer_version_is_refused(till, capsys):
    till.conn.execute("INSERT INTO schema_migrations VALUES ('m9999_from_the_future', 'later')")
    with pytest.raises(SchemaTooNew, match="m9999_from_the_future"):
        connect(db_path(till.home))
    code, out = _cli(capsys, "balance", "2900000000018", "--home", str(till.home))
    assert code == 2
    assert "newer version" in out["error"] and migration_names()[-1] in out["error"]


# --- the scheduler ------------------------------------------------------------------------------------

def test_scheduler_backs_up_every_n_minutes_and_after_closing(till):
    said: list[str] = []
    now = [datetime(2026, 3, 2, 10, 0, tzinfo=UTC)]
    sched = BackupScheduler(lambda: till, every_minutes=60, closing=time(21, 0), status=said.append,
                            clock=lambda: now[0])
    sched.run_once(till)  # none yet
    assert sched.done == 1 and said[-1].startswith("last backup ")
    sched.run_once(till)
    assert sched.done == 1  # the backup just made is recent (its name holds the real time)
    last = latest_backup(till.home, till.config)
    assert last is not None
    now[0] = last[1] + timedelta(minutes=61)
    sched.run_once(till)
    assert sched.done == 2 and said[-1] == f"last backup {latest_backup(till.home, till.config)[1]:%H:%M}"


def test_scheduler_backs_up_once_after_closing(till):
    back_up(till.conn, till.home, till.config)
    last = latest_backup(till.home, till.config)
    assert last is not None
    next_day = last[1].date() + timedelta(days=1)
    now = [datetime.combine(next_day, time(20, 59), UTC)]
    sched = BackupScheduler(lambda: till, every_minutes=0, closing=time(21, 0), clock=lambda: now[0])
    sched.run_once(till)
    assert sched.done == 0  # periodic backups off, the day not closed yet
    now[0] = datetime.combine(next_day, time(21, 0, 30), UTC)
    sched.run_once(till)
    assert sched.done == 1  # the day closed after the last backup
    sched.run_once(till)
    assert sched.done == 1  # once: the closing backup is newer than today's closing time


def test_scheduler_thread_runs_and_stops(till):
    said: list[str] = []
    path = db_path(till.home)
    sched = BackupScheduler(lambda: till.on(connect(path)), every_minutes=60, closing=time(23, 59),
                            tick=0.05, status=said.append).start()
    try:
        assert sched.ran.wait(20)
    finally:
        sched.stop()
    assert sched.error is None and any(s.startswith("last backup") for s in said)


# --- head office ----------------------------------------------------------------------------------------

def test_headoffice_backup_sqlite_and_pg_refusal(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'ho.db'}"
    store = open_store(url)
    store.add_till("S1", "T1")
    store.close()
    assert ho_main(["backup", "--db", url, "--to", str(tmp_path / "hob")]) == 0
    out = json.loads(capsys.readouterr().out)
    written = tmp_path / "hob" / out["path"].rsplit("/", 1)[1]
    assert written.is_file() and _mode(written) == 0o600 and out["entries"] == 0
    assert ho_main(["backup", "--db", "postgresql://ho@localhost/ho", "--to", str(tmp_path / "x")]) == 2
    assert "pg_dump -Fc" in capsys.readouterr().err


def test_headoffice_refuses_a_newer_schema(tmp_path):
    url = f"sqlite:///{tmp_path / 'ho.db'}"
    store = open_store(url)
    store._execute("UPDATE meta SET value = 99 WHERE key = 'schema_version'")
    store.close()
    with pytest.raises(HoSchemaTooNew, match="schema version 99"):
        open_store(url)


class _StatusBar:
    """What the app gives TillDevices: the status bar's parts (set from worker threads)."""

    def __init__(self) -> None:
        self.parts: dict[str, str] = {}

    def set_status(self, part: str, text: str) -> None:
        self.parts[part] = text

    def post_device_event(self, event: object) -> None:
        raise AssertionError(f"no device is configured, yet {event!r} arrived")


def test_the_app_shows_the_last_backup_in_its_status_bar(till):
    bar = _StatusBar()
    devices = TillDevices(till)
    try:
        assert devices.start(bar) == []
        assert devices.backups is not None and devices.backups.ran.wait(20)  # the status is said before `ran`
    finally:
        devices.stop()
    last = latest_backup(till.home, till.config)
    assert last is not None
    assert bar.parts["backup"] == f"last backup {last[1]:%H:%M}"


def test_a_backup_removes_copies_a_dead_process_left_half_made_and_keeps_one_being_written(till):
    """A till killed or closed mid-backup leaves `.till-*.db.tmp` (a database-sized file) behind: the next
    backup removes those untouched for STALE_TMP_S, never a copy another process is still writing."""
    directory = backup_dir(till.home, till.config)
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    dead = directory / ".till-20261201T170916953574Z.db.tmp"
    live = directory / ".till-20261201T171429744450Z.db.tmp"
    dead.write_bytes(b"x" * 4096)
    live.write_bytes(b"y" * 4096)
    old = dead.stat().st_mtime - STALE_TMP_S - 5
    os.utime(dead, (old, old))
    report = back_up(till.conn, till.home, till.config)
    assert not dead.exists() and live.exists()
    assert verify(report.path) == report.check
    assert sorted(p.name for p in directory.iterdir()) == sorted([report.path.name, live.name])
