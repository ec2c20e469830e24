"""The SQL both backends share: written once with `?` placeholders and portable SQL (ON CONFLICT, RETURNING).

Ordering: every change head office keeps gets a `server_seq` from one counter, allocated inside
the single write transaction (backends serialise writers), so a pull cursor is simply "the last
server_seq I saw" and never skips a row committed later. The till's own `created_at` is kept for
the audit trail but never used for ordering, so a till with a wrong clock syncs correctly.

Balances move in the same transaction as the ledger rows that move them. Merges and transfers
for merged members are head-office ledger entries (store "HO", till "HO"), so every till learns
them by pulling entries, like any other till's.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from headoffice.store.base import Forbidden, Principal, Store
from wire.protocol import (
    CARD_RANK,
    DOC_FIELDS,
    LEDGER_COLUMNS,
    Change,
    DocRecord,
    LedgerRecord,
    PullPage,
    PushBatch,
    PushResult,
    Reject,
)

HO_STORE = HO_TILL = "HO"

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value {BIGINT} NOT NULL);
CREATE TABLE IF NOT EXISTS tills (
    store_id TEXT NOT NULL, till_id TEXT NOT NULL, role TEXT NOT NULL DEFAULT 'till',
    code_hash TEXT, code_expires_at TEXT, token_hash TEXT UNIQUE, created_at TEXT NOT NULL, registered_at TEXT,
    high_seq {BIGINT} NOT NULL DEFAULT 0, last_push_at TEXT, PRIMARY KEY (store_id, till_id));
CREATE TABLE IF NOT EXISTS ledger (
    server_seq {SEQ_PK}, entry_id TEXT NOT NULL UNIQUE, member_id TEXT NOT NULL,
    store_id TEXT NOT NULL, till_id TEXT NOT NULL, seq {BIGINT} NOT NULL, kind TEXT NOT NULL,
    points {BIGINT} NOT NULL, sale_id TEXT, amount_cents {BIGINT} NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL, operator TEXT, reason TEXT, ref TEXT, received_at TEXT NOT NULL,
    UNIQUE (store_id, till_id, seq));
CREATE INDEX IF NOT EXISTS idx_ho_ledger_member ON ledger (member_id);
CREATE TABLE IF NOT EXISTS balances (member_id TEXT PRIMARY KEY, points {BIGINT} NOT NULL, updated_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS members (
    member_id TEXT PRIMARY KEY, store_id TEXT NOT NULL, name TEXT, phone TEXT, email TEXT,
    status TEXT NOT NULL, merged_into TEXT, consent TEXT NOT NULL DEFAULT '{}',
    created_at TEXT NOT NULL, updated_at TEXT NOT NULL, received_at TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS idx_ho_members_phone ON members (phone);
CREATE TABLE IF NOT EXISTS cards (
    card_number TEXT PRIMARY KEY, member_id TEXT NOT NULL, source TEXT NOT NULL, status TEXT NOT NULL,
    replaced_by TEXT, created_at TEXT, updated_at TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS idx_ho_cards_member ON cards (member_id);
CREATE TABLE IF NOT EXISTS sales (
    sale_id TEXT PRIMARY KEY, store_id TEXT NOT NULL, till_id TEXT NOT NULL, member_id TEXT,
    total_cents {BIGINT} NOT NULL, tender TEXT, points_earned {BIGINT} NOT NULL, operator TEXT,
    created_at TEXT NOT NULL, received_at TEXT NOT NULL, lines TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS feed (server_seq {SEQ_PK}, entity TEXT NOT NULL, key TEXT NOT NULL, UNIQUE (entity, key));
CREATE TABLE IF NOT EXISTS rules (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS products (
    sku TEXT PRIMARY KEY, ean TEXT, name TEXT NOT NULL, category TEXT NOT NULL, price_cents {BIGINT} NOT NULL);
CREATE TABLE IF NOT EXISTS rejects (
    rkey TEXT PRIMARY KEY, store_id TEXT NOT NULL, till_id TEXT NOT NULL, type TEXT NOT NULL,
    seq {BIGINT}, reasons TEXT NOT NULL, raw TEXT, received_at TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS idx_ho_rejects_seq ON rejects (store_id, till_id, seq);
CREATE TABLE IF NOT EXISTS till_keys (
    store_id TEXT NOT NULL, till_id TEXT NOT NULL, public_key TEXT NOT NULL, received_at TEXT NOT NULL,
    PRIMARY KEY (store_id, till_id));
CREATE TABLE IF NOT EXISTS coupon_uses (
    use_id TEXT PRIMARY KEY, code TEXT NOT NULL, store_id TEXT NOT NULL, till_id TEXT NOT NULL,
    sale_id TEXT NOT NULL, used_at TEXT NOT NULL, received_at TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS idx_ho_coupon_uses_code ON coupon_uses (code);
CREATE TABLE IF NOT EXISTS erasures (
    erasure_id TEXT PRIMARY KEY, member_id TEXT NOT NULL, store_id TEXT NOT NULL, till_id TEXT NOT NULL,
    at TEXT NOT NULL, received_at TEXT NOT NULL)
"""


EXPORT_COLUMNS: dict[str, tuple[str, ...]] = {
    "members": ("member_id", "store_id", "name", "phone", "email", "status", "merged_into", "consent", "created_at",
                "updated_at"),
    "cards": ("card_number", "member_id", "source", "status", "replaced_by", "created_at", "updated_at"),
    "sales": ("sale_id", "store_id", "till_id", "member_id", "total_cents", "tender", "points_earned", "operator",
              "created_at", "lines"),
    "ledger": ("entry_id", "member_id", "store_id", "till_id", "seq", "kind", "points", "sale_id", "amount_cents",
               "created_at", "operator", "reason", "ref"),
    "rules": ("key", "value"),
}


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _norm_code(code: str) -> str:
    return "".join(ch for ch in code.upper() if ch.isalnum())


CODE_VALID_DAYS = 7  # an enrolment code is a password sent to a store: it should not live forever

_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # nothing a cashier can misread (no 0/O, 1/I)


def new_code() -> str:
    raw = "".join(secrets.choice(_CODE_ALPHABET) for _ in range(12))
    return f"{raw[:4]}-{raw[4:8]}-{raw[8:]}"


def _chunks(items: Sequence[Any], size: int = 500) -> Iterator[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


class SqlStore(Store):
    """Shared implementation over a DB-API connection; subclasses open it and serialise writers."""

    BIGINT = "INTEGER"
    SEQ_PK = "INTEGER PRIMARY KEY"

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._init_schema()

    # --- backend hooks --------------------------------------------------------------------
    def _execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        raise NotImplementedError

    def _executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        raise NotImplementedError

    @contextmanager
    def _write(self) -> Iterator[None]:
        """One serialised write transaction."""
        raise NotImplementedError
        yield

    @contextmanager
    def _read(self) -> Iterator[None]:
        """A consistent read (one snapshot)."""
        raise NotImplementedError
        yield

    def _insert_ignore(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """Bulk insert skipping rows that hit a unique key (the ingest hot path; backends may do better)."""
        marks = ", ".join("?" * len(columns))
        self._executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks}) ON CONFLICT DO NOTHING", rows)

    def _one(self, sql: str, params: Sequence[Any] = ()) -> tuple | None:
        rows = self._execute(sql, params)
        return rows[0] if rows else None

    def _init_schema(self) -> None:
        with self._lock, self._write():
            for stmt in SCHEMA.replace("{BIGINT}", self.BIGINT).replace("{SEQ_PK}", self.SEQ_PK).split(";"):
                if stmt.strip():
                    self._execute(stmt)
            self._execute("INSERT INTO meta (key, value) VALUES ('server_seq', 0) ON CONFLICT DO NOTHING")
            self._execute("INSERT INTO tills (store_id, till_id, role, created_at) VALUES (?, ?, 'system', ?)"
                          " ON CONFLICT DO NOTHING", (HO_STORE, HO_TILL, now_iso()))

    # --- counters ---------------------------------------------------------------------------
    def _alloc(self, n: int) -> int:
        """Reserve n server_seq values; returns the value before them (call inside _write)."""
        row = self._one("UPDATE meta SET value = value + ? WHERE key = 'server_seq' RETURNING value", (n,))
        assert row is not None
        return int(row[0]) - n

    def _feed(self, entity: str, keys: Sequence[str]) -> None:
        """Record that these entities changed: each appears once in the feed, at its latest change."""
        if not keys:
            return
        keys = list(dict.fromkeys(keys))
        base = self._alloc(len(keys))
        self._executemany(
            "INSERT INTO feed (server_seq, entity, key) VALUES (?, ?, ?)"
            " ON CONFLICT (entity, key) DO UPDATE SET server_seq = excluded.server_seq",
            [(base + i + 1, entity, k) for i, k in enumerate(keys)])

    # --- tills and tokens -------------------------------------------------------------------
    def add_till(self, store_id: str, till_id: str, valid_days: int = CODE_VALID_DAYS) -> str:
        if (store_id, till_id) == (HO_STORE, HO_TILL):
            raise ValueError("HO/HO is reserved for head office's own entries")
        code = new_code()
        expires = (datetime.now(UTC) + timedelta(days=valid_days)).isoformat(timespec="microseconds")
        with self._lock, self._write():
            self._execute(
                "INSERT INTO tills (store_id, till_id, role, code_hash, code_expires_at, created_at)"
                " VALUES (?, ?, 'till', ?, ?, ?) ON CONFLICT (store_id, till_id) DO UPDATE SET"
                " code_hash = excluded.code_hash, code_expires_at = excluded.code_expires_at",
                (store_id, till_id, _hash(_norm_code(code)), expires, now_iso()))
        return code

    def add_admin(self, name: str) -> str:
        token = "adm_" + secrets.token_urlsafe(32)
        with self._lock, self._write():
            self._execute(
                "INSERT INTO tills (store_id, till_id, role, token_hash, created_at, registered_at)"
                " VALUES ('*', ?, 'admin', ?, ?, ?)"
                " ON CONFLICT (store_id, till_id) DO UPDATE SET token_hash = excluded.token_hash",
                (name, _hash(token), now_iso(), now_iso()))
        return token

    def register(self, code: str) -> tuple[str, Principal] | None:
        token = "till_" + secrets.token_urlsafe(32)
        with self._lock, self._write():
            row = self._one("SELECT store_id, till_id FROM tills WHERE code_hash = ? AND role = 'till'"
                            " AND code_expires_at > ?", (_hash(_norm_code(code)), now_iso()))
            if row is None:
                return None
            self._execute("UPDATE tills SET code_hash = NULL, code_expires_at = NULL, token_hash = ?, registered_at = ?"
                          " WHERE store_id = ? AND till_id = ?", (_hash(token), now_iso(), row[0], row[1]))
        return token, Principal(row[0], row[1], "till")

    def authenticate(self, token: str) -> Principal | None:
        if not token:
            return None
        with self._lock, self._read():
            row = self._one("SELECT store_id, till_id, role FROM tills WHERE token_hash = ?", (_hash(token),))
        return Principal(*row) if row else None

    # --- push ----------------------------------------------------------------------------------
    def ingest(self, principal: Principal, batch: PushBatch) -> PushResult:
        who = (principal.store_id, principal.till_id)
        if principal.role != "till" or (batch.store_id, batch.till_id) != who:
            raise Forbidden("this token may only push for its own store and till")
        for rec in (*batch.entries, *batch.sales):
            if (rec.store_id, rec.till_id) != who:
                raise Forbidden(f"record for {rec.store_id}/{rec.till_id} pushed by {who[0]}/{who[1]}")
        for d in batch.docs:
            if (d.data["store_id"], d.data["till_id"]) != who:
                raise Forbidden(f"{d.type} for {d.data['store_id']}/{d.data['till_id']} pushed by {who[0]}/{who[1]}")
        result = PushResult()
        now = now_iso()
        with self._lock, self._write():
            touched: set[str] = set()
            result.members, merged_ids = self._ingest_members(batch, now)
            result.merges = len(merged_ids)
            touched |= merged_ids
            result.cards = self._ingest_cards(batch, now)
            result.sales = self._ingest_sales(batch, now)
            rejects = list(batch.rejects)
            accepted, dups, conflicts = self._ingest_entries(batch.entries, now)
            rejects += conflicts
            result.docs, doc_rejects = self._ingest_docs(batch.docs, now)
            rejects += doc_rejects
            result.accepted, result.duplicates = len(accepted), dups
            touched |= {m for m, _ in accepted}
            self._quarantine(principal, rejects, now)
            self._sweep_merged(touched, now)
            result.high_seq, result.gaps = self._advance_high_seq(principal, batch, now)
            if self._one("SELECT 1 FROM till_keys WHERE store_id = ? AND till_id = ?", who) is None:
                result.wants.append("till_key")
        result.rejected = [r.to_dict() for r in rejects]
        result.server_time = now
        return result

    # --- documents (till keys, coupon uses, erasures) ---------------------------------------------
    def _ingest_docs(self, docs: list[DocRecord], now: str) -> tuple[int, list[Reject]]:
        """Documents are immutable and idempotent by key; a till key is first-wins per (store, till)."""
        taken = 0
        rejects: list[Reject] = []
        for i, d in enumerate(docs):
            data = d.data
            if d.type == "till_key":
                row = self._one("SELECT public_key FROM till_keys WHERE store_id = ? AND till_id = ?",
                                (data["store_id"], data["till_id"]))
                if row is not None:
                    if row[0] != data["public_key"]:
                        rejects.append(Reject("docs", i, d.key, [
                            f"till_key: head office already holds another key for {d.key}; a till cannot sign in"
                            " another till's name (re-enrol the till to change its key)"], d.to_dict()))
                    continue
                self._execute("INSERT INTO till_keys (store_id, till_id, public_key, received_at) VALUES (?,?,?,?)",
                              (data["store_id"], data["till_id"], data["public_key"], now))
            elif d.type == "coupon_use":
                row = self._one(
                    "INSERT INTO coupon_uses (use_id, code, store_id, till_id, sale_id, used_at, received_at)"
                    " VALUES (?,?,?,?,?,?,?) ON CONFLICT DO NOTHING RETURNING use_id",
                    (*(data[f] for f in DOC_FIELDS["coupon_use"]), now))
                if row is None:
                    continue
            elif d.type == "erasure":
                row = self._one(
                    "INSERT INTO erasures (erasure_id, member_id, store_id, till_id, at, received_at)"
                    " VALUES (?,?,?,?,?,?) ON CONFLICT DO NOTHING RETURNING erasure_id",
                    (*(data[f] for f in DOC_FIELDS["erasure"]), now))
                if row is None:
                    continue
                self._anonymise(data["member_id"], now)
            else:  # pragma: no cover - the protocol refuses unknown types
                continue
            self._feed(d.type, [d.key])
            taken += 1
        return taken, rejects

    def _anonymise(self, member_id: str, now: str) -> bool:
        """Erasure: personal details and consent go, cards are blocked, the ledger (no personal data) stays."""
        row = self._one("UPDATE members SET name = NULL, phone = NULL, email = NULL, consent = '{}',"
                        " status = 'erased', updated_at = ? WHERE member_id = ? RETURNING member_id", (now, member_id))
        if row is None:
            return False
        cards = [r[0] for r in self._execute(
            "UPDATE cards SET status = 'blocked', updated_at = ? WHERE member_id = ? AND status != 'blocked'"
            " RETURNING card_number", (now, member_id))]
        self._feed("member", [member_id])
        self._feed("card", cards)
        return True

    def _ingest_members(self, batch: PushBatch, now: str) -> tuple[int, set[str]]:
        changed: list[str] = []
        merged: set[str] = set()
        for m in batch.members:
            row = self._one("SELECT status FROM members WHERE member_id = ?", (m.member_id,))
            consent = json.dumps(m.consent, sort_keys=True)
            if row is None:
                status = "erased" if m.status == "erased" else "active"
                self._execute(
                    "INSERT INTO members (member_id, store_id, name, phone, email, status, merged_into, consent,"
                    " created_at, updated_at, received_at) VALUES (?,?,?,?,?,?,NULL,?,?,?,?)",
                    (m.member_id, m.store_id, m.name, m.phone, m.email, status, consent, m.created_at,
                     m.updated_at, now))
                self._execute("INSERT INTO balances (member_id, points, updated_at) VALUES (?, 0, ?)"
                              " ON CONFLICT DO NOTHING", (m.member_id, now))
            elif row[0] == "active":
                # Erasure and merges are decided here, never by a till: only details and consent move.
                self._execute("UPDATE members SET name = ?, phone = ?, email = ?, consent = ?, updated_at = ?,"
                              " received_at = ? WHERE member_id = ?",
                              (m.name, m.phone, m.email, consent, m.updated_at, now, m.member_id))
            else:
                # Erased or merged here: keep head office's state and send it out again, so a till that
                # skipped it (its own change was still waiting to be pushed) learns it on its next pull.
                changed.append(m.member_id)
                continue
            changed.append(m.member_id)
            if m.phone and m.status == "active":
                merged |= self._merge_same_phone(m.member_id, m.phone, now)
        self._feed("member", changed)
        return len(changed), merged

    def _merge_same_phone(self, member_id: str, phone: str, now: str) -> set[str]:
        """The same phone enrolled twice (two stores offline): keep the older member, fold the other in."""
        rows = self._execute("SELECT member_id, created_at FROM members WHERE phone = ? AND status = 'active'",
                             (phone,))
        if len(rows) < 2:
            return set()
        ordered = sorted(rows, key=lambda r: (r[1], r[0]))
        winner = ordered[0][0]
        losers = [r[0] for r in ordered[1:]]
        for loser in losers:
            self._merge(loser, winner, now)
        return {winner, *losers}

    def _merge(self, loser: str, winner: str, now: str) -> None:
        self._execute("UPDATE members SET status = 'merged', merged_into = ?, updated_at = ? WHERE member_id = ?",
                      (winner, now, loser))
        self._execute("UPDATE members SET merged_into = ?, updated_at = ? WHERE merged_into = ?",
                      (winner, now, loser))
        cards = [r[0] for r in self._execute("SELECT card_number FROM cards WHERE member_id = ?", (loser,))]
        self._execute("UPDATE cards SET member_id = ?, updated_at = ? WHERE member_id = ?", (winner, now, loser))
        self._feed("member", [loser, winner])
        self._feed("card", cards)

    def _final_member(self, member_id: str) -> str:
        seen = set()
        while member_id not in seen:
            seen.add(member_id)
            row = self._one("SELECT status, merged_into FROM members WHERE member_id = ?", (member_id,))
            if row is None or row[0] != "merged" or not row[1]:
                return member_id
            member_id = row[1]
        return member_id

    def _sweep_merged(self, member_ids: set[str], now: str) -> None:
        """Move whatever sits on a merged member (its balance at merge, later offline entries) to the survivor."""
        moves: list[tuple[str, str, int]] = []
        for part in _chunks(sorted(member_ids)):
            marks = ", ".join("?" * len(part))
            for mid, points in self._execute(
                    "SELECT m.member_id, b.points FROM members m JOIN balances b ON b.member_id = m.member_id"
                    f" WHERE m.member_id IN ({marks}) AND m.status = 'merged' AND b.points != 0"
                    " ORDER BY m.member_id", part):
                moves.append((mid, self._final_member(mid), int(points)))
        if not moves:
            return
        seq_row = self._one("UPDATE tills SET high_seq = high_seq + ? WHERE store_id = ? AND till_id = ?"
                            " RETURNING high_seq", (2 * len(moves), HO_STORE, HO_TILL))
        assert seq_row is not None
        seq = int(seq_row[0]) - 2 * len(moves)
        entries: list[LedgerRecord] = []
        for loser, winner, points in moves:
            for member, pts, other in ((loser, -points, winner), (winner, points, loser)):
                seq += 1
                entries.append(LedgerRecord(
                    entry_id=secrets.token_hex(16), member_id=member, store_id=HO_STORE, till_id=HO_TILL, seq=seq,
                    kind="adjust", points=pts, created_at=now, reason="merge", ref=other, operator="headoffice"))
        self._insert_entries(entries, now)

    def _ingest_cards(self, batch: PushBatch, now: str) -> int:
        changed: list[str] = []
        for c in batch.cards:
            row = self._one("SELECT status, member_id FROM cards WHERE card_number = ?", (c.card_number,))
            member = self._final_member(c.member_id)
            if row is None:
                self._execute("INSERT INTO cards (card_number, member_id, source, status, replaced_by, created_at,"
                              " updated_at) VALUES (?,?,?,?,?,?,?)",
                              (c.card_number, member, c.source, c.status, c.replaced_by, c.created_at or now, now))
            else:
                # A card's state only moves forward (active -> lost -> blocked): a till cannot undo a block.
                status = max(row[0], c.status, key=lambda s: CARD_RANK.get(s, 0))
                self._execute("UPDATE cards SET status = ?, replaced_by = COALESCE(?, replaced_by), updated_at = ?"
                              " WHERE card_number = ?", (status, c.replaced_by, now, c.card_number))
            changed.append(c.card_number)
        self._feed("card", changed)
        return len(changed)

    def _ingest_sales(self, batch: PushBatch, now: str) -> int:
        if not batch.sales:
            return 0
        self._executemany(
            "INSERT INTO sales (sale_id, store_id, till_id, member_id, total_cents, tender, points_earned, operator,"
            " created_at, received_at, lines) VALUES (?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT DO NOTHING",
            [(s.sale_id, s.store_id, s.till_id, s.member_id, s.total_cents, s.tender, s.points_earned, s.operator,
              s.created_at, now, json.dumps([_line(li) for li in s.lines])) for s in batch.sales])
        return len(batch.sales)

    def _insert_entries(self, entries: Sequence[LedgerRecord], now: str) -> list[tuple[str, int]]:
        """Insert what is new (by UUID and by till seq) and move balances; returns (member, points) taken."""
        if not entries:
            return []
        base = self._alloc(len(entries))
        self._insert_ignore("ledger", ("server_seq", *LEDGER_COLUMNS, "received_at"),
                            [(base + i + 1, *e.row(), now) for i, e in enumerate(entries)])
        taken = [(r[0], int(r[1])) for r in self._execute(
            "SELECT member_id, points FROM ledger WHERE server_seq > ? AND server_seq <= ?",
            (base, base + len(entries)))]
        sums: dict[str, int] = {}
        for member, points in taken:
            sums[member] = sums.get(member, 0) + points
        self._executemany(
            "INSERT INTO balances (member_id, points, updated_at) VALUES (?, ?, ?) ON CONFLICT (member_id)"
            " DO UPDATE SET points = balances.points + excluded.points, updated_at = excluded.updated_at",
            [(m, p, now) for m, p in sums.items()])
        return taken

    def _ingest_entries(self, entries: list[LedgerRecord], now: str) -> tuple[list[tuple[str, int]], int, list[Reject]]:
        entries = sorted(entries, key=lambda e: e.seq)
        taken = self._insert_entries(entries, now)
        if len(taken) == len(entries):
            return taken, 0, []
        # Some rows were not taken: replays (same UUID) or a seq reused under another UUID (kept aside).
        known: set[str] = set()
        for part in _chunks([e.entry_id for e in entries]):
            marks = ", ".join("?" * len(part))
            known |= {r[0] for r in self._execute(f"SELECT entry_id FROM ledger WHERE entry_id IN ({marks})", part)}
        taken_count = len(taken)
        conflicts = [Reject("entries", i, e.entry_id, [f"seq {e.seq} already holds another entry of this till"],
                            e.to_dict()) for i, e in enumerate(entries) if e.entry_id not in known]
        dups = len(entries) - taken_count - len(conflicts)
        return taken, dups, conflicts

    def _quarantine(self, principal: Principal, rejects: list[Reject], now: str) -> None:
        from cardread.read import scrub

        rows = []
        for r in rejects:
            raw = scrub(json.dumps(r.raw, sort_keys=True, default=str))[:4000]
            seq = r.raw.get("seq") if isinstance(r.raw, dict) else None
            if not isinstance(seq, int) or isinstance(seq, bool) or r.type != "entries" or seq < 1:
                seq = None
            rkey = _hash(f"{principal.store_id}/{principal.till_id}/{r.type}/{raw}")
            rows.append((rkey, principal.store_id, principal.till_id, r.type, seq, json.dumps(r.reasons), raw, now))
        if rows:
            self._executemany("INSERT INTO rejects (rkey, store_id, till_id, type, seq, reasons, raw, received_at)"
                              " VALUES (?,?,?,?,?,?,?,?) ON CONFLICT DO NOTHING", rows)

    def _advance_high_seq(self, principal: Principal, batch: PushBatch, now: str) -> tuple[int, list[list[int]]]:
        """The highest seq up to which this till's sequence is complete (quarantined seqs count as held)."""
        who = (principal.store_id, principal.till_id)
        row = self._one("SELECT high_seq FROM tills WHERE store_id = ? AND till_id = ?", who)
        high = int(row[0]) if row else 0
        start = high
        while True:
            held = [int(r[0]) for r in self._execute(
                "SELECT seq FROM ledger WHERE store_id = ? AND till_id = ? AND seq > ? AND seq <= ?"
                " UNION SELECT seq FROM rejects WHERE store_id = ? AND till_id = ? AND seq > ? AND seq <= ?"
                " ORDER BY 1", (*who, high, high + 5000, *who, high, high + 5000))]
            moved = high
            for s in held:
                if s != high + 1:
                    break
                high = s
            if high == moved or high < moved + 5000:
                break
        sent = [e.seq for e in batch.entries]
        gaps: list[list[int]] = []
        if sent and high < max(sent) <= high + 100_000:
            present = set(int(r[0]) for r in self._execute(
                "SELECT seq FROM ledger WHERE store_id = ? AND till_id = ? AND seq > ? AND seq <= ?",
                (*who, high, max(sent))))
            missing_start = None
            for s in range(high + 1, max(sent) + 1):
                if s not in present and missing_start is None:
                    missing_start = s
                elif s in present and missing_start is not None:
                    gaps.append([missing_start, s - 1])
                    missing_start = None
        if high != start or sent:
            self._execute("UPDATE tills SET high_seq = ?, last_push_at = ? WHERE store_id = ? AND till_id = ?",
                          (high, now, *who))
        return high, gaps

    # --- pull ----------------------------------------------------------------------------------
    def pull(self, principal: Principal, cursor: int, limit: int = 1000, with_total: bool = True) -> PullPage:
        limit = max(1, min(int(limit), 5000))
        cursor = max(0, int(cursor))
        who = (principal.store_id, principal.till_id)
        with self._lock, self._read():
            top = int(self._one("SELECT value FROM meta WHERE key = 'server_seq'")[0])  # type: ignore[index]
            cols = ", ".join(LEDGER_COLUMNS)
            entries = self._execute(
                f"SELECT server_seq, {cols} FROM ledger WHERE server_seq > ? AND server_seq <= ?"
                " AND NOT (store_id = ? AND till_id = ?) ORDER BY server_seq LIMIT ?", (cursor, top, *who, limit))
            # a till's own key is never sent back to it (it has it; nothing else may replace it)
            own_key = f"{who[0]}/{who[1]}"
            feed = self._execute("SELECT server_seq, entity, key FROM feed WHERE server_seq > ? AND server_seq <= ?"
                                 " AND NOT (entity = 'till_key' AND key = ?) ORDER BY server_seq LIMIT ?",
                                 (cursor, top, own_key, limit))
            items: list[tuple[int, str, Any]] = [(int(r[0]), "entry", r) for r in entries]
            items += [(int(r[0]), str(r[1]), str(r[2])) for r in feed]
            items.sort(key=lambda x: x[0])
            more = len(items) > limit or len(entries) == limit or len(feed) == limit
            items = items[:limit]
            next_cursor = items[-1][0] if more and items else top
            pending = 0
            if with_total and more:
                pending = int(self._one(
                    "SELECT (SELECT COUNT(*) FROM ledger WHERE server_seq > ? AND server_seq <= ?"
                    " AND NOT (store_id = ? AND till_id = ?)) + (SELECT COUNT(*) FROM feed WHERE server_seq > ?"
                    " AND server_seq <= ? AND NOT (entity = 'till_key' AND key = ?))",
                    (cursor, top, *who, cursor, top, own_key))[0])  # type: ignore[index]
            if not more:
                pending = len(items)
            changes = self._resolve(items)
        return PullPage(changes, max(next_cursor, cursor), more, pending, now_iso())

    def _resolve(self, items: list[tuple[int, str, Any]]) -> list[Change]:
        wanted: dict[str, list[str]] = {}
        for _, entity, key in items:
            if entity != "entry":
                wanted.setdefault(entity, []).append(key)
        found: dict[tuple[str, str], dict[str, Any]] = {}
        for entity, keys in wanted.items():
            for part in _chunks(keys):
                for key, data in self._load(entity, part):
                    found[(entity, key)] = data
        out: list[Change] = []
        for seq, entity, payload in items:
            if entity == "entry":
                out.append(Change(seq, "entry", dict(zip(LEDGER_COLUMNS, payload[1:], strict=True))))
            elif (entity, payload) in found:
                out.append(Change(seq, entity, found[(entity, payload)]))
        return out

    def _load(self, entity: str, keys: Sequence[str]) -> list[tuple[str, dict[str, Any]]]:
        marks = ", ".join("?" * len(keys))
        if entity == "member":
            rows = self._execute(
                "SELECT member_id, store_id, name, phone, email, status, merged_into, consent, created_at, updated_at"
                f" FROM members WHERE member_id IN ({marks})", keys)
            return [(r[0], {"member_id": r[0], "store_id": r[1], "name": r[2], "phone": r[3], "email": r[4],
                            "status": r[5], "merged_into": r[6], "consent": json.loads(r[7] or "{}"),
                            "created_at": r[8], "updated_at": r[9]}) for r in rows]
        if entity == "card":
            rows = self._execute("SELECT card_number, member_id, source, status, replaced_by, created_at, updated_at"
                                 f" FROM cards WHERE card_number IN ({marks})", keys)
            return [(r[0], {"card_number": r[0], "member_id": r[1], "source": r[2], "status": r[3],
                            "replaced_by": r[4], "created_at": r[5], "updated_at": r[6]}) for r in rows]
        if entity == "rule":
            rows = self._execute(f"SELECT key, value FROM rules WHERE key IN ({marks})", keys)
            return [(r[0], {"key": r[0], "value": json.loads(r[1])}) for r in rows]
        if entity == "product":
            rows = self._execute(f"SELECT sku, ean, name, category, price_cents FROM products WHERE sku IN ({marks})",
                                 keys)
            return [(r[0], {"sku": r[0], "ean": r[1], "name": r[2], "category": r[3], "price_cents": int(r[4])})
                    for r in rows]
        if entity == "till_key":
            out = []
            for key in keys:
                store_id, _, till_id = key.partition("/")
                row = self._one("SELECT public_key FROM till_keys WHERE store_id = ? AND till_id = ?",
                                (store_id, till_id))
                if row:
                    out.append((key, {"store_id": store_id, "till_id": till_id, "public_key": row[0]}))
            return out
        if entity in ("coupon_use", "erasure"):
            fields = DOC_FIELDS[entity]
            table, pk = ("coupon_uses", "use_id") if entity == "coupon_use" else ("erasures", "erasure_id")
            rows = self._execute(f"SELECT {', '.join(fields)} FROM {table} WHERE {pk} IN ({marks})", keys)
            return [(r[0], dict(zip(fields, r, strict=True))) for r in rows]
        return []

    # --- administration ----------------------------------------------------------------------
    def block_card(self, card_number: str) -> bool:
        with self._lock, self._write():
            row = self._one("UPDATE cards SET status = 'blocked', updated_at = ? WHERE card_number = ?"
                            " RETURNING card_number", (now_iso(), card_number))
            if row:
                self._feed("card", [card_number])
        return row is not None

    def erase_member(self, member_id: str) -> bool:
        """Right to erasure: personal details go, cards are blocked; the ledger stays (no personal data in it).

        Recorded as an erasure document like one a till pushes, so every till ends in the same state
        whichever side took the request.
        """
        now = now_iso()
        with self._lock, self._write():
            if self._one("SELECT 1 FROM members WHERE member_id = ?", (member_id,)) is None:
                return False
            erasure_id = secrets.token_hex(16)
            self._execute("INSERT INTO erasures (erasure_id, member_id, store_id, till_id, at, received_at)"
                          " VALUES (?,?,?,?,?,?)", (erasure_id, member_id, HO_STORE, HO_TILL, now, now))
            self._anonymise(member_id, now)
            self._feed("erasure", [erasure_id])
        return True

    def set_rule(self, key: str, value: Any) -> None:
        with self._lock, self._write():
            self._execute("INSERT INTO rules (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE"
                          " SET value = excluded.value", (key, json.dumps(value)))
            self._feed("rule", [key])

    def upsert_products(self, products: list[dict[str, Any]]) -> int:
        rows = []
        for p in products:
            price = p["price_cents"]
            if not isinstance(price, int) or isinstance(price, bool) or price < 0:
                raise ValueError(f"product {p.get('sku')}: price_cents must be a non-negative integer")
            rows.append((str(p["sku"]), p.get("ean"), str(p["name"]), str(p.get("category", "general")), price))
        with self._lock, self._write():
            self._executemany(
                "INSERT INTO products (sku, ean, name, category, price_cents) VALUES (?,?,?,?,?) ON CONFLICT (sku)"
                " DO UPDATE SET ean = excluded.ean, name = excluded.name, category = excluded.category,"
                " price_cents = excluded.price_cents", rows)
            self._feed("product", [r[0] for r in rows])
        return len(rows)

    # --- reading --------------------------------------------------------------------------------
    def balance(self, member_id: str) -> int:
        with self._lock, self._read():
            final = self._final_member(member_id)
            row = self._one("SELECT points FROM balances WHERE member_id = ?", (final,))
        return int(row[0]) if row else 0

    def member(self, member_id: str) -> dict[str, Any] | None:
        with self._lock, self._read():
            found = self._load("member", [member_id])
            if not found:
                return None
            data = found[0][1]
            data["cards"] = [r[0] for r in self._execute(
                "SELECT card_number FROM cards WHERE member_id = ? ORDER BY card_number", (member_id,))]
            row = self._one("SELECT points FROM balances WHERE member_id = ?", (member_id,))
            data["balance"] = int(row[0]) if row else 0
        return data

    def member_history(self, member_id: str) -> list[dict[str, Any]]:
        with self._lock, self._read():
            ids = [member_id] + [r[0] for r in self._execute(
                "SELECT member_id FROM members WHERE merged_into = ?", (member_id,))]
            marks = ", ".join("?" * len(ids))
            rows = self._execute(f"SELECT server_seq, {', '.join(LEDGER_COLUMNS)}, received_at FROM ledger"
                                 f" WHERE member_id IN ({marks}) ORDER BY server_seq", ids)
        return [dict(zip(("server_seq", *LEDGER_COLUMNS, "received_at"), r, strict=True)) for r in rows]

    def overdraft_report(self) -> list[dict[str, Any]]:
        with self._lock, self._read():
            rows = self._execute("SELECT b.member_id, b.points, m.store_id FROM balances b"
                                 " LEFT JOIN members m ON m.member_id = b.member_id WHERE b.points < 0"
                                 " ORDER BY b.points, b.member_id")
            out = []
            for member_id, points, store_id in rows:
                redemptions = [
                    {"entry_id": r[0], "store_id": r[1], "till_id": r[2], "points": int(r[3]), "created_at": r[4],
                     "received_at": r[5]}
                    for r in self._execute(
                        "SELECT entry_id, store_id, till_id, points, created_at, received_at FROM ledger"
                        " WHERE member_id = ? AND kind = 'redeem' ORDER BY server_seq", (member_id,))]
                out.append({"member_id": member_id, "balance": int(points), "home_store": store_id,
                            "redemptions": redemptions})
        return out

    def coupon_doubles(self) -> list[dict[str, Any]]:
        with self._lock, self._read():
            codes = [r[0] for r in self._execute(
                "SELECT code FROM coupon_uses GROUP BY code HAVING COUNT(*) > 1 ORDER BY code")]
            out = []
            for code in codes:
                uses = [{"use_id": r[0], "store_id": r[1], "till_id": r[2], "sale_id": r[3], "used_at": r[4],
                         "received_at": r[5]} for r in self._execute(
                    "SELECT use_id, store_id, till_id, sale_id, used_at, received_at FROM coupon_uses"
                    " WHERE code = ? ORDER BY received_at, use_id", (code,))]
                out.append({"code": code, "uses": uses})
        return out

    def till_keys(self) -> list[dict[str, Any]]:
        with self._lock, self._read():
            rows = self._execute("SELECT store_id, till_id, public_key, received_at FROM till_keys"
                                 " ORDER BY store_id, till_id")
        return [{"store_id": r[0], "till_id": r[1], "public_key": r[2], "received_at": r[3]} for r in rows]

    def erasures(self) -> list[dict[str, Any]]:
        with self._lock, self._read():
            rows = self._execute("SELECT erasure_id, member_id, store_id, till_id, at, received_at FROM erasures"
                                 " ORDER BY received_at, erasure_id")
        return [dict(zip(("erasure_id", "member_id", "store_id", "till_id", "at", "received_at"), r, strict=True))
                for r in rows]

    def rejects(self) -> list[dict[str, Any]]:
        with self._lock, self._read():
            rows = self._execute("SELECT store_id, till_id, type, seq, reasons, raw, received_at FROM rejects"
                                 " ORDER BY received_at, rkey")
        return [{"store_id": r[0], "till_id": r[1], "type": r[2], "seq": r[3], "reasons": json.loads(r[4]),
                 "raw": r[5], "received_at": r[6]} for r in rows]

    def counts(self) -> dict[str, int]:
        with self._lock, self._read():
            out = {}
            for table in ("ledger", "members", "cards", "sales", "rejects", "feed", "till_keys", "coupon_uses",
                          "erasures"):
                out[table] = int(self._one(f"SELECT COUNT(*) FROM {table}")[0])  # type: ignore[index]
            out["points_total"] = int(self._one("SELECT COALESCE(SUM(points), 0) FROM ledger")[0])  # type: ignore[index]
            out["balance_total"] = int(self._one("SELECT COALESCE(SUM(points), 0) FROM balances")[0])  # type: ignore[index]
        return out

    def export_rows(self, table: str) -> list[dict[str, Any]]:
        """Every row of one of the program's tables, as dicts (head-office marketing reports)."""
        cols = EXPORT_COLUMNS.get(table)
        if cols is None:
            raise ValueError(f"not an exportable table: {table}")
        with self._lock, self._read():
            rows = self._execute(f"SELECT {', '.join(cols)} FROM {table} ORDER BY {cols[0]}")
        return [dict(zip(cols, r, strict=True)) for r in rows]

    def till_status(self, store_id: str, till_id: str) -> dict[str, Any] | None:
        with self._lock, self._read():
            row = self._one("SELECT high_seq, last_push_at, registered_at FROM tills WHERE store_id = ?"
                            " AND till_id = ?", (store_id, till_id))
        return {"high_seq": int(row[0]), "last_push_at": row[1], "registered_at": row[2]} if row else None


def _line(li: Any) -> dict[str, Any]:
    return {"line_no": li.line_no, "sku": li.sku, "ean": li.ean, "name": li.name, "category": li.category,
            "qty": li.qty, "unit_cents": li.unit_cents, "amount_cents": li.amount_cents, "points": li.points}
