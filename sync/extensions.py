"""Document types other capabilities ask sync to carry (protocol `docs` on push, change types on pull).

Sync knows the wire format (`wire/`) but not what a coupon use or an erasure means at the till:
each capability provides a `DocHandler` saying how to build the record an outbox key names, how to
apply pulled records, and (optionally) a document to announce until head office holds it. The
composition root (`pos_client.till`) puts the handlers in the till's own `extensions.sync_docs`;
sync reads them from the `TillContext` it is handed. There is no module-level registry.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from pos_client.store.context import TillContext


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


def install(ctx_docs: dict[str, Any], handlers: Iterable[DocHandler]) -> None:
    """Add handlers to a till's `extensions.sync_docs`, keeping their order (a till key before the
    coupon uses it verifies)."""
    for handler in handlers:
        ctx_docs.setdefault(handler.type, handler)


def handlers(ctx: TillContext) -> dict[str, DocHandler]:
    """The handlers of this till, in installation order."""
    return ctx.extensions.sync_docs
