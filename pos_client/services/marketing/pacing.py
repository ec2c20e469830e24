"""Pauses between the day's upkeep's write transactions, so a sale waiting for the write lock gets it.

Why: a sale waiting on the lock does not queue; SQLite's busy handler sleeps and tries again, at most every
100 ms. Back-to-back upkeep transactions (a few ms apart) left it trying while the next one held the lock:
beside the first full expiry pass a sale waited up to 7 s. A pause longer than the busy handler's longest
sleep between two of the upkeep's transactions means a waiting sale's next try always finds the lock free.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator, Sequence
from typing import TypeVar

T = TypeVar("T")

GAP_S = 0.12  # SQLite's default busy handler sleeps at most 100 ms between two tries


def paced(conn: sqlite3.Connection, parts: Sequence[T], gap_s: float = GAP_S) -> Iterator[T]:
    """Each part in turn, with a pause before every part but the first (one part: no pause at all). Inside a
    transaction the caller opened (head office's snapshot refresh, one transaction) the parts join it and the
    lock is held throughout: no pause, it would only hold the lock longer."""
    for i, part in enumerate(parts):
        if i and not conn.in_transaction:
            time.sleep(gap_s)
        yield part
