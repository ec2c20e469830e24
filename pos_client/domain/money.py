"""Money is integer cents everywhere; this is the one place text becomes cents and back.

Which character separates the cents is the till's choice (`[till] decimal_separator`, "." by default,
"," for a till keyed the French way): the other one is refused with a message that says which to use,
never silently read as something else. Amounts are keyed without thousands separators; one above
`MAX_AMOUNT_CENTS` is a keying slip (a barcode typed into the amount slot), not a sale.
"""

from __future__ import annotations

import re
from datetime import date, datetime

from pos_client.domain.errors import UsageError
from wire.bounds import PRICE

DECIMAL_SEPARATORS = (".", ",")
# 999,999.99: above any single sale, price or refund a small shop makes; the sum of many still fits int64.
MAX_AMOUNT_CENTS = PRICE.high  # wire.bounds: 99,999,999

_PATTERNS = {sep: re.compile(rf"^(-)?([0-9]+)(?:{re.escape(sep)}([0-9]{{1,2}}))?$") for sep in DECIMAL_SEPARATORS}
_THOUSANDS = {".": ",", ",": " "}


def _separator(decimal_separator: str) -> str:
    if decimal_separator not in DECIMAL_SEPARATORS:
        raise UsageError(f"decimal separator must be '.' or ',', not {decimal_separator!r}")
    return decimal_separator


def parse_amount(text: str, *, decimal_separator: str = ".", allow_negative: bool = False, positive: bool = False,
                 max_cents: int = MAX_AMOUNT_CENTS) -> int:
    """Parse "12.34" / "12.3" / "12" (or "12,34" on a comma till) into cents without ever touching a float.

    `positive` refuses 0 (a sale or a keyed line); a price may be 0 (a free product).
    """
    sep = _separator(decimal_separator)
    raw = str(text).strip()
    m = _PATTERNS[sep].match(raw)
    if not m:
        example = f"12{sep}50"
        other = DECIMAL_SEPARATORS[1 - DECIMAL_SEPARATORS.index(sep)]
        if other in raw or " " in raw:
            raise UsageError(f"not an amount: {raw!r}: this till uses {sep!r} for decimals and no thousands"
                             f" separator (e.g. {example})")
        raise UsageError(f"not an amount: {raw!r} (expected e.g. {example})")
    sign, units, frac = m.groups()
    cents = int(units) * 100 + int((frac or "0").ljust(2, "0"))
    if sign and cents:
        if not allow_negative:
            raise UsageError("amount must not be negative")
        cents = -cents
    if abs(cents) > max_cents:
        raise UsageError(f"amount too large (max {format_cents(max_cents, decimal_separator=sep, group=True)})")
    if positive and cents <= 0:
        raise UsageError("the amount must be more than 0")
    return cents


def format_cents(cents: int, currency: str = "", *, decimal_separator: str = ".", group: bool = False) -> str:
    """Render cents as "12.34" (or "12,34"); `group` adds thousands separators ("1,234.56" / "1 234,56").

    The CLI groups (tables people read); receipts keep the compact form their columns are sized for.
    """
    sep = _separator(decimal_separator)
    sign = "-" if cents < 0 else ""
    cents = abs(int(cents))
    units = f"{cents // 100:,}".replace(",", _THOUSANDS[sep]) if group else str(cents // 100)
    return f"{sign}{currency}{units}{sep}{cents % 100:02d}"


def format_date(value: str | date | datetime | None) -> str:
    """The day of a stored timestamp or date as YYYY-MM-DD (unambiguous in every locale); "-" for none."""
    if value is None or value == "":
        return "-"
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return str(value)[:10]
