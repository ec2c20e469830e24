"""The string patterns of many values checked in one regex pass: a push's decode spent most of its time
running each entry's five patterns one by one (bench/figures/ingest.py).

`all_match(pattern, values)` is never looser than the pattern applied to each value: the distinct values are
joined with newlines and the joined text must match `value(\\nvalue)*`, where no value may hold a newline
itself (counted), and every pattern used here matches no newline. A False only sends the caller to the
value-by-value check, which words the reasons; tests/sync/test_wire_bulk_check.py holds it to that.
`all_hex(values, n)` is the same promise for "exactly n lower-case hex digits" (the chain's hashes, the ids
tills make) without a regex: one length set and one bytes.translate, about six times faster than the pattern.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Final

from wire.fields import ID_PATTERN, TIME_PATTERN, UUID_PATTERN
from wire.ledger_chain import HASH_PATTERN

_ANCHORS: Final = re.compile(r"^\^|\$(?:\(\?!\\n\))?$")


def joined(pattern: str) -> re.Pattern[str]:
    """`^core$(?!\\n)` -> a regex for `core(\\ncore)*`, to be full-matched."""
    core = _ANCHORS.sub("", pattern)
    return re.compile(rf"(?:{core})(?:\n(?:{core}))*")


IDS: Final = joined(ID_PATTERN)
UUIDS: Final = joined(UUID_PATTERN)
TIMES: Final = joined(TIME_PATTERN)
HASHES: Final = joined(HASH_PATTERN)


def all_match(pattern: re.Pattern[str], values: Iterable[str | None]) -> bool:
    """Every value that is not None matches (None values are the optional fields left out)."""
    present = {v for v in values if v is not None}
    if not present:
        return True
    text = "\n".join(present)
    return text.count("\n") == len(present) - 1 and pattern.fullmatch(text) is not None


_HEX: Final = b"0123456789abcdef"


def all_hex(values: Iterable[str | None], length: int) -> bool:
    """Every value that is not None is exactly `length` lower-case hex digits (`^[0-9a-f]{length}$`)."""
    present = {v for v in values if v is not None}
    if not present:
        return True
    if set(map(len, present)) != {length}:
        return False
    try:
        data = "".join(present).encode("ascii")
    except UnicodeEncodeError:
        return False
    return not data.translate(None, _HEX)
