"""After a restore from a backup: fetch back from head office what this till pushed after that backup.

The pull sends a till everything except what it wrote itself, so entries and sales made between the
backup and the lost disk come back only from here (`GET /v1/recover`): entries above the restored own
seq, sales after the newest own sale the backup holds (less `SALES_MARGIN`, against a clock stepped
back; a replayed sale is skipped by its id). Entries go through the normal pull path
(`sync.apply.apply_page`), each page in one transaction with its sales. At the end the till's next
seq is set past head office's high seq and the "restored" mark is cleared, so new sales push with no
seq conflict. Members, cards and documents come back through the ordinary pull, whose cursor the
backup holds from its own time.
"""

from __future__ import annotations

import hashlib
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timedelta

from pos_client.store.backup import restored_seq
from pos_client.store.context import TillContext
from pos_client.store.db import write_txn
from pos_client.store.sync_state import CURSOR, get_int
from sync.apply import apply_page
from sync.client import HeadOfficeClient
from wire.batches import Change, PullPage, RecoverPage
from wire.records import SaleRecord

PAGE = 1000
SALES_MARGIN = timedelta(hours=1)


@dataclass
class Recovered:
    entries: int = 0
    sales: int = 0
    high_seq: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"entries": self.entries, "sales": self.sales, "high_seq": self.high_seq}


def _sales_start(conn: sqlite3.Connection, store_id: str, till_id: str) -> str:
    row = conn.execute("SELECT MAX(created_at) FROM sales WHERE store_id = ? AND till_id = ?",
                       (store_id, till_id)).fetchone()
    if not row or not row[0]:
        return ""
    try:
        return (datetime.fromisoformat(str(row[0])) - SALES_MARGIN).isoformat(timespec="microseconds")
    except ValueError:
        return ""


def _content_hash(sale: SaleRecord) -> str:
    """The checkout's replay key of a sale (`services.checkout.sale_content_hash`), from its pushed lines."""
    lines = tuple((li.sku, li.ean, li.category, li.qty, li.unit_cents) for li in sale.lines)
    return hashlib.sha256(repr((sale.member_id, lines)).encode()).hexdigest()


def _insert_sales(conn: sqlite3.Connection, sales: list[SaleRecord]) -> int:
    taken = 0
    for s in sales:
        if s.member_id:
            conn.execute("INSERT INTO members (member_id, store_id, status, created_at, updated_at) VALUES"
                         " (?, ?, 'active', ?, ?) ON CONFLICT DO NOTHING", (s.member_id, s.store_id, s.created_at,
                                                                          s.created_at))
            conn.execute("INSERT INTO balances (member_id, points, updated_at) VALUES (?, 0, ?)"
                         " ON CONFLICT DO NOTHING", (s.member_id, s.created_at))
        cur = conn.execute(
            "INSERT INTO sales (sale_id, store_id, till_id, member_id, total_cents, tender, points_earned,"
            " content_hash, operator, created_at) VALUES (?,?,?,?,?,?,?,?,?,?) ON CONFLICT DO NOTHING",
            (s.sale_id, s.store_id, s.till_id, s.member_id, s.total_cents, s.tender, s.points_earned,
             _content_hash(s), s.operator, s.created_at))
        if cur.rowcount != 1:
            continue
        taken += 1
        conn.executemany(
            "INSERT INTO sale_lines (sale_id, line_no, sku, ean, name, category, qty, unit_cents, amount_cents,"
            " points) VALUES (?,?,?,?,?,?,?,?,?,?)",
            [(s.sale_id, li.line_no, li.sku, li.ean, li.name, li.category, li.qty, li.unit_cents,
              li.amount_cents, li.points) for li in s.lines])
    return taken


def _apply(ctx: TillContext, page: RecoverPage, report: Recovered) -> None:
    """One page: its sales, then its entries through the pull's own apply, in one transaction."""
    conn = ctx.conn
    with write_txn(conn):
        conn.execute("UPDATE sync_apply SET applying = 1")  # nothing recovered goes back into the outbox
        report.sales += _insert_sales(conn, page.sales)
        changes = [Change(cursor=max(1, e.seq), type="entry", data=e.to_dict()) for e in page.entries]
        counts = apply_page(ctx, PullPage(changes=changes, next_cursor=get_int(conn, CURSOR), more=False))
        report.entries += counts["entries"]


def recover_pending(ctx: TillContext, client: HeadOfficeClient, *, page_size: int = PAGE) -> Recovered | None:
    """Bring back what head office holds of this till beyond its restored backup; None when not restored."""
    conn = ctx.conn
    after = restored_seq(conn)
    if after is None:
        return None
    report = Recovered()
    sales_after, sales_after_id = _sales_start(conn, ctx.store_id, ctx.till_id), ""
    while True:
        page = client.recover(after, sales_after, sales_after_id, page_size)
        _apply(ctx, page, report)
        report.high_seq = page.high_seq
        if page.entries:
            after = page.entries[-1].seq
        if page.sales:
            sales_after, sales_after_id = page.sales[-1].created_at, page.sales[-1].sale_id
        if not page.more:
            break
    with write_txn(conn):
        conn.execute("INSERT INTO till_state (key, value) VALUES ('seq_floor', ?) ON CONFLICT(key) DO UPDATE"
                     " SET value = MAX(CAST(value AS INTEGER), CAST(excluded.value AS INTEGER))", (report.high_seq,))
        conn.execute("DELETE FROM till_state WHERE key = 'restored_seq'")
    return report
