"""Build a till database at chain scale, fast and reproducibly, for the benchmarks.

The schema is the real one (`pos_client.store.db.connect` applies the migrations); only the load is
special: one connection, journal and fsync off while loading, big `executemany` batches, the
secondary indexes dropped during the load and rebuilt once at the end, then WAL + FULL
restored so every figure measures the till's real durability settings.

Skew is drawn with a seeded `random.Random` and integers only: members fall into segments
(weekly, monthly, occasional, rare buyers), so a few members hold most entries, as in a real
programme. Balances are summed from the very ledger rows written, so balance == ledger sum.

    python -m bench.generate --size quick        # ~1% of chain scale, seconds
    python -m bench.generate --size full         # 1M members, 1.5M cards, 10M entries
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import json
import os
import random
import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from cardread.barcode import with_check_digit
from pos_client.domain.rules import LineInput, ProgramRules, earn_points
from pos_client.services import checkout
from pos_client.services.checkout import Basket, Line
from pos_client.store import point_months
from pos_client.store.db import _migration_modules, connect

# Bump when the generated content changes, so stale cached databases are not reused.
GEN_VERSION = 2  # 2: members with history at this till have their lifecycle stage recorded
DATA_DIR = Path(__file__).resolve().parent / "data"
DEFAULT_SEED = 20261123
LOCAL_STORE, LOCAL_TILL = "S1", "T1"  # the config defaults: the till under test
STORES, TILLS_PER_STORE = 40, 3
HISTORY_DAYS = 3 * 365
HISTORY_END = date(2026, 11, 1)
BATCH = 50_000


@dataclass(frozen=True)
class Size:
    name: str
    members: int
    cards: int
    ledger: int
    products: int


SIZES: dict[str, Size] = {
    "full": Size("full", 1_000_000, 1_500_000, 10_000_000, 5_000),
    "quick": Size("quick", 10_000, 15_000, 100_000, 1_000),
    "mid": Size("mid", 100_000, 150_000, 1_000_000, 2_000),  # 10%: before/after measurements
    "tiny": Size("tiny", 300, 450, 3_000, 100),
}

# (per-mille share of members, min entries, max entries): weekly, monthly, occasional, rare.
SEGMENTS: tuple[tuple[int, int, int], ...] = ((20, 100, 160), (80, 24, 48), (250, 6, 18), (650, 1, 5))
FIRST = ("Ana", "Ben", "Chloé", "David", "Emma", "Farid", "Gabriel", "Hugo", "Inès", "Jade", "Karim", "Léa",
         "Louis", "Manon", "Nathan", "Océane", "Paul", "Quentin", "Rose", "Sofia", "Théo", "Ugo", "Victor",
         "Wassim", "Yasmine", "Zoé", "Lucas", "Camille", "Jules", "Alice", "Mila", "Adam", "Lina", "Raphaël")
LAST = ("Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand", "Leroy", "Moreau",
        "Simon", "Laurent", "Lefebvre", "Michel", "Garcia", "David", "Bertrand", "Roux", "Vincent", "Fournier",
        "Morel", "Girard", "André", "Lefèvre", "Mercier", "Dupont", "Lambert", "Bonnet", "François", "Martinez")
CATEGORIES = ("grocery", "fresh", "bakery", "drinks", "household", "beauty", "pet", "baby", "garden")
OPERATORS = ("alice", "bob", "chen", "dina", None)


@dataclass
class GenStats:
    size: str
    seed: int
    members: int = 0
    cards: int = 0
    ledger: int = 0
    sales: int = 0
    sale_lines: int = 0
    products: int = 0
    seconds: float = 0.0
    load_seconds: float = 0.0
    index_seconds: float = 0.0
    bytes: int = 0
    drop_indexes: bool = True


def _uuid_hex(rng: random.Random) -> str:
    """A version-4 UUID as 32 hex digits, drawn from the seeded generator (reproducible)."""
    bits = rng.getrandbits(128)
    bits = (bits & ~(0xF000 << 64) | (0x4000 << 64)) & ~(0xC000 << 48) | (0x8000 << 48)
    return f"{bits:032x}"


def loyalty_number(k: int) -> str:
    """The k-th issued loyalty card: EAN-13 starting 29, spread over the number space."""
    return with_check_digit(f"29{(k * 7_919_333 + 104_729) % 10_000_000_000:010d}")


def _entry_counts(rng: random.Random, members: int, target: int) -> list[int]:
    """Entries per member: segment draws, rescaled so they sum exactly to `target`."""
    bounds, acc = [], 0
    for share, lo, hi in SEGMENTS:
        acc += share
        bounds.append((acc, lo, hi))
    counts = []
    for _ in range(members):
        r = rng.randrange(1000)
        for edge, lo, hi in bounds:
            if r < edge:
                counts.append(rng.randint(lo, hi))
                break
    total = sum(counts)
    counts = [max(1, c * target // total) for c in counts]
    diff = target - sum(counts)
    while diff:
        i = rng.randrange(members)
        if diff > 0:
            counts[i] += 1
            diff -= 1
        elif counts[i] > 1:
            counts[i] -= 1
            diff += 1
    return counts


class _Batcher:
    """executemany in big batches, counting rows per table.

    (A writer thread overlapping SQLite's inserts with generation was measured at full scale:
    203 s against 206 s, within noise, since binding rows holds the GIL; so it stays simple.)
    """

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.pending: dict[str, tuple[str, list[tuple[Any, ...]]]] = {}
        self.count: dict[str, int] = {}

    def sql(self, table: str, sql: str) -> list[tuple[Any, ...]]:
        self.pending[table] = (sql, [])
        self.count[table] = 0
        return self.pending[table][1]

    def flush(self, table: str | None = None) -> None:
        for name, (sql, rows) in self.pending.items():
            if (table is None or name == table) and rows:
                self.conn.executemany(sql, rows)
                self.count[name] += len(rows)
                rows.clear()


def _schema_objects(conn: sqlite3.Connection, kind: str) -> list[tuple[str, str]]:
    """Explicit indexes or triggers of the migrated schema, with the SQL that recreates them."""
    return [(r[0], r[1]) for r in conn.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = ? AND sql IS NOT NULL ORDER BY name", (kind,))]


def generate(path: str | Path, size: Size, seed: int = DEFAULT_SEED, *, drop_indexes: bool = True,
             progress: Callable[[str], None] | None = None) -> GenStats:
    """Write a fresh till database at `path` (replaced if present) and return what was written."""
    path = Path(path)
    for suffix in ("", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    say = progress or (lambda _msg: None)
    t0 = time.perf_counter()
    stats = GenStats(size.name, seed, drop_indexes=drop_indexes)
    conn = connect(path)  # the real schema, through the real migrations
    conn.execute("PRAGMA journal_mode=OFF")  # generation only: restored to WAL below
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("PRAGMA foreign_keys=OFF")
    conn.execute("PRAGMA cache_size=-2000000")  # 2 GB page cache while loading
    conn.execute("PRAGMA temp_store=MEMORY")
    conn.execute("PRAGMA locking_mode=EXCLUSIVE")
    indexes = _schema_objects(conn, "index") if drop_indexes else []
    for name, _ in indexes:
        conn.execute(f'DROP INDEX "{name}"')
    # Triggers (append-only guards, sync outboxes of other capabilities) are off during the load: the
    # history is loaded as if already synced with head office, then every trigger is put back.
    triggers = _schema_objects(conn, "trigger")
    for name, _ in triggers:
        conn.execute(f'DROP TRIGGER "{name}"')
    conn.execute("BEGIN")
    _load(conn, size, random.Random(seed), stats, say)
    conn.execute("COMMIT")
    stats.load_seconds = time.perf_counter() - t0
    t1 = time.perf_counter()
    for name, sql in indexes:
        say(f"index {name}")
        conn.execute(sql)
    stats.index_seconds = time.perf_counter() - t1
    for _, sql in triggers:
        conn.execute(sql)
    say("point_months")  # the summary its trigger keeps, made once from the loaded ledger
    conn.execute("BEGIN")
    point_months.rebuild(conn)
    conn.execute("COMMIT")
    conn.execute("PRAGMA locking_mode=NORMAL")
    conn.execute("PRAGMA journal_mode=WAL")  # what the till runs with; connect() sets synchronous=FULL
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    stats.seconds = time.perf_counter() - t0
    stats.bytes = path.stat().st_size
    return stats


def _load(conn: sqlite3.Connection, size: Size, rng: random.Random, stats: GenStats,
          say: Callable[[str], None]) -> None:
    rules = ProgramRules()
    sale_hash = checkout.sale_content_hash  # as commit_sale computes it
    b = _Batcher(conn)
    start = datetime.combine(HISTORY_END - timedelta(days=HISTORY_DAYS), datetime.min.time(), UTC)
    days = [(start + timedelta(days=d)).date().isoformat() for d in range(HISTORY_DAYS + 1)]
    span = HISTORY_DAYS * 86_400

    def stamp(sec: int, micro: int) -> str:
        d, rem = divmod(sec, 86_400)
        h, rem = divmod(rem, 3600)
        m, s = divmod(rem, 60)
        return f"{days[d]}T{h:02d}:{m:02d}:{s:02d}.{micro:06d}+00:00"

    # Products: a catalog with skewed popularity (low indexes sell most).
    products = []
    prod_rows = b.sql("products", "INSERT INTO products (sku, ean, name, category, price_cents, updated_at)"
                                  " VALUES (?,?,?,?,?,?)")
    catalog_ts = stamp(0, 0)
    for i in range(size.products):
        cat = CATEGORIES[rng.randrange(len(CATEGORIES))]
        p = (f"SKU{i:06d}", with_check_digit(f"3{(i * 7_919 + 12_345) % 10**11:011d}"),
             f"{cat.capitalize()} item {i}", cat, rng.randint(100, 2_500))
        products.append(p)
        prod_rows.append((*p, catalog_ts))
    b.flush("products")

    counts = _entry_counts(rng, size.members, size.ledger)
    extra = rng.sample(range(size.members), size.cards - size.members) if size.cards > size.members else []
    extra_set = set(extra)
    member_rows = b.sql("members", "INSERT INTO members (member_id, name, phone, email, store_id, status,"
                                   " created_at, updated_at) VALUES (?,?,?,?,?,?,?,?)")
    card_rows = b.sql("cards", "INSERT INTO cards (card_number, member_id, source, status, replaced_by,"
                               " created_at, updated_at) VALUES (?,?,?,?,?,?,?)")
    ledger_rows = b.sql("ledger", "INSERT INTO ledger (entry_id, member_id, store_id, till_id, seq, kind, points,"
                                  " sale_id, amount_cents, created_at, operator, reason, ref)"
                                  " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)")
    balance_rows = b.sql("balances", "INSERT INTO balances (member_id, points, updated_at) VALUES (?,?,?)")
    sale_rows = b.sql("sales", "INSERT INTO sales (sale_id, store_id, till_id, member_id, total_cents, tender,"
                               " points_earned, balance_after, content_hash, operator, created_at)"
                               " VALUES (?,?,?,?,?,?,?,?,?,?,?)")
    stage_rows = b.sql("member_stages", "INSERT INTO member_stages (member_id, stage, prev_stage, since, created_at)"
                                        " VALUES (?,?,?,?,?)")
    line_rows = b.sql("sale_lines", "INSERT INTO sale_lines (sale_id, line_no, sku, ean, name, category, qty,"
                                    " unit_cents, amount_cents, points) VALUES (?,?,?,?,?,?,?,?,?,?)")
    seq: dict[tuple[str, str], int] = {}
    stores = [f"S{i}" for i in range(1, STORES + 1)]
    tills = [f"T{i}" for i in range(1, TILLS_PER_STORE + 1)]
    nprod = len(products)
    rand, randrange, randint = rng.random, rng.randrange, rng.randint
    nfc_k = 0

    def basket(member_id: str | None) -> tuple[list[tuple[Any, ...]], int, int, str]:
        """Lines for a local sale: (rows without sale id, total, points, content hash)."""
        lines = []
        for _ in range(randint(1, 6)):
            p = products[randrange(randrange(1, nprod + 1))]
            lines.append(Line(p[2], p[3], randint(1, 3), p[4], p[0], p[1]))
        total = sum(li.amount_cents for li in lines)
        points, per_line = (0, [0] * len(lines))
        if member_id:
            points, per_line = earn_points(rules, [LineInput(li.category, li.amount_cents) for li in lines],
                                           HISTORY_END)
        rows = [(i + 1, li.sku, li.ean, li.name, li.category, li.qty, li.unit_cents, li.amount_cents, pts)
                for i, (li, pts) in enumerate(zip(lines, per_line, strict=True))]
        return rows, total, points, sale_hash(Basket(list(lines), member_id=member_id))

    def add_sale(sid: str, member_id: str | None, ts: str, op: str | None,
                 parts: tuple[list[tuple[Any, ...]], int, int, str], balance_after: int | None) -> None:
        rows, total, points, chash = parts
        sale_rows.append((sid, LOCAL_STORE, LOCAL_TILL, member_id, total, "card" if rand() < 0.6 else "cash",
                          points, balance_after, chash, op, ts))
        line_rows.extend((sid, *r) for r in rows)

    for i in range(size.members):
        mid = _uuid_hex(rng)
        home = stores[randrange(STORES)]
        n = counts[i]
        secs = sorted(randrange(span) for _ in range(n))
        first = max(0, secs[0] - randrange(86_400 * 30))
        created = stamp(first, randrange(1_000_000))
        erased = randrange(500) == 0
        name = None if erased else f"{FIRST[randrange(len(FIRST))]} {LAST[randrange(len(LAST))]}"
        phone = None if erased or randrange(5) == 0 else f"+336{(i * 48_271 + 1_234_567) % 100_000_000:08d}"
        email = None if erased or randrange(5) >= 2 else f"member{i}@example.net"
        member_rows.append((mid, name, phone, email, home, "erased" if erased else "active", created, created))
        primary = loyalty_number(i)
        if i in extra_set:
            if randrange(10) < 6:  # a lost card, replaced by the current one
                card_rows.append((loyalty_number(size.members + i), mid, "barcode", "lost", primary, created,
                                  created))
            else:  # an NFC card alongside the barcode card (7-byte NXP UID)
                nfc_k += 1
                card_rows.append((f"NFC:04{(nfc_k * 2_654_435_761) % 2**48:012X}", mid, "nfc", "active", None,
                                  created, created))
        card_rows.append((primary, mid, "barcode", "active", None, created, created))
        bal = 0
        ts = created
        last_local = None
        for sec in secs:
            ts = stamp(sec, randrange(1_000_000))
            store = home if randrange(10) else stores[randrange(STORES)]
            till = tills[randrange(TILLS_PER_STORE)]
            key = (store, till)
            s = seq[key] = seq.get(key, 0) + 1
            op = OPERATORS[randrange(5)]
            r = randrange(100)
            sale_id = reason = None
            amount = 0
            if r < 4 and bal >= 500:
                kind, pts, reason = "redeem", -(500 if bal < 1000 or randrange(2) else 1000), "reward"
            elif r == 4:
                kind, pts, reason = "bonus", randint(50, 200), "campaign"
            elif r == 5 and bal > 0 and not randrange(5):
                kind, pts, reason = "expire", -min(bal, randint(10, 300)), "expiry"
            elif r == 6 and not randrange(10):
                kind, pts, reason = "adjust", randint(-20, 50), "correction"
            else:
                kind, sale_id = "earn", _uuid_hex(rng)
                if key == (LOCAL_STORE, LOCAL_TILL):
                    last_local = ts
                    parts = basket(mid)
                    amount, pts = parts[1], parts[2]
                    add_sale(sale_id, mid, ts, op, parts, bal + pts)
                    if randrange(2):  # an anonymous sale at this till for roughly every member sale
                        add_sale(_uuid_hex(rng), None, ts, op, basket(None), None)
                else:
                    amount = randint(300, 12_000)
                    pts = amount // 100
            bal += pts
            ledger_rows.append((_uuid_hex(rng), mid, store, till, s, kind, pts, sale_id, amount, ts, op, reason,
                                None))
        balance_rows.append((mid, bal, ts))
        if last_local is not None:  # a till with this member's history has seen their stage at the last visit
            stage_rows.append((mid, "active", None, last_local[:10], last_local))
        if len(ledger_rows) >= BATCH:
            b.flush()
            if i % 100_000 < 5_000:
                say(f"members {i + 1:,}/{size.members:,}, ledger {b.count['ledger']:,}")
    b.flush()
    stats.members, stats.cards, stats.ledger = b.count["members"], b.count["cards"], b.count["ledger"]
    stats.sales, stats.sale_lines, stats.products = b.count["sales"], b.count["sale_lines"], b.count["products"]


def cache_key(size: Size, seed: int) -> str:
    """Size, seed, generator version and the set of migrations: a new schema means a new dataset."""
    schema = hashlib.sha256(",".join(_migration_modules()).encode()).hexdigest()[:8]
    return f"{size.name}-m{size.members}-c{size.cards}-l{size.ledger}-s{seed}-v{GEN_VERSION}-{schema}"


@contextlib.contextmanager
def build_lock(path: Path) -> Iterator[None]:
    """Held while a cached file is built: several bench runs sharing a machine wait for one build, not race it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(f"{path}.lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def cached_home(size: Size, seed: int = DEFAULT_SEED, data_dir: Path = DATA_DIR,
                progress: Callable[[str], None] | None = None) -> tuple[Path, GenStats, bool]:
    """A till home holding the generated database, built once per size+seed and then reused.

    Returns (home, generation stats, whether it came from the cache). The database is built
    under a temporary name and renamed, so an interrupted build is never mistaken for a cache.
    """
    home = data_dir / cache_key(size, seed)
    db, meta = home / "till.db", home / "generated.json"
    with build_lock(db):
        if db.exists() and meta.exists():
            return home, GenStats(**json.loads(meta.read_text())), True
        home.mkdir(parents=True, exist_ok=True)
        tmp = home / "till.db.building"
        stats = generate(tmp, size, seed, progress=progress)
        for suffix in ("-wal", "-shm"):
            Path(str(db) + suffix).unlink(missing_ok=True)
        os.replace(tmp, db)
        meta.write_text(json.dumps(asdict(stats), indent=1))
    return home, stats, False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.generate", description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=sorted(SIZES), default="quick")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--out", help="write here instead of the cache under bench/data/")
    parser.add_argument("--keep-indexes", action="store_true", help="load with the indexes in place (to compare)")
    args = parser.parse_args(argv)
    size = SIZES[args.size]
    def say(msg: str) -> None:
        print(f"  {msg}", flush=True)
    if args.out:
        stats = generate(args.out, size, args.seed, drop_indexes=not args.keep_indexes, progress=say)
    else:
        home, stats, cached = cached_home(size, args.seed, progress=say)
        print(f"{home} ({'cached' if cached else 'built'})")
    print(json.dumps(asdict(stats), indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
