"""App cold start to first screen, against `python -c pass` in the same run.

The Textual app is built on another branch. When `pos_client.app.startup_probe` is importable,
its `measure_once(home)` is used on the generated till home (the full database): it launches a
fresh interpreter that runs the app headless and reports the moment the first screen is ready.
Until then the figure times what this build has: `import pos_client.cli.main` and `pos-client --help` (run as
`python -m pos_client --help`), and says so. Each run is a fresh interpreter with a warm OS file
cache (dropping caches needs root and would disturb the machine); one untimed run first writes
the .pyc files.
"""

from __future__ import annotations

import importlib.util
import subprocess
import time

from bench.env import BenchEnv
from bench.stats import Figure, Measure, verdict

KEY = "cold_start"
TITLE = "app cold start to first screen"
TARGET = "<= 1 s (p99)"
TARGET_S = 1.0
PROBE = "pos_client.app.startup_probe"


def _probe_available() -> bool:
    try:
        return importlib.util.find_spec(PROBE) is not None
    except ModuleNotFoundError:
        return False


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
    notes: list[str] = []
    extra: dict = {}
    if _probe_available():
        from importlib import import_module

        measure_once = import_module(PROBE).measure_once
        try:
            measure_once(str(env.home))  # untimed: .pyc files, and any migration of the cached database
            runs = [measure_once(str(env.home)) for _ in range(n)]
        except Exception as exc:  # report, never a number we did not measure
            return Figure.skipped(KEY, TITLE, TARGET, f"{PROBE}.measure_once failed: {exc}", baseline=b)
        samples = [r["to_first_screen_s"] for r in runs]
        what = f"{PROBE}.measure_once(home): fresh interpreter to the app's first screen, full database"
    else:
        notes.append(f"{PROBE} not available in this build (the app is on another branch): measured the CLI")
        imp, _, _ = _time(env, ["-c", "import pos_client.cli.main"], n)
        extra["import pos_client.cli.main"] = Measure.of("import pos_client.cli.main", "s", imp).__dict__
        helps, rc, err = _time(env, ["-m", "pos_client", "--help"], n)
        if rc == 0:
            samples, what = helps, "pos-client --help (python -m pos_client --help)"
            extra["pos-client --help"] = Measure.of(what, "s", helps).__dict__
        else:
            notes.append(f"pos-client --help fails in this build (exit {rc}: {err}); measured the import alone")
            samples, what = imp, "python -c 'import pos_client.cli.main'"
    m = Measure.of(what, "s", samples)
    return Figure(KEY, TITLE, TARGET, verdict(m.p99 <= TARGET_S), measure=m, baseline=b, notes=notes, extra=extra)
