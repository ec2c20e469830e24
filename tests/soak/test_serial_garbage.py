"""Garbage serial frames: random bytes, bank card swipes and over-long or cut frames over a pty into the
real serial reader. No crash, no bank card number in any event or log line, and a good swipe still reads."""

from __future__ import annotations

import logging
import random
import time

from cardread.barcode import with_check_digit
from drivers.events import CardEvent, DeviceState, event_to_json
from drivers.serial_reader import SerialReader
from hw_sim import swipes
from hw_sim.serial_sim import SerialDeviceSim
from tests.eventlog import EventLog
from tests.soak.scale import scale

LOYALTY = with_check_digit("290000000001")
PANS = ("4111111111111111", "5555555555554444", "378282246310005", "6011111111111117", "2200000000000004",
        "3530111333300000")


def _frame(rng: random.Random, i: int) -> tuple[bytes, bool]:
    """One hostile frame and whether it ends with the terminator."""
    pan = rng.choice(PANS)
    kind = i % 8
    if kind == 0:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200))), True
    if kind == 1:
        return swipes.garbage(rng.randrange(1, 80), seed=i), True
    if kind == 2:
        return swipes.bank_swipe(pan).encode(), True
    if kind == 3:
        sep = rng.choice([" ", "-", ".", "_", ""])
        return sep.join(pan[j:j + 4] for j in range(0, len(pan), 4)).encode(), True
    if kind == 4:
        return f";{pan}={rng.randrange(10**12):012d}?".encode(), True
    if kind == 5:
        return bytes(rng.randrange(32, 127) for _ in range(rng.randrange(300, 3000))), True  # over-long
    if kind == 6:
        return swipes.bank_swipe(pan).encode()[: rng.randrange(5, 40)], False  # cut off: no terminator
    return bytes(rng.choice(b"0123456789;=?%^\r\n\x00\xff") for _ in range(rng.randrange(1, 60))), True


def test_garbage_frames_into_the_serial_reader(tmp_path, caplog):
    size = scale()
    rng = random.Random(1098)
    caplog.set_level(logging.DEBUG)
    sim = SerialDeviceSim("magstripe", tmp_path / "ttysoak").start()
    log = EventLog()
    reader = SerialReader(str(sim.link), log, role="magstripe", name="soak", frame_timeout=0.1)
    reader.start()
    started = time.monotonic()
    try:
        log.wait_for(lambda e: isinstance(e, DeviceState) and e.state == "connected")
        cut = 0
        for i in range(size.serial_frames):
            data, terminated = _frame(rng, i)
            sim.send(data, terminate=terminated)
            if terminated:
                time.sleep(0.003)  # a reader's bytes come no faster than this; the pty buffer is small
            else:
                cut += 1
                time.sleep(0.15)  # long enough for the reader to give the half frame up
            assert reader.is_alive(), f"the reader died on frame {i}"
        time.sleep(0.2)
        sim.send(b"")  # a bare terminator closes whatever is left
        time.sleep(0.2)
        sim.swipe(LOYALTY, "0001", with_lrc=True)
        good = log.wait_for(lambda e: isinstance(e, CardEvent) and e.read.ok, timeout=10)
        assert isinstance(good, CardEvent) and good.read.card_number == LOYALTY
    finally:
        reader.stop()
        sim.stop()
    assert not reader.is_alive()
    seen = "\n".join([repr(e) for e in log.events] + [repr(event_to_json(e)) for e in log.events] + [caplog.text])
    for pan in PANS:
        assert pan not in seen and pan[-8:] + "=" not in seen, "a bank card number surfaced"
    accepted = [e.read.card_number for e in log.events if isinstance(e, CardEvent) and e.read.ok]
    assert accepted == [LOYALTY], "garbage was taken for a card"
    print(f"\nsoak serial garbage: {size.serial_frames} frames ({cut} cut off), {len(log.events)} events,"
          f" {time.monotonic() - started:.1f} s")
