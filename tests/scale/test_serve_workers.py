"""`headoffice serve --workers N`: a supervisor and N worker processes on one socket, over PostgreSQL."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx

from headoffice.cli import main as headoffice_main
from tests.ports import start_headoffice
from tests.sync.tillkit import wait_for

ROOT = Path(__file__).resolve().parents[2]


def _workers(parent: int) -> set[int]:
    """The supervisor's worker processes (multiprocessing's spawn children, not its resource tracker)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
        except (OSError, IndexError, ValueError):
            continue
        if ppid == parent and b"spawn_main" in cmdline:
            found.add(int(entry.name))
    return found


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/v1/health", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def test_workers_share_one_socket_and_a_dead_one_is_replaced(pg_url):
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc, port = start_headoffice([sys.executable, "-m", "headoffice", "serve", "--no-upkeep", "--db", pg_url,
                                   "--workers", "2", "--pool", "2"], cwd=ROOT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _healthy(url) and len(_workers(proc.pid)) == 2, timeout=60, interval=0.2)
        first = _workers(proc.pid)
        victim = min(first)
        os.kill(victim, signal.SIGKILL)
        assert all(_healthy(url) for _ in range(5))  # the other worker answers meanwhile
        wait_for(lambda: len(_workers(proc.pid) - {victim}) == 2, timeout=60, interval=0.2)
        assert _healthy(url)
    finally:
        proc.terminate()
        assert proc.wait(30) == 0
    assert _workers(proc.pid) == set()


def test_more_than_one_worker_needs_postgresql(tmp_path, capsys):
    code = headoffice_main(["serve", "--db", f"sqlite:///{tmp_path / 'ho.db'}", "--workers", "2"])
    assert code == 2
    assert "postgresql://" in capsys.readouterr().err
    assert not (tmp_path / "ho.db").exists()


def test_workers_and_pool_must_be_positive(capsys):
    assert headoffice_main(["serve", "--workers", "0"]) == 2
    assert headoffice_main(["serve", "--pool", "-1"]) == 2
    assert "must be more than 0" in capsys.readouterr().err


def test_a_busy_port_is_one_clear_line_not_a_traceback(tmp_path):
    """Another server on the port: exit 2, one line naming the address, nothing else started."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = subprocess.run([sys.executable, "-m", "headoffice", "serve", "--port", str(port), "--no-upkeep",
                               "--db", f"sqlite:///{tmp_path / 'ho.db'}"], capture_output=True, text=True,
                              timeout=60, env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])})
    assert proc.returncode == 2, proc.stderr
    assert f"cannot listen on 127.0.0.1:{port}" in proc.stderr and "Traceback" not in proc.stderr
