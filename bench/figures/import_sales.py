"""`pos-client import sales`: rows per second from a sales CSV into a fresh till, hooks and replay included.

Measured (issue 15): `pos_client.services.importer.import_sales` on the first run into a fresh till
(`bench.fresh_till`: the generated chain's members, cards and products, no history: a store adopting
the system) opened by `open_till` with its marketing program, so the import replays the history as if
lived (tier upgrades and bonuses, each day's upkeep, lifecycle) and pays the ledger's triggers; each
sample starts from a new copy of that till and empty parse caches (`import_rows.forget`: the warm-up import
would otherwise have parsed every card for the timed ones), imports the same generated CSV (one row per sale line, the
cards of existing members) and commits it (WAL, synchronous=FULL).

Baseline, like for like: the same rows the import writes (its sales, sale lines and ledger entries, taken
from an untimed warm-up import) read back from the CSV by `csv.reader` and inserted with raw `executemany`
into another copy of the same fresh till, so into the same tables with the same indexes, in one
transaction, durably committed, on a connection with the page cache the importer gives itself
(`import_bulk.CACHE_KIB`: like for like, the raw insert is not slowed by SQLite's 2 MB default spilling dirty
pages to the WAL); the ledger's summary trigger is dropped there (a raw insert has no hook). Why raw is below
100,000 rows/s: each CSV row is 1.7 table rows (a sale per 3 lines, an entry per sale) and each table row 2-6
b-tree inserts (sales: key, member index; lines: key; ledger: key, (store, till, seq), created, member, sale),
about 50 MB of pages per 100,000 rows, written to the WAL and synced at the commit.
The two alternate round by round (`bench.method.interleave`: A/B, then B/A) and `bench.method.judge`
gives the verdict on the slow tail of the rates (the rate the claimed share of runs beat).
"""

from __future__ import annotations

import csv
import sqlite3
import time
from pathlib import Path
from typing import Any

from bench import fresh_till
from bench.env import BenchEnv
from bench.method import interleave, judge
from bench.stats import Figure
from pos_client.domain.errors import UsageError
from pos_client.services import import_rows
from pos_client.services.import_bulk import CACHE_KIB
from pos_client.services.importer import import_sales
from pos_client.store.point_months import TRIGGER
from pos_client.till import open_till

KEY = "import_sales"
TITLE = "pos-client import sales"
TARGET = ">= 100,000 rows/s and >= 25% of the raw insert, first run into a fresh till"
TARGET_RATE = 100_000
MIN_SHARE = 0.25
# The importer's header: `card` or `member_id`, `date` (ISO 8601), `amount` (the line total, "12.34"),
# optional `qty`, `sku`, `sale_id` (rows sharing one are the lines of one sale).
COLUMNS = ("sale_id", "date", "card", "sku", "qty", "amount")
# What the import writes per sale and line; the baseline writes the same rows (other tables: the replay's few).
WRITTEN = ("sales", "sale_lines", "ledger")


def write_csv(env: BenchEnv, path: Path, rows: int, salt: str) -> int:
    """A sales CSV: sales of 1-5 lines, each with a member's card, products from the catalog."""
    rng = env.rng(salt)
    conn = sqlite3.connect(f"file:{env.db}?mode=ro", uri=True)
    products = conn.execute("SELECT sku, ean, name, category, price_cents FROM products").fetchall()
    conn.close()
    cards = env.sample_cards(max(1, rows // 3), salt)
    written = 0
    with path.open("w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(COLUMNS)
        s = 0
        while written < rows:
            s += 1
            sale_id = f"{salt}-{rng.getrandbits(64):016x}-{s}"
            card = cards[rng.randrange(len(cards))]
            ts = f"2026-10-{rng.randint(1, 28):02d}T{rng.randint(8, 19):02d}:{rng.randint(0, 59):02d}:00+00:00"
            for _ in range(min(rng.randint(1, 5), rows - written)):
                sku, _ean, _name, _cat, price = products[rng.randrange(len(products))]
                qty = rng.randint(1, 3)
                total = qty * price
                out.writerow((sale_id, ts, card, sku, qty, f"{total // 100}.{total % 100:02d}"))
                written += 1
    return written


def _import_once(template: Path, home: Path, path: Path, rows: int) -> tuple[float, dict[str, Any]]:
    fresh_till.copy_home(template, home)
    import_rows.forget()  # a first run parses its cards, dates and amounts: none left from the previous sample
    ctx = open_till(home)
    try:
        t0 = time.perf_counter()
        result = import_sales(ctx, path, enroll_unknown=False)
        return rows / (time.perf_counter() - t0), result
    finally:
        ctx.close()


def _written_rows(home: Path) -> dict[str, tuple[str, list[tuple[Any, ...]]]]:
    """Per table: its INSERT and the rows the import wrote there (the fresh till held none)."""
    conn = sqlite3.connect(str(home / "till.db"))
    try:
        out = {}
        for table in WRITTEN:
            cur = conn.execute(f"SELECT * FROM {table}")
            names = [d[0] for d in cur.description]
            out[table] = (f"INSERT INTO {table} ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})",
                          cur.fetchall())
        return out
    finally:
        conn.close()


def _baseline_once(template: Path, home: Path, path: Path, rows: int,
                   written: dict[str, tuple[str, list[tuple[Any, ...]]]]) -> float:
    fresh_till.copy_home(template, home)
    conn = sqlite3.connect(str(home / "till.db"), isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
        conn.execute(f'DROP TRIGGER "{TRIGGER}"')
        t0 = time.perf_counter()
        with path.open(newline="") as fh:
            parsed = sum(1 for _ in csv.reader(fh)) - 1
        conn.execute("BEGIN IMMEDIATE")
        for sql, table_rows in written.values():
            conn.executemany(sql, table_rows)
        conn.execute("COMMIT")
        elapsed = time.perf_counter() - t0
    finally:
        conn.close()
    assert parsed == rows, (parsed, rows)
    return rows / elapsed


def run(env: BenchEnv) -> Figure:
    rows = env.samples(100_000, 10_000)
    rounds = env.samples(10, 4)
    template = fresh_till.build(env, env.scratch / "import-fresh-till.db")
    path = env.scratch / "import-sales.csv"
    n = write_csv(env, path, rows, KEY)
    homes = env.scratch / "import-home-a", env.scratch / "import-home-b"
    try:
        first, result = _import_once(template, homes[0], path, n)  # warm-up: the rows the baseline writes
        if result.get("skipped"):
            return Figure.skipped(KEY, TITLE, TARGET, f"import_sales skipped {result['skipped']} benchmark rows: "
                                  f"{result.get('errors', [])[:3]}")
    except UsageError as exc:  # the importer refused the file's header: report, never guess a number
        return Figure.skipped(KEY, TITLE, TARGET, f"import_sales refused the benchmark CSV: {exc}")
    written = _written_rows(homes[0])
    results: list[dict[str, Any]] = []

    def ours(_i: int) -> float:
        rate, got = _import_once(template, homes[0], path, n)
        results.append(got)
        return rate

    got = interleave(ours, lambda _i: _baseline_once(template, homes[1], path, n, written), rounds)
    for home in homes:
        fresh_till.copy_home(template, home)  # leave small files behind, not two imported tills
    v = judge(got, lambda m, b: m.tail_value >= TARGET_RATE and m.tail_value >= MIN_SHARE * b.tail_value,
              measured=f"import_sales, {n:,}-row CSV, first run into a fresh till, marketing program on",
              baseline="csv.reader + raw executemany of the same sales, lines and ledger rows, same indexes"
                       " and page cache",
              unit="rows/s", rates=True, at_this_scale=not env.quick)
    counts = {t: len(r) for t, (_sql, r) in written.items()}
    last = {k: v for k, v in (results[-1] if results else result).items() if k != "errors"}
    return Figure(KEY, TITLE, TARGET, v.status, measure=v.measure, baseline=v.baseline, judged=v.judged,
                  extra={"warm-up import (not counted)": f"{first:,.0f} rows/s", "rows written per import": counts,
                         "last_result": last,
                         "share of raw (median / tail)": f"{v.measure.median / v.baseline.median:.0%} / "
                                                        f"{v.measure.tail_value / v.baseline.tail_value:.0%}"},
                  notes=[f"{rounds} interleaved rounds; each sample starts from a new copy of the fresh till "
                         f"({env.size.members:,} members, no history) and commits",
                         "the baseline inserts the warm-up import's own rows (ids included) into its copy"])
