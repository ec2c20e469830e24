"""App cold start to first screen, against `python -c pass` in the same run.

`pos_client.app.startup_probe.measure_once(home)` runs on the generated till home (the full
database): it launches a fresh interpreter that runs the app headless and reports the moment the
first screen is ready. Each run is a fresh interpreter with a warm OS file cache (dropping caches
needs root and would disturb the machine); one untimed run first writes the .pyc files. The app's
start and `python -c pass` alternate run by run (`bench.method.interleave`), >= 100 rounds at full
scale so the p99 is a p99; the target is about the full database, so --quick is NOT_JUDGED.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from bench.background import Watch
from bench.env import BenchEnv, compile_bytecode
from bench.method import interleave, judge
from bench.scratch import setup_note, writable_home
from bench.stats import Figure
from pos_client.app.startup_probe import measure_once

KEY = "cold_start"
TITLE = "app cold start to first screen"
TARGET = "<= 1 s (p99)"
TARGET_S = 1.0
PROBE = "pos_client.app.startup_probe"


def _python_pass(env: BenchEnv) -> float:
    t0 = time.perf_counter()
    subprocess.run([env.python, "-c", "pass"], env=env.subprocess_env(), capture_output=True, cwd=env.scratch)
    return time.perf_counter() - t0


def run(env: BenchEnv) -> Figure:
    n = env.samples(100, 10)
    compiled = compile_bytecode()  # untimed: the .pyc files a till's install writes
    _python_pass(env)  # untimed, like the app's first run
    home = str(writable_home(env))  # the app writes (its day's upkeep, a backup): never into the cached dataset
    try:
        measure_once(home)  # untimed: the first day's upkeep and backup of the copy
        with Watch(Path(home) / "till.db") as watch:
            rounds = interleave(lambda i: float(measure_once(home)["to_first_screen_s"]),
                                lambda i: _python_pass(env), n)
    except (subprocess.SubprocessError, RuntimeError, ValueError, IndexError) as exc:  # the child failed or
        # printed no readiness record: report it, never a number we did not measure
        return Figure.skipped(KEY, TITLE, TARGET, f"{PROBE}.measure_once failed: {exc}")
    v = judge(rounds, lambda m, b: m.tail_value <= TARGET_S, unit="s", at_this_scale=not env.quick,
              measured=f"{PROBE}.measure_once(home): fresh interpreter to the app's first screen, full database",
              baseline="python -c pass")
    return Figure(KEY, TITLE, TARGET, v.status, measure=v.measure, baseline=v.baseline, judged=v.judged,
                  notes=[setup_note(env), watch.words(), "the project's bytecode compiled first (compileall, as a"
                         f" wheel's install does){'' if compiled else ': some modules failed to compile'}"])
