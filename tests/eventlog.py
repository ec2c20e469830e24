"""Collecting reader events in tests: a thread-safe log with a bounded wait for a matching event."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from drivers.events import Event


class EventLog:
    def __init__(self) -> None:
        self.events: list[Event] = []
        self._cond = threading.Condition()
        self._seen = 0

    def __call__(self, event: Event) -> None:
        with self._cond:
            self.events.append(event)
            self._cond.notify_all()

    def wait_for(self, match: Callable[[Event], bool], timeout: float = 5.0) -> Event:
        """The next event (after the last one returned) that matches; others are skipped."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                while self._seen < len(self.events):
                    event = self.events[self._seen]
                    self._seen += 1
                    if match(event):
                        return event
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"no matching event within {timeout}s; got {self.events!r}")
                self._cond.wait(remaining)

    def kind(self, kind: str, timeout: float = 5.0) -> Event:
        return self.wait_for(lambda e: e.kind == kind, timeout)
