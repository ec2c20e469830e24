"""`pos-client import sales`: rows per second from a sales CSV into the till database.

The importer (`pos_client.services.importer.import_sales(ctx, path, enroll_unknown=False)`) is timed on
a generated CSV (one row per sale line, cards of existing members) against a copy of the generated
till, so the cached dataset stays as generated. Baseline: `csv` parsing plus a raw `executemany`
INSERT of the same rows into a scratch table in one transaction (WAL, synchronous=FULL), the floor
any importer pays. Throughput's "p99" is the slow tail: the rate 99% of runs beat.
"""

from __future__ import annotations

import csv
import sqlite3
import time
from pathlib import Path
from typing import Any

from bench.env import BenchEnv
from bench.stats import Figure, Measure, verdict
from pos_client.domain.errors import UsageError
from pos_client.services.importer import import_sales
from pos_client.till import open_till

KEY = "import_sales"
TITLE = "pos-client import sales"
TARGET = ">= 20,000 rows/s"
TARGET_RATE = 20_000
# The importer's header: `card` or `member_id`, `date` (ISO 8601), `amount` (the line total, "12.34"),
# optional `qty`, `sku`, `sale_id` (rows sharing one are the lines of one sale).
COLUMNS = ("sale_id", "date", "card", "sku", "qty", "amount")


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


def _baseline_once(env: BenchEnv, path: Path) -> float:
    db = env.scratch / "baseline-import.db"
    for suffix in ("", "-wal", "-shm"):
        db.with_name(db.name + suffix).unlink(missing_ok=True)
    conn = sqlite3.connect(str(db), isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute(f"CREATE TABLE lines ({', '.join(COLUMNS)})")
    t0 = time.perf_counter()
    with path.open(newline="") as fh:
        reader = csv.reader(fh)
        next(reader)
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(f"INSERT INTO lines VALUES ({', '.join('?' * len(COLUMNS))})", reader)
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - t0
    conn.close()
    return elapsed


def run(env: BenchEnv) -> Figure:
    rows = env.samples(100_000, 10_000)
    runs = env.samples(5, 3)
    path = env.scratch / "import-sales.csv"
    n = write_csv(env, path, rows, KEY)
    base = Measure.of_rates("csv.reader + raw executemany INSERT, one transaction", "rows/s",
                            [n / _baseline_once(env, path) for _ in range(runs)])
    work = env.scratch / "import-till"
    work.mkdir(exist_ok=True)
    src, dst = sqlite3.connect(str(env.db)), sqlite3.connect(str(work / "till.db"))
    src.backup(dst)
    src.close()
    dst.close()
    rates: list[float] = []
    result: dict[str, Any] = {}
    for r in range(runs):
        fresh = env.scratch / f"import-sales-{r}.csv"
        n = write_csv(env, fresh, rows, f"{KEY}-{r}")
        ctx = open_till(work)
        try:
            t0 = time.perf_counter()
            result = import_sales(ctx, fresh, enroll_unknown=False)
            rates.append(n / (time.perf_counter() - t0))
            if result.get("skipped"):
                return Figure.skipped(KEY, TITLE, TARGET, f"import_sales skipped {result['skipped']} benchmark rows: "
                                      f"{result.get('errors', [])[:3]}", baseline=base)
        except UsageError as exc:  # the importer refused the file's header: report, never guess a number
            return Figure.skipped(KEY, TITLE, TARGET, f"import_sales refused the benchmark CSV: {exc}", baseline=base)
        finally:
            ctx.close()
    m = Measure.of_rates(f"import_sales on {n:,}-row CSVs", "rows/s", rates)
    return Figure(KEY, TITLE, TARGET, verdict(m.p99 >= TARGET_RATE), measure=m, baseline=base,
                  extra={"rates_in_run_order": [round(r) for r in rates], "last_result": result})
