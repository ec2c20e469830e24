"""What a usual push costs the SQLite store, in statements (issue 15: ingest rate): its entries in one
executemany, its balances in one upsert under a savepoint (no balance read first), their `balance` feed rows in
one statement, whatever the number of entries and members; a regression shows here before it shows in the bench."""

from __future__ import annotations

from records import batch, entry

from headoffice.store import open_store
from wire.bounds import BALANCE, POINTS


def traced_push(tmp_path, entries: list[dict], before: list[dict] | None = None) -> tuple[object, list[str]]:
    tmp_path.mkdir(parents=True, exist_ok=True)
    store = open_store(f"sqlite:///{tmp_path / 'ho.db'}")
    _, who = store.register(store.add_till("S1", "T1"))
    if before:
        store.ingest(who, batch("S1", "T1", entries=before))
    seen: list[str] = []
    store.db._conn.set_trace_callback(seen.append)
    try:
        result = store.ingest(who, batch("S1", "T1", entries=entries))
    finally:
        store.db._conn.set_trace_callback(None)
        store.close()
    return result, seen


def test_a_usual_push_is_a_few_statements_whatever_its_size(tmp_path):
    counts = []
    for n, members in ((50, 10), (600, 300)):
        r, seen = traced_push(tmp_path / str(n), [entry("S1", "T1", s, f"m{s % members}", 3) for s in range(1, n + 1)])
        assert (r.accepted, r.rejected, r.high_seq) == (n, [], n)
        assert not [s for s in seen if s.startswith("SELECT") and "FROM balances" in s]  # no balance read first
        assert sum(s.startswith("INSERT INTO feed") for s in seen) == 1  # every member's feed row at once
        assert sum(s.startswith("SAVEPOINT") for s in seen) == 1 and not [s for s in seen if s.startswith("ROLLBACK")]
        rows = ("INSERT INTO ledger", "INSERT INTO balances")  # two executemany: traced once a row
        assert [sum(s.startswith(r) for s in seen) for r in rows] == [n, members]
        counts.append(len([s for s in seen if not s.startswith(rows)]))
    assert counts[0] == counts[1]  # the same statements for 50 entries of 10 members as for 600 of 300


def test_a_push_past_the_bounds_is_rolled_back_to_its_savepoint_and_taken_the_careful_way(tmp_path):
    full = [entry("S1", "T1", s, "m1", POINTS.high) for s in range(1, BALANCE.high // POINTS.high + 1)]
    r, seen = traced_push(tmp_path, [entry("S1", "T1", len(full) + 1, "m2", 5),
                                     entry("S1", "T1", len(full) + 2, "m1", 1)], before=full)
    assert (r.accepted, [x["index"] for x in r.rejected]) == (1, [1])
    assert [s for s in seen if s.startswith(("SAVEPOINT", "ROLLBACK TO", "RELEASE"))] == [
        "SAVEPOINT within_bounds", "ROLLBACK TO within_bounds", "RELEASE within_bounds"]
    assert [s for s in seen if s.startswith("SELECT") and "FROM balances" in s]  # then read, the careful way
