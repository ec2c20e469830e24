"""`Db.rows_in` finds exactly the rows of the keys it is given, whatever they hold: on PostgreSQL string keys go
as one text[] literal written by head office (quotes and backslashes escaped), not psycopg's list dump."""

from __future__ import annotations

KEYS = ["m1", 'a"b', "c\\d", "e,f", "{g}", " h ", "", "NULL", "ü€", 'x\\"y', '"', "\\"]


def test_rows_in_finds_each_string_key_and_nothing_else(store):
    db = store.db
    with db.write():
        db.executemany("INSERT INTO balances (member_id, points, updated_at) VALUES (?, ?, ?)",
                       [(k, i, "t") for i, k in enumerate([*KEYS, "other"])])
    got = {r[0]: int(r[1]) for r in db.rows_in("SELECT member_id, points FROM balances WHERE member_id IN ({marks})",
                                               KEYS)}
    assert got == {k: i for i, k in enumerate(KEYS)}
    assert db.rows_in("SELECT member_id FROM balances WHERE member_id IN ({marks})", ["zz", 'a"']) == []
    assert sorted(r[0] for r in db.rows_in("SELECT points FROM balances WHERE points IN ({marks})", [1, 2])) == [1, 2]
