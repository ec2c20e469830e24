"""The till database's check before the day's upkeep writes (issue 11, finding 4; issue 10): damage stops
writing, so the upkeep never writes expiry, tiers or stages onto a damaged ledger.

A database up to `integrity.OPEN_CHECK_MAX_BYTES`: `PRAGMA integrity_check` and the whole ledger hash chain,
under a second. A larger one (a till at chain scale, 5 GB): the same full check took ~17 minutes of a 14-day
catch-up, so the upkeep relies on the check the till runs in the background each time it opens (quick_check
and the whole chain, `integrity.check_on_open`) and verifies itself only the entries appended since the last
verified mark (`store.chain_mark`, left by that check or by the previous upkeep): milliseconds. With no valid
mark yet it waits for the opening check while it runs (else verifies the whole chain once). What that leaves to the
opening check and to `pos-client doctor` (the full integrity_check): damage to pages the upkeep never reads and
to entries already verified, which the next opening check finds.

Why in services: the advice names the latest good backup (`store.backup`), which `store.integrity`, below
the backups, cannot import.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from pos_client.store import chain_mark, integrity
from pos_client.store.backup import latest_backup
from pos_client.store.context import TillContext
from pos_client.store.home import db_path

log = logging.getLogger("pos_client.integrity")


def advice(ctx: TillContext) -> str:
    """What to do about damage on this till, naming its latest good backup."""
    if ctx.home is None:
        return integrity.advice_text(None)
    found = latest_backup(ctx.home, ctx.config)
    return integrity.advice_text(found[0] if found else None)


def full_check(ctx: TillContext) -> list[str]:
    """integrity_check and the chain on the till's own database; on damage the till stops writing and the
    error every write will get is raised (a database without a home, e.g. head office's snapshot, is skipped)."""
    if ctx.home is None:
        return []
    db = db_path(ctx.home)
    mark = chain_mark.upto(ctx.conn)
    problems = integrity.full_check(ctx.conn, (ctx.config.store_id, ctx.config.till_id))
    if problems:
        raise integrity.stop_writing(db, "; ".join(problems[:3]), advice(ctx))
    chain_mark.record(db, mark, "integrity_check and the whole chain", whole=True)
    log.info("till database checked: integrity_check ok, ledger hash chain intact")
    return problems


def before_upkeep(ctx: TillContext, stop: threading.Event | None = None) -> bool:
    """The check before the upkeep writes (module docstring); False when `stop` came while waiting for the
    opening check (nothing checked: write nothing). Damage raises the stopped-writing error."""
    if ctx.home is None:
        return True
    db = db_path(ctx.home)
    if db.stat().st_size <= integrity.OPEN_CHECK_MAX_BYTES:
        full_check(ctx)
        return True
    since = chain_mark.valid(db, ctx.conn)
    if since is None:  # no verified mark yet: wait for the opening check's, or verify the whole chain once
        with chain_mark.checking(db, stop) as ours:
            if not ours:
                return False
            since = chain_mark.valid(db, ctx.conn)
            if since is None:
                _verify(ctx, db, None)
                return True
    _verify(ctx, db, since)  # a mark is there: the opening check still running is not waited for
    return True


def _verify(ctx: TillContext, db: Path, since: chain_mark.Mark | None) -> None:
    """The chain after `since` (all of it without), then its new mark; damage stops writing."""
    refusal = integrity.stopped(db)
    if refusal is not None:  # the opening check (or a write) found damage already
        raise refusal
    own = (ctx.config.store_id, ctx.config.till_id)
    upto = chain_mark.upto(ctx.conn)
    report = (integrity.verify_chain(ctx.conn, own, upto=upto.rowid) if since is None
              else integrity.verify_since(ctx.conn, own, since.rowid, upto.rowid))
    if report is not None and not report.ok:
        raise integrity.stop_writing(db, report.words(), advice(ctx))
    chain_mark.record(db, upto, "the upkeep: the chain since the last mark" if since else "the upkeep: the chain")
    log.info("till database checked before the upkeep: ledger hash chain intact (%s entries)",
             report.checked if report else 0)
