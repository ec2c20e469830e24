"""The day's upkeep, run beside the app: when it starts on a new day and at closing time.

A thread with a stop event, like the sync worker, on a connection of its own (the checkout never
waits on it beyond one day's transaction). Every `tick` seconds, and at once on start, it runs every
day not yet done up to yesterday, or up to today once the clock has passed `[upkeep] closing_time`
(UTC, like every timestamp the till stores; "21:00" by default). A till off for a week catches up on
start, a day at a time, with its progress in the status bar ("upkeep: 3/7 days"), then "last ran".
`[upkeep] auto = false` leaves it to `pos-client upkeep` (a till that does not run the app).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, date, datetime, time

from pos_client.services.marketing import upkeep
from pos_client.store.context import TillContext
from pos_client.till.periodic import Periodic
from pos_client.till.upkeep_hours import closing_time as closing_time  # re-exported: the bench's scratch till
from pos_client.till.upkeep_hours import due_through as due_through

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]


def _utc_now() -> datetime:
    return datetime.now(UTC)


class UpkeepScheduler(Periodic):
    """Runs `upkeep.catch_up` off the app's thread; `status(text)` receives what to show."""

    NAME = "upkeep"

    def __init__(self, open_context: Callable[[], TillContext], *, closing: time, tick: float = 60.0,
                 status: Callable[[str], None] | None = None, clock: Clock = _utc_now) -> None:
        super().__init__(open_context, tick, status)
        self.closing = closing
        self.clock = clock
        self.days_run = 0
        self.idle = threading.Event()  # set while nothing is pending (tests wait on it)

    def _progress(self, done: int, total: int, day: date) -> None:
        self.days_run += 1
        if total > 1:
            self._say(f"catching up {done}/{total} days ({day.isoformat()})")

    def run_once(self, ctx: TillContext) -> None:
        """Run what is due now; say "last ran" after."""
        through = due_through(self.clock(), self.closing)
        pending = upkeep.pending_days(ctx, through)
        if pending:
            self.idle.clear()
            self._say(f"running {len(pending)} day{'s' if len(pending) != 1 else ''}")
            upkeep.catch_up(ctx, through, source="app", progress=self._progress, stop=self._stop)
        done = upkeep.last_run(ctx)
        if not upkeep.pending_days(ctx, through):
            self.idle.set()
        self._say(f"done through {done.isoformat()}" if done else "nothing to do yet")
