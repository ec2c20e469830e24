"""Swipe on a pseudo-terminal to member shown in the app (slot: the app and serial readers are
on other branches).

Baseline, available now: the wire time of a track-2 frame at 9600 baud 8N1 (10 bits a byte),
computed from the frame length, i.e. the time the bytes physically need. Target: the app adds
<= 20 ms over it. The figure itself needs the Textual app (`pos_client.app.run`) and the serial
reader driver (`drivers.serial_reader`) with `hw_sim` driving the pty; when both import, an
adapter here must drive a swipe through `run_test()` and time until the member panel shows.
"""

from __future__ import annotations

from bench.env import BenchEnv
from bench.stats import Figure, Measure, try_import

KEY = "swipe_pty"
TITLE = "swipe on a pty to member shown in the app"
TARGET = "overhead <= 20 ms over the wire time"
BAUD = 9600
BITS_PER_BYTE = 10  # start + 8 data + stop


def wire_time_ms(frame: bytes, baud: int = BAUD) -> float:
    return len(frame) * BITS_PER_BYTE / baud * 1000


def run(env: BenchEnv) -> Figure:
    card = env.sample_cards(1, KEY)[0]
    frame = f";{card}=29121010000000000?\r".encode()  # track 2 as a reader sends it, CR-terminated
    wire = wire_time_ms(frame)
    base = Measure("wire time of a track-2 frame at 9600 baud 8N1 (computed)", "ms", wire, wire, 1)
    reasons = [r for _, r in (try_import("pos_client.app.run", "run_app"), try_import("drivers.serial_reader"))
               if r]
    reason = "; ".join(reasons) or ("not available in this build: app and serial reader import, but the pty swipe "
                                    "adapter is not written yet (bench/figures/swipe_pty.py)")
    return Figure.skipped(KEY, TITLE, TARGET, reason, baseline=base,
                          extra={"frame_bytes": len(frame)})
