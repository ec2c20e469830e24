"""The real head office as a process of its own (`python -m headoffice serve`), so it can be SIGKILLed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from contextlib import ExitStack
from pathlib import Path

from tests.ports import refusing_port, start_headoffice

ROOT = Path(__file__).resolve().parents[2]


class HeadOfficeProcess:
    """`headoffice serve` on a loopback port over one SQLite file; start, kill -9, start again.

    The port is held (`refusing_port`) from the first start to `stop()`: the tills know this address, and
    between a kill and the next start no other process can take it.
    """

    def __init__(self, db_url: str, port: int | None = None) -> None:
        self.db_url = db_url
        self._held = ExitStack()
        self.port = port if port is not None else self._held.enter_context(refusing_port())
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> HeadOfficeProcess:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self.proc, _ = start_headoffice([sys.executable, "-m", "headoffice", "serve", "--db", self.db_url,
                                         "--no-upkeep"], port=self.port, cwd=ROOT, env=env, timeout=timeout,
                                        stderr=subprocess.DEVNULL)
        return self

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
        self._held.close()
