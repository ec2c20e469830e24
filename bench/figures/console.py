"""Console page latency: the dashboard, a member search and a member page, served by the real head-office
server on loopback to a logged-in owner, p50/p99 over >= 200 requests per page.

The head office is built from the generated dataset by SQL, once, cached beside it (`headoffice.db`:
members, cards, the whole ledger, balances, member sales); the marketing snapshot is `reports.chain_db`
(the chain's members and sales in the till schema) with the ledger added and the meta a refresh writes,
copied to scratch so each run starts without the figures computed. The first dashboard request after a
snapshot build computes the figures (the reports at chain scale); that one-off cost is measured and
reported separately (`warm`), then every page request is timed.

Baseline, in the same run and interleaved request by request: the raw query each page cannot do without,
on its own sqlite3 connection (the dashboard: its figures' row in the cache beside the snapshot; the search:
the phone lookup; the member page: the member, their cards, balance and latest ledger rows).
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import time
from datetime import date
from functools import partial
from pathlib import Path
from typing import Any

import httpx

from bench.env import BenchEnv
from bench.figures.reports import chain_db
from bench.stats import Figure, Measure, verdict
from headoffice.console import figures
from headoffice.console.web import SESSION_COOKIE
from headoffice.server import ServerThread
from headoffice.store import open_store
from headoffice.upkeep import utc_now

KEY = "console"
TITLE = "Console pages (dashboard, member search, member page) over loopback"
TARGET = "p99 < 200 ms per page"
LIMIT_S = 0.2
THROUGH = date(2026, 10, 31)  # the generated history's last day: the snapshot's
PERIODS = ("30d", "90d", "365d")


def ho_db(env: BenchEnv) -> Path:
    """Head office's store with the dataset's members, cards, ledger, balances and sales (cached)."""
    path = env.home / "headoffice.db"
    if path.exists():
        return path
    tmp = env.home / "headoffice.db.building"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{tmp}{suffix}").unlink(missing_ok=True)
    open_store(f"sqlite:///{tmp}").close()  # the real schema
    conn = sqlite3.connect(tmp, isolation_level=None)
    conn.execute("PRAGMA journal_mode=OFF")
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("ATTACH DATABASE ? AS src", (f"file:{env.db}?mode=ro",))
    conn.execute("ATTACH DATABASE ? AS chain", (f"file:{chain_db(env)}?mode=ro",))
    conn.execute("BEGIN")
    conn.execute("INSERT INTO members (member_id, store_id, name, phone, email, status, merged_into, consent,"
                 " created_at, updated_at, received_at) SELECT member_id, COALESCE(store_id, 'S1'), name, phone,"
                 " email, status, merged_into, '{}', created_at, updated_at, created_at FROM src.members")
    conn.execute("INSERT INTO cards (card_number, member_id, source, status, replaced_by, created_at, updated_at)"
                 " SELECT card_number, member_id, source, status, replaced_by, created_at, updated_at FROM src.cards")
    conn.execute("INSERT INTO ledger (entry_id, member_id, store_id, till_id, seq, kind, points, sale_id, amount_cents,"
                 " created_at, operator, reason, ref, received_at) SELECT entry_id, member_id, store_id, till_id, seq,"
                 " kind, points, sale_id, amount_cents, created_at, operator, reason, ref, created_at FROM src.ledger")
    conn.execute("INSERT INTO balances (member_id, points, updated_at) SELECT member_id, points, updated_at"
                 " FROM src.balances")
    conn.execute("INSERT INTO sales (sale_id, store_id, till_id, member_id, total_cents, tender, points_earned,"
                 " operator, created_at, received_at, lines) SELECT sale_id, store_id, till_id, member_id,"
                 " total_cents, tender, points_earned, operator, created_at, created_at, '[]' FROM chain.sales")
    conn.execute("COMMIT")
    conn.execute("DETACH DATABASE src")
    conn.execute("DETACH DATABASE chain")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.close()
    tmp.replace(path)
    return path


def snapshot(env: BenchEnv, dest: Path) -> Path:
    """A published snapshot (as `headoffice.upkeep.refresh` leaves it) of the dataset, through THROUGH."""
    base = env.home / "chain-ledger.db"
    if not base.exists():
        tmp = env.home / "chain-ledger.db.building"
        shutil.copyfile(chain_db(env), tmp)
        conn = sqlite3.connect(tmp, isolation_level=None)
        conn.execute("PRAGMA journal_mode=OFF")
        conn.execute("PRAGMA foreign_keys=OFF")
        conn.execute("ATTACH DATABASE ? AS src", (f"file:{env.db}?mode=ro",))
        conn.execute("BEGIN")
        conn.execute("UPDATE sync_apply SET applying = 1")
        conn.execute("INSERT INTO ledger SELECT * FROM src.ledger")
        conn.execute("INSERT OR REPLACE INTO balances SELECT * FROM src.balances")
        conn.execute("UPDATE sync_apply SET applying = 0")
        conn.execute("CREATE TABLE IF NOT EXISTS ho_snapshot_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        config = {"store_id": "HO", "till_id": "HO", "program": {}, "reports": {"chain_wide": True}}
        conn.executemany("INSERT OR REPLACE INTO ho_snapshot_meta (key, value) VALUES (?,?)",
                         [("built_at", f"{THROUGH.isoformat()}T22:00:00+00:00"), ("config", json.dumps(config)),
                          ("through", THROUGH.isoformat())])
        conn.execute("INSERT INTO upkeep_runs (day, source, expired_members, expired_points, tier_changes,"
                     " stage_changes, started_at, finished_at) VALUES (?, 'bench', 0, 0, 0, 0, ?, ?)",
                     (THROUGH.isoformat(), f"{THROUGH}T22:00:00+00:00", f"{THROUGH}T22:00:00+00:00"))
        conn.execute("COMMIT")
        conn.execute("DETACH DATABASE src")
        conn.execute("PRAGMA journal_mode=DELETE")
        conn.close()
        tmp.replace(base)
    shutil.copyfile(base, dest)
    figures.cache_path(dest).unlink(missing_ok=True)
    return dest


def _timed(fn: Any) -> tuple[float, Any]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def _raw_dashboard(cache: sqlite3.Connection, built_at: str, key: tuple[str, str, str]) -> Any:
    return json.loads(cache.execute("SELECT payload FROM figures WHERE built_at = ? AND scope = ? AND start = ?"
                                    " AND end = ?", (built_at, *key)).fetchone()[0])


def _raw_search(ro: sqlite3.Connection, phone: str) -> Any:
    return ro.execute("SELECT member_id, store_id, name, phone, status FROM members WHERE phone = ? LIMIT 50",
                      (phone,)).fetchall()


def _raw_member(ro: sqlite3.Connection, member_id: str) -> Any:
    return (ro.execute("SELECT * FROM members WHERE member_id = ?", (member_id,)).fetchall(),
            ro.execute("SELECT * FROM cards WHERE member_id = ?", (member_id,)).fetchall(),
            ro.execute("SELECT points FROM balances WHERE member_id = ?", (member_id,)).fetchall(),
            ro.execute("SELECT * FROM ledger WHERE member_id = ? ORDER BY server_seq DESC LIMIT 50",
                       (member_id,)).fetchall())


def run(env: BenchEnv) -> Figure:
    n = env.samples(300, 200)
    db = ho_db(env)
    snap_path = snapshot(env, env.scratch / "headoffice.marketing.db")
    store = open_store(f"sqlite:///{db}")
    server = ServerThread(store, snapshot=snap_path).start()
    ro = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    wrong: list[str] = []
    try:
        owner = store.console.add_user(f"bench-{time.time_ns()}", "owner", None, None)
        token = store.console.start_session(owner)
        rng = env.rng(KEY)
        people = [r for r in ro.execute(
            "SELECT member_id, phone, store_id FROM members WHERE phone IS NOT NULL AND rowid IN"
            " (SELECT abs(random()) % (SELECT MAX(rowid) FROM members) + 1 FROM members LIMIT 400)")]
        stores = sorted({p[2] for p in people})[:3]
        state = figures.snapshot_state(snap_path, utc_now())
        assert state is not None and state.usable
        warm_s, done = _timed(lambda: figures.warm(state, [None, *stores], PERIODS))
        cache = sqlite3.connect(f"file:{figures.cache_path(snap_path)}?mode=ro", uri=True)
        pages: dict[str, list[float]] = {"dashboard": [], "search": [], "member": []}
        raws: dict[str, list[float]] = {"dashboard": [], "search": [], "member": []}
        with httpx.Client(base_url=server.url, cookies={SESSION_COOKIE: token}, timeout=30) as client:
            for i in range(n):
                scope = [None, *stores][i % (len(stores) + 1)]
                period = figures.parse_period({"period": PERIODS[i % len(PERIODS)]}, THROUGH)
                member_id, phone, _ = people[rng.randrange(len(people))]
                params = {"period": period.key, **({"store": scope} if scope else {})}
                t, resp = _timed(partial(client.get, "/", params=params))
                pages["dashboard"].append(t)
                if resp.status_code != 200 or "data-figure" not in resp.text:
                    wrong.append(f"dashboard {params}: {resp.status_code}")
                key = ("*" if scope is None else f"store:{scope}", period.start.isoformat(), period.end.isoformat())
                raws["dashboard"].append(_timed(partial(_raw_dashboard, cache, str(state.built_at), key))[0])
                t, resp = _timed(partial(client.get, "/members", params={"q": phone}))
                pages["search"].append(t)
                if resp.status_code != 200 or member_id not in resp.text:
                    wrong.append(f"search {phone!r}: {resp.status_code}, member not listed")
                raws["search"].append(_timed(partial(_raw_search, ro, phone))[0])
                t, resp = _timed(partial(client.get, f"/members/{member_id}"))
                pages["member"].append(t)
                if resp.status_code != 200:
                    wrong.append(f"member page {member_id}: {resp.status_code}")
                raws["member"].append(_timed(partial(_raw_member, ro, member_id))[0])
        cache.close()
    finally:
        ro.close()
        server.stop()
        store.close()
    measures = {k: Measure.of(f"GET {k} page over loopback", "s", v) for k, v in pages.items()}
    baselines = {k: Measure.of(f"raw query of the {k} page (sqlite3)", "s", v) for k, v in raws.items()}
    extra = {k: (f"p50 {measures[k].median * 1000:.1f} ms, p99 {measures[k].p99 * 1000:.1f} ms; raw p50"
                 f" {baselines[k].median * 1000:.2f} ms, p99 {baselines[k].p99 * 1000:.2f} ms")
             for k in pages}
    extra["warm"] = (f"{done} dashboard figure sets (chain + {len(stores)} stores x {len(PERIODS)} periods)"
                     f" in {warm_s:.1f} s")
    notes = [f"{n} requests per page, interleaved with their raw queries; dataset {env.size.name}",
             "the first dashboard request after a snapshot build computes its figures: see `warm`"]
    worst = max(measures, key=lambda k: measures[k].p99)
    if wrong:
        return Figure(KEY, TITLE, TARGET, "ERROR", measure=measures[worst], baseline=baselines[worst],
                      reason="; ".join(wrong[:5]), notes=notes, extra=extra)
    return Figure(KEY, TITLE, TARGET, verdict(all(m.p99 < LIMIT_S for m in measures.values())),
                  measure=measures[worst], baseline=baselines[worst], notes=notes, extra=extra)
