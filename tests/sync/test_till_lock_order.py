"""A change to a till's row (revocation, a new enrolment code) takes its locks in the order a push does: the
till's row first, the chain-wide writer lock after. In the other order a revocation and that till's push in
flight deadlocked on PostgreSQL (one side was aborted after deadlock_timeout).

The push's side is played by a second real connection taking exactly the push's two locks in its order (the
till's row by `SELECT ... FOR UPDATE` as `Ingest._high_seq` reads it, then the advisory lock its first
server_seq takes): a real push cannot be paused between them, and the window is what matters here.
"""

from __future__ import annotations

import threading
import time

import pytest

from headoffice.store import open_store


def _wait_for_lock_wait(conn, own_pid: int, within_s: float = 10.0) -> None:
    """Until another backend of this database waits on a lock (the console's change queued behind the push)."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        row = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                           " AND pid <> %s AND wait_event_type = 'Lock'", (own_pid,)).fetchone()
        if row and row[0]:
            return
        time.sleep(0.02)
    raise AssertionError("the console's change never queued behind the push's row lock")


@pytest.mark.parametrize("change", ["revoke", "new_code"])
def test_a_till_change_during_its_push_waits_instead_of_deadlocking(pg_url, change):
    import psycopg

    from headoffice.store.postgres import WRITE_LOCK

    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("DROP SCHEMA IF EXISTS public CASCADE")
        conn.execute("CREATE SCHEMA public")
    store = open_store(pg_url)
    try:
        store.add_till("S1", "T1")
        outcome: dict[str, object] = {}

        def console_change() -> None:
            try:
                if change == "revoke":
                    with store.console.transaction(("S1", "T1")):
                        outcome["result"] = store.console.revoke_till("S1", "T1")
                else:
                    with store.console.transaction(("S1", "T1")):
                        outcome["result"] = store.add_till("S1", "T1")
            except Exception as exc:  # the assertion below names it
                outcome["error"] = exc

        with psycopg.connect(pg_url, autocommit=True) as push:
            push.execute("SET deadlock_timeout = '200ms'")
            pid = push.execute("SELECT pg_backend_pid()").fetchone()[0]
            with push.transaction():
                push.execute("SELECT high_seq FROM tills WHERE store_id = 'S1' AND till_id = 'T1' FOR UPDATE")
                worker = threading.Thread(target=console_change)
                worker.start()
                with psycopg.connect(pg_url, autocommit=True) as watch:
                    _wait_for_lock_wait(watch, pid)
                push.execute("SET LOCAL lock_timeout = '10s'")
                push.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK,))  # the push's first server_seq
                push.execute("UPDATE tills SET high_seq = high_seq + 1 WHERE store_id = 'S1' AND till_id = 'T1'")
            worker.join(20)
        assert not worker.is_alive()
        assert "error" not in outcome, outcome.get("error")
        assert outcome["result"]
        row = store.db.execute("SELECT high_seq, token_hash FROM tills WHERE store_id = ? AND till_id = ?",
                               ("S1", "T1"))[0]
        assert row[0] == 1  # the push's write kept
        assert row[1] is None
    finally:
        store.close()
