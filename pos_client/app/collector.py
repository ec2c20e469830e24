"""Python's cyclic garbage collector through the app's start: held until the first screen is up.

Why: importing Textual and the till and building the first screen allocate ~90,000 objects that live as
long as the app; the cyclic collector ran ~130 times meanwhile (one full pass) for ~70 ms of a ~0.6 s start
and found almost nothing (bench `cold_start`). `hold` turns it off before the imports (`pos_client.app.boot`);
`TillApp.on_ready` calls `release` once the first screen is up: the start's objects move to the permanent
generation (`gc.freeze`: later full passes skip them, so no scan waits on one over the whole start; the few
thousand cyclic leftovers of the start are kept, well under 1 MB) and collection resumes. A TillApp run
without `hold` (tests, the demo) leaves the collector as it found it.
"""

from __future__ import annotations

import gc


def hold() -> None:
    """No cyclic collection until `release` (the start's imports and first screen)."""
    gc.disable()


def release() -> None:
    """Once the first screen is up: freeze what the start allocated and collect again; only after `hold`."""
    if gc.isenabled():  # nobody held it (a test's app, the demo): leave the collector as it is
        return
    gc.freeze()
    gc.enable()
