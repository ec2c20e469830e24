"""Schema version 2: CHECK constraints from the one table of ranges (`wire.bounds`) on head office's points,
money and seq columns, in both databases.

Why: head office checks every number before it writes (the wire schema's bounds, the balance check in
`headoffice.store.ledger`), and the database refuses whatever slips past, so a balance can never become a
float (SQLite turns an int64 overflow into a REAL) or a number a till cannot store. PostgreSQL adds a named
constraint to the table (validating the rows it holds); SQLite rebuilds the table under the same name
(rows and rowids copied aside and back, indexes recreated from their saved SQL; head office's tables have no
foreign keys or triggers). A database already holding numbers outside the ranges is refused with what and
where, never changed.
"""

from __future__ import annotations

from headoffice.store.db import POSTGRES, Db
from pos_client.domain.errors import UsageError
from wire.bounds import BALANCE, CENTS, POINTS, PRICE, SEQ, Range

# table -> (column, range); every column is NOT NULL
CHECKS: dict[str, tuple[tuple[str, Range], ...]] = {
    "ledger": (("points", POINTS), ("amount_cents", CENTS), ("seq", SEQ)),
    "balances": (("points", BALANCE),),
    "sales": (("total_cents", CENTS), ("points_earned", POINTS)),
    "products": (("price_cents", PRICE),),
    "tills": (("high_seq", Range("high_seq", 0, SEQ.high, "a till's high seq")),),
}


def condition(db: Db, column: str, r: Range) -> str:
    """Within the range and, on SQLite (whose columns take any type), a true integer."""
    if db.dialect == POSTGRES:
        return f"({r.sql(column)})"
    return f"(typeof({column}) = 'integer' AND {r.sql(column)})"


def constraint_name(table: str, column: str) -> str:
    return f"{table}_{column}_range"


def out_of_range(db: Db) -> list[str]:
    """One line per column holding values outside its range (how many)."""
    found = []
    for table, checks in CHECKS.items():
        for column, r in checks:
            count = int(db.value(f"SELECT COUNT(*) FROM {table} WHERE NOT {condition(db, column, r)}"))
            if count:
                found.append(f"{table}.{column}: {count} row(s) outside {r.low:,} to {r.high:,} or not whole")
    return found


def _postgres(db: Db, table: str) -> None:
    for column, r in CHECKS[table]:
        name = constraint_name(table, column)
        if not db.one("SELECT 1 FROM pg_constraint WHERE conname = ?", (name,)):
            db.execute(f"ALTER TABLE {table} ADD CONSTRAINT {name} CHECK {condition(db, column, r)}")


def _sqlite(db: Db, table: str) -> None:
    create = str(db.value("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)))
    if all(f"CONSTRAINT {constraint_name(table, c)} " in create for c, _r in CHECKS[table]):
        return
    keep = [str(r[0]) for r in db.execute(
        "SELECT sql FROM sqlite_master WHERE tbl_name = ? AND type IN ('index', 'trigger') AND sql IS NOT NULL"
        " ORDER BY type, name", (table,))]
    columns = ", ".join(f'"{r[1]}"' for r in db.execute(f"PRAGMA table_info({table})"))
    checks = ",\n    ".join(f"CONSTRAINT {constraint_name(table, c)} CHECK {condition(db, c, r)}"
                            for c, r in CHECKS[table])
    close = create.rindex(")")
    hold = f"v0002_{table}"
    db.execute(f"CREATE TABLE {hold} AS SELECT rowid AS v0002_rowid, {columns} FROM {table}")
    db.execute(f"DROP TABLE {table}")
    db.execute(create[:close] + f",\n    {checks}\n" + create[close:])
    db.execute(f"INSERT INTO {table} (rowid, {columns}) SELECT v0002_rowid, {columns} FROM {hold}"
               " ORDER BY v0002_rowid")
    db.execute(f"DROP TABLE {hold}")
    for sql in keep:
        db.execute(sql)


def apply(db: Db) -> None:
    """Add the constraints (inside the schema step's write transaction)."""
    problems = out_of_range(db)
    if problems:
        raise UsageError("this head-office database holds numbers no till or head office can store, so it"
                         " cannot be upgraded: " + "; ".join(problems) + ". Nothing was changed: restore a"
                         " backup made before they were written")
    for table in CHECKS:
        (_postgres if db.dialect == POSTGRES else _sqlite)(db, table)
