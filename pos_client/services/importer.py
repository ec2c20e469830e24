"""Bringing a store's sales history in when it adopts the system.

The whole file is one transaction (a crash leaves nothing half-imported); bad rows are
reported with their line numbers and skipped; each sale is keyed by its `sale_id`, or by
one derived from the row's content, so importing the same file twice adds nothing. Rows
that share a sale_id become the lines of one sale. Sales earn points by the program rules
as of their own date and keep that date, so reports "as of" a past date see them there. On a
till with its marketing program the history is replayed as if it had been lived, sale by sale in
date order (same day: file order), with each day's upkeep (`pos_client.services.marketing.replay`):
tier upgrades dated on the qualifying sale and their bonus, downgrades at each review period's end,
expiry and lifecycle stage changes, all as of their dates.
The per-row work is plain Python (`import_rows`: what repeats across rows is parsed once) and the writes are
executemany batches; into a fresh till the ledger's summary and indexes are made once after them (`_insert_history`).
"""

from __future__ import annotations

import csv
import gc
import sqlite3
from collections import defaultdict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache
from operator import itemgetter
from pathlib import Path
from typing import Any, TypedDict

from pos_client.domain.bounds import BALANCE, CENTS
from pos_client.domain.dates import today
from pos_client.domain.errors import RefusedInput, UsageError
from pos_client.domain.rules import LineInput, earn_points
from pos_client.services import import_bulk
from pos_client.services.card_formats import card_formats
from pos_client.services.checkout import Basket, Line, sale_content_hash
from pos_client.services.import_rows import Columns, Products, read_rows
from pos_client.services.marketing import tiers, upkeep
from pos_client.services.marketing.replay import LedgerRow, Replay, ReplaySale
from pos_client.store import ledger, point_months
from pos_client.store.context import TillContext
from pos_client.store.db import now_iso, write_txn


class RowError(TypedDict):
    """A CSV row that was skipped, by its line number in the file (the header is line 1)."""

    line: int
    reason: str


@dataclass(slots=True)
class _Sale:
    sale_id: str
    member_key: tuple[str, str]  # ("card", number) or ("member", id)
    created_at: str
    lines: list[Line] = field(default_factory=list)
    first_line: int = 0


def import_sales(ctx: TillContext, path: str | Path, *, enroll_unknown: bool = False) -> dict[str, Any]:
    """Import a CSV of past sales; returns {"imported", "skipped", "duplicates", "enrolled", "errors"}."""
    with open(path, newline="", encoding="utf-8-sig") as fh, _no_cycle_collection():
        reader = csv.reader(fh)
        header = [h.strip() for h in next(reader, [])]
        if not ({"card", "member_id"} & set(header)) or not {"date", "amount"} <= set(header):
            raise UsageError("the header must name `card` or `member_id`, `date` and `amount`")
        # Plain lists, not csv.DictReader's dicts (a third of the parse); blank lines are skipped as it does.
        return _import_rows(ctx, reader, Columns(header), len(header), enroll_unknown)


@contextmanager
def _no_cycle_collection() -> Iterator[None]:
    """Python's cycle collector paused for the import, as it was before afterwards. Why: an import holds a
    few objects per row (lines, rows to write, replay state) until its one transaction commits, none of them in
    a cycle, and each full collection walks all of them again: a 100,000-row file spent a fifth of its time
    there (measured at 100,000 rows, mid scale), and more the bigger the file."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _import_rows(ctx: TillContext, rows: Iterable[list[str]], cols: Columns, width: int, enroll_unknown: bool
                 ) -> dict[str, Any]:
    errors: list[RowError] = []
    sales: dict[str, _Sale] = {}
    in_file_duplicates = 0
    products: Products = {r["sku"]: (r["name"], r["category"], r["ean"]) for r in ctx.conn.execute(
        "SELECT sku, name, category, ean FROM products")}
    for line_no, sale in read_rows(rows, cols, width, ctx.rules.loyalty_prefixes, products):
        if isinstance(sale, str):
            errors.append({"line": line_no, "reason": sale})
            continue
        sid, member_key, created_at, line, derived = sale
        existing = sales.get(sid)
        if existing is not None and derived:
            in_file_duplicates += 1
            continue
        if existing is None:
            sales[sid] = _Sale(sid, member_key, created_at, [line], line_no)
        elif existing.member_key != member_key:
            reason = f"sale {sid} names another customer than on line {existing.first_line}"
            errors.append({"line": line_no, "reason": reason})
        else:
            existing.lines.append(line)
    with import_bulk.page_cache(ctx.conn), write_txn(ctx.conn):
        result = _write(ctx, sales, enroll_unknown, errors)
    result["duplicates"] += in_file_duplicates
    errors.sort(key=lambda e: e["line"])
    result["errors"] = errors
    result["skipped"] = len(errors)
    return result


def _add_to_balances(conn: sqlite3.Connection, delta: dict[str, int], ts: str) -> None:
    """The balances moved in one executemany, in member order. Their bounds are the balances table's own CHECK
    (m0060, `BALANCE`): a sum out of range fails the statement, which is then undone to its savepoint and worded
    by `_check_balances`; the caller's transaction rolls back the rest of the import. Why not a read of every
    balance first: at chain scale that is a second lookup of each of the file's members, for a refusal that a
    real history never meets."""
    conn.execute("SAVEPOINT import_balances")
    try:
        ledger.add_to_balances(conn, sorted(delta.items()), ts)
    except sqlite3.IntegrityError:
        conn.execute("ROLLBACK TO import_balances")  # the balances as they were: the wording reads them
        _check_balances(conn, delta)
        raise
    conn.execute("RELEASE import_balances")


def _check_balances(conn: sqlite3.Connection, delta: dict[str, int]) -> None:
    """Which balance would leave wire.bounds, in words (one query per 500 members, not per member)."""
    members = [m for m, d in delta.items() if d]
    for i in range(0, len(members), 500):
        chunk = members[i : i + 500]
        have = {r[0]: int(r[1]) for r in conn.execute(
            f"SELECT member_id, points FROM balances WHERE member_id IN ({','.join('?' * len(chunk))})", chunk)}
        for m in chunk:
            if not BALANCE.holds(have.get(m, 0) + delta[m]):
                raise RefusedInput(f"member {m}: this import would take the balance outside {BALANCE.low:,} to"
                                   f" {BALANCE.high:,} points: nothing was imported")


def _write(ctx: TillContext, sales: dict[str, _Sale], enroll_unknown: bool, errors: list[RowError]
           ) -> dict[str, Any]:
    conn = ctx.conn
    formats = card_formats(ctx)
    ids = list(sales)
    known: set[str] = set()
    for i in range(0, len(ids), 500):
        chunk = ids[i : i + 500]
        known.update(r[0] for r in conn.execute(
            f"SELECT sale_id FROM sales WHERE sale_id IN ({','.join('?' * len(chunk))})", chunk))
    cards = {s.member_key[1] for s in sales.values() if s.member_key[0] == "card"}
    card_member: dict[str, str] = {}
    card_list = list(cards)
    for i in range(0, len(card_list), 500):
        chunk = card_list[i : i + 500]
        for r in conn.execute(
            f"SELECT card_number, member_id, status FROM cards WHERE card_number IN ({','.join('?' * len(chunk))})",
                chunk):
            card_member[r[0]] = r[1]
    member_ids = {s.member_key[1] for s in sales.values() if s.member_key[0] == "member"}
    existing_members: set[str] = set()
    mlist = list(member_ids)
    for i in range(0, len(mlist), 500):
        chunk = mlist[i : i + 500]
        existing_members.update(r[0] for r in conn.execute(
            f"SELECT member_id FROM members WHERE member_id IN ({','.join('?' * len(chunk))})", chunk))
    ts = now_iso()
    enrolled = 0
    new_members: list[tuple[str, str, str, str]] = []
    new_cards: list[tuple[str, str, str, str, str]] = []
    sale_rows: list[tuple[str, str, str, str, int, str, int, str, str, str]] = []
    lines_of: dict[str, list[tuple[str, int, str | None, str | None, str, str, int, int, int, int]]] = {}
    ledger_rows: list[LedgerRow] = []
    balance_delta: dict[str, int] = defaultdict(int)
    replayed: list[ReplaySale] = []
    rules = ctx.rules  # once: each read of ctx.rules asks the database whether a pull changed them
    excluded = rules.excluded_categories
    by_line: dict[int, tuple[int, LineInput, int]] = {}  # id of a shared Line -> _facts (the Lines outlive it)
    store_id, till_id = ctx.store_id, ctx.till_id
    duplicates = imported = 0
    for sale in sales.values():
        if sale.sale_id in known:
            duplicates += 1
            continue
        lines = sale.lines
        # The import's lines are shared (one per (amount, qty, sku): `import_rows.read_rows`), so what the rules
        # need of each is made once per distinct line, not per sale line: (amount, rule input, qualifying cents).
        facts = [by_line.get(id(li)) or _facts(by_line, li, excluded) for li in lines]
        amounts = [f[0] for f in facts]
        total = sum(amounts)
        if (why := CENTS.problem(total)) is not None:  # wire.bounds
            errors.append({"line": sale.first_line, "reason": f"the sale's total: {why}"})
            continue
        kind, key = sale.member_key
        if kind == "card":
            member = card_member.get(key)
            if member is None:
                if not enroll_unknown:
                    errors.append({"line": sale.first_line, "reason": "card not enrolled (use --enroll-unknown)"})
                    continue
                if (why := formats.why(key)) is not None:  # enrol only the program's own card formats
                    errors.append({"line": sale.first_line, "reason": why})
                    continue
                member = ledger.new_id()
                card_member[key] = member
                new_members.append((member, ctx.store_id, sale.created_at, ts))
                source = "nfc" if key.startswith("NFC:") else "keyed"
                new_cards.append((key, member, source, sale.created_at, ts))
                enrolled += 1
        else:
            member = key
            if member not in existing_members:
                errors.append({"line": sale.first_line, "reason": "unknown member_id"})
                continue
        day = _day(sale.created_at[:10])
        points, per_line = earn_points(rules, [f[1] for f in facts], day)
        content = sale_content_hash(Basket(lines=lines, member_id=member))
        sale_rows.append((sale.sale_id, store_id, till_id, member, total, "imported", points, content,
                          "import", sale.created_at))
        lines_of[sale.sale_id] = [
            (sale.sale_id, i + 1, li.sku, li.ean, li.name, li.category, li.qty, li.unit_cents, a, p)
            for i, (li, a, p) in enumerate(zip(lines, amounts, per_line, strict=True))]
        if points:
            ledger_rows.append(("", member, store_id, till_id, 0, "earn", points,  # id and seq: once sorted
                                sale.sale_id, total, sale.created_at, "import", "import", None))
            balance_delta[member] += points
        replayed.append(ReplaySale(sale.sale_id, member, sale.created_at, day.toordinal(), points,
                                   sum(f[2] for f in facts)))
        imported += 1
    history: dict[str, Any] = {}
    if replayed and tiers.on_sale in ctx.extensions.sale_observers:  # a till with its marketing program
        joined = {m[0]: datetime.fromisoformat(m[2]).date().toordinal() for m in new_members}
        replay, history = _replay(ctx, replayed, joined)
        ledger_rows += replay.ledger
        for row in replay.ledger:
            balance_delta[row[1]] += row[6]
    conn.executemany(
        "INSERT INTO members (member_id, store_id, status, created_at, updated_at) VALUES (?, ?, 'active', ?, ?)",
        new_members)
    conn.executemany("INSERT INTO balances (member_id, points, updated_at) VALUES (?, 0, ?)",
                     [(m[0], ts) for m in new_members])
    conn.executemany(
        "INSERT INTO cards (card_number, member_id, source, status, created_at, updated_at) "
        "VALUES (?, ?, ?, 'active', ?, ?)", new_cards)
    # In key order: each index (sales by id, ledger by member, balances) is then walked once from one
    # end to the other instead of at random, so a big till's pages are read and dirtied once each.
    sale_rows.sort()
    line_rows = [row for sale_row in sale_rows for row in lines_of[sale_row[0]]]  # by (sale_id, line_no): no sort
    ledger_rows.sort(key=itemgetter(1))
    first_seq = ledger.next_seq(conn, ctx.store_id, ctx.till_id)
    # Ids (time-ordered, `new_id`) and seqs given in the order of insertion: the key and (store, till, seq)
    # indexes are appended to at their end, and seq follows rowid again.
    ledger_rows = [(ledger.new_id(), *r[1:4], first_seq + i, *r[5:]) for i, r in enumerate(ledger_rows)]
    ledger_rows = ledger.chained(conn, ctx.store_id, ctx.till_id, ledger_rows)  # the hash chain (store.integrity)
    _insert_history(conn, sale_rows, line_rows, ledger_rows)
    _add_to_balances(conn, balance_delta, ts)
    if history:
        _write_history(ctx, history)
    return {"imported": imported, "duplicates": duplicates, "enrolled": enrolled,
            **{k: v for k, v in history.items() if not k.startswith("_")}}


def _facts(by_line: dict[int, tuple[int, LineInput, int]], li: Line, excluded: frozenset[str] | set[str]
           ) -> tuple[int, LineInput, int]:
    """A line's amount (Line.amount_cents), its input to the earn rules and its qualifying cents, kept by id."""
    amount = li.qty * li.unit_cents
    got = by_line[id(li)] = (amount, LineInput(li.category, amount), 0 if li.category in excluded else amount)
    return got


def _insert_history(conn: sqlite3.Connection, sales: list[tuple[Any, ...]], lines: list[tuple[Any, ...]],
                    entries: list[tuple[Any, ...]]) -> None:
    """Sales, lines and entries in one executemany each. Into a till whose ledger is no bigger than the import (a
    store adopting the system) the point_months trigger is paused and the summary made once from the ledger
    (`bulk_load`): one GROUP BY instead of an upsert and a lookup by sale per row; and a table that holds no more
    than what goes in gets its secondary indexes made after its rows (`import_bulk.indexes_after`). Into a bigger
    ledger the trigger stays, since a rebuild would read every entry the till holds."""
    held = conn.execute("SELECT COALESCE(MAX(rowid), 0) FROM ledger").fetchone()[0]
    incoming = {"sales": len(sales), "sale_lines": len(lines), "ledger": len(entries)}
    with (nullcontext() if held > len(entries) else point_months.bulk_load(conn),
          import_bulk.indexes_after(conn, incoming)):
            conn.executemany(
                "INSERT INTO sales (sale_id, store_id, till_id, member_id, total_cents, tender, points_earned,"
                " content_hash, operator, created_at) VALUES (?,?,?,?,?,?,?,?,?,?)", sales)
            conn.executemany(
                "INSERT INTO sale_lines (sale_id, line_no, sku, ean, name, category, qty, unit_cents, amount_cents,"
                " points) VALUES (?,?,?,?,?,?,?,?,?,?)", lines)
            conn.executemany(
                "INSERT INTO ledger (entry_id, member_id, store_id, till_id, seq, kind, points, sale_id, amount_cents,"
                " created_at, operator, reason, ref, prev_hash, entry_hash) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                entries)


@lru_cache(maxsize=4096)
def _day(iso_day: str) -> date:
    return date.fromisoformat(iso_day)


def _replay(ctx: TillContext, sales: list[ReplaySale], joined: dict[str, int]) -> tuple[Replay, dict[str, Any]]:
    """Replay the imported sales in date order (same day: file order) with each day's upkeep, in memory.

    On a till that has only ever imported (no sale recorded at the till yet: a store adopting the system,
    one file or several), the replay is the till's own upkeep: every member with points or sales takes
    part, the days run from the first one the upkeep has not done (or the first sale) to the last sale,
    never past yesterday (today's upkeep belongs to closing time), and they are recorded as done. On a
    till already in use, only the file's members are replayed, from its first sale; the days are left
    to the day's upkeep, which then changes nothing for them.
    """
    order = sorted(range(len(sales)), key=[s.day for s in sales].__getitem__)  # stable: same day, file order
    members = {s.member_id for s in sales}
    old = members - set(joined)
    whole_till = ctx.conn.execute("SELECT 1 FROM sales WHERE tender != 'imported' LIMIT 1").fetchone() is None
    if whole_till:
        old |= {r[0] for r in ctx.conn.execute(
            "SELECT member_id FROM ledger UNION SELECT member_id FROM sales WHERE member_id IS NOT NULL")}
    first, last = sales[order[0]].day, sales[order[-1]].day
    start = first
    if whole_till:
        pending = upkeep.pending_days(ctx, date.fromordinal(first))
        start = min(first, pending[0].toordinal()) if pending else first
    end = min(last, today().toordinal() - 1)
    replay = Replay(ctx, joined, old)
    i = 0
    for day in range(min(start, first), max(end, last) + 1):
        while i < len(order) and sales[order[i]].day == day:
            replay.sale(sales[order[i]])
            i += 1
        if start <= day <= end:
            replay.end_of_day(day, first=day == start)
    done = upkeep.last_run(ctx)
    marked = [d for d in replay.days if whole_till and (done is None or d.day > done.isoformat())]
    return replay, {"upkeep_days": len(replay.days), "upkeep_days_recorded": len(marked),
                    "tier_changes": len(replay.tier_rows), "stage_changes": len(replay.stage_rows),
                    "expired_points": -sum(r[6] for r in replay.ledger if r[5] == "expire"),
                    "_tiers": replay.tier_rows, "_stages": replay.stage_rows, "_days": marked}


def _write_history(ctx: TillContext, history: dict[str, Any]) -> None:
    """Tier and stage rows of the replay, and the days it did the upkeep for (inside the import's transaction)."""
    ctx.conn.executemany("INSERT INTO member_tiers (member_id, tier, prev_tier, since, reason, sale_id, created_at)"
                         " VALUES (?,?,?,?,?,?,?)", history["_tiers"])
    ctx.conn.executemany("INSERT INTO member_stages (member_id, stage, prev_stage, since, created_at)"
                         " VALUES (?,?,?,?,?)", history["_stages"])
    for result in history["_days"]:
        upkeep.record(ctx, result)
