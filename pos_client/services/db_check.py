"""The day's full check of the till database (issue 11, finding 4): `PRAGMA integrity_check` and the whole
ledger hash chain, run by the day's upkeep before it writes; damage stops the till writing.

Why in services: the advice names the latest good backup (`store.backup`), which `store.integrity`, below
the backups, cannot import.
"""

from __future__ import annotations

import logging

from pos_client.store import integrity
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
    problems = integrity.full_check(ctx.conn, (ctx.config.store_id, ctx.config.till_id))
    if problems:
        raise integrity.stop_writing(db_path(ctx.home), "; ".join(problems[:3]), advice(ctx))
    log.info("till database checked: integrity_check ok, ledger hash chain intact")
    return problems

