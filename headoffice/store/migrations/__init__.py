"""Head office's schema changes after version 1, one module each (`vNNNN_name.py` with `apply(db)`).

Why: version 1 is `schema.SCHEMA` (CREATE ... IF NOT EXISTS); a change to an existing table (a new
column, a CHECK constraint) needs a step that runs once, in order, inside the same write transaction
that records the new `meta.schema_version`. `STEPS` is the ordered list, written here by hand (no
registry filled at run time); `SCHEMA_VERSION` is the last step's version.
"""

from __future__ import annotations

from collections.abc import Callable

from headoffice.store.db import Db

Step = tuple[int, str, Callable[[Db], None]]

# (version, what it does, apply): versions strictly increasing from 2.
STEPS: tuple[Step, ...] = ()

SCHEMA_VERSION = STEPS[-1][0] if STEPS else 1


def pending(found: int) -> list[Step]:
    """The steps a database at schema version `found` still needs, in order."""
    return [step for step in STEPS if step[0] > found]
