"""Run `pos-client` in a subprocess against a till home, as a script would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def pos_client(home: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "POS_CLIENT_HOME": str(home), "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "pos_client", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=60)


def pos_json(home: Path, *args: str) -> tuple[int, dict]:
    proc = pos_client(home, *args, "--json")
    return proc.returncode, json.loads(proc.stdout)
