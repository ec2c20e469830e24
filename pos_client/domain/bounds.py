"""The till's view of the one table of number ranges (`wire.bounds`), with the till's own error.

Why here: every entry point of the till (the CLI's arguments, the app's dialogs, the importer, sync's pull)
refuses a number outside its range with the same UsageError (exit 2) before it reaches the database, and
the domain is what those layers share. The figures themselves live in `wire.bounds` because head office and
the wire schema must hold the same ones and `wire` imports no project package.
"""

from __future__ import annotations

from pos_client.domain.errors import UsageError
from wire.bounds import (
    BALANCE,
    CENTS,
    COUNT,
    KEYED_AMOUNT,
    KEYED_POINTS,
    KEYED_QUANTITY,
    POINTS,
    PRICE,
    QUANTITY,
    RANGES,
    SEQ,
    Range,
)

__all__ = ["BALANCE", "CENTS", "COUNT", "KEYED_AMOUNT", "KEYED_POINTS", "KEYED_QUANTITY", "POINTS", "PRICE",
           "QUANTITY", "RANGES", "SEQ", "Range", "require"]


def require(r: Range, value: object, label: str | None = None) -> int:
    """`value` as an int when `r` holds it, else UsageError naming the field (`label`, or the range's name)."""
    if isinstance(value, int) and r.holds(value):
        return value
    why = r.problem(value) or ""
    if label:
        why = label + why[len(r.name):]
    raise UsageError(why)
