"""Pushing what this till wrote: its own ledger entries above the confirmed high-water seq, and the
members, cards and sales its outbox names. Reads happen outside any write transaction and the
network call holds no lock, so a sale at the till never waits for head office.

Exactly-once: head office is idempotent by entry UUID and sale id, so a batch whose answer was
lost (dropped connection, SIGKILL) is simply sent again; the high-water seq only moves to what
head office says it holds.
"""

from __future__ import annotations

import json
import queue
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec

from pos_client.store import sync_state as state
from pos_client.store.context import TillContext
from pos_client.store.db import write_txn
from sync import extensions
from sync.client import HeadOfficeClient, SyncError
from wire.batches import PushResult, encode
from wire.protocol import LEDGER_COLUMNS, PushBatch, RejectedRecord, doc
from wire.records import LedgerRow

SENT = "doc_sent:"  # sync_state prefix: the announced document head office confirmed holding

ENTRY_BATCH = 2000
OUTBOX_BATCH = 500
_SEQ = LEDGER_COLUMNS.index("seq")


@dataclass
class PushReport:
    batches: int = 0
    entries: int = 0
    duplicates: int = 0
    sales: int = 0
    members: int = 0
    cards: int = 0
    docs: int = 0
    rejected: list[RejectedRecord] = field(default_factory=list)
    high_seq: int = 0
    server_time: str | None = None
    # changes this till's token may not make alone, kept at head office as requests (push answered 202)
    sent_for_approval: list[dict[str, str]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"batches": self.batches, "entries": self.entries, "duplicates": self.duplicates,
                "sales": self.sales, "members": self.members, "cards": self.cards, "docs": self.docs,
                "rejected": self.rejected, "high_seq": self.high_seq, "sent_for_approval": self.sent_for_approval}


def _member_record(conn: sqlite3.Connection, member_id: str) -> dict[str, Any] | None:
    row = conn.execute("SELECT * FROM members WHERE member_id = ?", (member_id,)).fetchone()
    if row is None:
        return None
    consent = {r[0]: bool(r[1]) for r in conn.execute(
        "SELECT channel, granted FROM member_consent WHERE member_id = ?", (member_id,))}
    return {"member_id": row["member_id"], "store_id": row["store_id"], "name": row["name"], "phone": row["phone"],
            "email": row["email"], "status": row["status"], "merged_into": row["merged_into"],
            "created_at": row["created_at"], "updated_at": row["updated_at"], "consent": consent}


def _card_record(conn: sqlite3.Connection, number: str) -> dict[str, Any] | None:
    row = conn.execute("SELECT * FROM cards WHERE card_number = ?", (number,)).fetchone()
    if row is None:
        return None
    return {"card_number": row["card_number"], "member_id": row["member_id"], "source": row["source"],
            "status": row["status"], "replaced_by": row["replaced_by"], "created_at": row["created_at"],
            "updated_at": row["updated_at"]}


def _sale_record(conn: sqlite3.Connection, sale_id: str) -> dict[str, Any] | None:
    row = conn.execute("SELECT * FROM sales WHERE sale_id = ?", (sale_id,)).fetchone()
    if row is None:
        return None
    lines = [{"line_no": r["line_no"], "sku": r["sku"], "ean": r["ean"], "name": r["name"],
              "category": r["category"], "qty": r["qty"], "unit_cents": r["unit_cents"],
              "amount_cents": r["amount_cents"], "points": r["points"]}
             for r in conn.execute("SELECT * FROM sale_lines WHERE sale_id = ? ORDER BY line_no", (sale_id,))]
    return {"sale_id": row["sale_id"], "store_id": row["store_id"], "till_id": row["till_id"],
            "member_id": row["member_id"], "total_cents": row["total_cents"], "tender": row["tender"],
            "points_earned": row["points_earned"], "operator": row["operator"], "created_at": row["created_at"],
            "lines": lines}


def _announced(ctx: TillContext) -> list[dict[str, Any]]:
    """Documents a handler announces and head office has not confirmed yet (this till's public key)."""
    out = []
    for h in extensions.handlers(ctx).values():
        if h.announce is None:
            continue
        data = h.announce(ctx)
        if data is None:
            continue
        wire = doc(h.type, data)
        if state.get(ctx.conn, SENT + h.type) != _fingerprint(wire):
            out.append(wire)
    return out


def _is_announced(ctx: TillContext, kind: str) -> bool:
    handler = extensions.handlers(ctx).get(kind)
    return handler is not None and handler.announce is not None


def _fingerprint(wire: dict[str, Any]) -> str:
    return json.dumps(wire, sort_keys=True)


@dataclass(frozen=True)
class Marks:
    """How far a collected batch reaches: the last outbox row and the last sale rowid it covers."""

    outbox_id: int
    sale_rowid: int


def collect(ctx: TillContext, *, entry_limit: int = ENTRY_BATCH, outbox_limit: int = OUTBOX_BATCH,
            announce: bool = False, after: tuple[int, Marks] | None = None, as_rows: bool = False
            ) -> tuple[dict[str, Any], Marks, int]:
    """The next batch to push as a wire dict, how far it reaches (Marks), and its highest seq.

    Own ledger entries and own sales are insert-only and go by cursor; members, cards and
    documents change in place and go through the outbox.

    Outbox rows of document types (coupon uses, erasures) are built by their registered handlers;
    with `announce`, documents head office has not confirmed are added (the till's public key).
    `after` = (seq, marks) of a batch still in flight: collect the one that follows it. `as_rows`: entries
    as `LedgerRow`s, which encode to the same objects as the dicts without building one per entry (the push).
    """
    conn, store_id, till_id = ctx.conn, ctx.store_id, ctx.till_id
    high = after[0] if after else state.get_int(conn, state.PUSH_HIGH)
    outbox_from = after[1].outbox_id if after else 0
    cols = ", ".join(LEDGER_COLUMNS)
    plain = conn.cursor()
    plain.row_factory = None  # plain tuples: sqlite3.Row objects cost as much again to fetch as the rows
    found = plain.execute(f"SELECT {cols} FROM ledger WHERE store_id = ? AND till_id = ? AND seq > ? ORDER BY seq"
                          " LIMIT ?", (store_id, till_id, high, entry_limit)).fetchall()
    entries: list[Any] = ([LedgerRow(*r) for r in found] if as_rows
                          else [dict(zip(LEDGER_COLUMNS, r, strict=True)) for r in found])
    rows = conn.execute("SELECT id, type, key FROM sync_outbox WHERE id > ? ORDER BY id LIMIT ?",
                        (outbox_from, outbox_limit)).fetchall()
    last_id = rows[-1][0] if rows else outbox_from
    builders: dict[str, Callable[[sqlite3.Connection, str], dict[str, Any] | None]] = {
        "member": _member_record, "card": _card_record, "sale": _sale_record}
    parts: dict[str, dict[str, dict[str, Any]]] = {"member": {}, "card": {}, "sale": {}}
    docs: dict[tuple[str, str], dict[str, Any]] = {}
    doc_rows = [(kind, key) for _, kind, key in rows if kind not in builders]
    if doc_rows or announce:
        handlers = extensions.handlers(ctx)
        for kind, key in doc_rows:
            if kind in handlers and (kind, key) not in docs:
                data = handlers[kind].build(ctx, key)
                if data is not None:
                    docs[(kind, key)] = doc(kind, data)
        if announce:
            for wire in _announced(ctx):
                docs[(wire["type"], wire["key"])] = wire
    for _, kind, key in rows:
        if kind in builders and key not in parts[kind]:
            record = builders[kind](conn, key)
            if record is not None:
                parts[kind][key] = record
    sale_mark = after[1].sale_rowid if after else state.get_int(conn, state.PUSH_SALE)
    for rowid, sale_id in conn.execute("SELECT rowid, sale_id FROM sales WHERE rowid > ? ORDER BY rowid LIMIT ?",
                                       (sale_mark, outbox_limit)).fetchall():
        sale_mark = rowid
        if sale_id not in parts["sale"] and (record := _sale_record(conn, sale_id)) is not None:
            parts["sale"][sale_id] = record
    body = {"version": 1, "store_id": store_id, "till_id": till_id, "entries": entries,
            "members": list(parts["member"].values()), "cards": list(parts["card"].values()),
            "sales": list(parts["sale"].values()), "docs": list(docs.values())}
    return body, Marks(last_id, sale_mark), found[-1][_SEQ] if found else high


@dataclass(frozen=True)
class _Batch:
    """A collected batch, encoded: what it carries, how far it reaches, and the outbox id it follows."""

    body: dict[str, Any]
    marks: Marks
    top_seq: int
    outbox_from: int
    encoded: msgspec.Raw

    @property
    def empty(self) -> bool:
        return not (any(self.body[k] for k in ("entries", "members", "cards", "sales", "docs"))
                    or self.marks.outbox_id > self.outbox_from)


def _read(ctx: TillContext, entry_limit: int, announce: bool = False, after: _Batch | None = None) -> _Batch:
    """The next batch: from the recorded state, or (`after`) the one following a batch still in flight."""
    body, marks, top_seq = collect(ctx, entry_limit=entry_limit, announce=announce,
                                   after=(after.top_seq, after.marks) if after else None, as_rows=True)
    return _Batch(body, marks, top_seq, after.marks.outbox_id if after else 0, msgspec.Raw(encode(body)))


def _tally(report: PushReport, result: PushResult) -> None:
    report.batches += 1
    report.entries += result.accepted
    report.duplicates += result.duplicates
    report.sales += result.sales
    report.members += result.members
    report.cards += result.cards
    report.docs += result.docs
    report.rejected += result.rejected
    report.sent_for_approval += [{"request_id": p.request_id, "kind": p.kind, "member_id": p.member_id}
                                 for p in result.pending]
    report.server_time = result.server_time


def _lacking(batch: _Batch, result: PushResult) -> list[str]:
    """Document types head office says it lacks that this batch did not carry (the till announces them again)."""
    sent = {w["type"] for w in batch.body["docs"]}
    return [k for k in result.wants if k not in sent]


def _record(ctx: TillContext, batch: _Batch, result: PushResult, again: list[str]) -> None:
    """Head office durably holds `batch`: move the marks past it, in one till transaction."""
    conn = ctx.conn
    with write_txn(conn):
        state.put(conn, **{state.PUSH_HIGH: result.high_seq})
        conn.execute("DELETE FROM sync_outbox WHERE id <= ?", (batch.marks.outbox_id,))
        state.put(conn, **{state.PUSH_SALE: batch.marks.sale_rowid})
        refused = {(r.get("type"), r.get("key")) for r in result.rejected}
        for wire in batch.body["docs"]:
            if _is_announced(ctx, wire["type"]) and ("docs", wire["key"]) not in refused:
                state.put(conn, **{SENT + wire["type"]: _fingerprint(wire)})
        for kind in again:
            state.put(conn, **{SENT + kind: None})
        if result.rejected:
            state.put(conn, **{state.LAST_ERROR: "head office set aside: " + json.dumps(result.rejected)[:400]})


class _Sender:
    """The thread that talks to head office: it sends a batch, hands its answer back, and when the answer
    shows the batch taken whole sends the batch read ahead at once, with no hand-over to the reading
    thread in between (each hand-over is a thread wake-up head office would wait through).

    Batches come with the generation they were read in: after an answer that was not whole the sender
    moves to the next generation and drops the batch read ahead of it; after an error it stops.
    """

    def __init__(self, client: HeadOfficeClient) -> None:
        self._client = client
        self._ahead: queue.Queue[tuple[int, _Batch | None]] = queue.Queue()
        self._stopping = threading.Event()
        self.answers: queue.Queue[tuple[_Batch, PushResult | BaseException, bool]] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="push-send", daemon=True)

    def start(self, first: _Batch) -> _Sender:
        self._ahead.put((0, first))
        self._thread.start()
        return self

    def put(self, generation: int, batch: _Batch | None) -> None:
        """The batch to send after the last one if that was taken whole (None: nothing follows, stop)."""
        self._ahead.put((generation, batch))

    def stop(self) -> None:
        """Send nothing more; wait for the batch in flight (its answer is dropped) and the thread."""
        self._stopping.set()
        self._ahead.put((-1, None))
        self._thread.join()

    def _run(self) -> None:
        generation = 0
        while True:
            got, batch = self._ahead.get()
            if self._stopping.is_set() or (got == generation and batch is None):
                return
            if got != generation or batch is None:
                continue  # read ahead of an answer that was not whole
            try:
                result = self._client.push(batch.encoded)
            except BaseException as exc:  # handed to the reading thread, which raises it
                self.answers.put((batch, exc, False))
                return
            whole = not (result.rejected or result.high_seq != batch.top_seq or _lacking(batch, result))
            generation += not whole
            self.answers.put((batch, result, whole))


def push_pending(ctx: TillContext, client: HeadOfficeClient, *, entry_limit: int = ENTRY_BATCH,
                 on_batch: Callable[[PushReport], None] | None = None) -> PushReport:
    """Push everything waiting, batch after batch; returns counts (the bench measures this call).

    Pipelined so head office never waits on the till: while batch n is in flight batch n+1 is read and
    encoded here, and the sender thread (`_Sender`) sends it as soon as n's answer shows n taken whole,
    before this thread records that answer (the till's fsync then overlaps head office's ingest). An entry
    counts as pushed only once that record commits; a cut in between sends n (and n+1) again, which head
    office counts as duplicates.

    Announced documents go with the first batch of a round, and once more when head office says it
    lacks them (`wants`); one head office refuses (another till's key under this till's name) is not
    confirmed, so it is offered again next round and stays in head office's rejects report.
    """
    report = PushReport(high_seq=state.get_int(ctx.conn, state.PUSH_HIGH))
    asked_again = False
    batch = _read(ctx, entry_limit, announce=True)
    if batch.empty:
        return report
    sender, generation = _Sender(client).start(batch), 0
    try:
        while True:
            ahead: _Batch | None = _read(ctx, entry_limit, after=batch)  # while batch n is in flight
            if ahead is not None and ahead.empty:
                ahead = None
            sender.put(generation, ahead)
            done, result, whole = sender.answers.get()
            if isinstance(result, BaseException):
                raise result
            again = [] if asked_again else _lacking(done, result)  # asked for once per round
            _tally(report, result)
            before = report.high_seq
            _record(ctx, done, result, again)
            report.high_seq = result.high_seq
            if on_batch:
                on_batch(report)
            if done.body["entries"] and result.high_seq < done.top_seq and result.high_seq <= before:
                raise SyncError(f"head office holds this till's entries only up to seq {result.high_seq}"
                                f" (gaps {result.gaps}); will retry")
            if whole:
                if ahead is None:
                    return report  # nothing followed batch n
                batch = ahead  # already sent by the sender
                continue
            # the batch read ahead assumed batch n was taken whole: read again from the recorded state
            generation += 1
            asked_again = asked_again or bool(again)
            batch = _read(ctx, entry_limit, announce=bool(again))
            if batch.empty:
                return report
            sender.put(generation, batch)
    finally:
        sender.stop()


def push_batch_of(records: dict[str, Any]) -> PushBatch:
    """Parse a wire dict into a batch (tests and the bench use it to check what a till sends)."""
    return PushBatch.parse(records)
