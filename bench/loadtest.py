"""The chain load test (issue 15): 200 real tills in 50 stores against `headoffice serve --workers N` on a
private PostgreSQL, each till selling, pushing and pulling on its own schedule.

    python -m bench.loadtest [--workers 1 2 4] [--tills 200] [--stores 50] [--seconds 60]
                             [--sale-every 20] [--sync-every 5] [--travel 0.25] [--procs 2] [--pool 8]
                             [--saturate] [--server-root DIR] [--quiet-wait 180] [--data-dir DIR] [--out FILE.md]

Per worker count: a fresh PostgreSQL cluster (`headoffice.pgcluster`, default durability), head office in
its own process tree, the tills spread over `--procs` load-generator processes (`bench.loadtill`: the
tills' own work, SQLite and Python, must not share one GIL with 200 threads), each on a till's sync worker's
schedule (a round of push then pull after every sale and every `--sync-every` s: `[headoffice] interval`),
pulling its own view (`bench.loadtill`: `view=seen`, `view=store` at each store's T1, the members it sells to
followed), a share `--travel` of its customers members of other stores it follows. `--saturate` is the
capacity run: the tills sync back to back (`--sync-every 0`) and sell ten times as often (a sale every ~2 s
per till, each pushed at once), a 30 s window, so requests/s is what head office, PostgreSQL and the
generators together can take on this machine, not what a schedule asks.
Per-process CPU (head office's tree, PostgreSQL's, the generators', the rest) is read over the window, and
what head office's PostgreSQL sessions were doing, sampled each second (`bench.loadwatch`).
Reported: requests/s in the window, p50 and the tail its count supports (p99 from 100 samples) per request
kind, errors (must be 0), sync lag (a sale's ledger entry, from its commit at one till to applied at a till
of another store, every such pair) beside its floor (what the schedule alone costs: the sale to the
receiving till's next round; the tills sync on without selling for up to 30 s after the window, so every
sale's lag at every till is counted), and head office's ledger totals against the sum of the tills' own
ledgers once every till has pushed the rest. The load average is read at start and end: on a shared machine the
figures mean nothing without it; each window first waits, up to `--quiet-wait` s, for the load the setup and
the previous run left to fall below the cores (`bench.method.wait_until_quiet`, reported with the load).
`--server-root` runs head office from another checkout (an A/B against the same tills).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg

from bench import machine
from bench.loadwatch import cpu_split, pg_pid, watch_backends
from bench.method import QUIET_WAIT_S, wait_until_quiet
from bench.stats import claimable, percentile
from bench.sync_measure import wait_healthy
from cardread.barcode import with_check_digit
from headoffice import pgcluster
from headoffice.portfile import wait_for_port
from headoffice.store import open_store

ROOT = Path(__file__).resolve().parent.parent
READY_SECONDS = 900  # a generator registering 100 tills on a loaded 2-core machine
SETTLE_SECONDS = 30  # after the window the tills sync on (no sales) this long, at most the window's length
MEMBERS_PER_TILL = 3
VISITORS_PER_TILL = 4  # members of other stores a till follows (regulars who shop there too)
SATURATE_SECONDS = 30.0
SATURATE_SALE_EVERY = 2.0  # the saturation run's customers: ten times the schedule's, so pushes queue too


def loadavg() -> str:
    """The 1, 5 and 15 minute load averages."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def _env(root: Path = ROOT) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(root)}


def plan_tills(tills: int, stores: int, seed: int, visitors: int = VISITORS_PER_TILL) -> list[dict[str, Any]]:
    """Who is where: till i in store L{i % stores}, tills T1.. (T1 is each store's expiry till: `view=store`),
    its members' cards, and `visitors` cards of other stores' members it follows (none with one store)."""
    plan: list[dict[str, Any]] = [
        {"store_id": f"L{i % stores:03d}", "till_id": f"T{i // stores + 1}", "number": i,
         "cards": [with_check_digit(f"29{i:05d}{k:05d}") for k in range(MEMBERS_PER_TILL)]}  # the default prefix
        for i in range(tills)]
    rng = random.Random(seed)
    for t in plan:
        others = [c for o in plan if o["store_id"] != t["store_id"] for c in o["cards"]]
        t["visitors"] = rng.sample(others, min(visitors, len(others)))
    return plan


@contextmanager
def headoffice(db_url: str, workers: int, pool: int, root: Path = ROOT) -> Iterator[tuple[str, int]]:
    """`headoffice serve --workers N` (the code under `root`) in its own process tree; its URL once
    /v1/health answers, and its pid. It binds a port of its own (`--port 0`) and says which in its port file:
    a port picked here and closed could be taken by another run's server before head office binds it."""
    port_file = Path(tempfile.mkdtemp(prefix="load-ho-")) / "port"
    proc = subprocess.Popen([sys.executable, "-m", "headoffice", "serve", "--no-upkeep", "--port", "0",
                             "--port-file", str(port_file), "--db", db_url, "--workers", str(workers),
                             "--pool", str(pool)], cwd=root, env=_env(root))
    try:
        url = f"http://127.0.0.1:{wait_for_port(port_file, proc, timeout=120)}"
        wait_healthy(url, proc, within_s=120, pause_s=0.2)
        yield url, proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(port_file.parent, ignore_errors=True)


def _summary(results: list[dict[str, Any]], seconds: float) -> dict[str, Any]:
    samples: dict[str, list[float]] = {}
    errors: dict[str, int] = {}
    lags: list[tuple[float, float, float, str, str]] = []
    for r in results:
        for kind, values in r["samples"].items():
            samples.setdefault(kind, []).extend(values)
        for what, n in r["errors"].items():
            errors[what] = errors.get(what, 0) + n
        lags.extend(zip(r["made"], r["lags"], r["floors"], r["sale_ids"], r["receivers"], strict=True))
    kinds: dict[str, dict[str, Any]] = {
        k: {"n": len(v), "per_s": round(len(v) / seconds, 2), "p50_ms": round(percentile(v, 50) * 1000, 1),
            "claim": f"p{claimable(len(v))}", "tail_ms": round(percentile(v, claimable(len(v))) * 1000, 1),
            "p99_ms": round(percentile(v, 99) * 1000, 1)} for k, v in sorted(samples.items()) if v}
    requests = sum(int(v["n"]) for k, v in kinds.items() if k != "sale")
    lag = [x[1] for x in lags]
    floor = [x[2] for x in lags]
    claim = claimable(len(lag))
    return {"requests_per_s": round(requests / seconds, 2), "requests": requests, "kinds": kinds,
            "errors": sum(errors.values()), "error_kinds": dict(sorted(errors.items(), key=lambda e: -e[1])[:5]),
            "lag_n": len(lag), "lag_claim": f"p{claim}",
            "lag_p50_s": round(percentile(lag, 50), 2) if lag else None,
            "lag_p99_s": round(percentile(lag, claim), 2) if lag else None,
            "lag_max_s": round(max(lag), 2) if lag else None,
            "floor_p50_s": round(percentile(floor, 50), 2) if floor else None,
            "floor_p99_s": round(percentile(floor, claim), 2) if floor else None,
            "sales": sum(r["sales"] for r in results),
            "till_entries": sum(r["entries"] for r in results), "till_points": sum(r["points"] for r in results),
            "sold": [s for r in results for s in r["sold"]], "lag_samples": sorted(lags)}


def run_load(workdir: Path, *, workers: int = 1, tills: int = 200, stores: int = 50, seconds: float = 60,
             sale_every: float = 20, sync_every: float = 5, procs: int = 2, pool: int = 8, durable: bool = True,
             seed: int = 15, travel: float = 0.25, server_root: Path = ROOT, quiet_s: float = 0.0) -> dict[str, Any]:
    """One load test on a fresh private PostgreSQL; the summary (see the module docstring). `lag_samples` holds
    every (sale time, lag, floor, sale id, receiving till) in seconds, sorted by sale time; `plan` the tills
    (store, till, cards, visitors) and `sold` every sale (id, card, store). With `quiet_s`, once the tills are
    set up (the setup and the previous run load the machine too) the window waits up to that long for the load
    to fall below the cores (`bench.method.wait_until_quiet`; `quiet_wait` says how it went)."""
    if reason := pgcluster.available():
        raise RuntimeError(reason)
    workdir.mkdir(parents=True, exist_ok=True)
    # syncing on after the window: the last sales' lags are counted too (back to back, a few seconds do)
    settle = min(SETTLE_SECONDS if sync_every > 0 else 5.0, seconds)
    with tempfile.TemporaryDirectory(prefix=f"load-w{workers}-", dir=workdir) as tmp, \
            pgcluster.private_cluster(durable=durable, prefix="ho-load-") as db_url:
        store = open_store(db_url)  # the schema, and one enrolment code per till
        try:
            plan = plan_tills(tills, stores, seed)
            for t in plan:
                t["home"] = str(Path(tmp) / f"till-{t['number']:04d}")
                t["code"] = store.add_till(str(t["store_id"]), str(t["till_id"]))
        finally:
            store.close()
        with headoffice(db_url, workers, pool, server_root) as (url, ho_pid):
            gens = []
            for p in range(procs):
                spec = Path(tmp) / f"spec-{p}.json"
                spec.write_text(json.dumps({"url": url, "seed": seed, "sale_every": sale_every, "travel": travel,
                                            "sync_every": sync_every, "settle": settle, "tills": plan[p::procs]}))
                gens.append((subprocess.Popen([sys.executable, "-m", "bench.loadtill", str(spec),
                                               str(Path(tmp) / f"out-{p}.json")], cwd=ROOT, env=_env(),
                                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True), p))
            setup_started = time.monotonic()
            for step, reply in (("enrolled", "go\n"), ("ready", None)):
                for proc, _ in gens:
                    assert proc.stdout is not None and proc.stdin is not None
                    if proc.stdout.readline().strip() != step:
                        raise RuntimeError(f"a load generator failed to set up (exit {proc.wait()})")
                for proc, _ in gens:
                    assert proc.stdin is not None
                    if reply:
                        proc.stdin.write(reply)
                        proc.stdin.flush()
            setup = time.monotonic() - setup_started
            quiet = wait_until_quiet(quiet_s) if quiet_s > 0 else None
            start = time.time() + 1
            load_start = loadavg()
            for proc, _ in gens:
                assert proc.stdin is not None
                proc.stdin.write(f"{start} {seconds}\n")
                proc.stdin.close()
            time.sleep(max(0.0, start - time.time()))
            groups = {"headoffice": {ho_pid}, "postgresql": {p for p in [pg_pid(db_url)] if p},
                      "generators": {proc.pid for proc, _ in gens}}
            cpu_before = machine.snapshot()
            backends = watch_backends(db_url, start + seconds)
            cpu = cpu_split(cpu_before, machine.snapshot(), groups)
            load_window = loadavg()
            codes = [proc.wait(settle + READY_SECONDS) for proc, _ in gens]
            load_end = loadavg()
            if any(codes):
                raise RuntimeError(f"a load generator failed (exits {codes})")
            results = [json.loads((Path(tmp) / f"out-{p}.json").read_text()) for _, p in gens]
        with psycopg.connect(db_url) as conn:
            row = conn.execute("SELECT COUNT(*), COALESCE(SUM(points), 0) FROM ledger WHERE store_id LIKE 'L%'"
                               ).fetchall()
    out = _summary(results, seconds)
    out.update({"workers": workers, "pool": pool, "tills": tills, "stores": stores, "seconds": seconds,
                "sale_every_s": sale_every, "sync_every_s": sync_every, "generator_procs": procs, "travel": travel,
                "cpu_pct": cpu, "pg_backends": backends, "loadavg_window_end": load_window,
                "plan": [{k: t[k] for k in ("store_id", "till_id", "cards", "visitors")} for t in plan],
                "server": "this checkout" if server_root == ROOT else str(server_root),
                "setup_seconds": round(setup, 1), "loadavg_start": load_start, "loadavg_end": load_end,
                "quiet_wait": quiet.words() if quiet else "none asked",
                "quiet_wait_s": quiet.waited_s if quiet else 0.0,
                "ho_entries": int(row[0][0]), "ho_points": int(row[0][1]), "cpus": os.cpu_count()})
    out["totals_equal"] = (out["ho_entries"], out["ho_points"]) == (out["till_entries"], out["till_points"])
    return out


def _pair(kind: dict[str, Any]) -> str:
    return f"{kind.get('p50_ms')}/{kind.get('tail_ms')} ({kind.get('claim')})" if kind else "-"


def markdown(runs: list[dict[str, Any]]) -> str:
    """The curve as a table (docs/scaling.md carries a copy with the date); a tail is the one its count supports.
    CPU is % of one core over the window: head office's processes, PostgreSQL's, the load generators', the rest."""
    lines = ["| workers | server | sync every s | req/s | push/s | push p50/tail ms | pull p50/tail ms |"
             " follow p50/tail ms | errors | sync lag p50/tail s | its floor p50/tail s | totals equal |"
             " CPU % ho/pg/gen/rest | PG sessions lock/active/idle-in-tx | load avg start -> end |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in runs:
        k = r["kinds"]
        cpu, pg = r.get("cpu_pct", {}), r.get("pg_backends", {})
        lines.append(f"| {r['workers']} | {r['server']} | {r['sync_every_s']} | {r['requests_per_s']} |"
                     f" {k.get('push', {}).get('per_s')} | {_pair(k.get('push', {}))} | {_pair(k.get('pull', {}))} |"
                     f" {_pair(k.get('follow', {}))} | {r['errors']} |"
                     f" {r['lag_p50_s']}/{r['lag_p99_s']} ({r['lag_claim']}, n={r['lag_n']}) |"
                     f" {r['floor_p50_s']}/{r['floor_p99_s']} | {r['totals_equal']} |"
                     f" {'/'.join(str(cpu.get(g)) for g in ('headoffice', 'postgresql', 'generators', 'rest'))} |"
                     f" {'/'.join(str(pg.get(g, 0)) for g in ('lock:advisory', 'active', 'idle in transaction'))} |"
                     f" {r['loadavg_start']} -> {r['loadavg_end']} ({r.get('quiet_wait', 'no wait')}) |")
    r0 = runs[0] if runs else {}
    lines.append(f"\n{r0.get('tills')} tills in {r0.get('stores')} stores, a sale every ~{r0.get('sale_every_s')} s"
                 f" per till ({r0.get('travel')} of them to a followed member of another store), a sync round (push,"
                 " then pull of the till's view) after each sale and `sync every` s after the last (0: back to back,"
                 f" the saturation run); {r0.get('generator_procs')} load-generator processes on the same"
                 f" {r0.get('cpus')}-CPU machine. Lag: an entry of a sale at one store applied at a till of another"
                 " store that follows its member. CPU: % of one core over the window (head office, PostgreSQL, the"
                 " generators, the rest of the machine); PG sessions: head office's, on average, waiting on the"
                 " advisory lock / running / idle in a transaction (waiting for their worker), sampled each second.")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.loadtest", description=__doc__.splitlines()[0])
    p.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    p.add_argument("--tills", type=int, default=200)
    p.add_argument("--stores", type=int, default=50)
    p.add_argument("--seconds", type=float, help="the window (60 s; 30 s with --saturate)")
    p.add_argument("--sale-every", type=float, help="seconds between customers per till (20; 2 with --saturate)")
    p.add_argument("--sync-every", type=float, default=5, help="the tills' [headoffice] interval")
    p.add_argument("--travel", type=float, default=0.25, help="share of customers from another store")
    p.add_argument("--saturate", action="store_true", help="the tills sync back to back (--sync-every 0) and sell"
                   " every ~2 s")
    p.add_argument("--procs", type=int, default=2)
    p.add_argument("--pool", type=int, default=8)
    p.add_argument("--server-root", type=Path, action="append",
                   help="run head office from this checkout (repeat for an A/B: each worker count runs every"
                        " root, alternating which goes first)")
    p.add_argument("--quiet-wait", type=float, default=QUIET_WAIT_S, help="seconds each window may wait for the"
                   " 1-minute load to fall below the cores (0: start at once)")
    p.add_argument("--data-dir", type=Path, default=Path(tempfile.gettempdir()), help="where till homes go")
    p.add_argument("--out", type=Path, help="write the table here (markdown)")
    args = p.parse_args(argv)
    seconds = args.seconds or (SATURATE_SECONDS if args.saturate else 60.0)
    sync_every = 0.0 if args.saturate else args.sync_every
    sale_every = args.sale_every or (SATURATE_SALE_EVERY if args.saturate else 20.0)
    roots = [r.resolve() for r in args.server_root or [ROOT]]
    runs = []
    for i, w in enumerate(args.workers):
        for root in roots if i % 2 == 0 else roots[::-1]:
            print(f"loadtest: {w} worker(s), {args.tills} tills, server {root} ... load {loadavg()}",
                  file=sys.stderr, flush=True)
            runs.append(run_load(args.data_dir, workers=w, tills=args.tills, stores=args.stores, seconds=seconds,
                                 sale_every=sale_every, sync_every=sync_every, travel=args.travel,
                                 procs=args.procs, pool=args.pool, server_root=root, quiet_s=args.quiet_wait))
            print(json.dumps({k: v for k, v in runs[-1].items() if k not in ("lag_samples", "plan", "sold")}),
                  flush=True)
            if args.out:
                args.out.write_text(markdown(runs))
    return 0 if all(r["errors"] == 0 and r["totals_equal"] for r in runs) else 1


if __name__ == "__main__":
    raise SystemExit(main())
