"""Head-office storage: one interface (`base.Store`), an embedded SQLite backend and a PostgreSQL one."""

from __future__ import annotations

from headoffice.store.base import Forbidden, Principal, Store


def open_store(url: str) -> Store:
    """Open the store a database URL names: `sqlite:///PATH` or `postgresql://...`."""
    if url.startswith("sqlite:///"):
        from headoffice.store.sqlite import SqliteStore

        return SqliteStore(url[len("sqlite:///"):])
    if url.startswith(("postgresql://", "postgres://")):
        from headoffice.store.postgres import PostgresStore

        return PostgresStore(url)
    raise ValueError(f"unsupported database URL {url!r}: use sqlite:///PATH or postgresql://...")


__all__ = ["Forbidden", "Principal", "Store", "open_store"]
