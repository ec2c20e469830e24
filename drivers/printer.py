"""The receipt printer named by a URL in config, opened with python-escpos.

    [printer]
    url = "tcp://192.168.1.50:9100"          # escpos Network (two-way: status readable)
    url = "serial:///dev/ttyS0?baudrate=38400" # escpos Serial (two-way)
    url = "usb://04b8:0202"                    # escpos Usb (needs pyusb)
    url = "file:///dev/usb/lp0"                # escpos File (one-way)
    url = "dummy://"                           # escpos Dummy: bytes kept in memory (tests)
    profile = "TM-T88V"                        # escpos capability profile: width, code pages, barcodes

escpos is imported only when a printer is opened (through `drivers.escpos_adapter`, the one module
that uses it): the CLI and the app start without it.
"""

from __future__ import annotations

import errno
import logging
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from drivers.errors import DeviceConfigError, DeviceError
from drivers.printer_status import UNKNOWN, PrinterStatus, query

log = logging.getLogger(__name__)

SCHEMES = ("tcp", "serial", "usb", "file", "dummy")
DEFAULT_PROFILE = "TM-T88V"


class PrinterError(DeviceError):
    """The printer could not be reached or stopped taking data; the message is for the cashier."""


@dataclass(frozen=True)
class PrinterUrl:
    scheme: str
    target: str = ""
    port: int = 9100
    options: dict[str, str] = field(default_factory=dict)

    @property
    def two_way(self) -> bool:
        """Transports where the till can read DLE EOT replies back."""
        return self.scheme in ("tcp", "serial")

    def __str__(self) -> str:
        if self.scheme == "tcp":
            return f"tcp://{self.target}:{self.port}"
        return f"{self.scheme}://{self.target}"


def parse_url(url: str) -> PrinterUrl:
    """Split a printer URL; bad ones get a message saying what a good one looks like."""
    text = (url or "").strip()
    if not text:
        raise DeviceConfigError("no printer configured: set [printer] url, e.g. tcp://192.168.1.50:9100")
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    options = dict(parse_qsl(parts.query))
    if scheme not in SCHEMES:
        raise DeviceConfigError(f"unknown printer URL {text!r}: use one of {', '.join(s + '://' for s in SCHEMES)}")
    if scheme == "tcp":
        if not parts.hostname:
            raise DeviceConfigError(f"printer URL {text!r} has no host (tcp://HOST:9100)")
        try:
            port = parts.port or 9100
        except ValueError as exc:
            raise DeviceConfigError(f"printer URL {text!r}: bad port") from exc
        return PrinterUrl("tcp", parts.hostname, port, options)
    if scheme == "usb":
        ids = (parts.netloc or parts.path.strip("/")).split(":")
        try:
            if len(ids) != 2:
                raise ValueError
            int(ids[0], 16), int(ids[1], 16)
        except ValueError as exc:
            raise DeviceConfigError(
                f"printer URL {text!r}: expected usb://VID:PID in hex, e.g. usb://04b8:0202") from exc
        return PrinterUrl("usb", f"{ids[0]}:{ids[1]}", options=options)
    if scheme in ("serial", "file"):
        path = parts.netloc + parts.path
        if not path:
            raise DeviceConfigError(f"printer URL {text!r} has no device path, e.g. {scheme}:///dev/ttyS0")
        return PrinterUrl(scheme, path, options=options)
    return PrinterUrl("dummy", options=options)


def check_profile(name: str | None) -> str:
    """The profile name (the default when empty), with a clear DeviceConfigError for a typo."""
    from drivers import escpos_adapter  # why: imports escpos (~150 ms), only once a printer is used

    name = name or DEFAULT_PROFILE
    escpos_adapter.profile(name)
    return name


class Printer:
    """An opened escpos printer and the few things the till does with it: send bytes, ask status."""

    def __init__(self, url: PrinterUrl, device: Any, send_errors: tuple[type[Exception], ...]) -> None:
        self.url, self.escpos, self._send_errors = url, device, send_errors

    @property
    def two_way(self) -> bool:
        return self.url.two_way

    def send(self, data: bytes) -> None:
        try:
            self.escpos.write_raw(data)
        except (OSError, AssertionError) as exc:  # socket, SerialException, USBError; escpos asserts an open device
            raise PrinterError(f"printer connection lost while printing ({self.url}): {_why(exc)}") from exc
        except self._send_errors as exc:  # a closed file raises ValueError
            raise PrinterError(f"printer stopped taking data ({self.url}): {_why(exc)}") from exc

    def status(self, timeout: float = 2.0, *, ask_usb: bool = False) -> PrinterStatus:
        """DLE EOT status where the transport reads back; UNKNOWN elsewhere (file, USB, dummy).

        `ask_usb`: ask a USB printer too, on its bulk IN endpoint (the Devices test does). Receipts
        never do: a USB printer without a status channel would look switched off and hold every receipt.
        """
        if not (self.two_way or (ask_usb and self.url.scheme == "usb")):
            return UNKNOWN
        try:
            return query(self.send, self._reader(), timeout)
        except OSError as exc:
            raise PrinterError(f"printer connection lost ({self.url}): {_why(exc)}") from exc

    def _reader(self) -> Callable[[float], bytes]:
        dev = self.escpos.device
        if self.url.scheme == "usb":
            in_ep = self.escpos.in_ep

            def read_usb(left: float) -> bytes:
                try:
                    return bytes(dev.read(in_ep, 16, max(1, int(left * 1000))))
                except OSError as exc:  # pyusb's USBTimeoutError (errno ETIMEDOUT): nothing came back in time
                    if exc.errno == errno.ETIMEDOUT:
                        return b""
                    raise
            return read_usb
        if self.url.scheme == "tcp":
            def read_sock(left: float) -> bytes:
                dev.settimeout(left)
                try:
                    data = dev.recv(16)
                except TimeoutError:
                    return b""
                if not data:
                    raise ConnectionResetError("the printer closed the connection")
                return data
            return read_sock

        def read_serial(left: float) -> bytes:
            dev.timeout = left
            return dev.read(max(1, dev.in_waiting))
        return read_serial

    @property
    def output(self) -> bytes:
        """What a dummy printer received."""
        return bytes(getattr(self.escpos, "output", b""))

    def close(self) -> None:
        try:
            self.escpos.close()
        except self._send_errors:  # the connection is already gone: nothing left to release
            log.debug("closing printer %s failed", self.url, exc_info=True)

    def __enter__(self) -> Printer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_printer(url: str, profile: str | None = None, *, timeout: float = 5.0, usb_backend: Any = None) -> Printer:
    """Open the printer at `url`; raises PrinterError with a cashier-readable reason if it cannot.

    `usb_backend`: a pyusb backend for usb:// (None: libusb), see `escpos_adapter.connect`."""
    from drivers import escpos_adapter  # why: imports escpos (~150 ms), only once a printer is used

    u = parse_url(url)
    prof = check_profile(profile)  # a typo in the profile name is a usage error, not "printer not reachable"
    try:
        dev = escpos_adapter.connect(u.scheme, u.target, u.port, u.options, prof, timeout, usb_backend=usb_backend)
    except RuntimeError as exc:  # escpos: optional dependency missing (pyusb for USB)
        raise PrinterError(f"cannot open printer {u}: {exc}") from exc
    except escpos_adapter.TRANSPORT_ERRORS as exc:
        raise PrinterError(f"printer not reachable at {u}: {_why(exc)}") from exc
    return Printer(u, dev, escpos_adapter.TRANSPORT_ERRORS)


def open_configured(config: Any, *, timeout: float | None = None) -> Printer:
    """The printer of the till's `[printer]` config section."""
    section = config.section("printer")
    return open_printer(str(section.get("url", "")), section.get("profile"),
                        timeout=float(timeout if timeout is not None else section.get("timeout", 5)))


def _why(exc: BaseException) -> str:
    root = exc.__cause__ or exc.__context__
    if isinstance(root, OSError) and not isinstance(exc, OSError):
        exc = root  # escpos wraps the socket/serial error in its own message
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    text = str(exc).strip().splitlines()
    reason = text[-1] if text else type(exc).__name__
    if isinstance(exc, socket.timeout | TimeoutError):
        return "timed out"
    return reason
