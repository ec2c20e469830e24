"""The background WAL checkpointer: checkpoints happen off the till's connection, nothing is lost."""

from __future__ import annotations

import threading
import time

from pos_client.store import ledger
from pos_client.store.checkpoint import SAFETY_PAGES, Checkpointer, start_checkpointer
from pos_client.store.db import connect, write_txn
from pos_client.store.integrity import stop_writing


def _member(conn, mid: str) -> None:
    with write_txn(conn):
        conn.execute("INSERT INTO members (member_id, store_id, created_at, updated_at) VALUES (?, 'S1', 'x', 'x')",
                     (mid,))
        conn.execute("INSERT INTO balances (member_id, points, updated_at) VALUES (?, 0, 'x')", (mid,))


def _wait(pred, timeout: float = 10.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.02)
    return pred()


def test_idle_checkpoints_move_the_wal_into_the_database(tmp_path):
    path = tmp_path / "till.db"
    conn = connect(path)
    cp = start_checkpointer(conn, path, interval=0.02)
    try:
        assert conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == SAFETY_PAGES
        _member(conn, "m1")
        for _ in range(30):
            ledger.append(conn, "S1", "T1", [ledger.Entry(member_id="m1", kind="earn", points=5)])
        assert _wait(lambda: cp.checkpoints > 0)
    finally:
        cp.stop()
    assert cp.error is None and cp.frames > 0
    # everything committed is in the main file: a fresh checkpoint finds nothing left to copy
    busy, log, done = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    assert busy == 0 and log == done
    assert ledger.balance(conn, "m1") == ledger.ledger_sum(conn, "m1") == 150
    conn.close()
    reopened = connect(path)
    assert ledger.balance(reopened, "m1") == 150


def test_stop_is_prompt_and_idempotent(tmp_path):
    path = tmp_path / "till.db"
    conn = connect(path)
    cp = Checkpointer(path, interval=5.0).start()
    t0 = time.monotonic()
    cp.stop()
    cp.stop()
    assert time.monotonic() - t0 < 2
    with Checkpointer(path, interval=0.01) as cp2:
        _member(conn, "m2")
    assert cp2.error is None
    conn.close()


def _wal_restarts(path) -> int:
    """The WAL header's checkpoint sequence number: it goes up by one each time the WAL is started again."""
    return int.from_bytes(path.with_name(path.name + "-wal").read_bytes()[12:16], "big")


def test_the_checkpointer_starts_the_next_wal_so_the_next_sale_does_not(tmp_path):
    """A WAL restart costs its writer a second fsync (the new header): after a checkpoint that copied the whole
    WAL, the checkpointer restarts it itself, and the next sale appends after it."""
    path = tmp_path / "till.db"
    conn = connect(path)
    _member(conn, "m1")
    for _ in range(10):
        ledger.append(conn, "S1", "T1", [ledger.Entry(member_id="m1", kind="earn", points=5)])
    cp = Checkpointer(path)
    own = cp.connection()
    before = _wal_restarts(path)
    assert cp.checkpoint_once(own) > 0
    assert cp.restarts == 1 and cp.restart_error is None
    assert _wal_restarts(path) == before + 1
    ledger.append(conn, "S1", "T1", [ledger.Entry(member_id="m1", kind="earn", points=5)])
    assert _wal_restarts(path) == before + 1  # the sale did not start the WAL again: no header fsync on it
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 0
    assert ledger.balance(conn, "m1") == ledger.ledger_sum(conn, "m1") == 55
    own.close()
    conn.close()


def test_the_restart_never_waits_for_a_sale_nor_writes_a_damaged_database(tmp_path):
    path = tmp_path / "till.db"
    conn = connect(path)
    _member(conn, "m1")
    cp = Checkpointer(path)
    own = cp.connection()
    with write_txn(conn):  # a sale holds the write lock: no wait, no error, the sale restarts the WAL itself
        t0 = time.monotonic()
        assert cp.restart_wal(own) is False
        assert time.monotonic() - t0 < 0.5
    assert cp.restart_error is None
    stop_writing(path, "test damage", "restore")
    assert cp.restart_wal(own) is False
    own.close()
    conn.close()


def _rchar() -> int:
    """Bytes this process read through read() so far (Linux): a page SQLite had to fetch again counts here."""
    with open("/proc/self/io", encoding="ascii") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith("rchar:"))


def _read_again(conn) -> int:
    t0 = _rchar()
    assert conn.execute("SELECT COUNT(*), SUM(points) FROM ledger").fetchone()[0] >= 200
    return _rchar() - t0


def _till_with_entries(path):
    conn = connect(path)
    _member(conn, "m1")
    with write_txn(conn):
        ledger.append(conn, "S1", "T1", [ledger.Entry(member_id="m1", kind="earn", points=5)] * 200)
    _read_again(conn)  # the ledger's pages are in the connection's cache now
    return conn


def test_the_wal_restarts_through_the_till_connection_which_keeps_its_page_cache(tmp_path):
    """Issue 15: a WAL header written by another connection made the till's connection drop its whole page cache,
    so the first sale after each pause read every page again (the bench's p99). Restarted through the till's own
    connection (between sales, under its write lock), the cache stays: reading the ledger again reads nothing."""
    path = tmp_path / "till.db"
    conn = _till_with_entries(path)
    cp = Checkpointer(path)
    cp.attach(conn)
    own = cp.connection()
    before = _wal_restarts(path)
    assert cp.checkpoint_once(own) > 0 and cp.restarts == 1 and cp.restart_error is None
    assert _wal_restarts(path) == before + 1
    assert _read_again(conn) < 4096
    assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == 5000  # put back as it was
    ledger.append(conn, "S1", "T1", [ledger.Entry(member_id="m1", kind="earn", points=5)])
    assert _wal_restarts(path) == before + 1  # the next sale appends: one fsync
    # what the till connection saw before: a restart by another connection costs it the cache
    other = Checkpointer(path)
    assert other.checkpoint_once(own) > 0 and other.restarts == 1
    assert _read_again(conn) >= 4096
    own.close()
    conn.close()


def test_a_restart_through_the_till_connection_never_lands_in_a_sale_and_never_repeats_while_idle(tmp_path):
    path = tmp_path / "till.db"
    conn = _till_with_entries(path)
    cp = Checkpointer(path, interval=0.02)
    cp.attach(conn)
    own = cp.connection()
    ready, release = threading.Event(), threading.Event()

    def sale() -> None:  # another thread's sale on the same connection holds its write lock
        with write_txn(conn):
            ledger.append(conn, "S1", "T1", [ledger.Entry(member_id="m1", kind="earn", points=5)])
            ready.set()
            release.wait(10)

    seller = threading.Thread(target=sale)
    seller.start()
    assert ready.wait(10)
    t0 = time.monotonic()
    assert cp.restart_wal(own) is False  # not inside the sale, and no wait for it
    assert time.monotonic() - t0 < 0.5
    release.set()
    seller.join(10)
    assert ledger.balance(conn, "m1") == ledger.ledger_sum(conn, "m1") == 1005
    with cp:
        assert _wait(lambda: cp.restarts >= 1)
        time.sleep(0.3)  # idle polls: the restart's own write is not taken for a sale's
        assert cp.restarts == 1
    assert cp.error is None and cp.restart_error is None
    own.close()
    conn.close()
