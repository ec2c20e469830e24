"""Measure a swipe from the magstripe reader's wire to the member attached in the app.

`python -m pos_client.app.swipe_probe [--runs N]` runs the real path headless: hw_sim's pty magstripe
reader -> pyserial -> the reader thread -> `TillApp.post_device_event` -> the checkout attaching the
member (the member panel is updated; the next frame paints it). Twice: the frame written at once, and
paced at 9600 baud like a real reader, next to the frame's wire time (10 bits a byte).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from cardread import parse_card
from cardread.barcode import with_check_digit
from cardread.read import CardRead
from pos_client.app import collector
from pos_client.app.checkout_screen import CheckoutScreen
from pos_client.app.collector import IdleCollector
from pos_client.app.till_app import TillApp
from pos_client.services import members
from pos_client.services.checkout import Line
from pos_client.store.config import write_config
from pos_client.till import open_till
from pos_client.till.devices import TillDevices


@dataclass
class Watched:
    """What a probe session records beside the swipes' times (all optional to a caller)."""

    windows: list[tuple[float, float]] = field(default_factory=list)  # perf_counter: first byte, member attached
    collector: IdleCollector | None = None  # the app's passes between customers (pos_client.app.collector)
    memory: list[tuple[int, int, int, int]] = field(default_factory=list)  # customers, RSS kB, objects, frozen


def rss_kb() -> int:
    """This process's resident set (kB), from /proc: the long session's memory check."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


async def _measure(home: Path, runs: int, pace: bool, card: str | None = None, *, settle_after: int | None = None,
                   settled: list[float] | None = None, watched: Watched | None = None, sell: bool = False,
                   memory_every: int = 0, plain: bool = False) -> list[tuple[float, float]]:
    """(seconds from the frame's last byte, seconds from its first byte) to the member attached.

    `card` is a card already in the till's database (the bench swipes one of a million members);
    without it a probe member is enrolled on an empty till. With `settle_after`, after that many swipes the
    probe waits for the start's background work to end (`TillDevices.settled`) and appends the seconds that
    took to `settled` (-1 when it did not end within a minute). `watched` gets each swipe's window, the app's
    collections between customers and, every `memory_every` customers, the process's memory; `sell` pays a
    keyed sale after each swipe (each swipe is a customer: cleared, swiped, paid; a swipe always follows the
    Clear by 20 ms, the app's pass between customers (`pos_client.app.collector`) runs then); `plain` leaves out the
    app's collections between customers (`TillApp.customer_done`), for an A/B."""
    from hw_sim import swipes  # lazy: the simulators: only the demo and probes use them
    from hw_sim.paced_writer import PacedWriter  # lazy: the simulators: only the demo and probes use them
    from hw_sim.serial_sim import SerialDeviceSim  # lazy: the simulators: only the demo and probes use them

    card = card or with_check_digit("290000000001")
    link = home / "msr"
    sim = SerialDeviceSim("magstripe", link, pace=pace).start()
    write_config(home, {"devices": {"readers": [
        {"kind": "serial", "url": str(link), "role": "magstripe", "name": "swipe"}]}})
    ctx = open_till(home)
    if not ctx.conn.execute("SELECT COUNT(*) FROM members").fetchone()[0]:
        members.enroll(ctx, card=parse_card(card), name="Probe")
    attached: list[float] = []

    class ProbeApp(TillApp):
        def take_card(self, read: CardRead) -> None:
            super().take_card(read)
            attached.append(time.perf_counter())

        def customer_done(self) -> None:
            if not plain:  # `plain`: the collector as before the passes between customers, for an A/B
                super().customer_done()

    devices = TillDevices(ctx)
    app = ProbeApp(ctx, devices=devices)
    out: list[tuple[float, float]] = []
    frame = swipes.track2(card)

    master = sim.master
    if master is None:
        raise RuntimeError("the simulated reader did not start")
    # paced: from a process of its own, as a reader's clock is (`hw_sim.paced_writer`: on a thread of this
    # process each byte's wake-up waited for the GIL behind the app, and that wait was counted as the app's)
    paced = PacedWriter(master, sim.byte_seconds) if pace else None

    def send() -> tuple[float, float]:  # stamped by the device, not when the loop notices
        if paced is None:
            first = time.perf_counter()
            sim.send(frame)
            return first, time.perf_counter()
        return paced.send(frame.encode("latin-1"), sim.terminator)  # the terminator one byte-time after

    collector.hold()  # as the till's start holds it (`app.boot`): the app releases it frozen at its first screen
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            while app._status.get("swipe") != "ok":
                await pilot.pause(0.01)
            for i in range(runs):
                if i == settle_after:
                    t0 = time.perf_counter()
                    done = await asyncio.to_thread(devices.settled, 60.0)
                    if settled is not None:
                        settled.append(time.perf_counter() - t0 if done else -1.0)
                screen = app.screen
                assert isinstance(screen, CheckoutScreen), "the probe swipes on the checkout screen"
                screen.action_clear()  # the last customer is done: the app's pass runs once the screen painted
                await pilot.pause(0.02)  # the next customer steps up (seconds at a real till)
                before = len(attached)
                first, last = await asyncio.to_thread(send)
                while len(attached) == before:
                    await asyncio.sleep(0.0005)
                out.append((attached[-1] - last, attached[-1] - first))
                if watched is not None:
                    watched.windows.append((first, attached[-1]))
                if sell:
                    screen.basket.add(Line.keyed(1250, name="probe"))
                    screen.action_pay()
                await pilot.pause(0.02)
                if watched is not None and memory_every and (i + 1) % memory_every == 0:
                    watched.memory.append((i + 1, rss_kb(), len(gc.get_objects()), gc.get_freeze_count()))
            if watched is not None:
                watched.collector = app.idle_gc
    finally:
        gc.unfreeze()  # this process outlives the app: what its first screen froze is collectable again
        gc.enable()
        if paced is not None:
            paced.close()
        sim.stop()
        ctx.close()
    return out


def long_session(customers: int, plain: bool) -> Watched:
    """`--long`: that many customers (cleared, swiped, paid) in one app session on an empty till, the
    process's memory read ten times: what the passes between customers keep must not grow without bound."""
    watched = Watched()
    with tempfile.TemporaryDirectory(prefix="swipe-long-") as tmp:
        asyncio.run(_measure(Path(tmp), customers, False, watched=watched, sell=True,
                             memory_every=max(1, customers // 10), plain=plain))
    return watched


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--long", type=int, metavar="CUSTOMERS", help="one long session (memory), not the timing")
    parser.add_argument("--plain", action="store_true", help="without the collections between customers (A/B)")
    args = parser.parse_args(argv)
    from hw_sim import swipes  # lazy: the simulators: only the demo and probes use them

    if args.long:
        w = long_session(args.long, args.plain)
        for n, rss, objects, frozen in w.memory:
            print(f"after {n:6d} customers: RSS {rss / 1024:7.1f} MB, objects {objects:7d} + frozen {frozen:7d}")
        c = w.collector
        gcs = sorted(t.seconds * 1000 for t in c.passes) if c else []
        if c and gcs:
            print(f"passes between customers: {c.count} ({c.deep_count} whole); the last {len(gcs)}: median"
                  f" {statistics.median(gcs):.2f} ms, longest {gcs[-1]:.2f} ms")
        return 0
    frame_bytes = len(swipes.track2("2900000000018")) + 1  # + CR
    wire_ms = frame_bytes * 10 / 9600 * 1000
    with tempfile.TemporaryDirectory(prefix="swipe-probe-") as tmp:
        for pace in (False, True):
            home = Path(tmp) / ("paced" if pace else "burst")
            home.mkdir()
            res = asyncio.run(_measure(home, args.runs, pace))
            after = sorted(r[0] * 1000 for r in res)
            total = sorted(r[1] * 1000 for r in res)
            label = "paced at 9600 baud" if pace else "written at once   "
            print(f"{label}: last byte -> member attached: median {statistics.median(after):.2f} ms, "
                  f"max {after[-1]:.2f} ms; first byte -> attached: median {statistics.median(total):.2f} ms "
                  f"({len(res)} swipes)")
    print(f"wire time of the {frame_bytes}-byte frame at 9600 baud: {wire_ms:.1f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
