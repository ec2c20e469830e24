"""The shape the till's background schedulers share (upkeep, backups): a daemon thread with a stop event,
like the sync worker, on a connection of its own, that runs `run_once` every `tick` seconds; a failure is
logged, shown in the status bar and retried next tick (the till sells on), and a broken status callback can
never stop the work."""

from __future__ import annotations

import logging
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

    def start(self) -> Self:
        self._thread = threading.Thread(target=self._run, name=self.NAME, daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Ask the thread to stop and wait for it (work in progress finishes: each step is one transaction)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _say(self, text: str) -> None:
        if self.status is not None:
            try:
                self.status(text)
            except Exception:  # broad on purpose: a broken status bar must not stop the work
                log.warning("%s status callback failed", self.NAME, exc_info=True)

    @abstractmethod
    def run_once(self, ctx: TillContext) -> None: ...

    def _run(self) -> None:
        ctx = self.open_context()
        try:
            while not self._stop.is_set():
                try:
                    self.run_once(ctx)
                    self.error = None
                except Exception as exc:  # a full disk, a locked database, a bug: retry next tick
                    self.error = f"{type(exc).__name__}: {exc}"
                    log.warning("%s failed", self.NAME, exc_info=True)
                    self._say(f"failed ({self.error[:60]}); retrying")
                self._stop.wait(self.tick)
        finally:
            ctx.close()
