"""The background WAL checkpointer: checkpoints happen off the till's connection, nothing is lost."""

from __future__ import annotations

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
