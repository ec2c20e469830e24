"""One sync round: push everything waiting, then pull every page of changes. Used by the worker,
`pos-client sync --once` and the bench; it never holds a write transaction across a network call.
"""

from __future__ import annotations

import math
import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from pos_client import __version__
from pos_client.services.marketing import expiry
from pos_client.store import sync_state as state
from pos_client.store.config import Config
from pos_client.store.context import TillContext
from pos_client.store.program_overlay import applied_version
from sync import snapshot, snapshot_file
from sync.apply import apply_page
from sync.client import AuthError, HeadOfficeClient, SyncError
from sync.push import PushReport, push_pending
from sync.recover import Recovered, recover_pending
from sync.view import follow_seen, view_of
from wire.view import View

PULL_PAGE = 1000
CURSOR_EVERY_S = 60.0  # a cursor that moved over pages changing nothing is saved at most this often
STATUS_EVERY_S = 60.0  # the last good sync's time is written at most this often (state changes at once)


@dataclass
class RoundMemo:
    """What a long-running worker remembers between rounds so a round that changed nothing commits nothing (a
    commit by its connection drops the till connection's page cache: ARCHITECTURE.md, "the till's connections"):
    the cursor reached, when a cursor was last saved, and the last good round's time and clock offset. A restart
    loses it and pulls again from the saved cursor, at most CURSOR_EVERY_S behind: applying is idempotent."""

    cursor: int = 0
    cursor_saved: float = -math.inf  # time.monotonic() of the last save
    cursor_held: int = -1  # the database's cursor after the last round: one found lower was reset (a restore)
    last_ok: str | None = None
    clock_offset_s: int = 0


@dataclass(frozen=True)
class Progress:
    """Pull progress for a progress bar: `done` of `total` changes (or first-pull members) applied so far."""

    done: int
    total: int
    what: str = "changes"

    def line(self) -> str:
        """What the CLI and the app's status line show."""
        pct = 100 * self.done // self.total if self.total else 100
        return f"pulling {self.what}: {self.done}/{self.total} ({pct}%)"


@dataclass
class SyncReport:
    push: PushReport = field(default_factory=PushReport)
    pulled: dict[str, int] = field(default_factory=dict)
    pages: int = 0
    cursor: int = 0
    server_time: str | None = None
    recovered: Recovered | None = None  # after a restore: what head office sent back of this till's own

    def as_dict(self) -> dict[str, Any]:
        out = {"push": self.push.as_dict(), "pulled": self.pulled, "pages": self.pages, "cursor": self.cursor}
        if self.recovered is not None:
            out["recovered"] = self.recovered.as_dict()
        return out


def client_for(conn: sqlite3.Connection, config: Config, transport: Any = None, timeout: float = 15.0
               ) -> HeadOfficeClient:
    token = state.get(conn, state.TOKEN)
    url = str(config.section("headoffice").get("url") or "")
    if not token or not url:
        raise AuthError("this till is not registered: run `pos-client register URL CODE`")
    return HeadOfficeClient(url, token, transport=transport, timeout=timeout)


def pull_all(ctx: TillContext, client: HeadOfficeClient, *, page_size: int = PULL_PAGE,
             progress: Callable[[Progress], None] | None = None, report: SyncReport | None = None,
             view: View | None = None, memo: RoundMemo | None = None) -> SyncReport:
    """A first pull's snapshot (sync/snapshot.py) if this till has none yet, then every page of the feed,
    fetching page n+1 (on one helper thread) while page n is applied: the round
    trip and the head office's work overlap the till's SQLite writes (first pull of a million-member
    directory: see bench/RESULTS.md). Pages are still applied one by one, in order, each with its
    cursor in its own transaction; a page fetched ahead of a failure is simply dropped. `view` (wire/view.py):
    the till's own (`sync.view.view_of`) unless given; the members it sold to are followed first. With a `memo`
    (the worker's), pages that change nothing leave the cursor in memory, saved at most every CURSOR_EVERY_S."""
    report = report or SyncReport()
    # A first pull: the directory as of one position, then the feed after it; but not at the till that writes its
    # store's members' expiry, which needs their dated earnings (docs/marketing.md, "Points expiry").
    if snapshot.wanted(ctx.conn) and ctx.till_id != expiry.writer_till(ctx):
        def tick(done: int, total: int, what: str = snapshot.WHAT) -> None:
            if progress and total:
                progress(Progress(min(done, total), total, what))
        # an empty till downloads the directory as one file and copies it whole (sync/snapshot_file.py); a
        # till holding members or entries already, or a head office without the file, takes the parts
        took = None
        if snapshot_file.usable(ctx.conn):
            took = snapshot_file.pull_file(ctx, client, tick=tick)
        else:
            snapshot_file.forget(ctx.conn)  # a download a cut left, of no use to a till no longer empty
        if took is not None:
            report.pulled["snapshot_file"] = 1
        else:
            took = snapshot.pull_snapshot(ctx, client, tick=tick)
        report.pulled["snapshot_members"] = took
    view = view or view_of(ctx)
    if view != "all":
        report.pulled["history"] = follow_seen(ctx, client)
    cursor, floor = state.get_int(ctx.conn, state.CURSOR), snapshot.floor(ctx.conn)
    if memo is not None:
        if cursor < memo.cursor_held:  # the database went back (restored): what memory holds is not in it
            memo.cursor = cursor
        cursor = max(cursor, memo.cursor)
    done = 0
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="pull-ahead") as ahead:
        page = client.pull(cursor, page_size, total=True, floor=floor, view=view)
        total = page.total_pending
        while True:
            following = ahead.submit(client.pull, page.next_cursor, page_size, not total, floor, view) \
                if page.more else None
            saved = state.get_int(ctx.conn, state.CURSOR)
            counts = apply_page(ctx, page, keep_cursor=_cursor_due(memo))
            _remember(ctx.conn, memo, saved, page.next_cursor)
            if counts.get("rules"):  # the next request says which program version this till now runs
                client.program_version = applied_version(ctx.conn)
            report.pages += 1
            for k, v in counts.items():
                report.pulled[k] = report.pulled.get(k, 0) + v
            report.server_time = page.server_time or report.server_time
            done += len(page.changes)
            report.cursor = page.next_cursor
            if progress and total:
                progress(Progress(min(done, total), total))
            if following is None:
                return report
            page = following.result()
            total = total or page.total_pending


def _cursor_due(memo: RoundMemo | None) -> bool:
    return memo is None or time.monotonic() - memo.cursor_saved >= CURSOR_EVERY_S


def _remember(conn: sqlite3.Connection, memo: RoundMemo | None, saved: int, cursor: int) -> None:
    """The cursor reached, and when it was saved (the page's transaction wrote one it did not hold)."""
    if memo is None:
        return
    memo.cursor_held = state.get_int(conn, state.CURSOR)
    if memo.cursor_held != saved:
        memo.cursor_saved = time.monotonic()
    memo.cursor = max(memo.cursor, cursor)


def pending_entries(ctx: TillContext) -> int:
    """This till's own ledger entries head office does not hold yet (what the console shows as waiting)."""
    top = ctx.conn.execute("SELECT COALESCE(MAX(seq), 0) FROM ledger WHERE store_id = ? AND till_id = ?",
                           (ctx.store_id, ctx.till_id)).fetchone()[0]
    return max(0, int(top) - state.get_int(ctx.conn, state.PUSH_HIGH))


def sync_once(ctx: TillContext, *, transport: Any = None, timeout: float = 15.0,
              progress: Callable[[Progress], None] | None = None, memo: RoundMemo | None = None) -> SyncReport:
    """Push then pull; records success or the failure in sync_state and re-raises failures. With the worker's
    `memo` a round that changed nothing commits nothing (RoundMemo)."""
    conn = ctx.conn
    try:
        with client_for(conn, ctx.config, transport, timeout) as client:
            report = SyncReport()
            report.recovered = recover_pending(ctx, client)  # a restored till first takes back its own
            client.version, client.pending = __version__, pending_entries(ctx)
            client.program_version = applied_version(conn)
            report.push = push_pending(ctx, client)
            if report.push.batches:  # what the status line shows until the next push says otherwise
                state.put(conn, **{state.SENT_FOR_APPROVAL: len(report.push.sent_for_approval)})
            client.pending = pending_entries(ctx)
            pull_all(ctx, client, progress=progress, report=report, memo=memo)
    except SyncError as exc:
        if state.get(conn, state.TOKEN) is not None:
            state.note_failure(conn, str(exc))
        raise
    ok_at, offset = state.note_success(conn, report.server_time or report.push.server_time,
                                       None if memo is None else STATUS_EVERY_S)
    if memo is not None:
        memo.last_ok, memo.clock_offset_s = ok_at, offset
    return report
