"""Backups beside the app: every `[backup] every_minutes` (default 60) and once after the day's closing.

A thread with a stop event, like the upkeep scheduler, on a connection of its own; the online backup
never blocks a sale (WAL: readers and the writer do not wait on each other). What it did goes to the
status bar the way the upkeep's does ("backup: last 14:05"), a failure there too (the till sells on).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, date, datetime, time

from pos_client.store.backup import back_up, latest_backup
from pos_client.store.context import TillContext
from pos_client.till.periodic import Periodic

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]


def every_minutes(ctx: TillContext) -> float:
    """`[backup] every_minutes` (default 60); 0 turns the periodic backup off (closing still runs)."""
    value = ctx.config.section("backup").get("every_minutes", 60)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ValueError(f"[backup] every_minutes must be a number of minutes, not {value!r}")
    return float(value)


def _utc_now() -> datetime:
    return datetime.now(UTC)


class BackupScheduler(Periodic):
    """Backs the till up when due; `status(text)` receives what to show."""

    NAME = "backup"

    def __init__(self, open_context: Callable[[], TillContext], *, every_minutes: float, closing: time,
                 tick: float = 30.0, status: Callable[[str], None] | None = None, clock: Clock = _utc_now) -> None:
        super().__init__(open_context, tick, status)
        self.every = every_minutes
        self.closing = closing
        self.clock = clock
        self.done = 0
        self.ran = threading.Event()  # set after each backup (tests wait on it)
        self._closed_on: date | None = None  # the day whose closing backup this scheduler made

    def due(self, ctx: TillContext, now: datetime) -> bool:
        """A backup is due: none yet, the day closed since the last one, or the last older than `every`."""
        assert ctx.home is not None
        last = latest_backup(ctx.home, ctx.config)
        if last is None:
            return True
        at = last[1]
        if now >= datetime.combine(now.date(), self.closing, UTC) > at and self._closed_on != now.date():
            return True
        return self.every > 0 and (now - at).total_seconds() >= self.every * 60

    def run_once(self, ctx: TillContext) -> None:
        """Back up if due; always say when the last backup was."""
        assert ctx.home is not None
        now = self.clock()
        if self.due(ctx, now):
            report = back_up(ctx.conn, ctx.home, ctx.config)
            self.done += 1
            if now.time() >= self.closing:
                self._closed_on = now.date()
            extra = f" · not copied: {report.copy_errors[0][:40]}" if report.copy_errors else ""
            self._say(f"last backup {report.at.strftime('%H:%M')}{extra}")
            self.ran.set()
            return
        last = latest_backup(ctx.home, ctx.config)
        self._say(f"last backup {last[1].strftime('%H:%M')}" if last else "no backup yet")
