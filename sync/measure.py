"""Bench hooks: the real ingest and push paths, callable from Python (the bench helper times them).

    from sync.measure import ingest_rate, push_waiting
    ingest_rate("sqlite:///tmp/ho.db", entries=100_000)     # head office ingest, entries/s
    push_waiting(tmp_dir, entries=100_000)                  # a till pushing 100,000 waiting entries over HTTP
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

T0 = "2026-01-01T00:00:00.000000+00:00"


def ingest_rate(db_url: str, entries: int = 100_000, batch: int = 2000, members: int = 1000) -> dict[str, Any]:
    """Parse and ingest `entries` ledger entries in batches straight into a store (no HTTP)."""
    from headoffice.store import Principal, open_store
    from sync.protocol import PushBatch

    store = open_store(db_url)
    try:
        store_id, till_id = "BENCH", uuid.uuid4().hex[:8]
        store.add_till(store_id, till_id)
        who = Principal(store_id, till_id)
        rows = [{"entry_id": uuid.uuid4().hex, "member_id": f"bm{i % members}", "store_id": store_id,
                 "till_id": till_id, "seq": i + 1, "kind": "earn", "points": 3, "created_at": T0, "amount_cents": 300}
                for i in range(entries)]
        started = time.perf_counter()
        accepted = 0
        for i in range(0, entries, batch):
            accepted += store.ingest(who, PushBatch.parse({"store_id": store_id, "till_id": till_id,
                                                           "entries": rows[i:i + batch]})).accepted
        seconds = time.perf_counter() - started
        return {"entries": entries, "accepted": accepted, "seconds": round(seconds, 3),
                "entries_per_s": int(entries / seconds) if seconds else 0}
    finally:
        store.close()


def push_waiting(workdir: str | Path, entries: int = 100_000, db_url: str | None = None,
                 entry_batch: int = 2000) -> dict[str, Any]:
    """A till with `entries` waiting entries pushes them all to a real head office on loopback."""
    from headoffice.server import ServerThread
    from headoffice.store import open_store
    from pos_client import ledger
    from pos_client.config import write_config
    from pos_client.context import open_till
    from pos_client.members import enroll
    from sync.engine import client_for
    from sync.push import push_pending
    from sync.register import register_till

    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    store = open_store(db_url or f"sqlite:///{workdir / 'headoffice.db'}")
    server = ServerThread(store).start()
    home = workdir / f"till-{uuid.uuid4().hex[:6]}"
    home.mkdir()
    write_config(home, {"store_id": "BENCH", "till_id": home.name})
    ctx = open_till(home)
    try:
        register_till(ctx, server.url, store.add_till("BENCH", home.name))
        member = enroll(ctx, phone="+33600000000")
        ledger.append(ctx.conn, ctx.store_id, ctx.till_id,
                      [ledger.Entry(member_id=member.member_id, kind="earn", points=1) for _ in range(entries)])
        started = time.perf_counter()
        with client_for(ctx.conn, ctx.config, timeout=60) as client:
            report = push_pending(ctx.conn, client, ctx.store_id, ctx.till_id, entry_limit=entry_batch)
        seconds = time.perf_counter() - started
        return {"entries": entries, "pushed": report.entries, "duplicates": report.duplicates,
                "batches": report.batches, "seconds": round(seconds, 3),
                "entries_per_s": int(entries / seconds) if seconds else 0,
                "head_office_balance": store.balance(member.member_id)}
    finally:
        ctx.close()
        server.stop()
        store.close()
