"""Applying pulled changes to the till database, one page per short transaction.

- Entries from other tills (and head office's own merge transfers) go into `ledger` with their
  own store, till and seq, and move the balance in the same transaction: the till's balance is
  head office's balance at the last pull plus this till's own unsynced entries.
- A `balance` (a till's view, wire/view.py: instead of the entries of members it does not follow) makes
  the member's balance head office's plus this till's own entries not pushed yet, the difference appended
  to `opening_balances` at the change's cursor: balance = opening + ledger sum still holds.
- Members and cards are upserted; a record with a local change still waiting to be pushed is
  left alone (the local change wins and reaches head office on the next push).
- A merged member keeps its row with status 'merged' and merged_into set; its cards point at the
  survivor and head office's transfer entries move its points, so no balance is edited by hand.
- Card states only move forward (active -> lost -> blocked): a card blocked at head office is
  refused by checkout after the next pull.
- Documents other capabilities handle (till keys, coupon uses, erasures; the till's `extensions.sync_docs`)
  are handed to their handlers at the end of the page, in the same transaction.
- The cursor is saved in the same transaction as the page, so a restart resumes exactly there. A page that
  changes nothing the till holds (its own sale's balance echoed back, an empty page) is rolled back instead,
  unless the caller asks for the cursor (`keep_cursor`): a ROLLBACK writes nothing to the WAL, so the till's own
  connection keeps its page cache (ARCHITECTURE.md, "the till's connections"). Every statement here writes only
  what differs, so "changed nothing" is SQLite's own count of changed rows; re-applying a page is a no-op.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import msgspec

from cardread.barcode import normalise_gtin
from pos_client.services.card_formats import card_formats
from pos_client.store import sync_state as state
from pos_client.store.context import TillContext
from pos_client.store.db import now_iso, write_txn
from pos_client.store.ledger import add_to_balance
from sync import extensions
from sync.client import Refused
from sync.program_rules import apply_rules
from wire.bounds import BALANCE, CENTS, POINTS, SEQ
from wire.errors import Invalid, convert
from wire.fields import Cents, Points, Seq
from wire.messages import Product
from wire.protocol import CARD_RANK, DOC_TYPES, LEDGER_COLUMNS, Change, PullPage


def _pending_keys(conn: sqlite3.Connection, kind: str) -> set[str]:
    return {r[0] for r in conn.execute("SELECT key FROM sync_outbox WHERE type = ?", (kind,))}


def _ready_members(conn: sqlite3.Connection, page: PullPage) -> set[str]:
    """The members this page names that already have a balance row (so, by its foreign key, a member
    row too): one query per 500 instead of two no-op INSERTs per change (first pull of a directory)."""
    wanted = {v for c in page.changes if c.type in ("entry", "member", "card", "balance")
              for v in (c.data.get("member_id"), c.data.get("merged_into")) if v}
    ids = list(wanted)
    ready: set[str] = set()
    for i in range(0, len(ids), 500):
        part = ids[i:i + 500]
        ready.update(r[0] for r in conn.execute(
            f"SELECT member_id FROM balances WHERE member_id IN ({', '.join('?' * len(part))})", part))
    return ready


def _ensure_member(conn: sqlite3.Connection, member_id: str, store_id: str, ts: str,
                   ready: set[str] | None = None) -> None:
    """A placeholder for a member whose record arrives in a later page (filled in when it does);
    nothing to do for a member in `ready` (known to have its member and balance rows)."""
    if ready is not None:
        if member_id in ready:
            return
        ready.add(member_id)
    conn.execute("INSERT INTO members (member_id, store_id, status, created_at, updated_at) VALUES (?, ?, 'active',"
                 " ?, ?) ON CONFLICT DO NOTHING", (member_id, store_id, ts, ts))
    conn.execute("INSERT INTO balances (member_id, points, updated_at) VALUES (?, 0, ?) ON CONFLICT DO NOTHING",
                 (member_id, ts))


class _Unchanged(Exception):
    """Leaves `_applying` to roll back a transaction that changed nothing."""


class _Mark:
    """The changed-row count of an applying transaction since its start, and whether to keep it."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn, self.start, self.discard = conn, conn.total_changes, False

    def changed(self) -> int:
        return self.conn.total_changes - self.start


@contextmanager
def _applying(conn: sqlite3.Connection) -> Iterator[_Mark]:
    """One write transaction with the outbox triggers quiet; rolled back when the body sets `discard` (and it is
    not joined to an outer transaction, which decides for itself)."""
    joined = conn.in_transaction
    try:
        with write_txn(conn):
            conn.execute("UPDATE sync_apply SET applying = 1")
            mark = _Mark(conn)
            yield mark
            if mark.discard and not joined:
                raise _Unchanged
            conn.execute("UPDATE sync_apply SET applying = 0")
    except _Unchanged:
        pass


def apply_page(ctx: TillContext, page: PullPage, *, keep_cursor: bool = True) -> dict[str, int]:
    """Apply one page and move the cursor, all in one transaction. When the page changed nothing the cursor is
    saved only if `keep_cursor` and it moved; otherwise nothing is committed (the caller remembers the cursor)."""
    conn = ctx.conn
    counts = {"entries": 0, "members": 0, "cards": 0, "balances": 0, "rules": 0, "products": 0}
    docs: dict[str, list[dict[str, Any]]] = {}
    rules: list[dict[str, Any]] = []  # checked and applied together (sync.program_rules)
    ts = now_iso()
    with _applying(conn) as mark:
        pending_members = _pending_keys(conn, "member")
        pending_cards = _pending_keys(conn, "card")
        ready = _ready_members(conn, page)
        own = (ctx.store_id, ctx.till_id, state.get_int(conn, state.PUSH_HIGH))
        formats = card_formats(ctx, next((c.data.get("value") for c in page.changes  # a rule in this page wins
                                          if c.type == "rule" and c.data.get("key") == "card_formats"), None))
        for change in page.changes:
            data: dict[str, Any] = change.data
            if change.type == "entry":
                counts["entries"] += _apply_entry(conn, data, ts, ready)
            elif change.type == "balance":
                counts["balances"] += _apply_balance(conn, data, own, change.cursor, ts, ready)
            elif change.type == "member" and data["member_id"] not in pending_members:
                counts["members"] += _apply_member(conn, data, ts, ready)
            elif change.type == "card" and data["card_number"] not in pending_cards:
                if formats.why(str(data["card_number"])) is not None:  # outside the program's formats: not stored
                    continue
                counts["cards"] += _apply_card(conn, data, ts, ready)
            elif change.type == "rule":
                rules.append(data)
            elif change.type == "product":
                counts["products"] += _apply_product(conn, data, ts)
            elif change.type in DOC_TYPES:
                docs.setdefault(change.type, []).append(data)
        counts["rules"] = apply_rules(conn, rules, ts, page.next_cursor)
        if docs:
            _apply_docs(ctx, docs, counts)
        if mark.changed() or (keep_cursor and page.next_cursor != state.get_int(conn, state.CURSOR)):
            state.put(conn, **{state.CURSOR: page.next_cursor})
        else:
            mark.discard = True
    return counts


def _apply_docs(ctx: TillContext, docs: dict[str, list[dict[str, Any]]], counts: dict[str, int]) -> None:
    handlers = extensions.handlers(ctx)
    for kind in [*[k for k in handlers if k in docs], *[k for k in docs if k not in handlers]]:
        if kind not in handlers:
            raise RuntimeError(f"no handler for pulled {kind!r} records: this till cannot apply them")
        counts[kind] = counts.get(kind, 0) + handlers[kind].apply(ctx, docs[kind])


class EntryNumbers(msgspec.Struct):
    """The numbers of a pulled ledger entry, bounded as `LedgerRecord`'s (the rest head office checked when it
    took the entry): converting only these costs a fraction of the whole record's patterns on a first pull."""

    points: Points
    seq: Seq
    amount_cents: Cents = 0


_ENTRY_RANGES = (("points", POINTS), ("seq", SEQ), ("amount_cents", CENTS))  # the fast check: plain ints in range


def _bounded(data: dict[str, Any], cls: type[EntryNumbers] | type[Product], what: str) -> dict[str, Any]:
    """A pulled record's numbers as the wire bounds them (ints, never floats; wire.bounds): a page decoded with
    `data: dict` is not checked field by field, so one out of range fails the page (nothing applied)."""
    try:
        rec = convert(data, cls)
    except Invalid as exc:
        raise Refused(f"head office sent {what} this till cannot store: {exc}") from None
    return {**data, **msgspec.structs.asdict(rec)}


_OPTIONAL = frozenset({"prev_hash", "entry_hash"})  # a head office older than the ledger chain sends neither


def _apply_entry(conn: sqlite3.Connection, data: dict[str, Any], ts: str, ready: set[str] | None = None) -> int:
    if not all(type(data.get(k, 0)) is int and r.low <= data.get(k, 0) <= r.high for k, r in _ENTRY_RANGES):
        data = _bounded(data, EntryNumbers, "a ledger entry")  # 5.0 becomes 5; anything else fails the page
    _ensure_member(conn, data["member_id"], data["store_id"], ts, ready)
    cur = conn.execute(
        f"INSERT INTO ledger ({', '.join(LEDGER_COLUMNS)}) VALUES ({', '.join('?' * len(LEDGER_COLUMNS))})"
        " ON CONFLICT DO NOTHING",
        tuple(data.get(c) if c in _OPTIONAL else data[c] for c in LEDGER_COLUMNS))  # hashes: None from older ones
    if cur.rowcount == 1:
        add_to_balance(conn, data["member_id"], int(data["points"]), ts)
        return 1
    return 0


def _apply_balance(conn: sqlite3.Connection, data: dict[str, Any], own: tuple[str, str, int], cursor: int, ts: str,
                   ready: set[str] | None = None) -> int:
    """Head office's balance plus this till's own entries it does not hold yet (above the pushed seq); the move
    goes to `opening_balances` at `cursor`. 1 when the balance moved."""
    member_id, points = data.get("member_id"), data.get("points")
    if type(member_id) is not str or type(points) is not int or not BALANCE.holds(points):
        raise Refused(f"head office sent a balance this till cannot store: {data!r}")
    _ensure_member(conn, member_id, "unknown", ts, ready)
    store_id, till_id, pushed = own
    row = conn.execute("SELECT (SELECT points FROM balances WHERE member_id = ?), (SELECT COALESCE(SUM(points), 0)"
                       " FROM ledger WHERE member_id = ? AND store_id = ? AND till_id = ? AND seq > ?)",
                       (member_id, member_id, store_id, till_id, pushed)).fetchone()
    move = points + int(row[1]) - int(row[0] or 0)
    if not move:
        return 0
    conn.execute("INSERT INTO opening_balances (member_id, points, floor) VALUES (?, ?, ?)", (member_id, move, cursor))
    add_to_balance(conn, member_id, move, ts)
    return 1


def apply_history(ctx: TillContext, history: list[Change], through: int) -> int:
    """A followed member's entries head office held up to `through` (wire/view.py): already counted in the
    balance the till holds, so each one taken moves the opening balance back by its points, in one
    transaction. Returns the entries taken (those the till held already are left alone)."""
    conn = ctx.conn
    ts = now_iso()
    moved: dict[str, int] = {}
    taken = 0
    with _applying(conn) as mark:
        for change in history:
            if change.type == "entry" and _apply_entry(conn, change.data, ts):
                taken += 1
                moved[change.data["member_id"]] = moved.get(change.data["member_id"], 0) + int(change.data["points"])
        conn.executemany("INSERT INTO opening_balances (member_id, points, floor) VALUES (?, ?, ?)",
                         [(m, -p, through) for m, p in moved.items() if p])
        for member_id, points in moved.items():
            add_to_balance(conn, member_id, -points, ts)  # _apply_entry moved it: the balance stays as it was
        mark.discard = not mark.changed()  # every entry held already: nothing to commit
    return taken


def _apply_member(conn: sqlite3.Connection, m: dict[str, Any], ts: str, ready: set[str] | None = None) -> int:
    """1 when the member or its consent changed (a record equal to the till's writes nothing)."""
    if m.get("merged_into"):
        _ensure_member(conn, m["merged_into"], m["store_id"], ts, ready)
    # one upsert, not a placeholder INSERT then an UPDATE: a first pull writes a million of these
    changed = conn.execute(
        "INSERT INTO members (member_id, name, phone, email, store_id, status, merged_into, created_at,"
        " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(member_id) DO UPDATE SET"
        " name = excluded.name, phone = excluded.phone, email = excluded.email, store_id = excluded.store_id,"
        " status = excluded.status, merged_into = excluded.merged_into, created_at = excluded.created_at,"
        " updated_at = excluded.updated_at WHERE members.name IS NOT excluded.name OR members.phone IS NOT"
        " excluded.phone OR members.email IS NOT excluded.email OR members.store_id IS NOT excluded.store_id"
        " OR members.status IS NOT excluded.status OR members.merged_into IS NOT excluded.merged_into"
        " OR members.created_at IS NOT excluded.created_at OR members.updated_at IS NOT excluded.updated_at",
        (m["member_id"], m.get("name"), m.get("phone"), m.get("email"), m["store_id"],
         m.get("status", "active"), m.get("merged_into"), m["created_at"], m["updated_at"])).rowcount
    if ready is None or m["member_id"] not in ready:  # its balance row (the member row is written above)
        conn.execute("INSERT INTO balances (member_id, points, updated_at) VALUES (?, 0, ?) ON CONFLICT DO NOTHING",
                     (m["member_id"], ts))
        if ready is not None:
            ready.add(m["member_id"])
    consent = {ch: int(bool(g)) for ch, g in (m.get("consent") or {}).items()}
    held = dict(conn.execute("SELECT channel, granted FROM member_consent WHERE member_id = ?", (m["member_id"],)))
    if held == consent:
        return int(changed > 0)
    conn.execute("DELETE FROM member_consent WHERE member_id = ?", (m["member_id"],))
    conn.executemany("INSERT INTO member_consent (member_id, channel, granted, at) VALUES (?, ?, ?, ?)",
                     [(m["member_id"], ch, g, m["updated_at"]) for ch, g in consent.items()])
    return 1


def _apply_card(conn: sqlite3.Connection, c: dict[str, Any], ts: str, ready: set[str] | None = None) -> int:
    """1 when the card is new or changed (a record equal to the till's writes nothing)."""
    _ensure_member(conn, c["member_id"], "unknown", ts, ready)
    if conn.execute("INSERT INTO cards (card_number, member_id, source, status, replaced_by, created_at, updated_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(card_number) DO NOTHING",
                    (c["card_number"], c["member_id"], c["source"], c["status"], c.get("replaced_by"),
                     c.get("created_at") or ts, c["updated_at"])).rowcount == 1:
        return 1  # a new card (a first pull: all of them)
    row = conn.execute("SELECT status FROM cards WHERE card_number = ?", (c["card_number"],)).fetchone()
    status = max(row[0], c["status"], key=lambda s: CARD_RANK.get(s, 0))
    return conn.execute(
        "UPDATE cards SET member_id = ?1, status = ?2, replaced_by = COALESCE(?3, replaced_by), updated_at = ?4"
        " WHERE card_number = ?5 AND (member_id IS NOT ?1 OR status IS NOT ?2 OR replaced_by IS NOT"
        " COALESCE(?3, replaced_by) OR updated_at IS NOT ?4)",
        (c["member_id"], status, c.get("replaced_by"), c["updated_at"], c["card_number"])).rowcount


def _apply_product(conn: sqlite3.Connection, p: dict[str, Any], ts: str) -> int:
    """1 when the product is new or changed (`updated_at` is when this till last saw it change)."""
    p = _bounded(p, Product, "a product")
    return conn.execute(
        "INSERT INTO products (sku, ean, name, category, price_cents, updated_at) VALUES (?,?,?,?,?,?) "
        "ON CONFLICT(sku) DO UPDATE SET ean=excluded.ean, name=excluded.name, category=excluded.category,"
        " price_cents=excluded.price_cents, updated_at=excluded.updated_at WHERE products.ean IS NOT excluded.ean"
        " OR products.name IS NOT excluded.name OR products.category IS NOT excluded.category"
        " OR products.price_cents IS NOT excluded.price_cents",
        (p["sku"], normalise_gtin(p["ean"]) if p.get("ean") else None, p["name"], p["category"],
         int(p["price_cents"]), ts)).rowcount
