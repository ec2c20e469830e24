"""A till's first pull: the member directory as of one feed position, part by part (wire/snapshot.py).

Each part (5,000 members, their cards and opening balances) goes in with executemany in ONE transaction
together with where the snapshot stands (`snapshot_after`, `snapshot_floor`), so a cut resumes at the next
part and never applies one twice. The outbox's triggers are off inside each part, and the secondary indexes
of members and cards from the first part to the last (made again, sorted, at the end: `_indexes_off`). After
the last part the till pulls the feed from 0 with the floor (`sync.engine.pull_all`): nothing lost (what changed
after the floor comes from the feed) nor counted twice (entries up to it are in the opening balances,
`opening_balances`, and never sent). A part that fails on the way (a reset
connection, a head office busy) is asked for again with backoff before the round gives up. Part n+1 is fetched
(on one helper thread) while part n is applied: head office's reads and the transfer overlap the till's writes.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

from tenacity import retry, retry_if_exception_type, stop_after_attempt, wait_exponential

from pos_client.store import sync_state as state
from pos_client.store.context import TillContext
from pos_client.store.db import now_iso, write_txn
from sync.client import HeadOfficeClient, Offline
from wire.snapshot import PART, SnapshotPart

AFTER, FLOOR, DONE, TOTAL, COUNT = ("snapshot_after", "snapshot_floor", "snapshot_done", "snapshot_total",
                                    "snapshot_count")
INDEXES = "snapshot_indexes"  # the SQL of the secondary indexes the first part dropped, made again by the last
WHAT = "members (first pull)"  # what the progress line says is being pulled

_MEMBER = ("INSERT INTO members (member_id, store_id, name, phone, email, status, merged_into, created_at,"
           " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(member_id) DO UPDATE SET name = excluded.name,"
           " phone = excluded.phone, email = excluded.email, store_id = excluded.store_id, status = excluded.status,"
           " merged_into = excluded.merged_into, created_at = excluded.created_at, updated_at = excluded.updated_at")
_BALANCE = ("INSERT INTO balances (member_id, points, updated_at) VALUES (?, ?, ?)"  # a local member: plus its own
            " ON CONFLICT(member_id) DO UPDATE SET points = balances.points + excluded.points")
_CARD = ("INSERT INTO cards (card_number, member_id, source, status, replaced_by, created_at, updated_at)"
         " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(card_number) DO UPDATE SET member_id = excluded.member_id,"
         " status = CASE WHEN 'blocked' IN (cards.status, excluded.status) THEN 'blocked'"  # states only move on
         " WHEN 'lost' IN (cards.status, excluded.status) THEN 'lost' ELSE excluded.status END,"
         " replaced_by = COALESCE(excluded.replaced_by, cards.replaced_by), updated_at = excluded.updated_at")

# the outbox's triggers on the tables a part fills: each would run its WHEN subquery per row only to find
# `sync_apply.applying` set (a part is no local change): 40% of a part's inserts at 100,000 members
_OUTBOX_TRIGGERS = ("sync_members_ins", "sync_members_upd", "sync_consent_ins", "sync_consent_upd", "sync_cards_ins",
                    "sync_cards_upd")

Ticker = Callable[[int, int], None]  # (members applied so far, members in the directory)


def wanted(conn: sqlite3.Connection) -> bool:
    """A till that never pulled (or stopped in the middle of its snapshot) takes the snapshot."""
    return state.get_int(conn, state.CURSOR) == 0 and not state.get_int(conn, DONE)


def floor(conn: sqlite3.Connection) -> int:
    """The snapshot's feed position (0 without one): the feed is asked to leave out what it covered."""
    return state.get_int(conn, FLOOR) if state.get_int(conn, DONE) else 0


def pull_snapshot(ctx: TillContext, client: HeadOfficeClient, *, limit: int = PART,
                  tick: Ticker | None = None, attempts: int = 5) -> int:
    """Apply every part from where the last one applied left off; returns the members applied in this call.
    A part is asked for up to `attempts` times (backoff 0.5 s doubling to 8 s) while head office is `Offline`."""
    conn = ctx.conn
    fetch = retry(retry=retry_if_exception_type(Offline), stop=stop_after_attempt(attempts), reraise=True,
                  wait=wait_exponential(multiplier=0.5, max=8))(client.snapshot)
    applied = 0
    if state.get_int(conn, DONE):
        return 0
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="snapshot-ahead") as ahead, bulk(conn):
        part = fetch(state.get(conn, AFTER) or "", state.get_int(conn, FLOOR), limit)
        while True:  # part n+1 is fetched while part n is applied; one fetched ahead of a failure is dropped
            following = ahead.submit(fetch, part.next_after, part.floor, limit) if part.more else None
            apply_part(ctx, part)
            applied += len(part.members)
            if tick is not None:
                tick(state.get_int(conn, COUNT), state.get_int(conn, TOTAL))
            if following is None:
                return applied
            part = following.result()


def apply_part(ctx: TillContext, part: SnapshotPart) -> None:
    """One part and where the snapshot stands, in one transaction (see the module)."""
    conn = ctx.conn
    ts = now_iso()
    with write_txn(conn), _outbox_triggers_off(conn):
        conn.execute("UPDATE sync_apply SET applying = 1")
        conn.execute("PRAGMA defer_foreign_keys = ON")  # a member merged into one later in the part
        if part.more and not state.get_int(conn, COUNT) and state.get(conn, INDEXES) is None:
            _indexes_off(conn)
        pending = {(r[0], r[1]) for r in conn.execute(
            "SELECT type, key FROM sync_outbox WHERE type IN ('member', 'card')")}
        ids = {m.member_id for m in part.members}
        conn.executemany("INSERT INTO members (member_id, store_id, status, created_at, updated_at)"
                         " VALUES (?, ?, 'active', ?, ?) ON CONFLICT DO NOTHING",  # filled in by its own part
                         [(m.merged_into, m.store_id, ts, ts) for m in part.members
                          if m.merged_into and m.merged_into not in ids])
        fresh = [m for m in part.members if ('member', m.member_id) not in pending]  # a local change waiting wins
        held = {r[0] for r in conn.execute("SELECT member_id FROM member_consent WHERE member_id >= ?"
                                           " AND member_id <= ?", (part.members[0].member_id,
                                                                   part.members[-1].member_id))} \
            if part.members else set()  # consent to replace: none on a fresh till (no delete per member)
        conn.executemany(_MEMBER, [(m.member_id, m.store_id, m.name, m.phone, m.email, m.status, m.merged_into,
                                    m.created_at, m.updated_at) for m in fresh])
        conn.executemany("DELETE FROM member_consent WHERE member_id = ?", [(m.member_id,) for m in fresh
                                                                             if m.member_id in held])
        consents: dict[str, list[tuple[str, int]]] = {}  # a few distinct texts: each parsed once, not per member
        for m in fresh:
            if m.consent not in consents:
                consents[m.consent] = [(ch, int(bool(g))) for ch, g in json.loads(m.consent).items()]
        conn.executemany("INSERT INTO member_consent (member_id, channel, granted, at) VALUES (?, ?, ?, ?)",
                         [(m.member_id, ch, g, m.updated_at) for m in fresh for ch, g in consents[m.consent]])
        conn.executemany(_BALANCE, [(m.member_id, m.points, ts) for m in part.members])
        conn.executemany("INSERT INTO opening_balances (member_id, points, floor) VALUES (?, ?, ?)",
                         [(m.member_id, m.points, part.floor) for m in part.members if m.points])
        # every card head office holds: the program's published card formats (which a feed page checks cards
        # against) arrive with the feed after the snapshot, and a card left out here would never come again
        conn.executemany(_CARD, sorted((c.card_number, c.member_id, c.source, c.status, c.replaced_by,  # in key order
                                        c.created_at or ts, c.updated_at)
                                       for c in part.cards if ('card', c.card_number) not in pending))
        if not part.more:
            _indexes_back(conn)
        conn.execute("UPDATE sync_apply SET applying = 0")
        total = part.total or state.get_int(conn, TOTAL)
        state.put(conn, **{AFTER: part.next_after, FLOOR: part.floor, TOTAL: total,
                           COUNT: state.get_int(conn, COUNT) + len(part.members), DONE: int(not part.more)})


@contextmanager
def _outbox_triggers_off(conn: sqlite3.Connection) -> Iterator[None]:
    """The outbox's triggers dropped for one part and made again from their own SQL, inside the part's
    transaction (SQLite's DDL is transactional: a failed part rolls the drop back with everything else)."""
    marks = ", ".join("?" * len(_OUTBOX_TRIGGERS))
    saved = [str(r[0]) for r in conn.execute(
        f"SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name IN ({marks})", _OUTBOX_TRIGGERS)]
    for name in _OUTBOX_TRIGGERS:
        conn.execute(f"DROP TRIGGER IF EXISTS {name}")
    yield
    for sql in saved:
        conn.execute(sql)


def _indexes_off(conn: sqlite3.Connection) -> None:
    """Drop the secondary indexes of members and cards for the snapshot (its first part), keeping their SQL:
    each part would otherwise insert a million rows into them in random order (phone, name, member of a
    card); made again sorted, in one pass, by the last part. A till cut in between looks members up by card
    (the primary key) as before, and by phone or name by a scan until its snapshot resumes and ends."""
    rows = conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
                        " AND tbl_name IN ('members', 'cards') ORDER BY name").fetchall()
    state.put(conn, **{INDEXES: json.dumps([str(r[1]) for r in rows])})
    for row in rows:
        conn.execute(f'DROP INDEX "{row[0]}"')


def _indexes_back(conn: sqlite3.Connection) -> None:
    """Make again the indexes `_indexes_off` dropped (the last part's transaction)."""
    saved = state.get(conn, INDEXES)
    if saved is None:
        return
    for sql in json.loads(saved):
        conn.execute(sql)
    conn.execute("DELETE FROM sync_state WHERE key = ?", (INDEXES,))


@contextmanager
def bulk(conn: sqlite3.Connection) -> Iterator[None]:
    """For the snapshot's parts: `synchronous=NORMAL` (WAL: a part's commit is not synced to disk; a power cut
    loses at most the last parts together with where the snapshot stood, so they are fetched again, and never
    damages the file) and a 64 MB page cache; the connection's own settings come back after."""
    sync, cache = (conn.execute(f"PRAGMA {p}").fetchone()[0] for p in ("synchronous", "cache_size"))
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA cache_size = -65536")
    try:
        yield
    finally:
        conn.execute(f"PRAGMA synchronous = {int(sync)}")
        conn.execute(f"PRAGMA cache_size = {int(cache)}")
