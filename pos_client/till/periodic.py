"""The shape the till's background schedulers share (upkeep, backups): a daemon thread with a stop event,
like the sync worker, on a connection of its own, that runs `run_once` every `tick` seconds; a failure is
logged, shown in the status bar and retried next tick (the till sells on), and a broken status callback can
never stop the work."""

from __future__ import annotations

import logging
import sqlite3
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import ClassVar, Self

from pos_client.store.context import TillContext

log = logging.getLogger(__name__)


class Periodic(ABC):
    """Subclasses name their thread (`NAME`) and do one round of their work in `run_once`."""

    NAME: ClassVar[str]

    def __init__(self, open_context: Callable[[], TillContext], tick: float,
                 status: Callable[[str], None] | None) -> None:
        self.open_context = open_context
        self.tick = tick
        self.status = status
        self.error: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._ctx: TillContext | None = None  # the thread's own connection, while it runs

    def start(self) -> Self:
        self._thread = threading.Thread(target=self._run, name=self.NAME, daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0, grace: float = 1.0) -> None:
        """Ask the thread to stop and wait for it. Work that does not finish within `grace` seconds (a full
        integrity check of a large database takes minutes) is interrupted on the thread's own connection:
        the statement in progress fails, its transaction rolls back (each step is one), and the work is
        retried on the next start. Closing the app never waits minutes for it."""
        self._stop.set()
        if self._thread is None:
            return
        self._thread.join(min(grace, timeout))
        ctx = self._ctx
        if self._thread.is_alive() and ctx is not None:
            try:
                ctx.conn.interrupt()
            except sqlite3.ProgrammingError:  # the thread closed it meanwhile: nothing left to interrupt
                pass
        self._thread.join(max(timeout - grace, 0.0))

    def _say(self, text: str) -> None:
        if self.status is not None:
            try:
                self.status(text)
            except Exception:  # broad on purpose: a broken status bar must not stop the work
                log.warning("%s status callback failed", self.NAME, exc_info=True)

    @abstractmethod
    def run_once(self, ctx: TillContext) -> None: ...

    def _run(self) -> None:
        ctx = self._ctx = self.open_context()
        try:
            while not self._stop.is_set():
                try:
                    self.run_once(ctx)
                    self.error = None
                except sqlite3.OperationalError as exc:
                    if self._stop.is_set() and "interrupted" in str(exc):  # `stop` cut it: retried next start
                        log.info("%s stopped at close; the work is retried on the next start", self.NAME)
                        break
                    self._failed(exc)
                except Exception as exc:  # a full disk, a locked database, a bug: retry next tick
                    self._failed(exc)
                self._stop.wait(self.tick)
        finally:
            self._ctx = None
            ctx.close()

    def _failed(self, exc: Exception) -> None:
        """Logged with its traceback, shown in the status bar; the work is retried next tick."""
        self.error = f"{type(exc).__name__}: {exc}"
        log.warning("%s failed", self.NAME, exc_info=exc)
        self._say(f"failed ({self.error[:60]}); retrying")
