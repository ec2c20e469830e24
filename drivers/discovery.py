"""What is plugged into this till: serial ports, PC/SC readers, USB printers, network printers.

The Devices screen and `pos-client devices list` show these so a manager picks a device for each
role instead of typing paths. Each device carries its *stable* identity, the one saved to config:
a `/dev/serial/by-id/...` link rather than `/dev/ttyUSB0` (which changes with the plug order), a
USB printer's vendor:product ids, a PC/SC reader's name. Nothing here opens a device for reading;
a part that cannot be asked (no pcscd, no libusb, no permission on the USB bus) becomes a note,
never an error, so the list shows what it can.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import serial.tools.list_ports

BY_ID_DIR = Path("/dev/serial/by-id")
BY_ID_ENV = "POS_SERIAL_BY_ID_DIR"  # another by-id directory: a test rig, a distribution that moved it
PRINTER_CLASS = 7
# USB vendors whose receipt printers often report a vendor class (0xFF) instead of the printer class.
PRINTER_VENDORS = {0x04B8: "Epson", 0x0519: "Star Micronics", 0x1504: "Bixolon", 0x0FE6: "Xprinter (ICS)",
                   0x0483: "Xprinter/Rongta (STM32)", 0x0416: "Winbond (Xprinter, Rongta)", 0x154F: "SNBC",
                   0x0DD4: "Custom", 0x20D1: "Rongta", 0x1D90: "Citizen"}


@dataclass(frozen=True)
class SerialPort:
    """A serial port now; `stable` is what to save (its by-id link when it has one)."""

    device: str
    stable: str
    vid: int | None = None
    pid: int | None = None
    serial_number: str | None = None
    manufacturer: str | None = None
    description: str = ""

    @property
    def usb_ids(self) -> str:
        return f"{self.vid:04x}:{self.pid:04x}" if self.vid is not None and self.pid is not None else ""

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "usb_ids": self.usb_ids}


@dataclass(frozen=True)
class UsbPrinter:
    """A USB device that is a printer by class, or by a receipt-printer vendor id."""

    vid: int
    pid: int
    manufacturer: str = ""
    product: str = ""
    serial_number: str = ""
    bus: int | None = None
    address: int | None = None

    @property
    def url(self) -> str:
        return f"usb://{self.vid:04x}:{self.pid:04x}"

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "url": self.url}


@dataclass(frozen=True)
class NetworkPrinter:
    """A raw TCP (port 9100) printer from config or given by hand; `reachable` None when not probed."""

    host: str
    port: int = 9100
    reachable: bool | None = None

    @property
    def url(self) -> str:
        return f"tcp://{self.host}:{self.port}"

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "url": self.url}


@dataclass
class Found:
    """Everything found, and a note for each part that could not be asked."""

    serial: list[SerialPort] = field(default_factory=list)
    pcsc: list[str] = field(default_factory=list)
    usb_printers: list[UsbPrinter] = field(default_factory=list)
    network_printers: list[NetworkPrinter] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"serial": [p.as_dict() for p in self.serial], "pcsc": list(self.pcsc),
                "usb_printers": [p.as_dict() for p in self.usb_printers],
                "network_printers": [p.as_dict() for p in self.network_printers], "notes": list(self.notes)}


def by_id_dir(given: str | os.PathLike[str] | None = None) -> Path:
    """The directory of stable serial links: `given`, else $POS_SERIAL_BY_ID_DIR, else /dev/serial/by-id."""
    return Path(given or os.environ.get(BY_ID_ENV) or BY_ID_DIR)


def by_id_links(directory: Path) -> dict[str, str]:
    """{real device path: by-id link} for the links in `directory` (none when it does not exist)."""
    try:
        entries = sorted(directory.iterdir())
    except OSError:  # no USB serial device plugged in since boot: udev has not made the directory
        return {}
    return {os.path.realpath(link): str(link) for link in entries if link.is_symlink()}


def stable_path(device: str, directory: Path | None = None) -> str:
    """The by-id link for `device` (a /dev/tty* path or any link to it); the path itself when it has none."""
    directory = directory or by_id_dir()
    if Path(device).parent == directory:
        return device
    return by_id_links(directory).get(os.path.realpath(device), device)


def list_serial_ports(directory: Path | None = None) -> list[SerialPort]:
    """pyserial's ports (USB ids, serial number) and any by-id link's port it did not list; USB first."""
    directory = directory or by_id_dir()
    links = by_id_links(directory)
    ports: dict[str, SerialPort] = {}
    for info in serial.tools.list_ports.comports():
        real = os.path.realpath(info.device)
        ports[real] = SerialPort(info.device, links.get(real, info.device), info.vid, info.pid,
                                 info.serial_number, info.manufacturer,
                                 "" if info.description == "n/a" else str(info.description or ""))
    for real, link in links.items():  # a port pyserial skips (a pty, a platform driver) still has its link
        if real not in ports and os.path.exists(real):
            ports[real] = SerialPort(real, link, description=Path(link).name)
    return sorted(ports.values(), key=lambda p: (p.vid is None, p.stable == p.device, p.stable))


def list_pcsc_readers() -> tuple[list[str], str | None]:
    """PC/SC reader names, and a note when pcscd or pyscard cannot be asked."""
    try:
        from smartcard import scard  # why: heavy, and libpcsclite may be missing (then a note, not a crash)
    except (ImportError, OSError) as exc:
        return [], f"PC/SC unavailable: {exc}"
    hr, ctx = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
    if hr != scard.SCARD_S_SUCCESS:
        return [], "PC/SC service (pcscd) not running"
    try:
        hr, names = scard.SCardListReaders(ctx, [])
    finally:
        scard.SCardReleaseContext(ctx)
    if hr == scard.SCARD_E_NO_READERS_AVAILABLE:
        return [], None
    if hr != scard.SCARD_S_SUCCESS:
        return [], f"PC/SC readers could not be listed: {scard.SCardGetErrorMessage(hr)}"
    return [str(n) for n in names], None


def _is_printer(dev: Any) -> bool:
    if dev.bDeviceClass == PRINTER_CLASS or dev.idVendor in PRINTER_VENDORS:
        return True
    return any(intf.bInterfaceClass == PRINTER_CLASS for cfg in dev for intf in cfg)


def _string(dev: Any, index: int) -> str:
    """A descriptor string; empty when the device cannot be opened to read it (no permission)."""
    if not index:
        return ""
    try:
        import usb.util  # why: pyusb, only once USB is asked about (installed with the till)

        return str(usb.util.get_string(dev, index) or "")
    except (OSError, ValueError, NotImplementedError):  # USBError: access denied; ValueError: no langid
        return ""


def list_usb_printers(backend: Any = None) -> tuple[list[UsbPrinter], str | None]:
    """USB printers (class 7 or a receipt-printer vendor) and a note when the USB bus cannot be read.

    `backend`: a pyusb backend (tests pass `hw_sim.usb_printer.SimUsbBus`); None lets pyusb find libusb.
    """
    try:
        import usb.core  # why: pyusb, only once USB is asked about

        devices = list(usb.core.find(find_all=True, backend=backend))
    except ImportError:
        return [], "USB printers cannot be listed: pyusb is not installed"
    except usb.core.NoBackendError:
        return [], "USB printers cannot be listed: libusb is not installed"
    except OSError as exc:  # USBError: the bus cannot be read (no /dev/bus/usb in a container, no permission)
        return [], f"USB printers cannot be listed: {exc.strerror or exc}"
    found = []
    for dev in devices:
        try:
            if not _is_printer(dev):
                continue
        except (OSError, NotImplementedError):  # a configuration descriptor that cannot be read
            continue
        found.append(UsbPrinter(int(dev.idVendor), int(dev.idProduct), _string(dev, dev.iManufacturer),
                                _string(dev, dev.iProduct), _string(dev, dev.iSerialNumber), dev.bus, dev.address))
    note = None if devices or Path("/dev/bus/usb").exists() or backend is not None else \
        "no USB bus visible here (/dev/bus/usb missing)"
    return found, note


def probe_tcp(host: str, port: int = 9100, timeout: float = 0.5) -> bool:
    """Whether something accepts a connection at host:port (a quick look: the connection is closed at once)."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def network_printers(urls: Iterable[str], *, probe: bool = False, timeout: float = 0.5) -> list[NetworkPrinter]:
    """The tcp:// printers among `urls` (config, or given by hand), each probed when asked."""
    out: list[NetworkPrinter] = []
    for url in urls:
        host, _, port = url.removeprefix("tcp://").partition(":")
        if not url.startswith("tcp://") or not host:
            continue
        number = int(port.split("/")[0] or 9100)
        out.append(NetworkPrinter(host, number, probe_tcp(host, number, timeout) if probe else None))
    return out


def discover(*, printer_urls: Iterable[str] = (), probe: bool = False, by_id: Path | None = None,
             usb_backend: Any = None) -> Found:
    """Everything at once, for the Devices screen and `devices list`."""
    found = Found(serial=list_serial_ports(by_id), network_printers=network_printers(printer_urls, probe=probe))
    found.pcsc, note = list_pcsc_readers()
    found.notes += [note] if note else []
    found.usb_printers, note = list_usb_printers(usb_backend)
    found.notes += [note] if note else []
    return found
