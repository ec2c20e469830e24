"""The chain load test (issue 15): 200 real tills in 50 stores against `headoffice serve --workers N` on a
private PostgreSQL, each till selling, pushing and pulling on its own schedule.

    python -m bench.loadtest [--workers 1 2 4] [--tills 200] [--stores 50] [--seconds 60]
                             [--sale-every 20] [--pull-every 5] [--procs 2] [--pool 8]
                             [--data-dir DIR] [--out FILE.md]

Per worker count: a fresh PostgreSQL cluster (`headoffice.pgcluster`, default durability), head office in
its own process tree, the tills spread over `--procs` load-generator processes (`bench.loadtill`: the
tills' own work, SQLite and Python, must not share one GIL with 200 threads). Reported: requests/s in the
window, p50/p99 per request kind, errors (must be 0), sync lag (a sale's ledger entry, from its commit at
one till to applied at a till of another store, every such pair), and head office's ledger totals against
the sum of the tills' own ledgers once every till has pushed the rest. The load average is read at start
and end: on a shared machine the figures mean nothing without it.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg

from bench.stats import percentile
from bench.sync_measure import wait_healthy
from headoffice import pgcluster
from headoffice.store import open_store

ROOT = Path(__file__).resolve().parent.parent
READY_SECONDS = 900  # a generator registering 100 tills on a loaded 2-core machine


def loadavg() -> str:
    """The 1, 5 and 15 minute load averages."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def headoffice(db_url: str, workers: int, pool: int) -> Iterator[str]:
    """`headoffice serve --workers N` in its own process tree; its URL once /v1/health answers."""
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "headoffice", "serve", "--no-upkeep", "--port", str(port),
                             "--db", db_url, "--workers", str(workers), "--pool", str(pool)], cwd=ROOT, env=_env())
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, proc, within_s=120, pause_s=0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _summary(results: list[dict[str, Any]], seconds: float) -> dict[str, Any]:
    samples: dict[str, list[float]] = {}
    errors: dict[str, int] = {}
    lags: list[float] = []
    for r in results:
        for kind, values in r["samples"].items():
            samples.setdefault(kind, []).extend(values)
        for what, n in r["errors"].items():
            errors[what] = errors.get(what, 0) + n
        lags.extend(r["lags"])
    kinds = {k: {"n": len(v), "per_s": round(len(v) / seconds, 2), "p50_ms": round(percentile(v, 50) * 1000, 1),
                 "p99_ms": round(percentile(v, 99) * 1000, 1)} for k, v in sorted(samples.items()) if v}
    requests = sum(v["n"] for k, v in kinds.items() if k != "sale")
    return {"requests_per_s": round(requests / seconds, 2), "requests": requests, "kinds": kinds,
            "errors": sum(errors.values()), "error_kinds": dict(sorted(errors.items(), key=lambda e: -e[1])[:5]),
            "lag_n": len(lags), "lag_p50_s": round(percentile(lags, 50), 2) if lags else None,
            "lag_p99_s": round(percentile(lags, 99), 2) if lags else None,
            "lag_max_s": round(max(lags), 2) if lags else None,
            "sales": sum(r["sales"] for r in results),
            "till_entries": sum(r["entries"] for r in results), "till_points": sum(r["points"] for r in results)}


def run_load(workdir: Path, *, workers: int = 1, tills: int = 200, stores: int = 50, seconds: float = 60,
             sale_every: float = 20, pull_every: float = 5, procs: int = 2, pool: int = 8, durable: bool = True,
             seed: int = 15) -> dict[str, Any]:
    """One load test on a fresh private PostgreSQL; the summary (see the module docstring)."""
    if reason := pgcluster.available():
        raise RuntimeError(reason)
    workdir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f"load-w{workers}-", dir=workdir) as tmp, \
            pgcluster.private_cluster(durable=durable, prefix="ho-load-") as db_url:
        store = open_store(db_url)  # the schema, and one enrolment code per till
        try:
            plan = [{"store_id": f"L{i % stores:03d}", "till_id": f"T{i // stores:02d}", "number": i,
                     "home": str(Path(tmp) / f"till-{i:04d}")} for i in range(tills)]
            for t in plan:
                t["code"] = store.add_till(str(t["store_id"]), str(t["till_id"]))
        finally:
            store.close()
        with headoffice(db_url, workers, pool) as url:
            gens = []
            for p in range(procs):
                spec = Path(tmp) / f"spec-{p}.json"
                spec.write_text(json.dumps({"url": url, "seed": seed, "sale_every": sale_every,
                                            "pull_every": pull_every, "tills": plan[p::procs]}))
                gens.append((subprocess.Popen([sys.executable, "-m", "bench.loadtill", str(spec),
                                               str(Path(tmp) / f"out-{p}.json")], cwd=ROOT, env=_env(),
                                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True), p))
            setup_started = time.monotonic()
            for proc, _ in gens:
                assert proc.stdout is not None
                if proc.stdout.readline().strip() != "ready":
                    raise RuntimeError(f"a load generator failed to set up (exit {proc.wait()})")
            setup = time.monotonic() - setup_started
            start = time.time() + 1
            load_start = loadavg()
            for proc, _ in gens:
                assert proc.stdin is not None
                proc.stdin.write(f"{start} {seconds}\n")
                proc.stdin.close()
            codes = [proc.wait(seconds + READY_SECONDS) for proc, _ in gens]
            load_end = loadavg()
            if any(codes):
                raise RuntimeError(f"a load generator failed (exits {codes})")
            results = [json.loads((Path(tmp) / f"out-{p}.json").read_text()) for _, p in gens]
        with psycopg.connect(db_url) as conn:
            row = conn.execute("SELECT COUNT(*), COALESCE(SUM(points), 0) FROM ledger WHERE store_id LIKE 'L%'"
                               ).fetchall()
    out = _summary(results, seconds)
    out.update({"workers": workers, "pool": pool, "tills": tills, "stores": stores, "seconds": seconds,
                "sale_every_s": sale_every, "pull_every_s": pull_every, "generator_procs": procs,
                "setup_seconds": round(setup, 1), "loadavg_start": load_start, "loadavg_end": load_end,
                "ho_entries": int(row[0][0]), "ho_points": int(row[0][1]), "cpus": os.cpu_count()})
    out["totals_equal"] = (out["ho_entries"], out["ho_points"]) == (out["till_entries"], out["till_points"])
    return out


def markdown(runs: list[dict[str, Any]]) -> str:
    """The curve as a table (docs/scaling.md carries a copy with the date)."""
    lines = ["| workers | req/s | push p50/p99 ms | pull p50/p99 ms | sale p50 ms | errors | sync lag p50/p99 s"
             " | totals equal | load avg start -> end |", "|---|---|---|---|---|---|---|---|---|"]
    for r in runs:
        k = r["kinds"]
        push, pull, sale = k.get("push", {}), k.get("pull", {}), k.get("sale", {})
        lines.append(f"| {r['workers']} | {r['requests_per_s']} | {push.get('p50_ms')}/{push.get('p99_ms')} |"
                     f" {pull.get('p50_ms')}/{pull.get('p99_ms')} | {sale.get('p50_ms')} | {r['errors']} |"
                     f" {r['lag_p50_s']}/{r['lag_p99_s']} | {r['totals_equal']} |"
                     f" {r['loadavg_start']} -> {r['loadavg_end']} |")
    r0 = runs[0] if runs else {}
    lines.append(f"\n{r0.get('tills')} tills in {r0.get('stores')} stores, {r0.get('seconds')} s window, a sale"
                 f" every ~{r0.get('sale_every_s')} s per till (push after each), a pull every"
                 f" ~{r0.get('pull_every_s')}"
                 f" s; {r0.get('generator_procs')} load-generator processes on the same {r0.get('cpus')}-CPU machine.")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.loadtest", description=__doc__.splitlines()[0])
    p.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    p.add_argument("--tills", type=int, default=200)
    p.add_argument("--stores", type=int, default=50)
    p.add_argument("--seconds", type=float, default=60)
    p.add_argument("--sale-every", type=float, default=20)
    p.add_argument("--pull-every", type=float, default=5)
    p.add_argument("--procs", type=int, default=2)
    p.add_argument("--pool", type=int, default=8)
    p.add_argument("--data-dir", type=Path, default=Path(tempfile.gettempdir()), help="where till homes go")
    p.add_argument("--out", type=Path, help="write the table here (markdown)")
    args = p.parse_args(argv)
    runs = []
    for w in args.workers:
        print(f"loadtest: {w} worker(s), {args.tills} tills ... load {loadavg()}", file=sys.stderr, flush=True)
        runs.append(run_load(args.data_dir, workers=w, tills=args.tills, stores=args.stores, seconds=args.seconds,
                             sale_every=args.sale_every, pull_every=args.pull_every, procs=args.procs,
                             pool=args.pool))
        print(json.dumps(runs[-1]), flush=True)
    if args.out:
        args.out.write_text(markdown(runs))
    return 0 if all(r["errors"] == 0 and r["totals_equal"] for r in runs) else 1


if __name__ == "__main__":
    raise SystemExit(main())
