"""Money is integer cents everywhere; this is the one place text becomes cents and back."""

from __future__ import annotations

import re

from pos_client.domain.errors import UsageError

_AMOUNT = re.compile(r"^\s*(-)?(\d{1,9})(?:[.,](\d{1,2}))?\s*$")


def parse_amount(text: str, *, allow_negative: bool = False) -> int:
    """Parse "12.34" / "12,3" / "12" into cents without ever touching a float."""
    m = _AMOUNT.match(str(text))
    if not m:
        raise UsageError(f"not an amount: {text!r} (expected e.g. 12.34)")
    sign, units, frac = m.groups()
    cents = int(units) * 100 + int((frac or "0").ljust(2, "0"))
    if sign:
        if not allow_negative:
            raise UsageError("amount must not be negative")
        cents = -cents
    return cents


def format_cents(cents: int, currency: str = "") -> str:
    """Render cents as "12.34" (with an optional currency symbol prefix)."""
    sign = "-" if cents < 0 else ""
    cents = abs(int(cents))
    return f"{sign}{currency}{cents // 100}.{cents % 100:02d}"
