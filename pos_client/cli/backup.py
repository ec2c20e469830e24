"""`pos-client backup [--to DIR]` and `pos-client restore FILE [--force]`: a thin shell over `store.backup`.

A restore of a registered till syncs at once when head office answers (what the till pushed after the
backup comes back, and its sequence moves past head office's); offline, the till says so and adds no
points until `pos-client sync` has done it.
"""

from __future__ import annotations

import argparse
from contextlib import closing
from pathlib import Path

from pos_client.cli.base import EXIT_FAILED, Outcome, add_command, open_ctx
from pos_client.store.backup import back_up, restore
from pos_client.store.config import load_config
from pos_client.store.home import till_home
from sync.client import SyncError
from sync.engine import sync_once


def register(sub: argparse._SubParsersAction) -> None:
    p = add_command(sub, "backup", _backup, "back the till database up now (checked after writing)")
    p.add_argument("--to", type=Path, default=None,
                   help="directory for this backup (default `[backup] dir`, else <home>/backups)")
    p = add_command(sub, "restore", _restore,
                    "replace the till database with a backup (stop the app first); the replaced file is kept")
    p.add_argument("file", type=Path, help="the backup file (till-YYYYMMDDTHHMMSS...Z.db)")
    p.add_argument("--force", action="store_true", help="replace a database whose ledger is newer than the backup")
    p.add_argument("--timeout", type=float, default=15.0, help="seconds to wait for head office after restoring")


def _backup(args: argparse.Namespace) -> Outcome:
    with closing(open_ctx(args)) as ctx:
        assert ctx.home is not None
        report = back_up(ctx.conn, ctx.home, ctx.config, to=args.to)
    text = (f"backed up to {report.path} ({report.check.entries} ledger entries, {report.check.members} members,"
            f" checked) in {report.seconds:.2f} s")
    for copy in report.copies:
        text += f"\ncopied to {copy}"
    for problem in report.copy_errors:
        text += f"\nnot copied: {problem}"
    return Outcome(report.as_dict(), text)


def _restore(args: argparse.Namespace) -> Outcome:
    home = till_home(getattr(args, "home", None), create=True)  # a lost disk: the home may be new
    report = restore(home, load_config(home), args.file, force=args.force)
    data = report.as_dict()
    text = f"restored {report.check.entries} ledger entries from {report.restored}"
    if report.replaced:
        text += f"\nthe replaced database is kept as {report.replaced}"
    code = 0
    if report.recovery_pending:
        with closing(open_ctx(args)) as ctx:
            try:
                synced = sync_once(ctx, timeout=args.timeout)
            except SyncError as exc:
                data["recovery_pending"] = True
                data["sync_error"] = str(exc)
                text += (f"\nhead office not reached ({exc}): run `pos-client sync --once` before giving points;"
                         " it brings back what this till pushed after the backup")
                code = EXIT_FAILED
            else:
                recovered = synced.recovered.as_dict() if synced.recovered else {}
                data["recovery_pending"] = False
                data["recovered"] = recovered
                text += (f"\nhead office sent back {recovered.get('entries', 0)} entries and"
                         f" {recovered.get('sales', 0)} sales made after the backup")
    return Outcome(data, text, exit_code=code)
