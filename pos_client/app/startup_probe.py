"""Measure cold start: from launching a fresh interpreter to the checkout screen being ready.

`python -m pos_client.app.startup_probe [--runs N]` starts a child process per run that opens
a till on a fresh temporary home and runs the app headless; the child reports the wall-clock
time at which the first screen is ready, and the parent prints the difference from launch.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

_CHILD = (  # the till's own start (`pos_client.app.boot`, as `pos-client` runs it), headless
    "import sys\n"
    "from pos_client.app.boot import probe\n"
    "probe(sys.argv[1])\n"
)


def measure_once(home: str) -> dict:
    """One cold start in a fresh interpreter; seconds to import, open the till and show the screen."""
    root = str(Path(__file__).resolve().parents[2])
    env = dict(os.environ, PYTHONPATH=root + os.pathsep + os.environ.get("PYTHONPATH", ""))
    start = time.time()
    out = subprocess.run([sys.executable, "-c", _CHILD, home], capture_output=True, text=True, env=env,
                         cwd=root, timeout=60, check=True).stdout
    ready = json.loads(out.strip().splitlines()[-1])
    if ready.get("screen") != "CheckoutScreen":
        raise RuntimeError(f"first screen was {ready.get('screen')}, not the checkout")
    return {"to_first_screen_s": round(ready["ready_at"] - start, 3),
            "in_process_s": round(ready["ready_at"] - ready["imported_at"], 3),
            "loaded_by_then": ready.get("loaded", []), "collector_held": ready.get("collector_held")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pos_client.app.startup_probe")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.runs):
            results.append(measure_once(str(Path(tmp) / f"home{i}")))
    best = min(r["to_first_screen_s"] for r in results)
    print(json.dumps({"runs": results, "best_to_first_screen_s": best}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
