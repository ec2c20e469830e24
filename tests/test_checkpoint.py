"""The background WAL checkpointer: checkpoints happen off the till's connection, nothing is lost."""

from __future__ import annotations

import time

from pos_client.store import ledger
from pos_client.store.checkpoint import SAFETY_PAGES, Checkpointer, start_checkpointer
from pos_client.store.db import connect, write_txn


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
