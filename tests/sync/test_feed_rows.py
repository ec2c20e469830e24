"""The change feed's rows on both backends: SQLite writes a push's thousand `balance` rows in one statement over
a JSON array (issue 15: ingest rate); whatever the keys hold, every backend keeps each key once, exactly as
given, at the server_seq of its latest change, in the order recorded."""

from __future__ import annotations

from headoffice.store.db import Db
from headoffice.store.feed import ChangeFeed

KEYS = ["m1", "é-ü", "emoji-\U0001f600", 'quote"d', "back\\slash", "new\nline", "tab\tx", "[1]", "m0", "ünï"]


def feed(store, entity: str) -> list[tuple[int, str]]:
    return [(int(s), k) for s, k in store._execute("SELECT server_seq, key FROM feed WHERE entity = ?"
                                                   " ORDER BY server_seq", (entity,))]


def record(store, entity: str, keys: list[str]) -> None:
    with store.db.write():
        ChangeFeed(store.db).record(entity, keys)


def test_each_key_is_kept_exactly_once_at_its_latest_change_in_the_order_recorded(store):
    record(store, "balance", KEYS)
    first = feed(store, "balance")
    assert [k for _, k in first] == KEYS
    assert [s for s, _ in first] == list(range(first[0][0], first[0][0] + len(KEYS)))  # consecutive
    record(store, "balance", ["m0", "m1"])  # moved after everything else, in this order; the rest stays
    again = feed(store, "balance")
    assert [k for _, k in again] == [*(k for k in KEYS if k not in ("m0", "m1")), "m0", "m1"]
    assert again[-2][0] == first[-1][0] + 1 and dict((k, s) for s, k in again)["m0"] < dict(
        (k, s) for s, k in again)["m1"]
    record(store, "card", ["m1"])  # another entity's row of the same key is its own
    assert feed(store, "card") == [(again[-1][0] + 1, "m1")]


def test_the_sqlite_one_statement_form_writes_what_the_statement_per_row_writes(tmp_path):
    from headoffice.store import open_store

    one, per_row = open_store(f"sqlite:///{tmp_path / 'a.db'}"), open_store(f"sqlite:///{tmp_path / 'b.db'}")
    try:
        keys = [*KEYS, "nul\x00inside"]
        for i in range(3):
            with one.db.write():
                one.db.feed_rows("balance", keys[i:], 100 * i)
            with per_row.db.write():
                Db.feed_rows(per_row.db, "balance", keys[i:], 100 * i)
        assert feed(one, "balance") == feed(per_row, "balance")
        assert {k for _, k in feed(one, "balance")} == set(keys)
    finally:
        one.close()
        per_row.close()
