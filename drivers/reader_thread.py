"""What every reader thread shares: a stop event, a join on stop, and an event sink that a
faulty consumer cannot kill (toolong's reader-thread pattern)."""

from __future__ import annotations

import logging
import threading

from drivers.events import Event, EventSink

log = logging.getLogger(__name__)


class ReaderThread(threading.Thread):
    """A daemon thread that runs until `stop()` and hands plain events to `on_event`."""

    def __init__(self, name: str, on_event: EventSink) -> None:
        super().__init__(name=name, daemon=True)
        self.on_event = on_event
        self._halt = threading.Event()

    def stop(self, timeout: float = 2.0) -> None:
        self._halt.set()
        if self.is_alive() and threading.current_thread() is not self:
            self.join(timeout)

    def _emit(self, event: Event) -> None:
        try:
            self.on_event(event)
        except Exception:  # a faulty consumer must not kill the reader
            log.exception("event consumer failed on a %s event", event.kind)
