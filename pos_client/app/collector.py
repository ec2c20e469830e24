"""Python's cyclic garbage collector in the till: held through the start, then kept off the customer's path.

Why: importing Textual and the till and building the first screen allocate ~90,000 objects that live as
long as the app; the cyclic collector ran ~130 times meanwhile (one full pass) for ~70 ms of a ~0.6 s start
and found almost nothing (bench `cold_start`). `hold` turns it off before the imports (`pos_client.app.boot`);
`IdleCollector.release` (by `TillApp.on_ready`, once the first screen is up) moves the start's objects to the
permanent generation (`gc.freeze`: collections skip them) and collection resumes. A TillApp run without `hold`
(tests, the demo) leaves the collector as it found it.

After that, whatever the background work (lookup warm-up, upkeep, sync) and the customers leave alive piles
up in the oldest generation, and a full pass over it took 22-31 ms a few times per full-scale bench run, each
one free to land in a swipe (bench `swipe_pty`). So the app calls `IdleCollector.customer_done` once a customer is
done (sale paid, sale cleared) and the screen has painted: a collection of what was allocated since the last
one (the rest is frozen: ~1 ms) and `gc.freeze` of what survived, so the automatic passes in a swipe only
ever scan one customer's objects. Frozen objects freed by their reference count go as always; frozen ones that
later die in a cycle would stay, so when the heap has grown by `DEEP_GROWTH` since the last whole pass
(CPython's own rule for its full passes) that pass runs there, in the pause: unfreeze, collect, freeze. The
heap stays bounded (`python -m pos_client.app.swipe_probe --long 2000`: RSS and objects over 2,000 customers).
"""

from __future__ import annotations

import gc
import sys
import time
from dataclasses import dataclass, field

DEEP_GROWTH = 0.25  # a whole pass once the frozen set grew by this share since the last (CPython's own rule)
KEPT = 200  # passes an IdleCollector keeps for a probe to read


def hold() -> None:
    """No cyclic collection until `release` (the start's imports and first screen)."""
    gc.disable()


def release() -> bool:
    """Once the first screen is up: freeze what the start allocated and collect again; only after `hold`
    (False, and nothing done, when nobody held it: a test's app, the demo)."""
    if gc.isenabled():
        return False
    gc.freeze()
    gc.enable()
    return True


@dataclass
class Tidied:
    """One pass at a customer's end: whole (`deep`) or only what is newer than the frozen set."""

    seconds: float
    deep: bool
    blocks: int  # the interpreter's allocated memory blocks after it (`sys.getallocatedblocks`)


@dataclass
class IdleCollector:
    """The app's collector policy; it acts only when the start held the collector (`hold`).

    The heap's growth is read as `sys.getallocatedblocks` (0.2 ms), not `gc.get_freeze_count`, which walks the
    whole frozen list (8 ms for 600,000 objects on Python 3.11).
    """

    growth: float = DEEP_GROWTH
    managed: bool = False
    blocks_after_deep: int = 0  # the heap after the last whole pass (or the first pass: 0 until then)
    passes: list[Tidied] = field(default_factory=list)  # the last KEPT, for a probe to read
    count: int = 0  # passes since release
    deep_count: int = 0  # whole passes among them

    def release(self) -> None:
        """`release`, and from then on the collections between customers (only after `hold`)."""
        self.managed = release()

    def customer_done(self) -> Tidied | None:
        """Between customers: collect what is newer than the frozen set and freeze the survivors; the whole
        heap when it outgrew the last whole pass by `growth`. None when the app does not manage the collector."""
        if not self.managed:
            return None
        t0 = time.perf_counter()
        # the first pass is never whole: what the start froze lives as long as the app, and the start's background
        # work grew the heap by design (a whole pass there cost 75 ms at the mid bench's scale for nothing)
        deep = 0 < self.blocks_after_deep * (1 + self.growth) < sys.getallocatedblocks()
        if deep:
            gc.unfreeze()
        gc.collect()
        gc.freeze()
        blocks = sys.getallocatedblocks()
        if deep or not self.blocks_after_deep:
            self.blocks_after_deep = blocks
        done = Tidied(time.perf_counter() - t0, deep, blocks)
        self.passes = [*self.passes[1 - KEPT:], done]
        self.count += 1
        self.deep_count += deep
        return done
