"""Run `pos-client` in a subprocess against a till home, as a script would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib.util import find_spec
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Until the till-core command module lands next to this one, run the same main() with only the
# command modules that exist; once it is there this is exactly `python -m pos_client`.
SHIM = ("import importlib.util, sys; from pos_client.cli import main as m; "
        "m.COMMAND_MODULES = tuple(n for n in m.COMMAND_MODULES if importlib.util.find_spec(n)); "
        "sys.exit(m.main())")


def pos_client(home: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "POS_CLIENT_HOME": str(home), "PYTHONPATH": str(ROOT)}
    head = ["-m", "pos_client"] if find_spec("pos_client.cli.core") else ["-c", SHIM]
    return subprocess.run([sys.executable, *head, *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=60)


def pos_json(home: Path, *args: str) -> tuple[int, dict]:
    proc = pos_client(home, *args, "--json")
    return proc.returncode, json.loads(proc.stdout)
