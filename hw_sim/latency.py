"""Measure what the simulated devices cost: APDU round trips through pcscd+vpcd, swipe-to-event.

    python -m hw_sim.latency [--apdus 50] [--swipes 50]

Starts its own private pcscd and pty, so it can run anywhere the tests run. Figures only, no verdict:
timing varies with the machine, so the tests never assert on it.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import threading
import time

from drivers.events import CardEvent, DeviceState, Event
from drivers.serial_reader import SerialReader
from hw_sim import swipes
from hw_sim.nfc_card import VirtualCard
from hw_sim.pcscd import SOCKET_ENV, PrivatePcscd
from hw_sim.serial_sim import SerialDeviceSim


def apdu_round_trips(n: int, quickack_modes: tuple[bool, ...] = (True, False)) -> dict[bool, list[float]]:
    """Seconds per GET DATA round trip from pyscard to the virtual card and back, per QUICKACK mode.

    One private pcscd for all modes: libpcsclite reads PCSCLITE_CSOCK_NAME once per process.
    """
    results: dict[bool, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp, PrivatePcscd(tmp) as daemon:
        os.environ[SOCKET_ENV] = daemon.socket_path  # before this process's first PC/SC call
        from smartcard import scard  # why: libpcsclite reads the socket variable when it loads (and it is heavy)

        _, ctx = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
        try:
            reader = scard.SCardListReaders(ctx, [])[1][0]
            for quickack in quickack_modes:
                card = VirtualCard("uid", port=daemon.port, quickack=quickack).tap()
                state = scard.SCARD_STATE_UNAWARE
                deadline = time.monotonic() + 5
                while not state & scard.SCARD_STATE_PRESENT and time.monotonic() < deadline:
                    _, states = scard.SCardGetStatusChange(ctx, 500, [(reader, state)])
                    state = states[0][1] & ~scard.SCARD_STATE_CHANGED
                _, hcard, proto = scard.SCardConnect(
                    ctx, reader, scard.SCARD_SHARE_SHARED, scard.SCARD_PROTOCOL_T0 | scard.SCARD_PROTOCOL_T1
                )
                pci = scard.SCARD_PCI_T1 if proto == scard.SCARD_PROTOCOL_T1 else scard.SCARD_PCI_T0
                times = []
                for _ in range(n if quickack else max(5, n // 5)):
                    start = time.perf_counter()
                    scard.SCardTransmit(hcard, pci, [0xFF, 0xCA, 0x00, 0x00, 0x00])
                    times.append(time.perf_counter() - start)
                scard.SCardDisconnect(hcard, scard.SCARD_LEAVE_CARD)
                card.stop()
                while state & scard.SCARD_STATE_PRESENT and time.monotonic() < deadline + 5:
                    _, states = scard.SCardGetStatusChange(ctx, 500, [(reader, state)])
                    state = states[0][1] & ~scard.SCARD_STATE_CHANGED
                results[quickack] = times
        finally:
            scard.SCardReleaseContext(ctx)
    return results


def swipe_to_event(n: int, pace: bool) -> list[float]:
    """Seconds from the first byte written on the pty to the CardEvent, per swipe."""
    with tempfile.TemporaryDirectory() as tmp:
        sim = SerialDeviceSim("magstripe", os.path.join(tmp, "tty"), pace=pace).start()
        got, connected = threading.Event(), threading.Event()
        stamp = [0.0]

        def on_event(event: Event) -> None:
            if isinstance(event, CardEvent):
                stamp[0] = time.perf_counter()
                got.set()
            elif isinstance(event, DeviceState) and event.state == "connected":
                connected.set()

        reader = SerialReader(str(sim.link), on_event)
        reader.start()
        connected.wait(5)
        frame = swipes.track2("2900000000077", "0001", with_lrc=True)
        times = []
        for _ in range(n):
            got.clear()
            start = time.perf_counter()
            sim.send(frame)
            got.wait(5)
            times.append(stamp[0] - start)
        reader.stop()
        sim.stop()
        return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--apdus", type=int, default=50)
    parser.add_argument("--swipes", type=int, default=30)
    args = parser.parse_args()
    ms = lambda xs: round(statistics.median(xs) * 1000, 3)  # noqa: E731
    apdus = apdu_round_trips(args.apdus)
    out = {
        "apdu_ms_quickack": ms(apdus[True]),
        "apdu_ms_without_quickack": ms(apdus[False]),
        "swipe_to_event_ms": ms(swipe_to_event(args.swipes, False)),
        "swipe_to_event_ms_paced_9600": ms(swipe_to_event(max(5, args.swipes // 3), True)),
    }
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
