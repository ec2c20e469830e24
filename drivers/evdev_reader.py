"""A keyboard-wedge scanner read as its own input device (Linux evdev), so its scans never mix with typing.

A USB barcode scanner or magstripe reader in keyboard mode is a keyboard to the kernel: its keys reach
whatever has the focus, and the app can tell them from a person's only by their speed. Read through its
own event node (`/dev/input/by-id/usb-...-event-kbd`) with python-evdev and grabbed (EVIOCGRAB), its keys
reach this reader alone: the terminal never sees them, and a fast typist is never taken for a scan.

    [devices]
    readers = [ { kind = "evdev", path = "/dev/input/by-id/usb-Honeywell-event-kbd", role = "barcode" } ]

`grab` (default true) takes the device for this reader alone; `role` is "barcode" (cards and products,
routed like a serial scanner's frames) or "magstripe". Keys are decoded with a US layout (what scanners
send by default), Shift and Caps Lock applied, keypad included; Enter (or Tab, a common suffix) ends a
read. A read cut short (no Enter within `frame_timeout`), longer than `max_frame` or holding a key that no
scan holds becomes a ReaderError. When the node goes away (unplugged) the thread says `disconnected`,
reopens it with backoff (`reader_thread.ReaderThread`) and says `connected` again.

A FIFO at `path` is read as the same stream of `struct input_event` records, never grabbed: that is how
simulators and tests feed it on a machine without /dev/input. Key data is never logged: a refused read
may be a bank card swipe.
"""

from __future__ import annotations

import errno
import logging
import os
import select
import stat
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from evdev import InputDevice, InputEvent
from evdev import ecodes as e
from evdev.eventio import EventIO
from tenacity import RetryCallState, retry_if_exception_type

from cardread.router import DEFAULT_LOYALTY_PREFIXES
from drivers.events import EventSink, ReaderError, event_from_frame
from drivers.reader_thread import ReaderThread

log = logging.getLogger(__name__)

UNREADABLE_SCAN = "unreadable, scan again"
DEFAULT_MAX_FRAME = 512
_DOWN, _REPEAT = 1, 2

# US layout: key code -> (plain, shifted). Letters are handled apart (Shift xor Caps Lock).
_KEYS: dict[int, tuple[str, str]] = {
    **{e.ecodes[f"KEY_{d}"]: (str(d), s) for d, s in zip(range(10), ")!@#$%^&*(", strict=True)},
    e.KEY_MINUS: ("-", "_"), e.KEY_EQUAL: ("=", "+"), e.KEY_LEFTBRACE: ("[", "{"), e.KEY_RIGHTBRACE: ("]", "}"),
    e.KEY_SEMICOLON: (";", ":"), e.KEY_APOSTROPHE: ("'", '"'), e.KEY_GRAVE: ("`", "~"),
    e.KEY_BACKSLASH: ("\\", "|"), e.KEY_COMMA: (",", "<"), e.KEY_DOT: (".", ">"), e.KEY_SLASH: ("/", "?"),
    e.KEY_SPACE: (" ", " "),
    **{e.ecodes[f"KEY_KP{d}"]: (str(d), str(d)) for d in range(10)},
    e.KEY_KPDOT: (".", "."), e.KEY_KPMINUS: ("-", "-"), e.KEY_KPPLUS: ("+", "+"), e.KEY_KPASTERISK: ("*", "*"),
    e.KEY_KPSLASH: ("/", "/"),
}
_LETTERS: dict[int, str] = {e.ecodes[f"KEY_{c}"]: c.lower() for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ"}
_SHIFTS = frozenset({e.KEY_LEFTSHIFT, e.KEY_RIGHTSHIFT})
_CTRLS = frozenset({e.KEY_LEFTCTRL, e.KEY_RIGHTCTRL})
_IGNORED = frozenset({e.KEY_LEFTALT, e.KEY_RIGHTALT, e.KEY_LEFTMETA, e.KEY_RIGHTMETA, e.KEY_NUMLOCK})
_ENDS = frozenset({e.KEY_ENTER, e.KEY_KPENTER, e.KEY_TAB})


@dataclass(frozen=True)
class Frame:
    """One read: its text, or `ok=False` when a key no scan holds came in (the text is then dropped)."""

    text: str
    ok: bool = True


@dataclass
class KeyDecoder:
    """Key events (code, value) -> characters -> a Frame on Enter. Pure: no device, no clock."""

    max_frame: int = DEFAULT_MAX_FRAME
    _chars: list[str] = field(default_factory=list, repr=False)
    _shift: set[int] = field(default_factory=set, repr=False)
    _ctrl: set[int] = field(default_factory=set, repr=False)
    _caps: bool = False
    _garbled: bool = False

    @property
    def pending(self) -> bool:
        """Keys are waiting for their Enter."""
        return bool(self._chars) or self._garbled

    def reset(self) -> None:
        self._chars.clear()
        self._garbled = False

    def key(self, code: int, value: int) -> Frame | None:
        """One EV_KEY event (value 1 down, 0 up, 2 auto-repeat); a Frame when it ended a non-empty read."""
        if code in _SHIFTS or code in _CTRLS:
            held = self._shift if code in _SHIFTS else self._ctrl
            if value:
                held.add(code)
            else:
                held.discard(code)
            return None
        if value != _DOWN:  # key up, and auto-repeat (a scanner never holds a key)
            return None
        if code == e.KEY_CAPSLOCK:
            self._caps = not self._caps
            return None
        if code in _ENDS:
            frame = Frame("".join(self._chars), not self._garbled) if self.pending else None
            self.reset()
            return frame
        self._add(code)
        return None

    def _add(self, code: int) -> None:
        if code in _IGNORED:
            return
        shifted = bool(self._shift)
        if code in _LETTERS:
            char = _LETTERS[code].upper() if shifted != self._caps else _LETTERS[code]
            if self._ctrl:  # Ctrl+B / Ctrl+C: the STX/ETX some scanners frame reads with, dropped on routing
                char = chr(ord(char.upper()) - 64)
        elif code in _KEYS:
            char = _KEYS[code][1 if shifted else 0]
        else:
            self._garbled = True
            return
        if len(self._chars) >= self.max_frame:
            self._garbled = True
            return
        self._chars.append(char)


class EventSource(Protocol):
    """What the reader reads: an evdev InputDevice, or the same records from a FIFO."""

    def fileno(self) -> int: ...

    def read(self) -> Iterable[InputEvent]: ...

    def close(self) -> None: ...


class _EventPipe(EventIO):
    """`struct input_event` records from a FIFO, decoded by python-evdev's own reader (simulators, tests).

    Opened read-write so it never blocks for a writer and never reads end-of-file between writers.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self.fd = os.open(path, os.O_RDWR | os.O_NONBLOCK)

    def close(self) -> None:
        if self.fd > -1:
            os.close(self.fd)
            self.fd = -1


def open_node(path: str, grab: bool = True) -> EventSource:
    """The event node at `path`, grabbed; OSError when it is missing, busy or not an input device."""
    mode = os.stat(path).st_mode
    if stat.S_ISFIFO(mode):
        return _EventPipe(path)
    if not stat.S_ISCHR(mode):
        raise OSError(errno.ENODEV, f"{path} is not an input device")
    try:
        device = InputDevice(path)
    except OSError as exc:
        if exc.errno in (errno.ENOTTY, errno.EINVAL):
            raise OSError(errno.ENODEV, f"{path} is not an input device (evdev)") from None
        raise
    if grab:
        try:
            device.grab()
        except OSError:
            device.close()
            raise
    return device


def _same_node(path: str, fd: int) -> bool:
    """The path still names the node this reader has open (unplugged: it is gone or another one)."""
    try:
        now = os.stat(path)
    except OSError:
        return False
    held = os.fstat(fd)
    return (now.st_ino, now.st_dev, now.st_rdev) == (held.st_ino, held.st_dev, held.st_rdev)


class EvdevReader(ReaderThread):
    """Read one keyboard-wedge device through its event node until stopped; reconnect by itself."""

    def __init__(
        self,
        path: str,
        on_event: EventSink,
        *,
        role: str = "barcode",
        name: str | None = None,
        grab: bool = True,
        max_frame: int = DEFAULT_MAX_FRAME,
        frame_timeout: float = 0.3,
        retry: tuple[float, float] = (0.05, 1.0),
        loyalty_prefixes: Sequence[str] = DEFAULT_LOYALTY_PREFIXES,
    ) -> None:
        source = name or f"{role}@{path}"
        super().__init__(f"evdev-{source}", on_event, retry)
        self.source = source
        self.path, self.role, self.grab = path, role, grab
        self.max_frame, self.frame_timeout = max_frame, frame_timeout
        self.loyalty_prefixes = tuple(loyalty_prefixes)

    def run(self) -> None:
        while not self._halt.is_set():
            device = self._open()
            if device is None:
                return
            self._state("connected", self.path)
            try:
                self._read_keys(device)
            except OSError as exc:
                log.info("%s: device lost: %s", self.source, _why(exc))
                self._state("disconnected", "device unplugged; reconnecting")
            finally:
                try:
                    device.close()
                except OSError:
                    pass

    def _open(self) -> EventSource | None:
        """The node once it opens (and is grabbed), each failure reported as a state; None when stopped first."""

        def failed(attempt: RetryCallState) -> None:
            exc = attempt.outcome.exception() if attempt.outcome is not None else None
            self._state("waiting" if self._last_state in (None, "waiting") else "disconnected",
                        _why(exc) if exc is not None else "")

        try:
            device: EventSource = self._reconnecting(retry_if_exception_type(OSError), failed)(
                open_node, self.path, self.grab)
        except OSError:  # stopped while the device was away
            return None
        return device

    def _read_keys(self, device: EventSource) -> None:
        decoder = KeyDecoder(self.max_frame)
        last_key = checked = time.monotonic()
        while not self._halt.is_set():
            ready, _, _ = select.select([device.fileno()], [], [], 0.05)
            now = time.monotonic()
            if not ready:
                if decoder.pending and now - last_key > self.frame_timeout:
                    decoder.reset()
                    self._emit(ReaderError(self.source, UNREADABLE_SCAN))
                if now - checked > 0.25:
                    checked = now
                    if not _same_node(self.path, device.fileno()):
                        raise OSError(errno.ENODEV, "the device node went away")
                continue
            last_key = now
            try:
                events = list(device.read())
            except BlockingIOError:
                continue
            for event in events:
                if event.type == e.EV_KEY:
                    frame = decoder.key(event.code, event.value)
                    if frame is not None:
                        self._frame(frame)

    def _frame(self, frame: Frame) -> None:
        if not frame.ok:
            log.info("%s: read with a key no scan holds dropped", self.source)
            self._emit(ReaderError(self.source, UNREADABLE_SCAN))
            return
        event = event_from_frame(self.source, self.role, frame.text, loyalty_prefixes=self.loyalty_prefixes)
        log.debug("%s: read -> %s event", self.source, event.kind)
        self._emit(event)


def _why(exc: BaseException) -> str:
    """An exception message fit for a status line."""
    return (exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc) or type(exc).__name__)[:200]
