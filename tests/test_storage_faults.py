"""Issue 11, finding 8: storage faults through the real CLI (`python -m pos_client` in a subprocess) and the
app: a one-paragraph message, exit 5 (4 for a home that is no till), no traceback on stderr, the traceback
in the till's JSON log, and nothing half-recorded.

A read-only file is no fault for root (this runs as root in CI), so the read-only case is a real read-only
filesystem: a small tmpfs remounted `ro`; the full disk is a small tmpfs filled up. Both skip where `mount`
is not allowed; the file-size limit is `RLIMIT_FSIZE` in the child.
"""

from __future__ import annotations

import json
import os
import resource
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from textual.widgets import Static

from cardread.barcode import with_check_digit
from pos_client.app.storage_banner import FaultApp, StoppedBanner
from pos_client.app.widgets import MessageLine
from pos_client.domain.errors import StoppedWriting
from pos_client.store import integrity, logsetup
from pos_client.store.home import db_path
from tests.test_app_support import make_app, make_till

ROOT = Path(__file__).resolve().parents[1]
CARD = with_check_digit("290000000001")


def cli(home: Path, *args: str, fsize: int | None = None) -> subprocess.CompletedProcess[str]:
    def limit() -> None:
        if fsize is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))

    return subprocess.run([sys.executable, "-m", "pos_client", "--home", str(home), *args], cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=60,
                          preexec_fn=limit)


def assert_clean_failure(done: subprocess.CompletedProcess[str], code: int, *words: str) -> str:
    """One paragraph on stderr, the documented code, no traceback; returns the message."""
    assert done.returncode == code, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr and "Error:" not in done.stderr.split(":", 1)[0]
    message = done.stderr.strip()
    assert message.startswith("pos-client: ") and "\n" not in message
    for word in words:
        assert word.lower() in message.lower(), message
    return message


def logged_tracebacks(home: Path) -> list[dict]:
    path = logsetup.log_path(home)
    if not path.exists():
        return []
    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [r for r in lines if r.get("traceback")]


def sales(home: Path) -> int:
    conn = sqlite3.connect(f"file:{db_path(home)}?mode=ro&immutable=1", uri=True)
    try:
        return int(conn.execute("SELECT COUNT(*) FROM sales").fetchone()[0])
    finally:
        conn.close()


def new_till(home: Path) -> None:
    assert cli(home, "init").returncode == 0
    assert cli(home, "sale", "--amount", "3.00").returncode == 0


@pytest.fixture
def tmpfs(tmp_path) -> Iterator[Path]:
    """A 4 MB tmpfs of our own (skips where mounting is not allowed)."""
    where = tmp_path / "mnt"
    where.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m,mode=0700", "tmpfs", str(where)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], capture_output=True)


def test_a_malformed_database_is_a_clear_error_with_the_traceback_in_the_log(tmp_path):
    home = tmp_path / "home"
    new_till(home)
    db_path(home).write_bytes(os.urandom(64 * 1024))  # garbage where the database was
    for f in (home / "till.db-wal", home / "till.db-shm"):
        f.unlink(missing_ok=True)
    done = cli(home, "sale", "--amount", "5.00")
    assert_clean_failure(done, 5, "damaged", "nothing was recorded", "pos-client restore")
    logged = logged_tracebacks(home)
    assert logged and "DatabaseError" in logged[-1]["traceback"]
    done = cli(home, "member", "find", "Ada")  # a read fails the same way
    assert_clean_failure(done, 5, "damaged")


def test_a_home_that_is_a_file(tmp_path):
    home = tmp_path / "not-a-dir"
    home.write_text("x")
    assert_clean_failure(cli(home, "init"), 5, "is a file, not a directory")
    assert_clean_failure(cli(home, "sale", "--amount", "1.00"), 4, "no till at")
    assert_clean_failure(cli(home / "below", "init"), 5, "is a file, not a directory")
    assert home.read_text() == "x"


def test_the_file_size_limit_records_nothing(tmp_path):
    home = tmp_path / "home"
    new_till(home)
    done = cli(home, "sale", "--amount", "5.00", fsize=8192)
    assert_clean_failure(done, 5, "nothing was recorded")
    assert "size limit" in done.stderr or "file-size" in done.stderr
    assert sales(home) == 1
    assert cli(home, "sale", "--amount", "5.00").returncode == 0  # the limit gone, the till sells again
    assert sales(home) == 2


def test_a_full_disk_records_nothing_and_the_till_sells_once_space_is_freed(tmpfs):
    home = tmpfs / "home"
    new_till(home)
    filler = tmpfs / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for block in (65536, 512):  # fill the disk to the last block
            try:
                while True:
                    os.write(fd, b"\0" * block)
            except OSError:
                pass
    finally:
        os.close(fd)
    done = cli(home, "sale", "--amount", "5.00", "--json")
    message = assert_clean_failure(done, 5, "nothing was recorded")
    assert "disk is full" in message or "disk may be full" in message
    assert json.loads(done.stdout.strip().splitlines()[-1])["exit_code"] == 5
    filler.unlink()
    assert sales(home) == 1
    assert cli(home, "sale", "--amount", "5.00").returncode == 0
    assert sales(home) == 2


def test_a_read_only_filesystem_records_nothing(tmpfs):
    home = tmpfs / "home"
    new_till(home)
    remount = subprocess.run(["mount", "-o", "remount,ro", str(tmpfs)], capture_output=True, text=True)
    if remount.returncode != 0:
        pytest.skip(f"cannot remount read-only: {remount.stderr.strip()}")
    done = cli(home, "sale", "--amount", "5.00")
    assert_clean_failure(done, 5, "read-only", "nothing was recorded")
    assert sales(home) == 1
    subprocess.run(["mount", "-o", "remount,rw", str(tmpfs)], check=True)
    assert cli(home, "sale", "--amount", "5.00").returncode == 0


async def test_the_app_shows_a_fault_instead_of_crashing():
    message = "the till database is damaged (SQLite: file is not a database); nothing was recorded."
    app = FaultApp(message)
    async with app.run_test(size=(100, 24)) as pilot:
        shown = str(app.screen.query_one("#fault", Static).render())
        assert message in shown and "cannot start" in shown
        await pilot.press("q")
    assert app.return_code == 5


async def test_the_app_shows_the_stopped_writing_banner_and_refuses_the_sale(tmp_path):
    ctx, _member = make_till(tmp_path / "home")
    db = db_path(ctx.home)
    integrity.stop_writing(db, "ledger hash chain broken at entry e1", integrity.advice_text(tmp_path / "b.db"))
    app = make_app(ctx)
    async with app.run_test(size=(100, 30)) as pilot:
        banner = app.screen.query_one(StoppedBanner)
        text = str(banner.render())
        assert "stopped writing" in text and str(tmp_path / "b.db") in text and "pos-client restore" in text
        await pilot.press("f3")
        for key in "12.50":
            await pilot.press(key)
        await pilot.press("enter", "f5")
        await pilot.pause()
        assert ctx.conn.execute("SELECT COUNT(*) FROM sales WHERE created_at > '2026-11-02'").fetchone()[0] == 0
        assert "stopped writing" in app.screen.query_one(MessageLine).text
    assert isinstance(integrity.stopped(db), StoppedWriting)  # still stopped: only a restore lifts it
    ctx.close()
