"""The till's hardware and sync, wired for the app: readers, receipt printer, sync worker. No Textual here.

`TillDevices(ctx)` is handed to `TillApp(ctx, devices=...)`. The app calls `start(app)` once its
first screen is up and `stop()` when it exits; everything else runs on threads that talk back
through the app's two thread-safe entry points, `post_device_event(event)` and
`set_status(part, text)`. Nothing here waits on the network or the printer on the app's thread:
printing and printer checks run in the app's worker threads, the sync worker on its own.

The printer's worker reads and writes through the till's own connection (`ctx.conn`, shared across threads),
every statement under its `write_lock` (`store.print_queue`): a sale and a print never share a transaction.
Why not a connection of the printer's: SQLite drops a connection's whole page cache when another connection
committed since its last read, so a print queue written elsewhere made the next sale read 40-110 B-tree pages
again (issue 15), and each print paid a connect(). The lock is never held while talking to the printer.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from drivers.errors import DeviceError
from drivers.events import DeviceState, Event
from drivers.readers import Reader, build_readers, start_all, stop_all
from pos_client.store import print_queue, sync_state
from pos_client.store.checkpoint import Checkpointer, start_checkpointer
from pos_client.store.context import TillContext
from pos_client.store.sync_state import SyncStatus
from pos_client.store.warmup import start_warmup
from pos_client.till import context_opener
from pos_client.till.backup_scheduler import BackupScheduler, every_minutes
from pos_client.till.upkeep_hours import auto_enabled, closing_time

if TYPE_CHECKING:
    from pos_client.till.scheduler import UpkeepScheduler
    from sync.engine import Progress
    from sync.worker import SyncWorker

log = logging.getLogger(__name__)

# Short words for a reader's state: the status bar is one line of an 80-column terminal.
STATE_WORDS = {"connected": "ok", "disconnected": "lost", "waiting": "waiting"}


class AppLike(Protocol):
    """What the wiring needs from the app: its two thread-safe entry points."""

    def post_device_event(self, event: Event) -> None: ...

    def set_status(self, part: str, text: str) -> None: ...


@dataclass(frozen=True)
class PrinterReport:
    """The result of printing or retrying, for the status bar and a notice: never a card number."""

    printed: int
    waiting: int
    problem: str | None = None
    warning: str | None = None

    def status(self) -> str:
        """`ok`, `paper near end`, or `out of paper — 2 receipts waiting` (shown after "printer: ")."""
        if self.problem:
            problem = self.problem.removeprefix("printer ")
            return f"{problem} — {_receipts(self.waiting)} waiting" if self.waiting else problem
        if self.waiting:
            return f"{_receipts(self.waiting)} waiting (ctrl+r to print)"
        return self.warning or "ok"


def _receipts(n: int) -> str:
    return f"{n} receipt{'s' if n != 1 else ''}"


def state_text(event: DeviceState) -> str:
    """A reader's state in a word, with the reason when it is not connected ("waiting: no NFC reader")."""
    state = event.state
    word = STATE_WORDS.get(state, state)
    detail = event.detail
    if state == "connected" or not detail:
        return word
    return f"{word}: {detail[:40]}"


class TillDevices:
    """What runs beside the app: readers from `[devices]`, the `[printer]`, the sync worker when
    `[headoffice] url` is set, the day's upkeep (`pos_client.till.scheduler`), and the database's
    background checkpointer and lookup warm-up."""

    def __init__(self, ctx: TillContext, *, sync_interval: float | None = None) -> None:
        self.ctx = ctx
        self.readers: list[Reader] = []
        self.sync_worker: SyncWorker | None = None
        self.checkpointer: Checkpointer | None = None
        self.upkeep: UpkeepScheduler | None = None
        self.backups: BackupScheduler | None = None
        self.warmup: threading.Thread | None = None
        self.later_done = threading.Event()  # `start_later` has run (what it started may still be busy)
        self._print_lock = threading.Lock()  # one conversation with the printer at a time
        self._started = threading.Lock()  # `start_later` (a worker) against `stop`
        self._stopped = False
        self._sync_wanted = False
        hq = ctx.config.section("headoffice")
        self.sync_interval = float(sync_interval if sync_interval is not None else hq.get("interval", 30))
        row = ctx.conn.execute("PRAGMA database_list").fetchone()
        self.db_path = Path(row[2]) if row and row[2] else None

    # --- what is configured ------------------------------------------------------------------

    @property
    def printer_url(self) -> str:
        return str(self.ctx.config.section("printer").get("url", "") or "")

    @property
    def sync_configured(self) -> bool:
        """A head office URL and a token from `pos-client register`."""
        if not self.ctx.config.section("headoffice").get("url"):
            return False
        try:
            return sync_state.get(self.ctx.conn, sync_state.TOKEN) is not None
        except sqlite3.Error:
            return False

    # --- start / stop --------------------------------------------------------------------------

    def start(self, app: AppLike) -> list[str]:
        """Start the readers, backups and storage upkeep; returns problems to show (a bad reader entry, say).
        Called on the app's thread once the first screen is up; the sync worker and the day's upkeep follow in a
        worker (`start_later`)."""
        problems: list[str] = []
        with self._started:
            self._stopped = False
        self._sync_wanted = self.sync_configured  # read here, on the app's thread; the worker starts after the screen
        self._start_storage()
        problems += self._start_readers(app)
        problems += self._start_backups(app)
        if self.printer_url:
            waiting = self.waiting_receipts(self.ctx.conn)
            if waiting:
                app.set_status("printer", PrinterReport(0, waiting).status())
        return problems

    def _start_storage(self) -> None:
        """WAL checkpoints off the sale path, and the card-lookup pages read once (bench/RESULTS.md)."""
        if self.db_path is None:
            return
        self.checkpointer = start_checkpointer(self.ctx.conn, self.db_path)
        self.warmup = start_warmup(self.db_path)

    def start_later(self, app: AppLike) -> list[str]:
        """Once the first screen is up, from a worker thread (`app.device_wiring`): the day's upkeep (expiry, tier
        review, lifecycle; at once and at closing time) and the sync worker, each on its own thread. Their modules
        load numpy (every member's stage in array passes, `stage_review`) and the sync stack (`sync.engine`, the
        wire's batches), which the first screen does not need (bench `cold_start`); `start` decided, on the app's
        thread, whether sync is configured."""
        try:
            problems = self._start_upkeep(app)
            if self._sync_wanted:
                problems += self._start_sync(app)
            return problems
        finally:
            self.later_done.set()

    def settled(self, timeout: float) -> bool:
        """Whether the start's background work is over within `timeout` s: the lookup pages read, `start_later`
        run and the day's upkeep idle. A till sells meanwhile; the swipe probe times swipes in service after it
        (the start's swipes reported apart, bench `swipe_pty`)."""
        deadline = time.monotonic() + timeout
        if self.warmup is not None:
            self.warmup.join(timeout)
        if not self.later_done.wait(max(0.0, deadline - time.monotonic())):
            return False
        upkeep = self.upkeep
        return (self.warmup is None or not self.warmup.is_alive()) and (
            upkeep is None or upkeep.idle.wait(max(0.0, deadline - time.monotonic())))

    def _start_upkeep(self, app: AppLike) -> list[str]:
        if self.db_path is None or not self.ctx.extensions.sale_observers or not auto_enabled(self.ctx):
            return []  # no file to open twice, a till without its marketing program, or upkeep by hand
        from pos_client.till.scheduler import UpkeepScheduler  # lazy: built after the first screen (start_later)

        def status(text: str) -> None:
            app.set_status("upkeep", text)

        try:
            with self._started:
                if not self._stopped:  # the app closed while this worker was loading the upkeep
                    self.upkeep = UpkeepScheduler(context_opener(self.ctx, self.db_path),
                                                  closing=closing_time(self.ctx), status=status).start()
        except (ValueError, OSError, sqlite3.Error) as exc:  # the till sells without it; `pos-client upkeep` works
            return [f"upkeep not started: {exc}"]
        return []

    def _start_backups(self, app: AppLike) -> list[str]:
        """Backups while selling (`pos_client.till.backup_scheduler`), status beside the upkeep's."""
        if self.db_path is None or self.ctx.home is None:
            return []

        def status(text: str) -> None:
            app.set_status("backup", text)

        try:
            self.backups = BackupScheduler(context_opener(self.ctx), every_minutes=every_minutes(self.ctx),
                                           closing=closing_time(self.ctx), status=status).start()
        except (ValueError, OSError, sqlite3.Error) as exc:  # the till sells without it; `pos-client backup` works
            return [f"backups not started: {exc}"]
        return []

    def _start_readers(self, app: AppLike) -> list[str]:
        def sink(event: Event) -> None:  # reader threads: states to the status bar, the rest to the screen
            if isinstance(event, DeviceState):
                app.set_status(event.device, state_text(event))
            else:
                app.post_device_event(event)

        try:
            self.readers = build_readers(self.ctx.config.section("devices"), sink, self.ctx.rules.loyalty_prefixes)
        except DeviceError as exc:
            return [f"card readers not started: {exc}"]
        start_all(self.readers)
        return []

    def _start_sync(self, app: AppLike) -> list[str]:
        from sync.worker import SyncWorker  # lazy: built after the first screen (start_later)

        def on_status(st: SyncStatus) -> None:
            app.set_status("sync", st.line())

        def on_progress(p: Progress) -> None:  # the first pull of a large member directory takes a while
            if p.total > 0 and p.done < p.total:
                app.set_status("sync", p.line())

        try:
            with self._started:
                if not self._stopped:  # the app closed while this worker was loading the sync stack
                    self.sync_worker = SyncWorker(context_opener(self.ctx, self.db_path), interval=self.sync_interval,
                                                  on_status=on_status, on_progress=on_progress).start()
        except (ValueError, OSError, sqlite3.Error) as exc:  # the till sells without head office
            return [f"sync not started: {exc}"]
        return []

    def stop(self) -> None:
        """Stop the readers (their threads joined) and the sync worker."""
        with self._started:
            self._stopped = True
        readers, self.readers = self.readers, []
        stop_all(readers)
        worker, self.sync_worker = self.sync_worker, None
        if worker is not None:
            worker.stop(timeout=5)
        backups, self.backups = self.backups, None
        if backups is not None:
            backups.stop(timeout=30)
        scheduler, self.upkeep = self.upkeep, None
        if scheduler is not None:
            scheduler.stop(timeout=30)
        checkpointer, self.checkpointer = self.checkpointer, None
        if checkpointer is not None:
            checkpointer.stop()

    def sale_committed(self) -> None:
        """After a sale: ask the sync worker for a round (it never blocks the till)."""
        if self.sync_worker is not None:
            self.sync_worker.sync_now()

    # --- printer (call from a worker thread) ----------------------------------------------------

    @staticmethod
    def waiting_receipts(conn: sqlite3.Connection) -> int:
        try:
            return len(print_queue.pending(conn))
        except sqlite3.Error:
            return 0

    # The printing stack (receipt layout, ESC/POS, the printer's transports) is imported by the first print, on a
    # worker thread, or by `warm_printer` once the first screen is up: a till's start does not need it.

    def print_sale(self, sale_id: str) -> PrinterReport:
        """Print a committed sale's receipt (queued first: a printer problem never loses it)."""
        from pos_client.services.printing import print_receipt  # lazy: not at start (the comment above)

        with self._print_lock:
            ctx = self.ctx  # the till's own connection (the module docstring)
            outcome = print_receipt(ctx, sale_id)
            return PrinterReport(int(outcome.printed), self.waiting_receipts(ctx.conn), outcome.reason,
                                 outcome.warning)

    def retry_or_reprint(self, last_sale_id: str | None) -> PrinterReport:
        """Print what waits in the queue; with nothing waiting, reprint the last sale's receipt."""
        from pos_client.services.printing import print_receipt, retry_pending  # lazy: not at start (above)

        with self._print_lock:
            ctx = self.ctx
            if self.waiting_receipts(ctx.conn):
                outcomes = retry_pending(ctx)
            elif last_sale_id:
                outcomes = [print_receipt(ctx, last_sale_id, reprint=True)]
            else:
                return PrinterReport(0, 0, None, "nothing to print")
            failed = next((o for o in outcomes if not o.printed), None)
            warning = next((o.warning for o in outcomes if o.warning), None)
            return PrinterReport(sum(o.printed for o in outcomes), self.waiting_receipts(ctx.conn),
                                 failed.reason if failed else None, warning)

    def check_printer(self) -> PrinterReport:
        """Ask the printer its status (DLE EOT) for the status bar; a worker thread, never the app's."""
        from pos_client.services.printing import printer_status  # lazy: not at start (above)

        with self._print_lock:  # port 9100 serves one connection at a time
            ctx = self.ctx
            st = printer_status(ctx)
            waiting = self.waiting_receipts(ctx.conn)
        return PrinterReport(0, waiting, st.get("problem"), st.get("warning"))

    def warm_printer(self) -> None:
        """Import escpos and load the printer profile now, so the first receipt does not pay ~150 ms."""
        if not self.printer_url:
            return
        from drivers.escpos_render import columns_of  # lazy: not at start (above print_sale)

        try:
            columns_of(str(self.ctx.config.section("printer").get("profile") or "TM-T88V"))  # imports escpos
        except (ImportError, DeviceError, KeyError, ValueError):  # a broken profile is reported when printing
            log.debug("printer warm-up failed", exc_info=True)

