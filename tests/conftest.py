"""Shared fixtures: a fresh till on a temporary home directory, and a CLI runner."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

ROOT = Path(__file__).resolve().parents[1]

pytest_plugins = ["tests.pcsc_fixture"]

# Property tests in `make test` (CI) run the same examples every time (derandomize: a failure shows on every run,
# never on one run in a hundred), with no per-example deadline and no too-slow check (a loaded 2-core machine makes
# an example or a draw slow, not wrong). `HYPOTHESIS_PROFILE=explore` searches with new random examples, more of
# them, to look for failing cases on purpose; what it finds goes into the test as an @example.
settings.register_profile("suite", derandomize=True, deadline=None, database=None, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("explore", deadline=None, database=None, print_blob=True, max_examples=2000,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "suite"))


@pytest.fixture
def till(tmp_path):
    """A till context on an empty home directory with embedded defaults."""
    from pos_client.till import open_till

    ctx = open_till(tmp_path / "home")
    yield ctx
    ctx.close()


@pytest.fixture
def cli(tmp_path):
    """Run `python -m pos_client ...` against a private home; returns (code, json-or-text, stderr)."""
    home = tmp_path / "clihome"
    env = {**os.environ, "POS_CLIENT_HOME": str(home), "PYTHONPATH": str(ROOT)}

    def run(*args: str, check_json: bool = True):
        proc = subprocess.run([sys.executable, "-m", "pos_client", *args], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=60)
        out = proc.stdout
        if check_json and "--json" in args and out.strip():
            out = json.loads(out.strip().splitlines()[-1])
        return proc.returncode, out, proc.stderr

    run.home = home  # type: ignore[attr-defined]
    return run


@pytest.fixture
def ho_store(tmp_path):
    """An embedded (SQLite) head office in tmp (the sync and console tests)."""
    from headoffice.store import open_store

    s = open_store(f"sqlite:///{tmp_path / 'headoffice.db'}")
    yield s
    s.close()
