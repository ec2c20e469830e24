"""The real head office as a process of its own (`python -m headoffice serve`), so it can be SIGKILLed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.sync.tillkit import free_port

ROOT = Path(__file__).resolve().parents[2]


class HeadOfficeProcess:
    """`headoffice serve` on a loopback port over one SQLite file; start, kill -9, start again."""

    def __init__(self, db_url: str, port: int | None = None) -> None:
        self.db_url, self.port = db_url, port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> HeadOfficeProcess:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self.proc = subprocess.Popen([sys.executable, "-m", "headoffice", "serve", "--db", self.db_url, "--port",
                                      str(self.port), "--no-upkeep"], cwd=ROOT, env=env,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while True:  # ready when it answers
            if self.proc.poll() is not None:
                raise AssertionError(f"head office exited with {self.proc.returncode} while starting")
            try:
                if httpx.get(f"{self.url}/v1/openapi.json", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError("head office did not answer in time")
            time.sleep(0.05)

    def kill(self) -> None:
        """SIGKILL: no shutdown, no flush, a transaction perhaps half-done."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(15)
