"""`pos-client register URL CODE` and `pos-client sync [--once]`: a thin shell over `sync.engine`."""

from __future__ import annotations

import argparse
import sys
import threading
from urllib.parse import urlsplit

from pos_client.cli.base import Outcome, add_command, open_ctx, positive_float
from pos_client.domain.errors import PosError, UsageError
from pos_client.store import sync_state as state
from pos_client.store.context import TillContext
from pos_client.store.sync_state import SyncStatus
from pos_client.till import context_opener
from sync.client import SyncError
from sync.engine import Progress, sync_once
from sync.register import register_till
from sync.worker import SyncWorker


def register(sub: argparse._SubParsersAction) -> None:
    p = add_command(sub, "register", _register, "register this till with head office using a one-time code")
    p.add_argument("url", help="head office address, e.g. http://headoffice.example:8080")
    p.add_argument("code", help="the code `headoffice till add` printed")
    p = add_command(sub, "sync", _sync, "push waiting entries to head office and pull changes")
    p.add_argument("--once", action="store_true", help="one round, then exit (for scripts and cron)")
    p.add_argument("--status", action="store_true", help="only show the sync status")
    p.add_argument("--interval", type=positive_float, default=30.0, help="seconds between rounds without --once")
    p.add_argument("--timeout", type=positive_float, default=15.0, help="network timeout in seconds")


def _check_url(url: str) -> str:
    """A head-office address the till can reach: http(s)://host[:port], nothing else (a usage error)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"not a head-office address: {url!r} (expected http://HOST:PORT or https://HOST)")
    return url


def _register(args: argparse.Namespace) -> Outcome:
    _check_url(args.url)
    ctx = open_ctx(args)
    try:
        done = register_till(ctx, args.url, args.code)
    finally:
        ctx.close()
    return Outcome({"registered": True, **done}, f"registered as {done['store_id']}/{done['till_id']} with {args.url}")


def _progress_line(p: Progress) -> None:
    sys.stderr.write(f"\r{p.line()}")
    if p.done >= p.total:
        sys.stderr.write("\n")
    sys.stderr.flush()


def _sync(args: argparse.Namespace) -> Outcome:
    ctx = open_ctx(args)
    try:
        if args.status:
            status = state.read_status(ctx.conn, ctx.store_id, ctx.till_id)
            return Outcome(status.as_dict(), status.line())
        if state.get(ctx.conn, state.TOKEN) is None:
            raise UsageError("this till is not registered with a head office: run `pos-client register URL CODE`")
        if not args.once:
            return _run_forever(ctx, args)
        try:
            report = sync_once(ctx, timeout=args.timeout, progress=_progress_line)
        except SyncError as exc:
            raise PosError(f"sync failed, nothing lost, will retry: {exc}") from None
        status = state.read_status(ctx.conn, ctx.store_id, ctx.till_id)
        pushed, pulled = report.push, report.pulled
        text = (f"pushed {pushed.entries} entries ({pushed.duplicates} already there), {pushed.sales} sales,"
                f" {pushed.members} members, {pushed.cards} cards, {pushed.docs} documents;"
                f" pulled {pulled.get('entries', 0)} entries, {pulled.get('members', 0)} members,"
                f" {pulled.get('cards', 0)} cards, {pulled.get('balances', 0)} balances\n{status.line()}")
        if pushed.rejected:
            text += f"\nhead office set aside {len(pushed.rejected)} malformed record(s): see its rejects report"
        if pushed.sent_for_approval:  # exit 0: nothing is lost, head office holds them as requests
            kinds = ", ".join(sorted({p["kind"] for p in pushed.sent_for_approval}))
            text += (f"\n{len(pushed.sent_for_approval)} change(s) sent for approval ({kinds}): an owner or the"
                     " member's store manager decides in the console; they apply on a later sync")
        return Outcome({**report.as_dict(), "status": status.as_dict()}, text)
    finally:
        ctx.close()


def _run_forever(ctx: TillContext, args: argparse.Namespace) -> Outcome:
    last = {"line": ""}

    def show(status: SyncStatus) -> None:
        if status.line() != last["line"]:
            last["line"] = status.line()
            sys.stderr.write(status.line() + "\n")

    worker = SyncWorker(context_opener(ctx), interval=args.interval, timeout=args.timeout,
                        on_status=show, on_progress=_progress_line).start()
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        worker.stop()
    return Outcome({"stopped": True}, "sync stopped")
