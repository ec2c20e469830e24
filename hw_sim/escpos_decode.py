"""An ESC/POS decoder: what a thermal receipt printer would put on paper, as data.

It is incremental (bytes may arrive split anywhere, as over TCP), so the simulated printer
feeds it whatever `recv` returns. It understands the commands a till sends: init, styles
(bold, underline, sizes, alignment), code pages (ESC t) with text decoded in that page,
`GS k` barcodes, `GS ( k` 2D codes, raster images (GS v 0, GS ( L, ESC *), feeds and cuts.
Real-time status requests (DLE EOT n) are answered through a callback, like a real printer
does even while it is offline. Unknown commands are counted, never fatal.
"""

from __future__ import annotations

import codecs
from collections.abc import Callable
from dataclasses import dataclass, field

from hw_sim.raster_code128 import read_code128

ESC, GS, DLE, FS = 0x1B, 0x1D, 0x10, 0x1C

# ESC t n on Epson-like printers (the TM-T88 table); `code_page_table(profile)` refines it.
DEFAULT_CODE_PAGES: dict[int, str] = {
    0: "cp437", 2: "cp850", 3: "cp860", 4: "cp863", 5: "cp865", 13: "cp857", 16: "cp1252", 17: "cp866",
    18: "cp852", 19: "cp858", 39: "iso8859_2", 40: "iso8859_15", 45: "cp1250", 46: "cp1251",
}

_PY_CODECS = {"ISO_8859-15": "iso8859_15", "ISO_8859-2": "iso8859_2", "ISO_8859-7": "iso8859_7"}


def code_page_table(profile: str | None) -> dict[int, str]:
    """ESC t numbers to Python codecs for an escpos capability profile (what the printer knows)."""
    if not profile:
        return dict(DEFAULT_CODE_PAGES)
    from drivers import escpos_adapter  # why: imports escpos (~150 ms); decoding alone does not need it

    table: dict[int, str] = {}
    for name, number in escpos_adapter.profile(profile).code_pages.items():
        codec = _PY_CODECS.get(name, name.lower())
        try:
            codecs.lookup(codec)
        except LookupError:
            continue
        table[int(number)] = codec
    return table


class Incomplete(Exception):
    """The buffer ends inside a command: wait for more bytes."""


@dataclass
class Style:
    bold: bool = False
    underline: int = 0
    width: int = 1
    height: int = 1
    align: str = "left"
    font: int = 0
    invert: bool = False


@dataclass
class TextLine:
    """One printed line: its text and the style in force when it was printed."""

    text: str
    bold: bool = False
    underline: int = 0
    width: int = 1
    height: int = 1
    align: str = "left"


@dataclass
class Barcode:
    symbology: str
    data: str
    align: str = "center"


@dataclass
class QRCode:
    data: str
    kind: str = "QR"
    size: int = 3


@dataclass
class Raster:
    """A monochrome bitmap: `rows` of `width` booleans (True = black dot); `barcode` if one reads in it."""

    width: int
    height: int
    rows: list[list[bool]]
    barcode: Barcode | None = None


Item = TextLine | Barcode | QRCode | Raster


@dataclass
class Page:
    """What was printed between two cuts."""

    items: list[Item] = field(default_factory=list)
    cut: str | None = None
    unknown: list[str] = field(default_factory=list)

    def text(self, columns: int = 42) -> str:
        """The receipt as plain text with markers for barcodes, 2D codes and images."""
        out: list[str] = []
        for item in self.items:
            if isinstance(item, TextLine):
                out.append(_aligned(item, columns))
            elif isinstance(item, Barcode):
                out.append(f"[BARCODE {item.symbology}: {item.data}]")
            elif isinstance(item, QRCode):
                out.append(f"[{item.kind}: {item.data}]")
            else:
                seen = f" [BARCODE {item.barcode.symbology}: {item.barcode.data}]" if item.barcode else ""
                out.append(f"[IMAGE {item.width}x{item.height}]{seen}")
        return "\n".join(out) + "\n"

    @property
    def barcodes(self) -> list[Barcode]:
        """Native barcodes and those read back from raster images, in print order."""
        return [i if isinstance(i, Barcode) else i.barcode for i in self.items  # type: ignore[misc]
                if isinstance(i, Barcode) or (isinstance(i, Raster) and i.barcode is not None)]

    @property
    def qrcodes(self) -> list[QRCode]:
        return [i for i in self.items if isinstance(i, QRCode)]

    @property
    def images(self) -> list[Raster]:
        return [i for i in self.items if isinstance(i, Raster)]

    @property
    def lines(self) -> list[TextLine]:
        return [i for i in self.items if isinstance(i, TextLine)]


def _aligned(line: TextLine, columns: int) -> str:
    text = line.text.rstrip()
    if not text:
        return ""
    shown = len(text) * line.width
    room = max(columns - shown, 0)
    if line.align == "center":
        return " " * (room // 2) + text
    if line.align == "right":
        return " " * room + text
    return text


# GS k function B (m >= 65) and A (m <= 6) names
_BARCODE_B = {65: "UPC-A", 66: "UPC-E", 67: "EAN13", 68: "EAN8", 69: "CODE39", 70: "ITF", 71: "CODABAR",
              72: "CODE93", 73: "CODE128", 74: "GS1-128", 75: "GS1 DATABAR", 76: "GS1 DATABAR TRUNCATED",
              77: "GS1 DATABAR LIMITED", 78: "GS1 DATABAR EXPANDED"}
_BARCODE_A = {0: "UPC-A", 1: "UPC-E", 2: "EAN13", 3: "EAN8", 4: "CODE39", 5: "ITF", 6: "CODABAR"}
_ALIGN = {0: "left", 1: "center", 2: "right", 48: "left", 49: "center", 50: "right"}

# Two-byte ESC commands with n parameter bytes that only change things we do not model.
_ESC_SKIP = {ord(c): n for c, n in {
    " ": 1, "%": 1, "2": 0, "3": 1, "<": 0, "=": 1, "?": 1, "D": -1, "J": 1, "K": 1, "L": 0, "R": 1, "S": 0,
    "T": 1, "U": 1, "V": 1, "W": 8, "\\": 2, "$": 2, "{": 1, "r": 1, "p": 3, "u": 1, "v": 0, "c": 2,
}.items()}
_GS_SKIP = {ord(c): n for c, n in {
    "H": 1, "f": 1, "h": 1, "w": 1, "L": 2, "W": 2, "a": 1, "b": 1, "x": 1, "P": 2, "T": 1, "I": 1,
    "r": 1, "^": 3, ":": 0, "E": 1, "$": 2, "\\": 2,
}.items()}


class Decoder:
    """Feed bytes, get pages: `feed(data)` returns the pages completed by a cut in `data`.

    `on_status(n)` is called for DLE EOT n and may return the status byte to send back.
    `on_page(page)` is called at each cut, in stream order (so a status request sent after a
    receipt is answered only once that receipt is stored).
    `accepting()` says whether print data reaches the paper (False when out of paper or
    offline: the bytes are parsed, so status requests still work, but nothing is printed).
    """

    def __init__(
        self,
        code_pages: dict[int, str] | None = None,
        on_status: Callable[[int], bytes | None] | None = None,
        accepting: Callable[[], bool] | None = None,
        respond: Callable[[bytes], None] | None = None,
        on_page: Callable[[Page], object] | None = None,
    ) -> None:
        self.on_page = on_page
        self.code_pages = code_pages or dict(DEFAULT_CODE_PAGES)
        self.on_status = on_status
        self.accepting = accepting or (lambda: True)
        self.respond = respond
        self.buf = bytearray()
        self.page = Page()
        self.style = Style()
        self.code_page = 0
        self.line: list[str] = []
        self.line_style: Style | None = None
        self.qr_data: dict[int, bytes] = {}
        self.graphics: Raster | None = None
        self.printed_bytes = 0
        self.discarded_bytes = 0

    # -- public -----------------------------------------------------------
    def feed(self, data: bytes) -> list[Page]:
        self.buf += data
        done: list[Page] = []
        pos = 0
        while pos < len(self.buf):
            try:
                used, page = self._step(pos)
            except Incomplete:
                break
            pos += used
            if page is not None:
                done.append(page)
                if self.on_page is not None:  # at the cut, before any later status reply goes out
                    self.on_page(page)
        del self.buf[:pos]
        return done

    def flush(self) -> Page | None:
        """End of stream: whatever was printed without a final cut (a torn-off receipt)."""
        self._end_line(force=False)
        _strip_trailing_blanks(self.page)
        if not self.page.items:
            return None
        page, self.page = self.page, Page()
        return page

    def discard_page(self) -> Page | None:
        """Paper ran out: the part already printed, returned; the rest will not print."""
        self._end_line(force=False)
        page, self.page = self.page, Page()
        self.line = []
        return page if page.items else None

    # -- parsing ----------------------------------------------------------
    def _need(self, pos: int, n: int) -> bytes:
        if pos + n > len(self.buf):
            raise Incomplete
        return bytes(self.buf[pos:pos + n])

    def _step(self, pos: int) -> tuple[int, Page | None]:
        b = self.buf[pos]
        if b == DLE:
            return self._dle(pos), None
        printing = self.accepting()
        if b == ESC:
            return self._esc(pos, printing)
        if b == GS:
            return self._gs(pos, printing)
        if b == FS:
            self._need(pos, 2)
            return 2, None
        if not printing:
            self.discarded_bytes += 1
            return 1, None
        self.printed_bytes += 1
        if b == 0x0A:
            self._end_line(force=True)
        elif b == 0x09:
            self._add_text("    ")
        elif b in (0x0D, 0x00, 0x0C, 0x18):
            pass
        else:
            end = pos
            while end < len(self.buf) and self.buf[end] >= 0x20 and self.buf[end] != 0x7F:
                end += 1
            end = max(end, pos + 1)
            chunk = bytes(self.buf[pos:end])
            self.printed_bytes += len(chunk) - 1
            self._add_text(chunk.decode(self.code_pages.get(self.code_page, "cp437"), errors="replace"))
            return end - pos, None
        return 1, None

    def _dle(self, pos: int) -> int:
        cmd = self._need(pos, 2)[1]
        if cmd == 0x04:  # DLE EOT n: real-time status
            n = self._need(pos, 3)[2]
            if self.on_status is not None:
                reply = self.on_status(n)
                if reply and self.respond is not None:
                    self.respond(reply)
            return 3
        if cmd == 0x05:  # DLE ENQ n
            self._need(pos, 3)
            return 3
        if cmd == 0x14:  # DLE DC4 fn m t
            self._need(pos, 5)
            return 5
        return 2

    def _esc(self, pos: int, printing: bool) -> tuple[int, Page | None]:
        cmd = self._need(pos, 2)[1]
        s = self.style
        if cmd == ord("@"):
            self.style = Style()
            self.code_page = 0
            return 2, None
        one = {ord(c) for c in "tE-!aMGd"}
        if cmd in one:
            n = self._need(pos, 3)[2]
            if cmd == ord("t"):
                self.code_page = n
            elif cmd in (ord("E"), ord("G")):
                s.bold = bool(n & 1)
            elif cmd == ord("-"):
                s.underline = n % 48 if n >= 48 else n
            elif cmd == ord("!"):
                s.font, s.bold = n & 1, bool(n & 0x08)
                s.height, s.width = (2 if n & 0x10 else 1), (2 if n & 0x20 else 1)
                s.underline = 1 if n & 0x80 else 0
            elif cmd == ord("a"):
                s.align = _ALIGN.get(n, "left")
            elif cmd == ord("M"):
                s.font = n % 48 if n >= 48 else n
            elif cmd == ord("d") and printing:
                self._end_line(force=False)
                for _ in range(n):
                    self._end_line(force=True)
            return 3, None
        if cmd == ord("*"):  # ESC * m nL nH d...: column bit image
            head = self._need(pos, 5)
            m, width = head[2], head[3] | head[4] << 8
            per_col = 3 if m in (32, 33) else 1
            data = self._need(pos + 5, width * per_col)
            if printing:
                self._add_item(_column_image(data, width, per_col))
            return 5 + width * per_col, None
        if cmd in (ord("i"), ord("m")):
            return 2, self._cut("partial" if cmd == ord("m") else "full") if printing else None
        if cmd == ord("D"):  # tab stops, NUL terminated
            end = self.buf.find(0, pos + 2)
            if end < 0:
                raise Incomplete
            return end - pos + 1, None
        n = _ESC_SKIP.get(cmd, 0)
        self._need(pos, 2 + n)
        if cmd not in _ESC_SKIP:
            self.page.unknown.append(f"ESC {cmd:#04x}")
        return 2 + n, None

    def _gs(self, pos: int, printing: bool) -> tuple[int, Page | None]:
        cmd = self._need(pos, 2)[1]
        if cmd == ord("!"):
            n = self._need(pos, 3)[2]
            self.style.width, self.style.height = (n >> 4) + 1, (n & 0x0F) + 1
            return 3, None
        if cmd == ord("B"):
            self.style.invert = bool(self._need(pos, 3)[2] & 1)
            return 3, None
        if cmd == ord("V"):
            m = self._need(pos, 3)[2]
            size = 4 if m in (65, 66, 97, 98, 103, 104) else 3
            self._need(pos, size)
            return size, self._cut("partial" if m in (1, 49, 66, 98, 104) else "full") if printing else None
        if cmd == ord("k"):
            return self._barcode(pos, printing), None
        if cmd == ord("("):
            head = self._need(pos, 5)
            fn_class, length = chr(head[2]), head[3] | head[4] << 8
            body = self._need(pos + 5, length)
            if printing:
                if fn_class == "k":
                    self._two_d(body)
                elif fn_class == "L":
                    self._graphics(body)
            return 5 + length, None
        if cmd == ord("8"):  # GS 8 L p1..p4: graphics with a 4-byte length
            head = self._need(pos, 7)
            length = int.from_bytes(head[3:7], "little")
            body = self._need(pos + 7, length)
            if printing and chr(head[2]) == "L":
                self._graphics(body)
            return 7 + length, None
        if cmd == ord("v"):  # GS v 0 m xL xH yL yH d...: raster image
            head = self._need(pos, 8)
            width_bytes, height = head[4] | head[5] << 8, head[6] | head[7] << 8
            data = self._need(pos + 8, width_bytes * height)
            if printing:
                self._add_item(_raster(data, width_bytes, height))
            return 8 + width_bytes * height, None
        n = _GS_SKIP.get(cmd, 0)
        self._need(pos, 2 + n)
        if cmd not in _GS_SKIP:
            self.page.unknown.append(f"GS {cmd:#04x}")
        return 2 + n, None

    def _barcode(self, pos: int, printing: bool) -> int:
        m = self._need(pos, 3)[2]
        if m >= 65:
            n = self._need(pos, 4)[3]
            data = self._need(pos + 4, n)
            size = 4 + n
            name = _BARCODE_B.get(m, f"TYPE{m}")
        else:
            end = self.buf.find(0, pos + 3)
            if end < 0:
                raise Incomplete
            data = bytes(self.buf[pos + 3:end])
            size = end - pos + 1
            name = _BARCODE_A.get(m, f"TYPE{m}")
        if printing:
            text = _code128_text(data) if name in ("CODE128", "GS1-128") else data.decode("ascii", "replace")
            self._add_item(Barcode(name, text, self.style.align))
        return size

    def _two_d(self, body: bytes) -> None:
        if len(body) < 2:
            return
        cn, fn = body[0], body[1]
        if fn == 80:  # store data (m = '0')
            self.qr_data[cn] = body[3:]
        elif fn == 81:  # print the stored symbol
            data = self.qr_data.pop(cn, b"")
            kind = {49: "QR", 48: "PDF417", 50: "MAXICODE"}.get(cn, f"2D{cn}")
            self._add_item(QRCode(data.decode("utf-8", "replace"), kind))

    def _graphics(self, body: bytes) -> None:
        if len(body) < 2:
            return
        fn = body[1]
        if fn in (112, 113) and len(body) >= 10:  # store raster graphics: a bx by c xL xH yL yH d...
            width, height = body[6] | body[7] << 8, body[8] | body[9] << 8
            width_bytes = (width + 7) // 8
            self.graphics = _raster(body[10:10 + width_bytes * height], width_bytes, height)
        elif fn in (50, 2) and self.graphics is not None:
            self._add_item(self.graphics)
            self.graphics = None

    # -- page building ----------------------------------------------------
    def _add_text(self, text: str) -> None:
        if not self.line:
            self.line_style = Style(**vars(self.style))
        elif self.style.bold:
            self.line_style.bold = True  # type: ignore[union-attr]
        self.line.append(text)

    def _end_line(self, force: bool) -> None:
        if not self.line and not force:
            return
        st = self.line_style or self.style
        self.page.items.append(TextLine("".join(self.line), st.bold, st.underline, st.width, st.height, st.align))
        self.line, self.line_style = [], None

    def _add_item(self, item: Item) -> None:
        if isinstance(item, Raster) and item.height >= 8:
            text = read_code128(item.rows)
            if text is not None:
                item.barcode = Barcode("CODE128", text)
        self._end_line(force=False)
        self.page.items.append(item)

    def _cut(self, mode: str) -> Page:
        self._end_line(force=False)
        _strip_trailing_blanks(self.page)  # the feed before the cut
        page, self.page = self.page, Page()
        page.cut = mode
        return page


def _strip_trailing_blanks(page: Page) -> None:
    while page.items and isinstance(page.items[-1], TextLine) and not page.items[-1].text.strip():
        page.items.pop()


def _code128_text(data: bytes) -> str:
    """GS k Code 128 data ({A/{B/{C code set prefixes, {{ for '{') back to the encoded text."""
    out: list[str] = []
    mode, i = "B", 0
    while i < len(data):
        c = data[i]
        if c == ord("{") and i + 1 < len(data):
            nxt = chr(data[i + 1])
            if nxt in "ABC":
                mode = nxt
                i += 2
                continue
            if nxt == "{":
                out.append("{")
                i += 2
                continue
            if nxt in "1234S":
                i += 2  # FNC1-4 / shift: no printable content
                continue
        out.append(f"{c:02d}" if mode == "C" else chr(c))
        i += 1
    return "".join(out)


def _raster(data: bytes, width_bytes: int, height: int) -> Raster:
    rows = []
    for y in range(height):
        row_bytes = data[y * width_bytes:(y + 1) * width_bytes]
        rows.append([bool(byte >> (7 - bit) & 1) for byte in row_bytes for bit in range(8)])
    return Raster(width_bytes * 8, height, rows)


def _column_image(data: bytes, width: int, per_col: int) -> Raster:
    height = 8 * per_col
    rows = [[False] * width for _ in range(height)]
    for x in range(width):
        for k in range(per_col):
            byte = data[x * per_col + k]
            for bit in range(8):
                rows[k * 8 + bit][x] = bool(byte >> (7 - bit) & 1)
    return Raster(width, height, rows)


def decode(data: bytes, code_pages: dict[int, str] | None = None) -> list[Page]:
    """Decode a whole ESC/POS stream; a trailing part without a cut comes last."""
    dec = Decoder(code_pages)
    pages = dec.feed(data)
    tail = dec.flush()
    return pages + ([tail] if tail else [])
