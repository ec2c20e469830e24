"""App cold start to first screen, against `python -c pass` in the same run.

`pos_client.app.startup_probe.measure_once(home)` runs on the generated till home (the full
database): it launches a fresh interpreter that runs the app headless and reports the moment the
first screen is ready. Each run is a fresh interpreter with a warm OS file cache (dropping caches
needs root and would disturb the machine); one untimed run first writes the .pyc files.
"""

from __future__ import annotations

import subprocess
import time

from bench.env import BenchEnv
from bench.stats import Figure, Measure, verdict
from pos_client.app.startup_probe import measure_once

KEY = "cold_start"
TITLE = "app cold start to first screen"
TARGET = "<= 1 s (p99)"
TARGET_S = 1.0
PROBE = "pos_client.app.startup_probe"


def _time(env: BenchEnv, args: list[str], n: int) -> tuple[list[float], int, str]:
    cmd = [env.python, *args]
    first = subprocess.run(cmd, env=env.subprocess_env(), capture_output=True, text=True, cwd=env.scratch)
    out: list[float] = []
    for _ in range(n):
        t0 = time.perf_counter()
        subprocess.run(cmd, env=env.subprocess_env(), capture_output=True, cwd=env.scratch)
        out.append(time.perf_counter() - t0)
    return out, first.returncode, (first.stderr or "").strip().splitlines()[-1:][0] if first.stderr else ""


def run(env: BenchEnv) -> Figure:
    n = env.samples(20, 7)
    base, _, _ = _time(env, ["-c", "pass"], n)
    b = Measure.of("python -c pass", "s", base)
    try:
        measure_once(str(env.home))  # untimed: .pyc files, and any migration of the cached database
        runs = [measure_once(str(env.home)) for _ in range(n)]
    except (subprocess.SubprocessError, RuntimeError, ValueError, IndexError) as exc:  # the child failed or
        # printed no readiness record: report it, never a number we did not measure
        return Figure.skipped(KEY, TITLE, TARGET, f"{PROBE}.measure_once failed: {exc}", baseline=b)
    m = Measure.of(f"{PROBE}.measure_once(home): fresh interpreter to the app's first screen, full database", "s",
                   [r["to_first_screen_s"] for r in runs])
    return Figure(KEY, TITLE, TARGET, verdict(m.p99 <= TARGET_S), measure=m, baseline=b)
