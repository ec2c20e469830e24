"""The composition root: the one place a till is put together.

`open_till(home)` opens the till's database and configuration and builds the till's extension
lists (marketing's sale and refund observers and receipt blocks, the documents sync carries for
it); the CLI, the app, the demo, the bench and the tests all open a till here. `TillDevices`
(`pos_client.till.devices`) adds what runs beside the app: readers, printer, sync worker. Nothing
else wires behaviour: no module registers itself at import time.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from pos_client.services.marketing import wiring as marketing_wiring
from pos_client.store import integrity
from pos_client.store.backup import backup_dir, latest_backup
from pos_client.store.config import Config, load_config
from pos_client.store.context import Extensions, TillContext
from pos_client.store.db import connect
from pos_client.store.home import db_path, make_private, till_home
from sync import extensions as sync_extensions
from sync import marketing_docs


def build_extensions(*, marketing: bool = True) -> Extensions:
    """A till's extension lists: the whole program by default, checkout alone without marketing."""
    ext = Extensions()
    if marketing:
        marketing_wiring.install(ext)
        sync_extensions.install(ext.sync_docs, marketing_docs.HANDLERS)
    return ext


def open_till(home: str | Path | None = None, *, config: Config | None = None, marketing: bool = True,
              create: bool = True) -> TillContext:
    """Open the till at its home directory (created on first use, embedded defaults).

    `create=False` (every CLI command but `init`, and the app) raises NotFound for a home with no till,
    so a misspelled path never becomes an empty new till.
    """
    path = till_home(home, create=create)
    make_private(path)
    config = config if config is not None else load_config(path)
    check_database(path, config)
    return TillContext(conn=connect(db_path(path), backup_dir=backup_dir(path, config)), config=config, home=path,
                       extensions=build_extensions(marketing=marketing))


def check_database(home: Path, config: Config) -> None:
    """quick_check and the ledger's chain before the till writes (`store.integrity`): damage found stops
    writing, naming the latest good backup; a large database finishes its check in the background."""
    db = db_path(home)
    if not db.exists():
        return
    latest = latest_backup(home, config)
    integrity.check_on_open(db, integrity.advice_text(latest[0] if latest else None),
                            (config.store_id, config.till_id))


def context_opener(ctx: TillContext, path: Path | None = None) -> Callable[[], TillContext]:
    """For a worker thread: the same till (config, extensions) on a connection of its own. `path`, when the
    caller knows it, spares reading it on `ctx`'s connection (a worker thread may not use that one)."""
    if path is None:
        row = ctx.conn.execute("PRAGMA database_list").fetchone()
        path = Path(row[2]) if row and row[2] else None
    if path is None:
        raise ValueError("the till database has no file: a worker cannot open its own connection")

    def open_context() -> TillContext:
        return ctx.on(connect(path))

    return open_context
