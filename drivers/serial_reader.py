"""Serial magstripe readers and barcode scanners through pyserial, as a reader thread.

`serial_for_url` means the config can name `/dev/ttyUSB0`, `/dev/serial/by-id/...`, `socket://host:port`
or `rfc2217://host:port`. The device sends frames ended by a terminator (CR by default; CRLF and
others configurable, as written in config: "\\r\\n"). Each frame is routed by shape with the core's
parsers and handed to `on_event` as a plain event.

Nothing here can crash the till: bytes that are not text, a frame cut short (no terminator within
`frame_timeout`), or a frame longer than `max_frame` become a ReaderError ("unreadable, swipe again").
When the port goes away (USB unplugged, pty closed) the thread reports `disconnected`, retries
opening with backoff and reports `connected` when the device is back. Frame contents are never
logged: a refused frame may be a bank card swipe.
"""

from __future__ import annotations

import codecs
import logging
import time
from collections.abc import Sequence

import serial
from tenacity import RetryCallState, retry_if_exception_type

from cardread.router import DEFAULT_LOYALTY_PREFIXES
from drivers.events import READER_ROLES, UNREADABLE, EventSink, ReaderError, event_from_frame
from drivers.reader_thread import ReaderThread

log = logging.getLogger(__name__)

ROLES = READER_ROLES
DEFAULT_MAX_FRAME = 512  # a 3-track swipe is under 230 characters; a 2D code for a loyalty card far less
# Opening a port that is not there: SerialException (an OSError) or OSError itself; ValueError for a URL or
# setting pyserial refuses.
OPEN_ERRORS = (serial.SerialException, OSError, ValueError)


def parse_terminator(value: str | bytes | None) -> bytes:
    """Accept b"\\r", "\\r" or the escaped text "\\\\r\\\\n" a TOML file gives; default CR."""
    if value is None or value == "" or value == b"":
        return b"\r"
    if isinstance(value, bytes):
        return value
    if "\\" in value:
        value = codecs.decode(value, "unicode_escape")
    return value.encode("latin-1")


def _decode(frame: bytes) -> str | None:
    """Frames are printable ASCII (plus STX/ETX or tabs some devices add); anything else is garbage."""
    try:
        text = frame.decode("ascii")
    except UnicodeDecodeError:
        return None
    if any((ord(c) < 0x20 and c not in "\x02\x03\t\n\r") or ord(c) == 0x7F for c in text):
        return None
    return text


class SerialReader(ReaderThread):
    """Read frames from one serial device until stopped; reconnect by itself."""

    def __init__(
        self,
        url: str,
        on_event: EventSink,
        *,
        role: str = "magstripe",
        name: str | None = None,
        baud: int = 9600,
        terminator: str | bytes | None = b"\r",
        max_frame: int = DEFAULT_MAX_FRAME,
        frame_timeout: float = 0.3,
        retry: tuple[float, float] = (0.05, 1.0),
        loyalty_prefixes: Sequence[str] = DEFAULT_LOYALTY_PREFIXES,
    ) -> None:
        if role not in ROLES:
            raise ValueError(f"serial reader role must be one of {', '.join(ROLES)}, not {role!r}")
        source = name or f"{role}@{url}"
        super().__init__(f"serial-{source}", on_event, retry)
        self.source = source
        self.url, self.role, self.baud = url, role, int(baud)
        self.terminator = parse_terminator(terminator)
        self.max_frame, self.frame_timeout = max_frame, frame_timeout
        self.loyalty_prefixes = tuple(loyalty_prefixes)

    def run(self) -> None:
        while not self._halt.is_set():
            port = self._open()
            if port is None:
                return
            self._state("connected", self.url)
            try:
                self._read_frames(port)
            except (serial.SerialException, OSError) as exc:
                log.info("%s: port lost: %s", self.source, _why(exc))
                self._state("disconnected", "device unplugged or port closed; reconnecting")
            finally:
                try:
                    port.close()
                except (serial.SerialException, OSError):
                    pass

    def _open(self) -> serial.Serial | None:
        """The port once it opens, each failure reported as a state; None when stopped first."""

        def failed(attempt: RetryCallState) -> None:
            exc = attempt.outcome.exception() if attempt.outcome is not None else None
            self._state("waiting" if self._last_state in (None, "waiting") else "disconnected",
                        _why(exc) if exc is not None else "")

        try:
            port: serial.Serial = self._reconnecting(retry_if_exception_type(OPEN_ERRORS), failed)(
                serial.serial_for_url, self.url, baudrate=self.baud, timeout=0.05)
        except OPEN_ERRORS:  # stopped while the device was away
            return None
        return port

    def _read_frames(self, port: serial.Serial) -> None:
        buf = bytearray()
        discarding = False  # inside an over-long frame: drop bytes until its terminator
        last_byte = time.monotonic()
        term = self.terminator
        while not self._halt.is_set():
            chunk = port.read(max(1, port.in_waiting))
            now = time.monotonic()
            if not chunk:
                if (buf or discarding) and now - last_byte > self.frame_timeout:
                    if buf:
                        self._emit(ReaderError(self.source, UNREADABLE))
                        log.info("%s: half frame of %d bytes dropped", self.source, len(buf))
                    buf.clear()
                    discarding = False
                continue
            last_byte = now
            buf += chunk
            while True:
                end = buf.find(term)
                if end < 0:
                    break
                frame = bytes(buf[:end])
                del buf[: end + len(term)]
                if discarding:
                    discarding = False
                    continue
                self._frame(frame)
            if len(buf) > self.max_frame:
                if not discarding:
                    self._emit(ReaderError(self.source, UNREADABLE))
                    log.info("%s: over-long frame dropped", self.source)
                discarding = True
                buf.clear()

    def _frame(self, frame: bytes) -> None:
        frame = frame.strip(b"\r\n")  # a CR-configured reader on a CRLF device, and vice versa
        if not frame:
            return
        if len(frame) > self.max_frame:
            self._emit(ReaderError(self.source, UNREADABLE))
            return
        text = _decode(frame)
        if text is None:
            log.info("%s: frame of %d bytes is not text", self.source, len(frame))
            self._emit(ReaderError(self.source, UNREADABLE))
            return
        event = event_from_frame(self.source, self.role, text, loyalty_prefixes=self.loyalty_prefixes)
        log.debug("%s: frame -> %s event", self.source, event.kind)
        self._emit(event)


def _why(exc: BaseException) -> str:
    """An exception message fit for a status line (pyserial repeats the errno text)."""
    return str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
