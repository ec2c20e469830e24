"""Lookup warm-up: reads the lookup B-trees on its own connection, never in the till's way."""

from __future__ import annotations

from pos_client.store.db import connect
from pos_client.store.warmup import LOOKUP_TABLES, _pk_index, start_warmup, warm_lookup_pages


def test_warms_each_lookup_table_through_its_primary_key_index(tmp_path):
    path = tmp_path / "till.db"
    conn = connect(path)
    assert _pk_index(conn, "cards") == ("sqlite_autoindex_cards_1", "card_number")
    assert _pk_index(conn, "members") == ("sqlite_autoindex_members_1", "member_id")
    assert _pk_index(conn, "schema_migrations")[1] == "name"
    timings = warm_lookup_pages(path)
    assert set(timings) == set(LOOKUP_TABLES) and all(t >= 0 for t in timings.values())


def test_runs_while_the_till_holds_a_write_transaction(tmp_path):
    path = tmp_path / "till.db"
    conn = connect(path)
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("INSERT INTO members (member_id, store_id, created_at, updated_at) VALUES ('m', 'S1', 'x', 'x')")
    thread = start_warmup(path)
    thread.join(timeout=10)
    assert not thread.is_alive()  # a WAL reader neither waits for nor blocks the writer
    conn.execute("COMMIT")
    assert conn.execute("SELECT COUNT(*) FROM members").fetchone()[0] == 1
