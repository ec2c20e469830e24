"""python-escpos behind one module: the only code that imports escpos, and only its public API.

escpos is heavy (~150 ms to import): the renderer and the printer module import this module
inside their functions, so the CLI and the app start without it.

Used as published: the capability profiles (`escpos.capabilities`: columns, code pages, features,
paper width), the printer classes (Network, Serial, Usb, File: open, close, `device`, is_online,
paper_status), and on a receipt Escpos.hw("INIT"), charcode (ESC t), text and ln (through the
magic encoder, the code page forced), set (bold, underline, alignment; `custom_size` for GS ! n,
which leaves bold alone), qr(native=True), image(), cut() and the static check_barcode.

The magic encoder is handed our `Encoder` subclass (MagicEncode takes one): Python's codec for the
code page the renderer chose, with the renderer's fallback for a character the page lacks (ő -> o;
python-escpos would print '?'). escpos' tables and Python's codecs agree on every character of the
pages the renderer picks (CP858, CP1252, ISO-8859-15, CP850, CP437), and Python's are ~4x faster.

Gaps in the public API, written as raw bytes through `_raw`, the transport hook python-escpos
documents for its subclasses (called by `write_raw` on our subclasses below, nowhere else):
1. Sending bytes already rendered (a queued receipt, the DLE EOT status requests): escpos has no
   public "send these bytes as they are".
2. Native barcodes (GS k): `barcode()` print()s "Using hardware barcode renderer" to stdout, which
   under Textual is the till's screen. The bytes `barcode()` would send for a hardware barcode
   (ESC a 1, GS h, GS w, GS f, GS H, GS k; values from escpos.constants) are written here, after
   the public `check_barcode`.
3. GS v 0 raster images on a profile whose paper width is not a number ("Unknown" in `default`
   and `simple`, None in TUP500): `image()` then print()s a warning to stdout (or fails on None).
   The same GS v 0 bytes are written here, from the public `EscposImage`.
Status replies are read from the public `device` (socket or pyserial port) rather than with
`query_status()`, which reads one 16-byte chunk and cannot skip XON/XOFF or automatic status bytes.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from escpos.capabilities import CAPABILITIES
from escpos.capabilities import get_profile as escpos_profile
from escpos.constants import (
    BARCODE_FONT_A,
    BARCODE_HEIGHT,
    BARCODE_TXT_BLW,
    BARCODE_TYPES,
    BARCODE_WIDTH,
    GS,
    NUL,
    TXT_STYLE,
)
from escpos.escpos import Escpos
from escpos.exceptions import Error as EscposError
from escpos.image import EscposImage
from escpos.magicencode import Encoder
from escpos.printer import Dummy, File, Network, Serial, Usb

from drivers.errors import DeviceConfigError

IMAGE_IMPLS = ("bitImageRaster", "graphics", "bitImageColumn")  # best first: GS v 0 is the most widely supported
BARCODE_HEIGHT_DOTS = 64
# What opening a printer or writing to it raises: escpos' own errors (DeviceNotFoundError wraps the
# socket/serial error), OSError (pyserial's SerialException and pyusb's USBError are OSErrors), ValueError
# (a bad serial setting, a write to a closed file) and AssertionError (escpos asserts a device is open).
TRANSPORT_ERRORS: tuple[type[Exception], ...] = (EscposError, OSError, ValueError, AssertionError)


@dataclass(frozen=True)
class Profile:
    """What the till needs of an escpos capability profile, read once per name."""

    name: str
    columns: int  # characters per line in font A
    code_pages: Mapping[str, int]  # code page name -> ESC t number
    features: frozenset[str]
    dots: int | None  # paper width in dots; None when the profile does not say

    def supports(self, feature: str) -> bool:
        return feature in self.features

    @property
    def image_impl(self) -> str | None:
        """The image command this printer has, best first; None when it prints no images."""
        return next((impl for impl in IMAGE_IMPLS if impl in self.features), None)


def profile_names() -> list[str]:
    return sorted(CAPABILITIES["profiles"])


@functools.cache
def profile(name: str) -> Profile:
    """The profile by name; a clear DeviceConfigError for a typo."""
    if name not in CAPABILITIES["profiles"]:
        raise DeviceConfigError(f"unknown printer profile {name!r}; known: {', '.join(profile_names())}")
    p = escpos_profile(name)
    try:
        dots: int | None = int(p.profile_data["media"]["width"]["pixels"])
    except (KeyError, TypeError, ValueError):
        dots = None
    return Profile(name, int(p.get_columns(0)), {k: int(v) for k, v in p.get_code_pages().items()},
                   frozenset(f for f in p.profile_data.get("features", {}) if p.supports(f)), dots)


class _RawWrite(Escpos):
    """Mixed into the printer classes: the one caller of the `_raw` hook (the gaps of the module docstring)."""

    def write_raw(self, data: bytes) -> None:
        self._raw(data)


class NetworkPrinter(_RawWrite, Network):
    """tcp://: escpos' Network printer (two-way: status readable)."""


class SerialPrinter(_RawWrite, Serial):
    """serial://: escpos' Serial printer (two-way)."""


class UsbPrinter(_RawWrite, Usb):
    """usb://: escpos' Usb printer (needs pyusb; status read back only when asked, see drivers.printer)."""


class FilePrinter(_RawWrite, File):
    """file://: escpos' File printer, a device node such as /dev/usb/lp0 (one-way)."""


class MemoryPrinter(_RawWrite, Dummy):
    """Bytes kept in memory: a receipt being rendered, the `dummy://` printer (tests, demos)."""


def _bool(value: str | None, default: bool) -> bool:
    return default if value is None else value.lower() in ("1", "true", "yes", "on")


def connect(scheme: str, target: str, port: int, options: Mapping[str, str], profile_name: str,
            timeout: float, *, usb_backend: Any = None) -> Any:
    """An opened printer for a parsed URL; raises one of TRANSPORT_ERRORS (or RuntimeError: pyusb missing).

    `usb_backend` is a pyusb backend (`usb.backend.IBackend`) for usb://, passed through escpos' public
    `usb_args` to `usb.core.find`; None lets pyusb pick libusb. Endpoints default to escpos' (OUT 0x01,
    IN 0x82); `?out_ep=0x03&in_ep=0x81` for printers that differ.
    """
    o = options
    timeout = float(o.get("timeout", timeout))
    dev: Any
    if scheme == "tcp":
        dev = NetworkPrinter(target, port, timeout=timeout, profile=profile_name)
    elif scheme == "serial":
        dev = SerialPrinter(target, baudrate=int(o.get("baudrate", 9600)), bytesize=int(o.get("bytesize", 8)),
                            timeout=timeout, parity=o.get("parity"),
                            stopbits=int(o["stopbits"]) if "stopbits" in o else None,
                            xonxoff=_bool(o.get("xonxoff"), False), dsrdtr=_bool(o.get("dsrdtr"), True),
                            profile=profile_name)
    elif scheme == "usb":
        if not Usb.is_usable():  # checked first: a half-built Usb object raises again in __del__
            raise RuntimeError("USB printers need the pyusb package (pip install pyusb) and libusb")
        vid, pid = (int(x, 16) for x in target.split(":"))
        usb_args: dict[str, Any] = {} if usb_backend is None else {"backend": usb_backend}
        dev = UsbPrinter(vid, pid, usb_args=usb_args, timeout=int(timeout * 1000), profile=profile_name,
                         in_ep=int(o.get("in_ep", "0x82"), 0), out_ep=int(o.get("out_ep", "0x01"), 0))
    elif scheme == "file":
        dev = FilePrinter(target, profile=profile_name)
    else:
        dev = MemoryPrinter(profile=profile_name)
    dev.open()
    if scheme == "serial":  # escpos sets no write timeout: a printer holding DSR low would block forever
        dev.device.write_timeout = timeout
    return dev


class _TillEncoder(Encoder):
    """The magic encoder's encoder: Python's codec for the chosen page and the renderer's fallback."""

    def __init__(self, code_pages: Mapping[str, int], encode_text: Callable[[str, str], bytes]) -> None:
        super().__init__(code_pages)
        self.encode_text = encode_text
        self.codecs: dict[str, str] = {}

    def encode(self, text: str, encoding: str, defaultchar: str = "?") -> bytes:
        codec = self.codecs.get(encoding)
        if codec is None:  # a page the renderer did not choose: escpos' own table
            return bytes(super().encode(text, encoding, defaultchar))
        return self.encode_text(text, codec)


class Ticket:
    """One receipt built in memory: the public Escpos methods, and the listed gaps through `write_raw`."""

    def __init__(self, profile_name: str, encode_text: Callable[[str, str], bytes]) -> None:
        self.profile = profile(profile_name)
        self._encoder = _TillEncoder(self.profile.code_pages, encode_text)
        self._p = MemoryPrinter(profile=profile_name, magic_encode_args={"encoder": self._encoder})

    @property
    def output(self) -> bytes:
        return bytes(self._p.output)

    def init(self) -> None:
        self._p.hw("INIT")

    def code_page(self, name: str, codec: str) -> None:
        """ESC t for the whole receipt; text is then encoded with Python's `codec`."""
        self._encoder.codecs[name] = codec
        self._p.charcode(name)

    def text(self, text: str) -> None:
        self._p.text(text)

    def feed(self, lines: int = 1) -> None:
        if lines > 0:
            self._p.ln(lines)

    def style(self, *, size: tuple[bool, bool] | None = None, bold: bool | None = None,
              underline: bool | None = None, align: str | None = None) -> None:
        """Only what is given is sent; size is (double width, double height) as GS ! n."""
        width, height = (2 if size[0] else 1, 2 if size[1] else 1) if size is not None else (None, None)
        self._p.set(custom_size=size is not None, width=width, height=height, bold=bold,
                    underline=None if underline is None else int(underline), align=align)

    def qr(self, data: str, size: int) -> None:
        """A native QR code (GS ( k), module size 1-16 dots."""
        self._p.qr(data, native=True, size=size)

    def barcode_function(self, symbology: str, data: str) -> str | None:
        """The GS k function ("A" or "B") this printer has for the symbology and data; None when it has none."""
        for function in ("B", "A"):
            if (self.profile.supports(f"barcode{function}") and symbology in BARCODE_TYPES[function]
                    and Escpos.check_barcode(symbology, data)):
                return function
        return None

    def barcode(self, data: str, symbology: str, *, module_width: int, function: str) -> None:
        """GS k, centred, text below in font A (gap 2): the bytes of escpos' `barcode()` without its print()."""
        out = (TXT_STYLE["align"]["center"] + BARCODE_HEIGHT + bytes([BARCODE_HEIGHT_DOTS]) + BARCODE_WIDTH
               + bytes([module_width]) + BARCODE_FONT_A + BARCODE_TXT_BLW + BARCODE_TYPES[function][symbology])
        out += (bytes([len(data)]) + data.encode()) if function == "B" else (data.encode() + NUL)
        self._p.write_raw(out)

    def image(self, img: Any) -> bool:
        """A 1-bit image at the current alignment; False when the printer has no image command."""
        impl = self.profile.image_impl
        if impl is None:
            return False
        if self.profile.dots is None:  # gap 3: image() would print() a warning
            if impl != "bitImageRaster":
                return False
            im = EscposImage(img)
            self._p.write_raw(GS + b"v0\x00" + im.width_bytes.to_bytes(2, "little") + im.height.to_bytes(2, "little")
                              + im.to_raster_format())
        else:
            self._p.image(img, impl=impl, center=False)
        return True

    def cut(self) -> None:
        """Feed past the cutter and cut: partial where the printer can."""
        self._p.cut(mode="PART" if self.profile.supports("paperPartCut") else "FULL")
