"""Where a load test's CPU and database time went (bench.loadtest): on 2 shared cores the requests/s of head
office mean little without who else had the CPU, and a flat curve needs its cause shown.

`cpu_split` reads /proc before and after the window: % of one core for head office's process tree,
PostgreSQL's, the load generators' and the rest of the machine (processes that exited during the window are
not counted: the rest is a lower bound). `watch_backends` samples `pg_stat_activity` each second: how many of
head office's sessions were running, waiting on a lock (the chain-wide advisory lock a push takes for its
server_seq), idle inside a transaction (waiting for their Python worker) or idle in the pool.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import psycopg

from bench import machine


def pg_pid(db_url: str) -> int | None:
    """The postmaster serving this URL's port (its backends are its children)."""
    port = db_url.rsplit(":", 1)[1].split("/", 1)[0]
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                argv = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if argv and argv[0].endswith(b"/postgres") and b"-p" in argv and port.encode() in argv:
                return int(entry.name)
    return None


def _tree(snap: machine.ProcSnapshot, roots: set[int]) -> set[int]:
    pids = set(roots)
    while more := {p for p, (_, ppid, _) in snap.ticks.items() if ppid in pids} - pids:
        pids |= more
    return pids


def cpu_split(before: machine.ProcSnapshot, after: machine.ProcSnapshot, groups: dict[str, set[int]]
              ) -> dict[str, float]:
    """%CPU of one core per group of process trees over the interval (200 = both cores of 2), and the rest."""
    hz = os.sysconf("SC_CLK_TCK")
    seconds = max(after.at - before.at, 1e-6)
    trees = {name: _tree(after, roots) for name, roots in groups.items()}
    out = dict.fromkeys([*groups, "rest"], 0.0)
    for pid, (_, _, ticks) in after.ticks.items():
        was = before.ticks[pid][2] if pid in before.ticks else 0  # a kernel worker's name changes with its work
        used = ticks - was if ticks >= was else ticks  # fewer ticks than before: the pid was reused
        name = next((n for n, t in trees.items() if pid in t), "rest")
        out[name] += 100 * used / hz / seconds
    return {k: round(v, 1) for k, v in out.items()}


def watch_backends(db_url: str, until: float, every: float = 1.0) -> dict[str, float]:
    """Until `until` (epoch s): the mean number of client sessions by what they did ("lock:advisory",
    "active", "idle in transaction", "idle", ...), over the samples taken, and their count."""
    totals: dict[str, float] = {}
    samples = 0
    with psycopg.connect(db_url, autocommit=True) as conn:
        while time.time() < until:
            rows = conn.execute(
                "SELECT CASE WHEN wait_event_type = 'Lock' THEN 'lock:' || wait_event ELSE state END, COUNT(*)"
                " FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid != pg_backend_pid()"
                " GROUP BY 1").fetchall()
            samples += 1
            for what, n in rows:
                totals[str(what)] = totals.get(str(what), 0) + int(n)
            time.sleep(max(0.0, min(every, until - time.time())))
    out = {k: round(v / samples, 1) for k, v in sorted(totals.items())} if samples else {}
    return {**out, "samples": samples}
