"""The background sync worker: a thread with a stop event, like a reader thread in a TUI.

It works on its own SQLite connection (WAL: the till's sales never wait on it), opened by the
`open_context` the composition root hands it (the till's config and extensions on a new
connection), syncs every
`interval` seconds, and after a failure waits with exponential backoff and jitter so a
hundred tills do not hammer a recovering head office together. Status changes go to a
callback (the app posts them to its status bar); nothing here imports Textual.

A round that changed nothing commits nothing (engine.RoundMemo): the worker keeps the cursor and the last good
sync's time in memory and shows them from there; the database has them at most a minute old.
"""

from __future__ import annotations

import dataclasses
import logging
import random
import threading
from collections.abc import Callable
from typing import Any

from tenacity import RetryCallState, Retrying, wait_exponential

from pos_client.store import sync_state as state
from pos_client.store.context import TillContext
from pos_client.store.sync_state import SyncStatus
from sync.client import AuthError, SyncError
from sync.engine import Progress, RoundMemo, sync_once

log = logging.getLogger(__name__)


def backoff_delay(failures: int, base: float, cap: float, rand: Callable[[], float] = random.random) -> float:
    """Exponential backoff with 'equal jitter': between half and all of min(cap, base * 2^(n-1)).

    The exponential part is tenacity's, as for the card readers' reconnects; the jitter is added here: equal
    jitter always waits at least half, which tenacity's full (wait_random_exponential) jitter does not.
    """
    attempt = RetryCallState(Retrying(), None, (), {})
    attempt.attempt_number = max(failures, 1)
    ceiling = wait_exponential(multiplier=base, max=cap)(attempt)
    return ceiling / 2 + rand() * ceiling / 2


class SyncWorker:
    def __init__(self, open_context: Callable[[], TillContext], *, interval: float = 30.0, base_backoff: float = 2.0,
                 max_backoff: float = 300.0, on_status: Callable[[SyncStatus], None] | None = None,
                 on_progress: Callable[[Progress], None] | None = None, transport: Any = None,
                 timeout: float = 15.0):
        self.open_context = open_context
        self.interval = interval
        self.base_backoff = base_backoff
        self.max_backoff = max_backoff
        self.on_status = on_status
        self.on_progress = on_progress
        self.transport = transport
        self.timeout = timeout
        self.failures = 0
        self.rounds = 0
        self.last_delay = 0.0
        self._stop = threading.Event()
        self._kick = threading.Event()
        self._thread: threading.Thread | None = None
        self.status: SyncStatus | None = None
        self.memo = RoundMemo()

    def start(self) -> SyncWorker:
        self._thread = threading.Thread(target=self._run, name="sync-worker", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._kick.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def sync_now(self) -> None:
        """Ask for a round now (after a sale, or a cashier pressing 'sync')."""
        self._kick.set()

    def _publish(self, ctx: TillContext, state_name: str | None = None) -> None:
        status = state.read_status(ctx.conn, ctx.store_id, ctx.till_id, state_name)
        ok_at = self.memo.last_ok
        if ok_at is not None and ok_at > (status.last_ok or ""):  # a good round the database holds a bit older
            status = dataclasses.replace(status, last_ok=ok_at, last_sync=max(ok_at, status.last_sync or ""),
                                         clock_offset_s=self.memo.clock_offset_s)
        self.status = status
        if self.on_status:
            try:
                self.on_status(self.status)
            except Exception:  # broad on purpose: whatever a broken status bar raises must not stop the sync
                log.warning("sync status callback failed", exc_info=True)

    def _run(self) -> None:
        ctx = self.open_context()
        conn = ctx.conn
        try:
            self._publish(ctx)
            while not self._stop.is_set():
                delay = self.interval
                try:
                    self._publish(ctx, "syncing")
                    sync_once(ctx, transport=self.transport, timeout=self.timeout, progress=self.on_progress,
                              memo=self.memo)
                    self.failures = 0
                except AuthError:
                    self.failures += 1
                    delay = self.max_backoff
                except SyncError:
                    self.failures += 1
                    delay = backoff_delay(self.failures, self.base_backoff, self.max_backoff)
                except Exception as exc:  # a bug or a locked database: keep the till selling, retry later
                    self.failures += 1
                    state.note_failure(conn, f"sync error: {type(exc).__name__}: {exc}")
                    delay = backoff_delay(self.failures, self.base_backoff, self.max_backoff)
                self.rounds += 1
                self.last_delay = delay
                self._publish(ctx)
                self._kick.wait(delay)
                self._kick.clear()
        finally:
            conn.close()
