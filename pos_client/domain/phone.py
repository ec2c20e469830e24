"""Phone numbers: one canonical form for lookup whatever the formatting, masked for display."""

from __future__ import annotations

import re

from pos_client.domain.errors import UsageError


def normalise_phone(text: str, country_code: str = "33") -> str:
    """'+33 6 12 34 56 78', '0033612345678' and '06 12 34 56 78' all become '+33612345678'."""
    raw = str(text).strip()
    digits = re.sub(r"\D", "", raw)
    if raw.startswith("+"):
        out = digits
    elif digits.startswith("00"):
        out = digits[2:]
    elif digits.startswith("0"):
        out = country_code + digits[1:]
    else:
        out = digits if len(digits) > 10 else country_code + digits
    if not 8 <= len(out) <= 15:
        raise UsageError("not a phone number")
    return "+" + out


def mask_phone(phone: str | None) -> str:
    """Show only the last three digits: enough for the customer to confirm it is theirs."""
    if not phone:
        return ""
    return "•" * max(len(phone) - 3, 0) + phone[-3:]
