"""The shape the till's background schedulers share (upkeep, backups): a daemon thread with a stop event,
like the sync worker, and a status callback for the status bar that can never stop the work."""

from __future__ import annotations

import logging
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import ClassVar, Self

log = logging.getLogger(__name__)


class Periodic(ABC):
    """Subclasses name their thread (`NAME`) and do their work in `_run`, waiting on `self._stop`."""

    NAME: ClassVar[str]

    def __init__(self, status: Callable[[str], None] | None) -> None:
        self.status = status
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
    def _run(self) -> None: ...
