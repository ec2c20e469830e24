"""Receipt blocks to ESC/POS bytes for one printer capability profile (through `drivers.escpos_adapter`).

Small on the wire (a 9600 baud serial printer moves ~960 bytes/s): one ESC t for the whole
receipt, style commands only when the style changes, native barcodes and QR codes when the
profile has them (GS k / GS ( k), raster images (GS v 0) only as a fallback.

Accents: the code page is the first of CP858, CP1252, ISO-8859-15, CP850 that the profile
supports and that encodes the receipt's text (CP858 has é ñ ü ø ç ß and €); `encode_text` is
the encoder escpos' magic encoder is given, so one receipt is one code page. A character
the page lacks is printed without its accent (ő -> o), else as a stand-in (€ -> EUR), else '?'.

escpos (through the adapter), PIL, python-barcode and qrcode are imported inside the functions that
need them: they are heavy, and the app imports this module at start for `columns_of`.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from drivers.receipt_blocks import QR, Barcode, Block, Feed, Rule, Text, wrap

if TYPE_CHECKING:
    from drivers.escpos_adapter import Profile, Ticket

PREFERRED_CODE_PAGES = ("CP858", "CP1252", "ISO_8859-15", "CP850", "CP437")
_CODECS = {"ISO_8859-15": "iso8859_15"}
DEFAULT_DOTS = 512  # paper width assumed when the profile does not give one (80 mm at 180 dpi)


def _profile(name: str) -> Profile:
    from drivers import escpos_adapter  # why: imports escpos (~150 ms); the app imports this module at start

    return escpos_adapter.profile(name)


def columns_of(profile: str) -> int:
    """Characters per line in font A: the paper width the layout must respect."""
    return _profile(profile).columns


def choose_code_page(profile: str, text: str = "") -> tuple[str, int, str]:
    """(name, ESC t number, Python codec) of the best page the profile has for `text`."""
    pages = _profile(profile).code_pages
    best: tuple[int, tuple[str, int, str]] | None = None
    for name in PREFERRED_CODE_PAGES:
        if name not in pages:
            continue
        codec = _CODECS.get(name, name.lower())
        missing = sum(1 for ch in set(text) if not _encodable(ch, codec))
        cand = (name, int(pages[name]), codec)
        if missing == 0:
            return cand
        if best is None or missing < best[0]:
            best = (missing, cand)
    if best is not None:
        return best[1]
    name, number = next(iter(pages.items()))  # a profile with none of ours: take its first page
    return name, number, "cp437"


def _encodable(ch: str, codec: str) -> bool:
    try:
        ch.encode(codec)
        return True
    except UnicodeEncodeError:
        return False


# Stand-ins for characters a code page may lack (no decomposition to strip an accent from).
FALLBACKS = {"€": "EUR", "ø": "o", "Ø": "O", "ß": "ss", "œ": "oe", "Œ": "OE", "æ": "ae", "Æ": "AE", "ł": "l",
             "Ł": "L", "đ": "d", "–": "-", "—": "-", "‘": "'", "’": "'", "“": '"', "”": '"', "…": "...",
             "•": "*", "\u00a0": " "}


def encode_text(text: str, codec: str) -> bytes:
    """Encode for the printer; unknown characters lose their accent, else a stand-in, else '?'."""
    try:
        return text.encode(codec)
    except UnicodeEncodeError:
        pass
    out = bytearray()
    for ch in text:
        try:
            out += ch.encode(codec)
            continue
        except UnicodeEncodeError:
            pass
        base = FALLBACKS.get(ch) or "".join(
            c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c))
        out += base.encode(codec, errors="replace") if base else b"?"
    return bytes(out)


_SIZES = {"normal": (False, False), "tall": (False, True), "wide": (True, False), "double": (True, True)}


class _Writer:
    """Emits only style changes (a receipt is mostly plain lines), so the bytes stay few."""

    def __init__(self, ticket: Ticket, columns: int) -> None:
        self.t, self.columns = ticket, columns
        self.size, self.bold, self.underline, self.align = "normal", False, False, "left"

    def style(self, size: str = "normal", bold: bool = False, underline: bool = False, align: str = "left") -> None:
        if (size, bold, underline, align) == (self.size, self.bold, self.underline, self.align):
            return
        self.t.style(size=_SIZES.get(size, (False, False)) if size != self.size else None,
                     bold=bold if bold != self.bold else None,
                     underline=underline if underline != self.underline else None,
                     align=align if align != self.align else None)
        self.size, self.bold, self.underline, self.align = size, bold, underline, align

    def text(self, block: Text) -> None:
        self.style(block.size, block.bold, block.underline, block.align)
        width = self.columns // (2 if block.size in ("wide", "double") else 1)
        self.t.text("".join(line.rstrip() + "\n" for line in wrap(block.text, width)))

    def raw_line(self, text: str) -> None:
        self.style()
        self.t.text(text + "\n")


def render_blocks(blocks: Iterable[Block], profile: str, *, columns: int | None = None) -> bytes:
    """ESC/POS for the blocks: init, code page, content, feed and cut."""
    from drivers.escpos_adapter import Ticket  # why: imports escpos (~150 ms), see the module docstring

    blocks = list(blocks)
    t = Ticket(profile, encode_text)
    cols = columns or t.profile.columns
    name, _, codec = choose_code_page(profile, "".join(b.text for b in blocks if isinstance(b, Text)))
    t.init()
    t.code_page(name, codec)
    w = _Writer(t, cols)
    for block in blocks:
        if isinstance(block, Text):
            w.text(block)
        elif isinstance(block, Rule):
            w.raw_line((block.char or "-")[0] * cols)
        elif isinstance(block, Feed):
            t.feed(block.lines)
        elif isinstance(block, Barcode):
            _barcode(t, block, w)
        elif isinstance(block, QR):
            _qr(t, block, w)
    w.style()
    t.cut()
    return t.output


def _print_image(t: Ticket, img: Any, w: _Writer) -> bool:
    """A 1-bit image, centred by ESC a (not padded to the paper width: fewer bytes)."""
    if t.profile.image_impl is None or img.width > (t.profile.dots or DEFAULT_DOTS):
        return False
    w.style(align="center")
    return t.image(img)


def _barcode(t: Ticket, block: Barcode, w: _Writer) -> None:
    """Native GS k Code 128 (code set B) when the profile has function B barcodes, else a raster image."""
    symbology = block.symbology.upper()
    dots = t.profile.dots or DEFAULT_DOTS
    if symbology != "CODE128":  # EAN13, CODE39...: native when the printer has them, else as text
        function = t.barcode_function(symbology, block.data)
        if function is None:
            w.text(Text(block.data, align="center", bold=True))
            return
        t.barcode(block.data, symbology, module_width=2, function=function)
        w.align = "center"  # the barcode command centred it (ESC a 1)
        t.feed()
        return
    modules = 11 * (len(block.data) + 3) + 2  # start, data, check, stop, final bar (code set B)
    code = "{B" + block.data.replace("{", "{{")
    if t.profile.supports("barcodeB") and modules * 2 <= dots and t.barcode_function(symbology, code) == "B":
        t.barcode(code, symbology, module_width=3 if modules * 3 <= dots else 2, function="B")
        w.align = "center"
        t.feed()
        return
    img = _code128_image(block.data, dots)
    if img is not None and _print_image(t, img, w):
        w.text(Text(block.data, align="center"))  # the human-readable line a native barcode has
    else:
        w.text(Text(block.data, align="center", bold=True))  # too long to scan: print it for keying in


def _code128_image(data: str, max_dots: int) -> Any:
    """Code 128 bars from python-barcode's module pattern, 2 dots a module when it fits, 48 dots high.

    None when Code 128 cannot hold the data (not ASCII, empty): the caller prints it as text.
    """
    import barcode  # why: python-barcode and PIL are heavy, and only a printer without GS k needs them
    from PIL import Image, ImageDraw  # why: as above

    try:
        bars = barcode.get_barcode_class("code128")(data).build()[0]
    except (barcode.errors.BarcodeError, LookupError):
        return None
    quiet = 10
    module = 2 if (len(bars) + 2 * quiet) * 2 <= max_dots else 1
    img = Image.new("1", ((len(bars) + 2 * quiet) * module, 48), 1)
    draw = ImageDraw.Draw(img)
    for i, bit in enumerate(bars):
        if bit == "1":
            x = (quiet + i) * module
            draw.rectangle((x, 0, x + module - 1, img.height - 1), fill=0)
    return img


def _qr(t: Ticket, block: QR, w: _Writer) -> None:
    if t.profile.supports("qrCode"):
        w.style(align="center")
        t.qr(block.data, min(max(block.size, 1), 16))
        t.feed()
        return
    import qrcode  # why: heavy (PIL), and only a printer without GS ( k needs it

    qr = qrcode.QRCode(box_size=min(max(block.size - 1, 2), 8), border=2)
    qr.add_data(block.data)
    qr.make(fit=True)
    img = qr.make_image().get_image().convert("1")
    if not _print_image(t, img, w):
        w.text(Text(block.data, align="center"))
