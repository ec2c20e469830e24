"""Bringing a store's sales history in when it adopts the system.

The whole file is one transaction (a crash leaves nothing half-imported); bad rows are
reported with their line numbers and skipped; each sale is keyed by its `sale_id`, or by
one derived from the row's content, so importing the same file twice adds nothing. Rows
that share a sale_id become the lines of one sale. Sales earn points by the program rules
as of their own date and keep that date, so reports "as of" a past date see them there.
The per-row work is plain Python and the writes are executemany batches: this runs at
tens of thousands of rows a second.
"""

from __future__ import annotations

import csv
import hashlib
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import lru_cache
from pathlib import Path

from cardread import parse_card
from cardread.read import scrub
from pos_client.domain.errors import UsageError
from pos_client.domain.money import parse_amount
from pos_client.domain.rules import LineInput, earn_points
from pos_client.services.checkout import Basket, Line, sale_content_hash
from pos_client.store import ledger
from pos_client.store.context import TillContext
from pos_client.store.db import now_iso, write_txn


@dataclass
class _Sale:
    sale_id: str
    member_key: tuple[str, str]  # ("card", number) or ("member", id)
    created_at: str
    lines: list[Line] = field(default_factory=list)
    first_line: int = 0


def _when(text: str) -> str:
    text = text.strip()
    try:
        if len(text) == 10:
            d = date.fromisoformat(text)
            return datetime(d.year, d.month, d.day, 12, tzinfo=UTC).isoformat(timespec="microseconds")
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ValueError("date is not ISO 8601 (YYYY-MM-DD or YYYY-MM-DDTHH:MM)") from exc
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC).isoformat(timespec="microseconds")


@lru_cache(maxsize=65536)
def _parse_cached(card: str, prefixes: tuple[str, ...]):
    """History files repeat the same cards many times: parse each once."""
    return parse_card(card, loyalty_prefixes=prefixes)


def _derived_id(row: dict[str, str]) -> str:
    fields = ("card", "member_id", "date", "amount", "sku", "qty")
    key = "\x1f".join(f"{k}={(row.get(k) or '').strip()}" for k in fields)
    return "imp-" + hashlib.sha256(key.encode()).hexdigest()[:24]


def import_sales(ctx: TillContext, path: str | Path, *, enroll_unknown: bool = False) -> dict:
    """Import a CSV of past sales; returns {"imported", "skipped", "duplicates", "enrolled", "errors"}."""
    with open(path, newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        header = [h.strip() for h in (reader.fieldnames or [])]
        if not ({"card", "member_id"} & set(header)) or not {"date", "amount"} <= set(header):
            raise UsageError("the header must name `card` or `member_id`, `date` and `amount`")
        reader.fieldnames = header
        return _import_rows(ctx, enumerate(reader, start=2), enroll_unknown)


def _import_rows(ctx: TillContext, rows: Iterable[tuple[int, dict[str, str]]], enroll_unknown: bool) -> dict:
    errors: list[dict] = []
    sales: dict[str, _Sale] = {}
    in_file_duplicates = 0
    products = {r["sku"]: (r["name"], r["category"], r["ean"]) for r in ctx.conn.execute(
        "SELECT sku, name, category, ean FROM products")}
    prefixes = ctx.rules.loyalty_prefixes
    for line_no, row in rows:
        try:
            sale = _parse_row(row, prefixes, products)
        except (ValueError, UsageError) as exc:
            errors.append({"line": line_no, "reason": scrub(str(exc))})
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
    with write_txn(ctx.conn):
        result = _write(ctx, sales, enroll_unknown, errors)
    result["duplicates"] += in_file_duplicates
    errors.sort(key=lambda e: e["line"])
    result["errors"] = errors
    result["skipped"] = len(errors)
    return result


def _parse_row(row: dict[str, str], prefixes, products) -> tuple[str, tuple[str, str], str, Line, bool]:
    card, member_id = (row.get("card") or "").strip(), (row.get("member_id") or "").strip()
    if card:
        read = _parse_cached(card, prefixes)
        if not read.ok:
            raise ValueError(read.error or "bad card")
        member_key = ("card", read.card_number or "")
    elif member_id:
        member_key = ("member", member_id)
    else:
        raise ValueError("no card and no member_id")
    if not (row.get("date") or "").strip():
        raise ValueError("no date")
    created_at = _when(row["date"])
    amount = parse_amount(row.get("amount") or "")
    qty_text = (row.get("qty") or "").strip() or "1"
    if not qty_text.isdigit() or int(qty_text) <= 0:
        raise ValueError("qty must be a whole number of at least 1")
    qty = int(qty_text)
    sku = (row.get("sku") or "").strip() or None
    name, category, ean = products.get(sku, (sku or "Imported sale", "general", None)) if sku else (
        "Imported sale", "general", None)
    if amount % qty:
        line = Line(name, category, 1, amount, sku, ean)  # a total that does not divide: keep it exact
    else:
        line = Line(name, category, qty, amount // qty, sku, ean)
    given = (row.get("sale_id") or "").strip()
    return given or _derived_id(row), member_key, created_at, line, not given


def _write(ctx: TillContext, sales: dict[str, _Sale], enroll_unknown: bool, errors: list[dict]) -> dict:
    conn = ctx.conn
    ids = list(sales)
    known: set[str] = set()
    for i in range(0, len(ids), 500):
        chunk = ids[i : i + 500]
        known.update(r[0] for r in conn.execute(
            f"SELECT sale_id FROM sales WHERE sale_id IN ({','.join('?' * len(chunk))})", chunk))
    cards = {key[1] for s in sales.values() if (key := s.member_key)[0] == "card"}
    card_member: dict[str, str] = {}
    card_list = list(cards)
    for i in range(0, len(card_list), 500):
        chunk = card_list[i : i + 500]
        for r in conn.execute(
            f"SELECT card_number, member_id, status FROM cards WHERE card_number IN ({','.join('?' * len(chunk))})",
                chunk):
            card_member[r[0]] = r[1]
    member_ids = {s.member_key[1] for s in sales.values() if s.member_key[0] == "member"}
    existing_members = set()
    mlist = list(member_ids)
    for i in range(0, len(mlist), 500):
        chunk = mlist[i : i + 500]
        existing_members.update(r[0] for r in conn.execute(
            f"SELECT member_id FROM members WHERE member_id IN ({','.join('?' * len(chunk))})", chunk))
    ts = now_iso()
    enrolled = 0
    new_members, new_cards = [], []
    sale_rows, line_rows, ledger_rows = [], [], []
    balance_delta: dict[str, int] = defaultdict(int)
    seq = ledger.next_seq(conn, ctx.store_id, ctx.till_id)
    duplicates = imported = 0
    for sale in sales.values():
        if sale.sale_id in known:
            duplicates += 1
            continue
        kind, key = sale.member_key
        if kind == "card":
            member = card_member.get(key)
            if member is None:
                if not enroll_unknown:
                    errors.append({"line": sale.first_line, "reason": "card not enrolled (use --enroll-unknown)"})
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
        day = datetime.fromisoformat(sale.created_at).date()
        points, per_line = earn_points(ctx.rules, [LineInput(li.category, li.amount_cents) for li in sale.lines], day)
        total = sum(li.amount_cents for li in sale.lines)
        content = sale_content_hash(Basket(lines=sale.lines, member_id=member))
        sale_rows.append((sale.sale_id, ctx.store_id, ctx.till_id, member, total, "imported", points, content,
                          "import", sale.created_at))
        line_rows += [(sale.sale_id, i + 1, li.sku, li.ean, li.name, li.category, li.qty, li.unit_cents,
                       li.amount_cents, p) for i, (li, p) in enumerate(zip(sale.lines, per_line, strict=True))]
        if points:
            ledger_rows.append((ledger.new_id(), member, ctx.store_id, ctx.till_id, seq, "earn", points,
                                sale.sale_id, total, sale.created_at, "import", "import", None))
            seq += 1
            balance_delta[member] += points
        imported += 1
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
    line_rows.sort()
    ledger_rows.sort(key=lambda r: r[1])
    first_seq = ledger_rows[0][4] if ledger_rows else 0
    ledger_rows = [(*r[:4], first_seq + i, *r[5:]) for i, r in enumerate(ledger_rows)]  # seq follows rowid again
    conn.executemany(
        "INSERT INTO sales (sale_id, store_id, till_id, member_id, total_cents, tender, points_earned, content_hash,"
        " operator, created_at) VALUES (?,?,?,?,?,?,?,?,?,?)", sale_rows)
    conn.executemany(
        "INSERT INTO sale_lines (sale_id, line_no, sku, ean, name, category, qty, unit_cents, amount_cents, points)"
        " VALUES (?,?,?,?,?,?,?,?,?,?)", line_rows)
    conn.executemany(
        "INSERT INTO ledger (entry_id, member_id, store_id, till_id, seq, kind, points, sale_id, amount_cents,"
        " created_at, operator, reason, ref) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", ledger_rows)
    for member, delta in sorted(balance_delta.items()):
        ledger.add_to_balance(conn, member, delta, ts)
    return {"imported": imported, "duplicates": duplicates, "enrolled": enrolled}
