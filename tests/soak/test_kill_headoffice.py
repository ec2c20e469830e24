"""Head office killed with SIGKILL during sync, N times; restarted, the till syncs to completion:
head office holds each of the till's entries and sales exactly once and agrees on the balances."""

from __future__ import annotations

import random
import sqlite3
import threading
import time
from contextlib import closing

from headoffice.store import open_store
from pos_client.store.config import write_config
from pos_client.till import open_till
from sync.client import SyncError
from sync.engine import sync_once
from sync.register import register_till
from tests.soak.checks import balances_equal_ledger
from tests.soak.ho_process import HeadOfficeProcess
from tests.soak.scale import scale
from tests.sync.tillkit import bulk_earn, enrol, sell


def test_head_office_killed_during_sync(tmp_path):
    size = scale()
    rng = random.Random(40)
    db_url = f"sqlite:///{tmp_path / 'ho.db'}"
    store = open_store(db_url)
    code = store.add_till("S1", "T1")
    store.close()
    home = tmp_path / "till"
    home.mkdir()
    write_config(home, {"store_id": "S1", "till_id": "T1", "program": {}})
    ctx = open_till(home)
    ho = HeadOfficeProcess(db_url).start()
    started = time.monotonic()
    interrupted = 0
    try:
        register_till(ctx, ho.url, code)
        members = [enrol(ctx, n).member_id for n in (1, 2)]
        for round_no in range(size.headoffice_kills):
            bulk_earn(ctx, members[round_no % 2], 4000)
            for _ in range(5):
                sell(ctx, 1 + round_no % 2, 1234)
            killer = threading.Timer(rng.uniform(0.02, 0.4), ho.kill)
            killer.start()
            try:
                sync_once(ctx, timeout=10)
            except SyncError:  # Offline too: the server died under the push or pull
                interrupted += 1
            killer.join()
            ho.start()
        report = sync_once(ctx, timeout=30)  # to completion
        assert report.push is not None
    finally:
        ho.stop()
    store = open_store(db_url)
    try:
        n = ctx.conn.execute("SELECT COUNT(*) FROM ledger WHERE store_id = 'S1' AND till_id = 'T1'").fetchone()[0]
        with closing(sqlite3.connect(tmp_path / "ho.db")) as ho_file:  # head office's own file, read as it is
            held = ho_file.execute("SELECT COUNT(*), COUNT(DISTINCT entry_id) FROM ledger WHERE store_id = ?"
                                   " AND till_id = ?", ("S1", "T1")).fetchone()
        assert tuple(held) == (n, n), "head office lost or doubled an entry"
        sales = ctx.conn.execute("SELECT COUNT(*) FROM sales").fetchone()[0]
        assert store.counts()["sales"] == sales
        for member_id in members:
            local = ctx.conn.execute("SELECT COALESCE(SUM(points), 0) FROM ledger WHERE member_id = ?",
                                     (member_id,)).fetchone()[0]
            assert store.balance(member_id) == local
        balances_equal_ledger(ctx.conn)
    finally:
        store.close()
        ctx.close()
    assert interrupted >= 1, "no kill landed during a sync: the check proved nothing"
    print(f"\nsoak head office kill -9 during sync: {size.headoffice_kills} kills, {interrupted} mid-sync,"
          f" {n} entries, {sales} sales, {time.monotonic() - started:.1f} s")
