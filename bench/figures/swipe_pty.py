"""Swipe on a pseudo-terminal to member shown in the app.

The real path, through `pos_client.app.swipe_probe`: hw_sim's magstripe reader on a pty, paced at
9600 baud 8N1 like a real reader -> pyserial -> the reader thread -> `TillApp.post_device_event`
-> the checkout attaching the member (the member panel is updated; the next frame paints it), with
the app run headless by Textual's `run_test()` on the full-scale database (a scratch home whose
till.db links to the generated one, so the device config never lands in the cached home).

Measured: first byte on the wire -> member attached. Baseline: the frame's wire time at 9600 baud
(10 bits a byte), the time the bytes physically need. Target: overhead (measured - wire) <= 20 ms,
judged on the p99.
"""

from __future__ import annotations

import asyncio

from bench.env import BenchEnv
from bench.stats import Figure, Measure, verdict
from hw_sim import swipes

KEY = "swipe_pty"
TITLE = "swipe on a pty to member shown in the app"
TARGET = "overhead <= 20 ms over the wire time"
BAUD = 9600
BITS_PER_BYTE = 10  # start + 8 data + stop
MAX_OVERHEAD_MS = 20.0
WARMUP = 3  # swipes right after the app's first screen, reported apart (the start is its own figure)


def wire_time_ms(frame: bytes, baud: int = BAUD) -> float:
    return len(frame) * BITS_PER_BYTE / baud * 1000


def run(env: BenchEnv) -> Figure:
    from pos_client.app.swipe_probe import _measure as probe  # why: the whole Textual app, loaded for this figure only

    # a magstripe loyalty card carries the program's EAN number (NFC cards are read by UID, not swiped)
    card = next(c for c in env.sample_cards(50, KEY) if not c.startswith("NFC:"))
    frame = (swipes.track2(card) + "\r").encode()  # what the paced reader sends, CR-terminated
    wire = wire_time_ms(frame)
    base = Measure(f"wire time of the {len(frame)}-byte track-2 frame at 9600 baud 8N1 (computed)", "ms",
                   wire, wire, 1)
    home = env.scratch / "swipe-home"
    home.mkdir(exist_ok=True)
    (home / "till.db").symlink_to(env.db)  # SQLite follows the link: WAL and -shm beside the real file
    runs = env.samples(100, 20)
    res = asyncio.run(asyncio.wait_for(probe(home, WARMUP + runs, True, card=card), timeout=300))
    warm, res = res[:WARMUP], res[WARMUP:]
    total = [r[1] * 1000 for r in res]
    after_last = Measure.of("last byte -> member attached", "ms", [r[0] * 1000 for r in res])
    m = Measure.of(f"first byte -> member attached, paced at 9600 baud ({len(res)} swipes, "
                   f"{env.gen.members:,}-member database)", "ms", total)
    return Figure(KEY, TITLE, TARGET, verdict(m.p99 - wire <= MAX_OVERHEAD_MS), measure=m, baseline=base,
                  notes=[f"overhead over the wire time: median {m.median - wire:.2f} ms, p99 {m.p99 - wire:.2f} ms",
                         f"last byte -> member attached: median {after_last.median:.2f} ms, "
                         f"p99 {after_last.p99:.2f} ms",
                         "warm-up swipes (not in the figure), first byte -> attached: "
                         + ", ".join(f"{r[1] * 1000:.1f} ms" for r in warm)],
                  extra={"frame_bytes": len(frame), "overhead_p99_ms": round(m.p99 - wire, 2)})
