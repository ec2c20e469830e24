"""Pull paging: the changes after a till's cursor that it did not write itself, in receive order.

A page merges ledger entries (which carry their own server_seq) with the feed of every other
entity, reads only up to the counter's value at the start (a row still being written is never
skipped), and loads each changed entity's current state with one query per kind.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast

from headoffice.store.base import Principal
from headoffice.store.db import Db, chunks, now_iso
from headoffice.store.feed import ChangeFeed
from headoffice.store.view import entries_filter, feed_filter
from wire.fields import ChangeType
from wire.protocol import LEDGER_COLUMNS, Change, PullPage
from wire.view import View

MAX_LIMIT = 5000
_SNAPPED = " AND NOT (entity IN ('member', 'card', 'balance') AND server_seq <= ?)"  # in the till's snapshot (`floor`)

# Loads the current state of changed entities by key: [(key, data), ...] (a key that is gone is left out).
Loader = Callable[[Sequence[str]], list[tuple[str, dict[str, Any]]]]


class Pull:
    """Reads `ledger` and `feed`; each entity kind's state comes from the loader its aggregate provides."""

    def __init__(self, db: Db, feed: ChangeFeed, loaders: Mapping[str, Loader],
                 record: Callable[[str, str, int, int], None] | None = None) -> None:
        self._db = db
        self._feed = feed
        self._loaders = dict(loaders)
        self._record = record  # (store, till, applied through, sent through): which tills have the program

    def pull(self, principal: Principal, cursor: int, limit: int = 1000, with_total: bool = True,
             floor: int = 0, view: View = "all") -> PullPage:
        """`floor`: the position of a snapshot this till took (wire/snapshot.py), whose entries and members'
        and cards' states it holds: only what changed after it is sent of those, everything else from `cursor`.
        `view` (wire/view.py): `seen` or `store` sends balances, and entries only of the members it names."""
        limit = max(1, min(int(limit), MAX_LIMIT))
        cursor = max(0, int(cursor))
        floor = max(0, int(floor))
        who = (principal.store_id, principal.till_id)
        db = self._db
        with db.read():
            top = self._feed.top()
            cols = ", ".join(LEDGER_COLUMNS)
            seen, seen_params = entries_filter(view, principal)
            kinds = feed_filter(view)
            entries = db.execute(
                f"SELECT server_seq, {cols} FROM ledger WHERE server_seq > ? AND server_seq <= ?"
                f" AND NOT (store_id = ? AND till_id = ?){seen} ORDER BY server_seq LIMIT ?",
                (max(cursor, floor), top, *who, *seen_params, limit))
            # a till's own key is never sent back to it (it has it; nothing else may replace it)
            own_key = f"{who[0]}/{who[1]}"
            feed = db.execute("SELECT server_seq, entity, key FROM feed WHERE server_seq > ? AND server_seq <= ?"
                              f" AND NOT (entity = 'till_key' AND key = ?){_SNAPPED}{kinds} ORDER BY server_seq"
                              " LIMIT ?", (cursor, top, own_key, floor, limit))
            items: list[tuple[int, str, Any]] = [(int(r[0]), "entry", r) for r in entries]
            items += [(int(r[0]), str(r[1]), str(r[2])) for r in feed]
            items.sort(key=lambda x: x[0])
            more = len(items) > limit or len(entries) == limit or len(feed) == limit
            items = items[:limit]
            next_cursor = items[-1][0] if more and items else top
            pending = 0
            if with_total and more:
                pending = int(db.value(
                    "SELECT (SELECT COUNT(*) FROM ledger WHERE server_seq > ? AND server_seq <= ?"
                    f" AND NOT (store_id = ? AND till_id = ?){seen}) + (SELECT COUNT(*) FROM feed WHERE server_seq > ?"
                    f" AND server_seq <= ? AND NOT (entity = 'till_key' AND key = ?){_SNAPPED}{kinds})",
                    (max(cursor, floor), top, *who, *seen_params, cursor, top, own_key, floor)))
            if not more:
                pending = len(items)
            changes = self._resolve(items)
        if self._record is not None and principal.role == "till":
            self._record(principal.store_id, principal.till_id, cursor, max(next_cursor, cursor))
        return PullPage(changes=changes, next_cursor=max(next_cursor, cursor), more=more, total_pending=pending,
                        server_time=now_iso())

    def _resolve(self, items: list[tuple[int, str, Any]]) -> list[Change]:
        """Entries as they are; every other change becomes its entity's current state."""
        wanted: dict[str, list[str]] = {}
        for _, entity, key in items:
            if entity != "entry":
                wanted.setdefault(entity, []).append(key)
        found: dict[tuple[str, str], dict[str, Any]] = {}
        for entity, keys in wanted.items():
            load = self._loaders.get(entity)
            if load is None:
                continue
            for part in chunks(keys):
                for key, data in load(part):
                    found[(entity, key)] = data
        out: list[Change] = []
        for seq, entity, payload in items:
            if entity == "entry":
                out.append(Change(cursor=seq, type="entry", data=dict(zip(LEDGER_COLUMNS, payload[1:], strict=True))))
            elif (entity, payload) in found:  # the feed's entity column holds only change types (feed.py writes it)
                out.append(Change(cursor=seq, type=cast(ChangeType, entity), data=found[(entity, payload)]))
        return out
