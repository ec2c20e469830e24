"""The string patterns of many values checked in one regex pass: a push's decode spent most of its time
running each entry's five patterns one by one (bench/figures/ingest.py).

`all_match(pattern, values)` is never looser than the pattern applied to each value: the distinct values are
joined with newlines and the joined text must match `value(\\nvalue)*`, where no value may hold a newline
itself (counted), and every pattern used here matches no newline. A False only sends the caller to the
value-by-value check, which words the reasons; tests/sync/test_wire_bulk_check.py holds it to that.
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
