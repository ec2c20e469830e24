"""How `import sales` writes its rows in bulk: a page cache the size of the import, and the secondary indexes of
the history tables made once after the rows instead of row by row, when the till holds little history yet.

Why a module of its own: the importer says what it writes, this says how SQLite is asked to write it. Both
steps run inside the import's one write transaction: a crash or a refused row leaves the indexes as they were.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

# The tables an import appends to by the thousand (its sales, their lines, their ledger entries).
HISTORY_TABLES = ("sales", "sale_lines", "ledger")
# 256 MB: the import's dirty pages (about 50 MB per 100,000 rows) stay in memory until the commit writes them
# once, instead of spilling to the WAL page by page and being read back for the next row of the same page.
CACHE_KIB = 262_144


@contextmanager
def page_cache(conn: sqlite3.Connection, kib: int = CACHE_KIB) -> Iterator[None]:
    """The connection's page cache raised to `kib` for the block, then put back as it was."""
    before = int(conn.execute("PRAGMA cache_size").fetchone()[0])
    conn.execute(f"PRAGMA cache_size = -{int(kib)}")
    try:
        yield
    finally:
        conn.execute(f"PRAGMA cache_size = {before}")


def secondary_indexes(conn: sqlite3.Connection, tables: tuple[str, ...] = HISTORY_TABLES) -> list[tuple[str, str]]:
    """(name, SQL) of the tables' plain indexes: made by CREATE INDEX, not unique (a unique one keeps refusing
    duplicates row by row), not the primary key's."""
    out: list[tuple[str, str]] = []
    for table in tables:
        for _seq, name, unique, origin, _partial in conn.execute(f'PRAGMA index_list("{table}")'):
            if origin == "c" and not unique:
                (sql,) = conn.execute("SELECT sql FROM sqlite_master WHERE type = 'index' AND name = ?",
                                      (name,)).fetchone()
                out.append((str(name), str(sql)))
    return sorted(out)


@contextmanager
def indexes_after(conn: sqlite3.Connection, incoming: dict[str, int]) -> Iterator[None]:
    """Into a table that holds no more rows than are about to go in (`incoming`: table -> rows; a store adopting
    the system), its secondary indexes are dropped for the block and made again after it, one sort each instead
    of an insert at a random place per row; a bigger table keeps them (a rebuild would read all it holds).
    Call inside the write transaction: on an error its rollback brings the indexes back."""
    tables = tuple(t for t, n in sorted(incoming.items())
                   if int(conn.execute(f'SELECT COALESCE(MAX(rowid), 0) FROM "{t}"').fetchone()[0]) <= n)
    indexes = secondary_indexes(conn, tables) if tables else []
    for name, _sql in indexes:
        conn.execute(f'DROP INDEX "{name}"')
    yield
    for _name, sql in indexes:
        conn.execute(sql)
