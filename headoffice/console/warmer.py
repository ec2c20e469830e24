"""Dashboard figures a page found missing, computed off the request path, one set at a time.

Why: a figure set is the reports at chain scale (seconds to minutes at a million members); the scheduled refresh
computes the preset periods ahead (`figures.warm_snapshot`), but a custom period, a store asked for before the
refresh's warm-up reached it, or a console started beside a snapshot whose figures were never cached would
otherwise hold a page (and a worker thread) for that long. A page instead asks here and answers at once with
"being computed"; one daemon thread works through the asks, each figure set once, and exits when none are left.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

from headoffice.console.figures import Period, Snapshot, figures, stores

log = logging.getLogger("headoffice.console")

Ask = tuple[str, str | None, str, str]  # (snapshot build, store or None for the chain, first day, last day)


@dataclass
class FigureWarmer:
    """The asks not yet computed, in order, and the one thread computing them (None when idle)."""

    _lock: threading.Lock = field(default_factory=threading.Lock)
    _queue: dict[Ask, tuple[Snapshot, str | None, Period | None]] = field(default_factory=dict)
    _thread: threading.Thread | None = None
    _idle: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self._idle.set()

    def ask(self, snap: Snapshot, store: str | None, period: Period | None) -> None:
        """Compute this figure set (`period` None: the snapshot's store list) unless it is already asked for."""
        key: Ask = (str(snap.built_at), store, *(("", "") if period is None else
                                                 (period.start.isoformat(), period.end.isoformat())))
        with self._lock:
            if key in self._queue:
                return
            self._queue[key] = (snap, store, period)
            self._idle.clear()
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="console-figures", daemon=True)
                self._thread.start()

    def asked(self) -> int:
        """How many figure sets are waiting or being computed."""
        with self._lock:
            return len(self._queue)

    def wait(self, timeout: float) -> bool:
        """Block until every ask is computed (tests, the bench); False on timeout."""
        return self._idle.wait(timeout)

    def _run(self) -> None:
        while True:
            with self._lock:
                if not self._queue:
                    self._thread = None
                    self._idle.set()
                    return
                key, (snap, store, period) = next(iter(self._queue.items()))
            try:
                if period is None:
                    stores(snap)
                else:
                    figures(snap, store, period)
            except Exception:  # a failed set is logged and dropped; the next page view asks again
                log.exception("could not compute the dashboard figures %s", key)
            with self._lock:
                self._queue.pop(key, None)
