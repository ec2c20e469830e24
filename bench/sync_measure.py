"""Bench hooks: the real ingest and push paths, callable from Python (the bench helper times them).

    from bench.sync_measure import ingest_rate, push_waiting
    ingest_rate("sqlite:///tmp/ho.db", entries=100_000)     # head office ingest, entries/s
    push_waiting(tmp_dir, entries=100_000)                  # a till pushing 100,000 waiting entries over HTTP
    pull_directory(tmp_dir, members=1_000_000)              # a fresh till pulling the whole directory
"""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from headoffice.portfile import wait_for_port
from pos_client.services.members import enroll
from pos_client.store import ledger
from pos_client.store.config import write_config
from pos_client.till import open_till
from sync import snapshot, snapshot_file
from sync.client import HeadOfficeClient
from sync.engine import Progress, client_for, pull_all
from sync.push import push_pending
from sync.register import register_till
from wire.batches import encode
from wire.ledger_chain import CHAIN_COLUMNS, chain_hash
from wire.protocol import LEDGER_COLUMNS, PushBatch
from wire.snapshot import DirectoryInfo

T0 = "2026-01-01T00:00:00.000000+00:00"


def wait_healthy(url: str, proc: subprocess.Popen[Any], within_s: float, pause_s: float = 0.05) -> None:
    """Until head office's /v1/health answers 200; RuntimeError when its process ended or `within_s` passed."""
    deadline = time.monotonic() + within_s
    while True:
        try:
            if httpx.get(f"{url}/v1/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"head office did not start (exit {proc.poll()})")
        time.sleep(pause_s)


@contextmanager
def headoffice(store: Any, db_url: str, process: bool = False, profile_to: Path | None = None,
               upkeep: bool = True, procs: list[subprocess.Popen[Any]] | None = None) -> Iterator[str]:
    """The real head office on loopback, yielding its URL: a uvicorn thread serving `store` in this
    process, or (`process=True`) `python -m headoffice serve` on `db_url` in a process of its own, as
    in production where it is another machine: then it no longer shares this process's GIL. `profile_to`:
    that process runs with every thread under cProfile (bench/ho_profile.py) and writes the stats there
    when it stops. `upkeep=False` serves with `--no-upkeep`: a fresh head office file otherwise rebuilds
    its marketing snapshot of the whole chain at start, on the same cores as the figure being measured.
    `procs`: head office's process is appended to it (to signal it)."""
    if not process:
        from headoffice.server import ServerThread  # lazy: head office: only this command needs it

        server = ServerThread(store).start()
        try:
            yield server.url
        finally:
            server.stop()
        return


    port_file = Path(tempfile.mkdtemp(prefix="ho-port-")) / "port"  # it binds port 0 and says which there
    root = str(Path(__file__).resolve().parent.parent)
    env = {**os.environ, "PYTHONPATH": root + os.pathsep + os.environ.get("PYTHONPATH", "")}
    # every thread of it profiled (bench/ho_profile.py), or head office itself
    run = ["-m", "bench.ho_profile", str(profile_to)] if profile_to else ["-m", "headoffice"]
    proc = subprocess.Popen([sys.executable, *run, "serve", "--port", "0", "--port-file", str(port_file),
                             "--db", db_url, *([] if upkeep else ["--no-upkeep"])], cwd=root, env=env)
    if procs is not None:
        procs.append(proc)
    try:
        url = f"http://127.0.0.1:{wait_for_port(port_file, proc, timeout=30)}"
        wait_healthy(url, proc, within_s=30)
        yield url
    finally:
        # uvicorn re-raises the signal it stopped on: SIGINT ends in KeyboardInterrupt, after which cProfile
        # still writes its stats; SIGTERM's default action would not let it
        proc.send_signal(signal.SIGINT if profile_to else signal.SIGTERM)
        proc.wait(30)
        shutil.rmtree(port_file.parent, ignore_errors=True)


def chained_entries(entries: int, members: int = 1000, store_id: str = "BENCH", till_id: str = "T1"
                    ) -> list[dict[str, Any]]:
    """`entries` ledger entries of one till as it pushes them: gap-free seqs, hash-chained, spread over members,
    ids made as the till makes them (`ledger.new_id`, UUIDv7: time-ordered, so they land at one end of head
    office's entry_id index; random uuid4 ids cost the raw write itself ~30% more, and no till sends them)."""
    rows: list[dict[str, Any]] = []
    prev: str | None = None
    for i in range(entries):
        row: dict[str, Any] = {"entry_id": ledger.new_id(), "member_id": f"bm{i % members}", "store_id": store_id,
                               "till_id": till_id, "seq": i + 1, "kind": "earn", "points": 3, "sale_id": None,
                               "amount_cents": 300, "created_at": T0, "operator": None, "reason": None, "ref": None}
        row["prev_hash"], row["entry_hash"] = prev, chain_hash(prev, [row[c] for c in CHAIN_COLUMNS])
        prev = row["entry_hash"]
        rows.append(row)
    return rows


def ingest_rate(db_url: str, entries: int = 100_000, batch: int = 2000, members: int = 1000,
                rows: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Decode and ingest ledger entries in batches straight into a store (no HTTP), as head office does with
    a push's body: `rows` (one till's, from `chained_entries`), or `entries` new ones of a new till."""
    from headoffice.store import Principal, open_store  # lazy: head office: only this command needs it

    rows = rows if rows is not None else chained_entries(entries, members, till_id=uuid.uuid4().hex[:8])
    store_id, till_id = rows[0]["store_id"], rows[0]["till_id"]
    bodies = [encode({"store_id": store_id, "till_id": till_id, "entries": rows[i:i + batch]})
              for i in range(0, len(rows), batch)]
    store = open_store(db_url)
    try:
        store.add_till(store_id, till_id)
        who = Principal(store_id, till_id)
        clock = time.perf_counter
        started = clock()
        accepted = 0
        decoding = 0.0  # where the time goes: head office's decode of the body, the rest is store.ingest
        for body in bodies:
            t0 = clock()
            pushed = PushBatch.decode(body)
            decoding += clock() - t0
            accepted += store.ingest(who, pushed).accepted
        seconds = clock() - started
        return {"entries": len(rows), "accepted": accepted, "seconds": round(seconds, 3),
                "decode_s": round(decoding, 3), "ingest_s": round(seconds - decoding, 3),
                "entries_per_s": int(len(rows) / seconds) if seconds else 0}
    finally:
        store.close()


def push_waiting(workdir: str | Path, entries: int = 100_000, db_url: str | None = None,
                 entry_batch: int = 2000, process: bool = False, profile: Any = None,
                 keep_rows: bool = False, profile_to: Path | None = None) -> dict[str, Any]:
    """A till with `entries` waiting entries pushes them all to a real head office on loopback
    (`process=True`: the head office in its own process, see `headoffice`). `profile` (a cProfile.Profile)
    is enabled around the push alone, `profile_to` profiles head office's process; `keep_rows` returns
    the entries as pushed (`rows`, for ingest_rate)."""
    from headoffice.store import open_store  # lazy: head office: only this command needs it

    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    db_url = db_url or f"sqlite:///{workdir / 'headoffice.db'}"
    store = open_store(db_url)
    home = workdir / f"till-{uuid.uuid4().hex[:6]}"
    home.mkdir()
    write_config(home, {"store_id": "BENCH", "till_id": home.name})
    ctx = open_till(home)
    try:
        procs: list[subprocess.Popen[Any]] = []
        with headoffice(store, db_url, process, profile_to, procs=procs) as url:
            register_till(ctx, url, store.add_till("BENCH", home.name))
            member = enroll(ctx, phone="+33600000000")
            ledger.append(ctx.conn, ctx.store_id, ctx.till_id,
                          [ledger.Entry(member_id=member.member_id, kind="earn", points=1) for _ in range(entries)])
            if profile_to and procs:
                procs[0].send_signal(signal.SIGUSR1)  # head office's profile from here (bench/ho_profile.py)
                time.sleep(0.05)  # handled as soon as its event loop wakes (the signal wakes it)
            started = time.perf_counter()
            if profile is not None:
                profile.enable()
            with client_for(ctx.conn, ctx.config, timeout=60) as client:
                report = push_pending(ctx, client, entry_limit=entry_batch)
            if profile is not None:
                profile.disable()
            seconds = time.perf_counter() - started
        out: dict[str, Any] = {"entries": entries, "pushed": report.entries, "duplicates": report.duplicates,
                               "batches": report.batches, "seconds": round(seconds, 3),
                               "entries_per_s": int(entries / seconds) if seconds else 0,
                               "head_office_in_own_process": process,
                               "head_office_balance": store.balance(member.member_id)}
        if keep_rows:
            cols = ", ".join(LEDGER_COLUMNS)
            out["rows"] = [dict(zip(LEDGER_COLUMNS, r, strict=True))
                           for r in ctx.conn.execute(f"SELECT {cols} FROM ledger ORDER BY seq")]
        return out
    finally:
        ctx.close()
        store.close()


def _fill_headoffice(path: Path, members: int, cards: int, entries: int) -> None:
    """Load a head office directory straight into its SQLite file (the store's own schema, raw inserts):
    `members` members, `cards` cards spread over them, `entries` ledger entries of another till, every
    member and card in the feed, as if pushed by the chain's tills over the years."""

    conn = sqlite3.connect(str(path), isolation_level=None)
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("BEGIN")
    mid = [f"{i:08x}" + uuid.UUID(int=i).hex[8:] for i in range(members)]
    conn.executemany("INSERT INTO members (member_id, store_id, name, phone, email, status, consent, created_at,"
                     " updated_at, received_at) VALUES (?, 'S1', ?, ?, NULL, 'active', '{\"sms\": true}', ?, ?, ?)",
                     ((m, f"Member {i}", f"+3360{i:07d}", T0, T0, T0) for i, m in enumerate(mid)))
    conn.executemany("INSERT INTO cards (card_number, member_id, source, status, created_at, updated_at)"
                     " VALUES (?, ?, 'barcode', 'active', ?, ?)",
                     ((f"29{c:011d}", mid[c % members], T0, T0) for c in range(cards)))
    seq = 0
    conn.executemany("INSERT INTO feed (server_seq, entity, key) VALUES (?, 'member', ?)",
                     ((i + 1, m) for i, m in enumerate(mid)))
    seq += members
    conn.executemany("INSERT INTO feed (server_seq, entity, key) VALUES (?, 'card', ?)",
                     ((seq + c + 1, f"29{c:011d}") for c in range(cards)))
    seq += cards
    conn.execute("INSERT INTO tills (store_id, till_id, role, created_at) VALUES ('S1', 'T1', 'till', ?)", (T0,))
    conn.executemany("INSERT INTO ledger (server_seq, entry_id, member_id, store_id, till_id, seq, kind, points,"
                     " amount_cents, created_at, received_at) VALUES (?, ?, ?, 'S1', 'T1', ?, 'earn', 5, 500, ?, ?)",
                     ((seq + e + 1, uuid.UUID(int=e + 1).hex, mid[e % members], e + 1, T0, T0)
                      for e in range(entries)))
    seq += entries
    conn.executemany("INSERT INTO balances (member_id, points, updated_at) VALUES (?, ?, ?)",
                     ((m, 5 * (entries // members + (i < entries % members)), T0) for i, m in enumerate(mid)))
    conn.execute("UPDATE meta SET value = ? WHERE key = 'server_seq'", (seq,))
    conn.execute("COMMIT")
    conn.close()


def directory_headoffice(workdir: str | Path, members: int, cards: int | None = None,
                         entries: int | None = None) -> tuple[Path, float]:
    """A head office SQLite file holding `members` members, `cards` cards (1.5 per member) and `entries`
    ledger entries (one per member), loaded with raw inserts; returns its path and the seconds it took."""
    from headoffice.store import open_store  # lazy: head office: only this command needs it

    cards = members * 3 // 2 if cards is None else cards
    entries = members if entries is None else entries
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / f"headoffice-{uuid.uuid4().hex[:6]}.db"
    t0 = time.perf_counter()
    open_store(f"sqlite:///{path}").close()  # the schema
    _fill_headoffice(path, members, cards, entries)
    return path, time.perf_counter() - t0


def directory_ready(client: HeadOfficeClient, within_s: float = 1800.0) -> DirectoryInfo:
    """Until head office has built its directory file (a first pull's file: its cost, not the till's)."""
    deadline = time.monotonic() + within_s
    while True:
        info = client.directory()
        if info.ready or time.monotonic() > deadline:
            return info
        time.sleep(max(0.2, info.retry_after))


def pull_directory(workdir: str | Path, members: int = 1_000_000, cards: int | None = None,
                   entries: int | None = None, page_size: int = 1000, process: bool = False,
                   headoffice_db: Path | None = None) -> dict[str, Any]:
    """A fresh till's first pull of a head office holding `members` members, `cards` cards (1.5 per
    member) and `entries` ledger entries (one per member): the real server on loopback (`process=True`:
    in its own process), the real `sync.engine.pull_all` (an empty till: the directory file downloaded and
    copied whole, sync/snapshot_file.py, then the feed after it), its progress callback counted and timed.
    Head office builds its directory file before the pull is timed (`directory_ready`: its cost, reported
    apart as `build_seconds`; the file is kept beside `headoffice_db` and served to every later round).
    `headoffice_db`: a file `directory_headoffice` filled with the same numbers, reused (each pull registers
    a new till in it); else one is filled here, its setup time reported apart. The file stays
    (`headoffice_db`) for the figure's raw baseline."""
    from headoffice.store import open_store  # lazy: head office: only this command needs it

    cards = members * 3 // 2 if cards is None else cards
    entries = members if entries is None else entries
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    setup = 0.0
    if headoffice_db is None:
        headoffice_db, setup = directory_headoffice(workdir, members, cards, entries)
    db_url = f"sqlite:///{headoffice_db}"
    store = open_store(db_url)
    home = workdir / f"till-{uuid.uuid4().hex[:6]}"
    home.mkdir()
    write_config(home, {"store_id": "S2", "till_id": home.name})
    ctx = open_till(home)
    ticks: list[tuple[float, Progress]] = []
    try:
        with headoffice(store, db_url, process, upkeep=False) as url:
            register_till(ctx, url, store.add_till("S2", home.name))
            with client_for(ctx.conn, ctx.config, timeout=60) as client:
                built = directory_ready(client)
            started = time.perf_counter()
            with client_for(ctx.conn, ctx.config, timeout=60) as client:
                report = pull_all(ctx, client, page_size=page_size,
                                  progress=lambda p: ticks.append((time.perf_counter(), p)))
            seconds = time.perf_counter() - started
        downloaded = [t for t, p in ticks if p.what == snapshot_file.BYTES_WHAT]
        copied = [t for t, p in ticks if p.what == snapshot.WHAT]
        both = bool(downloaded and copied)  # the file's path (the parts have neither)
        phases = {"download_s": round(downloaded[-1] - started, 3) if both else None,  # ask + download
                  "check_and_copy_s": round(copied[0] - downloaded[-1], 3) if both else None,  # sha256 + copy
                  "feed_after_s": round(started + seconds - copied[0], 3) if copied else None}
        got = {t: ctx.conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
               for t in ("members", "cards", "ledger", "opening_balances")}
        points = ctx.conn.execute("SELECT COALESCE(SUM(points), 0) FROM balances").fetchone()[0]
        return {"members": members, "cards": cards, "entries": entries, "changes": members + cards + entries,
                "pulled": report.pulled, "pages": report.pages, "seconds": round(seconds, 3),
                "setup_seconds": round(setup, 1), "changes_per_s": int((members + cards + entries) / seconds),
                "head_office_in_own_process": process,
                "progress_calls": len(ticks),
                "progress_last": [ticks[-1][1].done, ticks[-1][1].total] if ticks else None,
                "carrier": "file" if report.pulled.get("snapshot_file") else "parts", "phases": phases,
                "file_bytes": built.size, "build_seconds": built.build_seconds,
                "till_counts": got, "till_points": points, "headoffice_points": 5 * entries,
                "headoffice_db": db_url.removeprefix("sqlite:///")}
    finally:
        ctx.close()
        store.close()
