"""CHECK constraints from the one table of ranges (`wire.bounds`) on the till's points and money tables, and
the owner's role for manual adjustments (`manager_roles`).

Why: every entry point checks its numbers (`pos_client.domain.bounds`), and the database refuses what slips
past them, so a balance can never become a float (SQLite turns an int64 overflow into a REAL) nor a number
head office cannot store. Each value must also be a true integer (`typeof = 'integer'`): money and points are
never floats, even in the file.

SQLite adds a CHECK only by rebuilding the table: each table's own CREATE statement (read from the schema, so
columns a later migration added are kept) gets named constraints; the rows (with their rowids) are copied
aside, the table dropped and created again under its name, the rows copied back, and its indexes and triggers
(the ledger's append-only ones included) recreated from their saved SQL. Foreign keys are deferred to the
commit: the copy back re-parents every child row before it. A database
holding numbers outside the ranges is refused with what and where, never silently changed.
"""

from __future__ import annotations

import sqlite3

from pos_client.domain.bounds import BALANCE, CENTS, POINTS, PRICE, QUANTITY, SEQ, Range
from pos_client.domain.errors import UsageError

# table -> (column, range, nullable)
CHECKS: dict[str, tuple[tuple[str, Range, bool], ...]] = {
    "ledger": (("points", POINTS, False), ("amount_cents", CENTS, False), ("seq", SEQ, False)),
    "balances": (("points", BALANCE, False),),
    "sales": (("total_cents", CENTS, False), ("points_earned", POINTS, False), ("balance_after", BALANCE, True)),
    "sale_lines": (("qty", QUANTITY, False), ("unit_cents", CENTS, False), ("amount_cents", CENTS, False),
                   ("points", POINTS, False)),
    "refunds": (("amount_cents", CENTS, False), ("points_reversed", POINTS, False),
                ("balance_after", BALANCE, True)),
    "refund_lines": (("qty", QUANTITY, False), ("amount_cents", CENTS, False), ("points", POINTS, False)),
    "products": (("price_cents", PRICE, False),),
}

ROLES_DDL = """
CREATE TABLE IF NOT EXISTS manager_roles (
    manager_id TEXT PRIMARY KEY REFERENCES managers(manager_id),
    role       TEXT NOT NULL CHECK (role IN ('manager', 'owner')),
    at         TEXT NOT NULL
)
"""

def condition(column: str, r: Range, nullable: bool) -> str:
    """The CHECK expression: a true integer within the range (NULL allowed where the column is optional)."""
    test = f"(typeof({column}) = 'integer' AND {r.sql(column)})"
    return f"({column} IS NULL OR {test})" if nullable else test


def constraint_name(table: str, column: str) -> str:
    """`<table>_<column>_range`: what SQLite names in "CHECK constraint failed: ..."."""
    return f"{table}_{column}_range"


def out_of_range(conn: sqlite3.Connection, table: str) -> list[str]:
    """One line per column of `table` holding values outside its range (how many, and the first rowid)."""
    found = []
    for column, r, nullable in CHECKS[table]:
        row = conn.execute(f"SELECT COUNT(*), MIN(rowid) FROM {table} WHERE NOT {condition(column, r, nullable)}"
                           ).fetchone()
        if row[0]:
            found.append(f"{table}.{column}: {row[0]} row(s) outside {r.low:,} to {r.high:,} or not whole"
                         f" (first rowid {row[1]})")
    return found


def rebuild_with_checks(conn: sqlite3.Connection, table: str) -> None:
    """Rebuild one table with its CHECK constraints, keeping its rows (and rowids: sales are pushed by a rowid
    cursor), columns, indexes and triggers."""
    row = conn.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)).fetchone()
    if row is None:
        return
    create = str(row[0])
    if all(f"CONSTRAINT {constraint_name(table, c)} " in create for c, _r, _n in CHECKS[table]):
        return  # already rebuilt
    keep = [str(r[0]) for r in conn.execute(
        "SELECT sql FROM sqlite_master WHERE tbl_name = ? AND type IN ('index', 'trigger') AND sql IS NOT NULL"
        " ORDER BY type, name", (table,))]
    columns = ", ".join(f'"{r[1]}"' for r in conn.execute(f"PRAGMA table_info({table})"))
    checks = ",\n    ".join(f"CONSTRAINT {constraint_name(table, c)} CHECK {condition(c, r, n)}"
                            for c, r, n in CHECKS[table])
    close = create.rindex(")")
    hold = f"m0060_{table}"
    # Copy aside, drop, create under the same name, copy back: the copy back re-parents the child rows of
    # other tables (their deferred foreign keys balance out), and no rename touches another table's triggers.
    conn.execute(f"CREATE TABLE {hold} AS SELECT rowid AS m0060_rowid, {columns} FROM {table}")
    conn.execute(f"DROP TABLE {table}")
    conn.execute(create[:close] + f",\n    {checks}\n" + create[close:])
    conn.execute(f"INSERT INTO {table} (rowid, {columns}) SELECT m0060_rowid, {columns} FROM {hold}"
                 " ORDER BY m0060_rowid")
    conn.execute(f"DROP TABLE {hold}")
    for sql in keep:
        conn.execute(sql)


def apply(conn: sqlite3.Connection) -> None:
    problems = [p for table in CHECKS
                if conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)).fetchone()
                for p in out_of_range(conn, table)]
    if problems:
        raise UsageError("this till database holds numbers no till or head office can store, so it cannot be"
                         " upgraded: " + "; ".join(problems) + ". Nothing was changed: restore a backup made"
                         " before they were written (pos-client backup restore), or ask support")
    conn.execute("PRAGMA defer_foreign_keys = ON")  # parents come back before the commit checks
    for table in CHECKS:
        rebuild_with_checks(conn, table)
    conn.execute(ROLES_DDL)
