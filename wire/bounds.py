"""The one table of number ranges: every points, cents, quantity and seq value the program keeps or sends.

Why one table: the till (`pos_client.domain.bounds`), the wire schema (`wire.fields`, msgspec `Meta(ge, le)`)
and head office (its checks and the CHECK constraints of both databases) read these same figures, so a number
one part accepts is one every other part can store. Each range keeps every sum the program makes inside the
64-bit integers SQLite and PostgreSQL store: the chain's points liability (a SUM over balances) holds up to
9 million members at the largest balance. `wire` may import no project package, so the table lives here and
the till's domain re-exports it. docs/security.md ("Bounded numbers") is the same table in words.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True)
class Range:
    """An inclusive range of whole numbers, with what it bounds (for error messages and the docs)."""

    name: str
    low: int
    high: int
    what: str

    def holds(self, value: object) -> bool:
        """A true int (never a bool, never a float) within the range."""
        return isinstance(value, int) and not isinstance(value, bool) and self.low <= value <= self.high

    def problem(self, value: object) -> str | None:
        """Why `value` is refused, in words; None when it is in range."""
        if isinstance(value, bool) or not isinstance(value, int):
            return f"{self.name}: a whole number is needed, not {type(value).__name__}"
        if value < self.low or value > self.high:
            return f"{self.name}: {value} is outside {self.low:,} to {self.high:,} ({self.what})"
        return None

    def sql(self, column: str) -> str:
        """The CHECK expression both databases use for a column holding this range."""
        return f"{column} BETWEEN {self.low} AND {self.high}"


TERA: Final = 10**12
# points of one ledger entry, sale or line, and a member's balance (a merge moves a whole balance as one entry)
POINTS = Range("points", -TERA, TERA, "points in one entry, sale, line or balance")
BALANCE = Range("balance", -TERA, TERA, "a member's balance")
# cents of one line, sale, refund or ledger entry (refunds are negative)
CENTS = Range("cents", -TERA, TERA, "cents in one line, sale, refund or entry")
# a catalog price or an amount keyed at the till: 999,999.99 (a larger one is a barcode in the amount slot)
PRICE = Range("price_cents", 0, 99_999_999, "a price or keyed amount in cents")
KEYED_AMOUNT = Range("amount_cents", -99_999_999, 99_999_999, "an amount keyed at the till, in cents")
# points a person keys (an adjustment, a partial redemption): far above any balance, far below POINTS
KEYED_POINTS = Range("points", -10**9, 10**9, "points keyed in one adjustment or redemption")
QUANTITY = Range("qty", 1, 999_999, "units on one sale or refund line")
KEYED_QUANTITY = Range("qty", 1, 999, "units keyed for one item")
SEQ = Range("seq", 1, 2**53, "a till's gap-free sequence (exact in every JSON reader)")
COUNT = Range("count", 0, TERA, "a count of records")
CURSOR = Range("cursor", 0, 2**62, "head office's server_seq")

# Manual points adjustments per role, by default: the till's `[limits] adjust_points_<role>` and head office's
# console settings `console.adjust_limit.<role>` start from the same figures (a larger one needs the owner).
ADJUST_LIMITS: Final = {"manager": 500, "owner": 10_000}

RANGES: Final = (POINTS, BALANCE, CENTS, PRICE, KEYED_AMOUNT, KEYED_POINTS, QUANTITY, KEYED_QUANTITY, SEQ, COUNT,
                 CURSOR)


def check(r: Range, value: object) -> int:
    """`value` as an int when `r` holds it, else ValueError saying why (callers turn it into their own error)."""
    if isinstance(value, int) and r.holds(value):
        return value
    raise ValueError(r.problem(value))
