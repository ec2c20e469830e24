"""N tills syncing at once against one head office: no refusals, head office's totals equal the sum of
the tills' ledgers and sales.

The tills are threads of one process here (50 tills on 2 cores), so a till can be slow enough between
two pull pages for head office to close the idle keep-alive connection (uvicorn: 5 s): the till sees an
outage (Offline) and, as its sync worker does, tries again. The outages are counted and printed.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from headoffice.store import open_store
from pos_client.store.config import write_config
from pos_client.till import open_till
from sync.client import Offline
from sync.engine import sync_once
from sync.register import register_till
from tests.soak.checks import balances_equal_ledger, sales_whole
from tests.soak.ho_process import HeadOfficeProcess
from tests.soak.scale import scale
from tests.sync.tillkit import enrol, sell


def _sync(ctx) -> int:
    """sync_once as the till's sync worker runs it: an outage (Offline) is tried again after a pause, a
    refusal fails the test. The outages it met, counted for the report."""
    for attempt in range(5):
        try:
            sync_once(ctx, timeout=60)
            return attempt
        except Offline:
            time.sleep(0.5 * (attempt + 1))
    raise AssertionError("head office unreachable five times in a row")


def test_many_tills_sync_at_once(tmp_path):
    size = scale()
    db_url = f"sqlite:///{tmp_path / 'ho.db'}"
    store = open_store(db_url)
    tills = [(f"S{n // 10 + 1}", f"T{n % 10 + 1}") for n in range(size.tills)]
    codes = {t: store.add_till(*t) for t in tills}
    store.close()
    go = threading.Barrier(size.tills)

    def run_till(index: int, ho_url: str) -> tuple[int, int, int, int]:
        """One till in its own thread (its own connection): sell, wait for the others, sync."""
        store_id, till_id = tills[index]
        home = tmp_path / f"till-{store_id}-{till_id}"
        home.mkdir()
        write_config(home, {"store_id": store_id, "till_id": till_id, "program": {}})
        ctx = open_till(home)
        try:
            register_till(ctx, ho_url, codes[(store_id, till_id)])
            for k in range(3):
                enrol(ctx, index * 10 + k)
            for i in range(size.sales_per_till):
                sell(ctx, index * 10 + i % 3, 100 + 7 * i)
            go.wait(timeout=120)
            outages = _sync(ctx)
            outages += _sync(ctx)  # a second round: pulls what the others pushed meanwhile, pushes nothing new
            balances_equal_ledger(ctx.conn)
            sales_whole(ctx.conn, store_id, till_id)
            own = ctx.conn.execute("SELECT COUNT(*), COALESCE(SUM(points), 0) FROM ledger WHERE store_id = ?"
                                   " AND till_id = ?", (store_id, till_id)).fetchone()
            cents = ctx.conn.execute("SELECT COALESCE(SUM(total_cents), 0) FROM sales").fetchone()[0]
            return own[0], own[1], cents, outages
        finally:
            ctx.close()

    ho = HeadOfficeProcess(db_url).start()
    started = time.monotonic()
    try:
        with ThreadPoolExecutor(max_workers=size.tills) as pool:
            results = list(pool.map(lambda i: run_till(i, ho.url), range(size.tills)))  # raises a till's error
    finally:
        ho.stop()
    held = sqlite3.connect(tmp_path / "ho.db")  # head office's own file, read as it is
    try:
        entries = held.execute("SELECT COUNT(*), COUNT(DISTINCT entry_id) FROM ledger").fetchone()
        points = held.execute("SELECT COALESCE(SUM(points), 0) FROM ledger").fetchone()[0]
        cents = held.execute("SELECT COALESCE(SUM(total_cents), 0), COUNT(*) FROM sales").fetchone()
    finally:
        held.close()
    assert tuple(entries) == (sum(r[0] for r in results),) * 2, "an entry lost or doubled"
    assert points == sum(r[1] for r in results)
    assert tuple(cents) == (sum(r[2] for r in results), size.tills * size.sales_per_till)
    print(f"\nsoak {size.tills} tills syncing at once: {entries[0]} entries,"
          f" {size.tills * size.sales_per_till} sales, {sum(r[3] for r in results)} outages retried,"
          f" {time.monotonic() - started:.1f} s")
