"""What every reader thread shares: a stop event, a join on stop, an event sink that a
faulty consumer cannot kill (toolong's reader-thread pattern), and reconnecting with backoff.

Backoff is tenacity's, as in the sync worker: the delay doubles from `retry[0]` up to `retry[1]`,
and the waits are on the stop event, so `stop()` is honoured at once even mid-wait.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from tenacity import RetryCallState, Retrying, retry_base, stop_when_event_set, wait_exponential

from drivers.events import DeviceState, Event, EventSink, State

log = logging.getLogger(__name__)


class ReaderThread(threading.Thread):
    """A daemon thread that runs until `stop()` and hands plain events to `on_event`."""

    def __init__(self, name: str, on_event: EventSink, retry: tuple[float, float] = (0.1, 2.0)) -> None:
        super().__init__(name=name, daemon=True)
        self.on_event = on_event
        self.retry = retry  # (first delay, longest delay) in seconds between attempts to reconnect
        self._halt = threading.Event()
        self.source = name
        self._last_state: State | None = None

    def _state(self, state: State, detail: str = "") -> None:
        """Report the device's state once per change (the status bar shows it; repeats are noise)."""
        if self._last_state != state:
            self._last_state = state
            self._emit(DeviceState(self.source, state, detail))

    def stop(self, timeout: float = 2.0) -> None:
        self._halt.set()
        if self.is_alive() and threading.current_thread() is not self:
            self.join(timeout)

    def _emit(self, event: Event) -> None:
        try:
            self.on_event(event)
        except Exception:  # a faulty consumer (any bug in the app's handler) must not kill the reader
            log.exception("event consumer failed on a %s event", event.kind)

    def _nap(self, seconds: float) -> None:
        """Wait between attempts; a stop ends the wait at once."""
        self._halt.wait(seconds)

    def _reconnecting(self, retry: retry_base, on_retry: Callable[[RetryCallState], None]) -> Retrying:
        """Attempts until one is not retried by `retry`, `on_retry` before each wait; stops when the thread does.

        A stopped thread ends it with the last failure (reraise=True), or RetryError for a retried result.
        """
        return Retrying(retry=retry, wait=wait_exponential(multiplier=self.retry[0], max=self.retry[1]),
                        stop=stop_when_event_set(self._halt), sleep=self._nap, before_sleep=on_retry,
                        reraise=True)
