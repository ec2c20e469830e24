"""Head office's schema changes after version 1, one module each (`vNNNN_name.py` with `apply(db)`).

Why: version 1 is `schema.SCHEMA` (CREATE ... IF NOT EXISTS); a change to an existing table (a new
column, a CHECK constraint) needs a step that runs once, in order, inside the same write transaction
that records the new `meta.schema_version`. `STEPS` is the ordered list, written here by hand (no
registry filled at run time); `SCHEMA_VERSION` is the last step's version.
"""

from __future__ import annotations

from collections.abc import Callable

from headoffice.store.db import Db
from headoffice.store.migrations import v0002_bounds, v0004_program_versions, v0005_ledger_chain

Step = tuple[int, str, Callable[[Db], None]]

# (version, what it does, apply): versions strictly increasing from 2.
STEPS: tuple[Step, ...] = (
    (2, "CHECK constraints: points, cents, seq within wire.bounds", v0002_bounds.apply),
    (4, "program versions: who published what; the version each till applied", v0004_program_versions.apply),
    (5, "the tills' ledger hash chain: prev_hash, entry_hash", v0005_ledger_chain.apply),
)

SCHEMA_VERSION = STEPS[-1][0] if STEPS else 1


def pending(found: int) -> list[Step]:
    """The steps a database at schema version `found` still needs, in order."""
    return [step for step in STEPS if step[0] > found]
