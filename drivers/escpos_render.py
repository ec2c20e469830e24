"""Receipt blocks to ESC/POS bytes through python-escpos' Dummy printer, for one capability profile.

Small on the wire (a 9600 baud serial printer moves ~960 bytes/s): one ESC t for the whole
receipt, style commands only when the style changes, native barcodes and QR codes when the
profile has them (GS k / GS ( k), raster images (GS v 0) only as a fallback.

Accents: the code page is the first of CP858, CP1252, ISO-8859-15, CP850 that the profile
supports and that encodes the receipt's text (CP858 has é ñ ü ø ç ß and €); the text is
encoded here, not by escpos' magic encoder, so one receipt is one code page. A character
the page lacks is printed without its accent (ő -> o), else as '?'.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from typing import Any

from drivers.receipt_blocks import QR, Barcode, Block, Feed, Rule, Text, wrap

PREFERRED_CODE_PAGES = ("CP858", "CP1252", "ISO_8859-15", "CP850", "CP437")
_CODECS = {"ISO_8859-15": "iso8859_15"}
ESC_T = b"\x1bt"
GS_SIZE = b"\x1d!"


def _profile(name: str) -> Any:
    from drivers.printer import get_profile

    return get_profile(name)


def columns_of(profile: str) -> int:
    """Characters per line in font A: the paper width the layout must respect."""
    return int(_profile(profile).get_columns(0))


def choose_code_page(profile: str, text: str = "") -> tuple[str, int, str]:
    """(name, ESC t number, Python codec) of the best page the profile has for `text`."""
    pages = _profile(profile).get_code_pages()
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
    return name, int(number), "cp437"


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

    def __init__(self, p: Any, codec: str, columns: int) -> None:
        self.p, self.codec, self.columns = p, codec, columns
        self.size, self.bold, self.underline, self.align = "normal", False, False, "left"

    def style(self, size: str = "normal", bold: bool = False, underline: bool = False, align: str = "left") -> None:
        p = self.p
        if size != self.size:
            dw, dh = _SIZES.get(size, (False, False))
            p._raw(GS_SIZE + bytes([(0x10 if dw else 0) | (0x01 if dh else 0)]))  # GS ! n: leaves bold alone
            self.size = size
        if bold != self.bold:
            p.set(bold=bold)
            self.bold = bold
        if underline != self.underline:
            p.set(underline=1 if underline else 0)
            self.underline = underline
        if align != self.align:
            p.set(align=align)
            self.align = align

    def text(self, block: Text) -> None:
        self.style(block.size, block.bold, block.underline, block.align)
        width = self.columns // (2 if block.size in ("wide", "double") else 1)
        for line in wrap(block.text, width):
            self.p._raw(encode_text(line.rstrip(), self.codec) + b"\n")

    def raw_line(self, text: str) -> None:
        self.style()
        self.p._raw(encode_text(text, self.codec) + b"\n")


def render_blocks(blocks: Iterable[Block], profile: str, *, columns: int | None = None) -> bytes:
    """ESC/POS for the blocks: init, code page, content, feed and cut."""
    from escpos.printer import Dummy

    blocks = list(blocks)
    prof = _profile(profile)
    cols = columns or int(prof.get_columns(0))
    text = "".join(b.text for b in blocks if isinstance(b, Text))
    _, number, codec = choose_code_page(profile, text)
    p = Dummy(profile=profile)
    p.hw("INIT")
    p._raw(ESC_T + bytes([number]))
    w = _Writer(p, codec, cols)
    for block in blocks:
        if isinstance(block, Text):
            w.text(block)
        elif isinstance(block, Rule):
            w.raw_line((block.char or "-")[0] * cols)
        elif isinstance(block, Feed):
            p._raw(b"\n" * max(block.lines, 0))
        elif isinstance(block, Barcode):
            _barcode(p, prof, block, w)
        elif isinstance(block, QR):
            _qr(p, prof, block, w)
    w.style()
    p.cut(mode="PART" if prof.supports("paperPartCut") else "FULL")
    return p.output


def _paper_dots(prof: Any) -> int:
    try:
        return int(prof.profile_data["media"]["width"]["pixels"])
    except (KeyError, TypeError, ValueError):
        return 512


def _image_impl(prof: Any) -> str | None:
    for impl in ("bitImageRaster", "graphics", "bitImageColumn"):
        if prof.supports(impl):
            return impl
    return None


def _print_image(p: Any, prof: Any, img: Any, w: _Writer) -> bool:
    """A 1-bit image, centred by ESC a (not padded to the paper width: fewer bytes)."""
    impl = _image_impl(prof)
    if impl is None or img.width > _paper_dots(prof):
        return False
    w.style(align="center")
    if impl == "bitImageRaster":  # GS v 0 written here: escpos' image() prints to stdout on some profiles
        from escpos.image import EscposImage

        im = EscposImage(img)
        p._raw(b"\x1dv0\x00" + im.width_bytes.to_bytes(2, "little") + im.height.to_bytes(2, "little")
               + im.to_raster_format())
    else:
        p.image(img, impl=impl, center=False)
    return True


def _barcode(p: Any, prof: Any, block: Barcode, w: _Writer) -> None:
    """Native GS k Code 128 (code set B) when the profile has function B barcodes, else a raster image."""
    from escpos.constants import BARCODE_TYPES

    symbology = block.symbology.upper()
    if symbology != "CODE128":  # EAN13, CODE39...: native when the printer has them, else as text
        kind = next((ft for ft in ("B", "A") if prof.supports(f"barcode{ft}") and symbology in BARCODE_TYPES[ft]),
                    None)
        if kind is None or not p.check_barcode(symbology, block.data):
            w.text(Text(block.data, align="center", bold=True))
            return
        p._hw_barcode(block.data, symbology, 64, 2, "BELOW", "A", True, kind)
        w.align = "center"
        p._raw(b"\n")
        return
    modules = 11 * (len(block.data) + 3) + 2  # start, data, check, stop, final bar (code set B)
    if prof.supports("barcodeB"):
        width = 3 if modules * 3 <= _paper_dots(prof) else 2
        if modules * width <= _paper_dots(prof):
            code = "{B" + block.data.replace("{", "{{")
            # _hw_barcode, not barcode(): the latter prints its choice of renderer to stdout (the TUI's screen)
            p._hw_barcode(code, "CODE128", 64, width, "BELOW", "A", True, "B")
            w.align = "center"  # escpos sent ESC a 1 to centre it
            p._raw(b"\n")
            return
    if _print_image(p, prof, _code128_image(block.data, _paper_dots(prof)), w):
        w.text(Text(block.data, align="center"))  # the human-readable line a native barcode has
    else:
        w.text(Text(block.data, align="center", bold=True))  # too long to scan: print it for keying in


def _code128_image(data: str, max_dots: int) -> Any:
    """Code 128 bars from python-barcode's module pattern, 2 dots a module when it fits, 48 dots high."""
    import barcode
    from PIL import Image, ImageDraw

    bars = barcode.get_barcode_class("code128")(data).build()[0]
    quiet = 10
    module = 2 if (len(bars) + 2 * quiet) * 2 <= max_dots else 1
    img = Image.new("1", ((len(bars) + 2 * quiet) * module, 48), 1)
    draw = ImageDraw.Draw(img)
    for i, bit in enumerate(bars):
        if bit == "1":
            x = (quiet + i) * module
            draw.rectangle((x, 0, x + module - 1, img.height - 1), fill=0)
    return img


def _qr(p: Any, prof: Any, block: QR, w: _Writer) -> None:
    if prof.supports("qrCode"):
        w.style(align="center")
        p.qr(block.data, native=True, size=min(max(block.size, 1), 16))
        p._raw(b"\n")
        return
    import qrcode

    qr = qrcode.QRCode(box_size=min(max(block.size - 1, 2), 8), border=2)
    qr.add_data(block.data)
    qr.make(fit=True)
    img = qr.make_image().get_image().convert("1")
    if not _print_image(p, prof, img, w):
        w.text(Text(block.data, align="center"))
