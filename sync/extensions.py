"""Document types other capabilities ask sync to carry (protocol `docs` on push, change types on pull).

Sync knows the wire format (sync/protocol.py) but not what a coupon use or an erasure means at the
till: each capability registers a `DocHandler` saying how to build the record an outbox key names,
how to apply pulled records, and (optionally) a document to announce until head office holds it.
Handler modules are named in PLUGINS and imported on first use, so sync never imports them at start
and never depends on them in code.
"""

from __future__ import annotations

import importlib
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pos_client.store.config import Config, load_config
from pos_client.store.context import TillContext

PLUGINS: tuple[str, ...] = ("sync.marketing_docs",)


@dataclass(frozen=True)
class DocHandler:
    """How the till side handles one document type.

    build(ctx, key): the record an outbox row names (None when it no longer exists).
    apply(ctx, records): store pulled records (called inside the page's transaction; triggers are quiet).
    announce(ctx): a record this till sends until head office holds it (its public key), or None.
    """

    type: str
    build: Callable[[TillContext, str], dict[str, Any] | None]
    apply: Callable[[TillContext, list[dict[str, Any]]], int]
    announce: Callable[[TillContext], dict[str, Any] | None] | None = None


_HANDLERS: dict[str, DocHandler] = {}
_loaded = False


def register(handler: DocHandler) -> None:
    _HANDLERS[handler.type] = handler


def handlers() -> dict[str, DocHandler]:
    """Registered handlers, in registration order (a till key before the coupon uses it verifies)."""
    global _loaded
    if not _loaded:
        for name in PLUGINS:
            importlib.import_module(name)
        _loaded = True
    return dict(_HANDLERS)


def context(conn: sqlite3.Connection, config: Config | None = None) -> TillContext:
    """A TillContext over a connection the worker opened itself (the till home is the database's folder)."""
    path = next((r[2] for r in conn.execute("PRAGMA database_list") if r[1] == "main"), "")
    home = Path(path).parent if path else None
    if config is None:
        config = load_config(home) if home else Config()
    return TillContext(conn=conn, config=config, home=home)
