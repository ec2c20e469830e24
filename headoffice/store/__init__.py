"""Head-office storage: one interface (`base.Store`), an embedded SQLite backend and a PostgreSQL one.

`sql.SqlStore` implements the interface once, as one repository per aggregate over a shared `db.Db`;
`sqlite.py` and `postgres.py` only supply the connection and its dialect.
"""

from __future__ import annotations

from headoffice.store.base import Forbidden, Principal, Store
from headoffice.store.sqlite import SqliteStore


def open_store(url: str) -> Store:
    """Open the store a database URL names: `sqlite:///PATH` or `postgresql://...`."""
    if url.startswith("sqlite:///"):
        return SqliteStore(url[len("sqlite:///"):])
    if url.startswith(("postgresql://", "postgres://")):
        # why: psycopg (and libpq) load only when a PostgreSQL database is actually used
        from headoffice.store.postgres import PostgresStore

        return PostgresStore(url)
    raise ValueError(f"unsupported database URL {url!r}: use sqlite:///PATH or postgresql://...")


__all__ = ["Forbidden", "Principal", "Store", "open_store"]
