"""The purchase summary merged with new sales (`headoffice.snapshot_summary`) decodes to what
`purchase_table.build_summary` makes from all the sales: over several chunks (a few thousand members), with
sales on a day already held, days before, between and after the held ones, new members before the first id,
between chunks and after the last; and a value the summary cannot encode makes it write nothing."""

from __future__ import annotations

import random
import sqlite3
from datetime import date, timedelta

from headoffice import snapshot_summary
from pos_client.services.marketing import purchase_table
from pos_client.store.db import connect
from tests.sync.test_snapshot_refresh import summary_of

START = date(2025, 1, 1)


def _db() -> sqlite3.Connection:
    conn = connect(":memory:")
    conn.execute("PRAGMA foreign_keys = OFF")  # sales of members the test does not enrol (as in a snapshot)
    return conn


def _add(conn: sqlite3.Connection, rows: list[tuple[str, str | None, int, str]]) -> None:
    conn.executemany("INSERT INTO sales (sale_id, store_id, till_id, member_id, total_cents, content_hash,"
                     " created_at) VALUES (?, 'S1', 'T1', ?, ?, '', ?)", rows)


def _history(rng: random.Random, members: list[str], tag: str, n: int) -> list[tuple[str, str | None, int, str]]:
    out = []
    for k in range(n):
        member = rng.choice(members) if rng.random() < 0.97 else None  # an anonymous sale now and then
        day = START + timedelta(days=rng.randrange(500))
        out.append((f"{tag}{k}", member, rng.choice((0, 99, 1250, 40_000_000_000)),
                    f"{day.isoformat()}T{rng.randrange(24):02d}:00:00Z"))
    return out


def _rebuilt(conn: sqlite3.Connection) -> list[tuple]:
    fresh = _db()
    try:
        _add(fresh, [tuple(r) for r in conn.execute(
            "SELECT sale_id, member_id, total_cents, created_at FROM sales ORDER BY rowid")])
        assert purchase_table.build_summary(fresh)
        return summary_of(fresh)
    finally:
        fresh.close()


def test_merged_summary_equals_a_build_from_all_sales():
    rng = random.Random(7)
    members = [f"m{i:05d}" for i in range(10, 3500, 1)]
    conn = _db()
    _add(conn, _history(rng, members, "a", 20_000))
    assert purchase_table.build_summary(conn)
    assert conn.execute(f"SELECT COUNT(*) FROM {purchase_table.SUMMARY}").fetchone()[0] >= 3
    held = summary_of(conn)
    some = held[5]
    first_day = START + timedelta(days=some[1][0] - (START.toordinal() - date(1970, 1, 1).toordinal()))
    newcomers = ["a-first", "m01500x", "m02100y", "zz-last"]  # before every id, inside chunks, after every id
    for round_ in range(3):
        day = []
        day += _history(rng, members + newcomers, f"d{round_}-", 700)
        day += [(f"n{round_}-{m}", m, 100 + round_, f"2025-0{round_ + 2}-01T12:00:00Z") for m in newcomers]
        day.append((f"same{round_}", some[0], 321, f"{first_day.isoformat()}T23:00:00Z"))  # a day already held
        day.append((f"early{round_}", some[0], 5, "2024-06-01T08:00:00Z"))  # before every day held
        _add(conn, day)
        assert snapshot_summary.merge(conn)
        assert purchase_table.has_summary(conn)
        got = summary_of(conn)
        assert got == _rebuilt(conn), round_
        assert [m for m, _, _ in got] == sorted(m for m, _, _ in got)
    assert {m for m, _, _ in summary_of(conn)} >= set(newcomers)
    conn.close()


def test_a_value_it_cannot_encode_writes_nothing():
    conn = _db()
    _add(conn, [("s1", "m1", 500, "2026-03-01T10:00:00Z"), ("s2", "m2", 700, "2026-03-02T10:00:00Z")])
    assert purchase_table.build_summary(conn)
    before = summary_of(conn)
    _add(conn, [("s3", "m1", 100, "2026-03-03T10:00:00Z"), ("s4", "m3", -5, "2026-03-03T10:00:00Z")])
    text = conn.execute(f"SELECT * FROM {purchase_table.SUMMARY}").fetchall()
    assert not snapshot_summary.merge(conn)  # a negative day's spend: the rebuild drops the summary instead
    assert [tuple(r) for r in conn.execute(f"SELECT * FROM {purchase_table.SUMMARY}")] == [tuple(r) for r in text]
    assert conn.execute(f"SELECT sales_rowid FROM {purchase_table.SUMMARY_META}").fetchone()[0] == 2
    assert before and not purchase_table.has_summary(conn)  # stale, so ignored until the caller rebuilds it
    conn.close()
