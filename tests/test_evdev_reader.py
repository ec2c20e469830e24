"""Issue 13: a keyboard-wedge scanner read as its own input device (evdev), so scans and typing never mix.

This machine has no /dev/input and no /dev/uinput, so the reader is fed the kernel's own record format
(`struct input_event`, codes from `evdev.ecodes`) through a FIFO at the configured path: the same
decoding, framing, routing and reconnecting as on a real node. Opening and grabbing a real event node
(EVIOCGRAB) is not exercised here; a character device that is not an input device is (refused, retried).
"""

from __future__ import annotations

import os
import queue
import struct
import time

import pytest
from evdev import ecodes as e

from cardread.barcode import with_check_digit
from drivers.errors import DeviceConfigError
from drivers.evdev_reader import EvdevReader, KeyDecoder
from drivers.events import CardEvent, DeviceState, ProductEvent, ReaderError
from drivers.readers import build_reader

# struct input_event on 64-bit Linux: struct timeval (two longs), __u16 type, __u16 code, __s32 value
RECORD = struct.Struct("@llHHi")
OIL = with_check_digit("400638133393")
CARD = with_check_digit("290000000001")
SHIFTED = {"%": e.KEY_5, "^": e.KEY_6, "?": e.KEY_SLASH, ":": e.KEY_SEMICOLON, "_": e.KEY_MINUS}
PLAIN = {";": e.KEY_SEMICOLON, "=": e.KEY_EQUAL, "-": e.KEY_MINUS, ".": e.KEY_DOT, "/": e.KEY_SLASH,
         " ": e.KEY_SPACE, "0": e.KEY_0}


def record(etype: int, code: int, value: int) -> bytes:
    now = time.time()
    return RECORD.pack(int(now), int(now % 1 * 1e6), etype, code, value)


def press(code: int, *, shift: bool = False) -> bytes:
    """One key stroke as a keyboard sends it: (shift down), key down, SYN, key up, SYN, (shift up)."""
    out = record(e.EV_KEY, e.KEY_LEFTSHIFT, 1) if shift else b""
    out += record(e.EV_MSC, e.MSC_SCAN, 0x70000 + code) + record(e.EV_KEY, code, 1) + record(e.EV_SYN, 0, 0)
    out += record(e.EV_KEY, code, 0) + record(e.EV_SYN, 0, 0)
    return out + (record(e.EV_KEY, e.KEY_LEFTSHIFT, 0) if shift else b"")


def strokes(text: str, *, enter: int | None = e.KEY_ENTER) -> bytes:
    """What a US-layout keyboard-wedge scanner sends for `text` (test side, written independently)."""
    out = b""
    for ch in text:
        if ch.isdigit() and ch != "0":
            out += press(e.KEY_1 + int(ch) - 1)
        elif ch.isalpha():
            out += press(e.ecodes[f"KEY_{ch.upper()}"], shift=ch.isupper())
        elif ch in SHIFTED:
            out += press(SHIFTED[ch], shift=True)
        else:
            out += press(PLAIN[ch])
    return out + (press(enter) if enter is not None else b"")


class Sink:
    def __init__(self) -> None:
        self.q: queue.Queue = queue.Queue()

    def __call__(self, event) -> None:
        self.q.put(event)

    def next(self, kind: type, timeout: float = 5.0):
        """The next event of `kind`, skipping others (states while waiting for a frame, and so on)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                event = self.q.get(timeout=0.05)
            except queue.Empty:
                continue
            if isinstance(event, kind):
                return event
        raise AssertionError(f"no {kind.__name__} within {timeout} s")

    def state(self, want: str, timeout: float = 5.0) -> DeviceState:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            event = self.next(DeviceState, max(0.05, deadline - time.monotonic()))
            if event.state == want:
                return event
        raise AssertionError(f"no {want!r} state")


@pytest.fixture
def fifo(tmp_path):
    path = tmp_path / "usb-Scanner-event-kbd"
    os.mkfifo(path)
    return path


def _writer(path):
    fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)  # the reader holds it open: no wait
    return fd


def test_decoder_shift_caps_keypad_and_frames():
    d = KeyDecoder()
    typed = []
    for chunk in (strokes("Ab-1"), strokes(";29=0?")):
        for i in range(0, len(chunk), RECORD.size):
            _, _, etype, code, value = RECORD.unpack(chunk[i:i + RECORD.size])
            if etype == e.EV_KEY:
                frame = d.key(code, value)
                if frame is not None:
                    typed.append(frame)
    assert [(f.text, f.ok) for f in typed] == [("Ab-1", True), (";29=0?", True)]
    for code in (e.KEY_CAPSLOCK, e.KEY_A, e.KEY_KP7, e.KEY_KPDOT, e.KEY_KP5):
        d.key(code, 1)
        d.key(code, 0)
    frame = d.key(e.KEY_KPENTER, 1)
    assert frame is not None and (frame.text, frame.ok) == ("A7.5", True)
    d.key(e.KEY_1, 1)
    d.key(e.KEY_F1, 1)  # a key no scanner data holds: the frame is unreadable, not half-read
    d.key(e.KEY_2, 1)
    frame = d.key(e.KEY_ENTER, 1)
    assert frame is not None and not frame.ok
    assert d.key(e.KEY_ENTER, 1) is None  # an empty frame is nothing
    d.key(e.KEY_3, 2)  # auto-repeat of a held key is not a second character
    d.key(e.KEY_3, 1)
    assert d.key(e.KEY_TAB, 1).text == "3"  # a scanner set to end reads with Tab


def test_scans_through_the_kernel_record_stream(fifo):
    sink = Sink()
    reader = build_reader(0, {"kind": "evdev", "path": str(fifo), "role": "barcode", "name": "wedge"}, sink)
    assert isinstance(reader, EvdevReader) and reader.source == "wedge"
    reader.start()
    try:
        sink.state("connected")
        fd = _writer(fifo)
        os.write(fd, strokes(OIL))
        assert sink.next(ProductEvent) == ProductEvent("wedge", OIL)
        os.write(fd, strokes(CARD))
        event = sink.next(CardEvent)
        assert event.read.ok and event.read.card_number == CARD
        os.write(fd, strokes(f";{CARD}=0000?"))  # a magstripe wedge's track 2, with shifted characters
        assert sink.next(CardEvent).read.card_number == CARD
        os.write(fd, strokes("%B4111111111111111^DOE/JOHN^2512?"))  # a bank card: refused, no number kept
        event = sink.next(CardEvent)
        assert event.read.payment_card and "4111111111111111" not in repr(event)
        os.write(fd, strokes("1234", enter=None))  # a read cut short: no Enter follows
        assert sink.next(ReaderError).message == "unreadable, scan again"
        os.close(fd)
    finally:
        reader.stop()
    assert not reader.is_alive()


def test_waits_for_the_device_and_reconnects_when_it_comes_back(tmp_path):
    path = tmp_path / "usb-Scanner-event-kbd"
    sink = Sink()
    reader = EvdevReader(str(path), sink, name="wedge", retry=(0.02, 0.1))
    reader.start()
    try:
        assert sink.state("waiting").detail  # says why (no such device yet)
        os.mkfifo(path)
        sink.state("connected")
        path.unlink()  # unplugged: the node goes away
        sink.state("disconnected")
        os.mkfifo(path)
        sink.state("connected")
        fd = _writer(path)
        os.write(fd, strokes(OIL))
        assert sink.next(ProductEvent).ean == OIL
        os.close(fd)
    finally:
        reader.stop()


def test_a_character_device_that_is_not_an_input_device_is_refused_and_retried():
    sink = Sink()
    reader = EvdevReader("/dev/null", sink, retry=(0.02, 0.1))
    reader.start()
    try:
        state = sink.state("waiting")
        assert "not an input device" in state.detail
    finally:
        reader.stop()


def test_evdev_config_is_checked():
    sink = Sink()
    with pytest.raises(DeviceConfigError, match="needs a path"):
        build_reader(0, {"kind": "evdev"}, sink)
    with pytest.raises(DeviceConfigError, match="unknown setting"):
        build_reader(0, {"kind": "evdev", "path": "/dev/input/x", "url": "y"}, sink)
    with pytest.raises(DeviceConfigError, match="role"):
        build_reader(0, {"kind": "evdev", "path": "/dev/input/x", "role": "printer"}, sink)
    with pytest.raises(DeviceConfigError, match="grab"):
        build_reader(0, {"kind": "evdev", "path": "/dev/input/x", "grab": "yes"}, sink)
    reader = build_reader(0, {"kind": "evdev", "path": "/dev/input/by-id/usb-X-event-kbd"}, sink)
    assert reader.source == "barcode@/dev/input/by-id/usb-X-event-kbd" and reader.grab
