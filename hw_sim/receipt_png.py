"""Draw a decoded receipt as a PNG a person can look at (a picture of the paper roll).

Text in a monospace font on a 12x24 dot cell like font A of a thermal printer, barcodes as
bars from python-barcode's module pattern, QR codes via `qrcode`, raster images as sent.

PIL, python-barcode and qrcode are imported inside the functions: they are heavy, and the printer
simulator imports this module whether or not it writes PNGs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hw_sim.escpos_decode import Barcode, Page, QRCode, Raster, TextLine

CELL_W, CELL_H = 12, 24
MARGIN = 8
_FONT_PATHS = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSansMono-Bold.ttf",
)


def _fonts() -> tuple[Any, Any]:
    from PIL import ImageFont  # why: heavy, see the module docstring

    regular, bold = _FONT_PATHS
    try:
        return ImageFont.truetype(regular, 19), ImageFont.truetype(bold, 19)
    except OSError:
        font = ImageFont.load_default()
        return font, font


def render_png(page: Page, path: str | Path, columns: int = 42) -> Path:
    """Write the page as a PNG `columns` font-A cells wide."""
    from PIL import Image  # why: heavy, see the module docstring

    width = columns * CELL_W + 2 * MARGIN
    pieces = [_piece(item, width - 2 * MARGIN) for item in page.items]
    height = sum(p.height for p, _ in pieces) + 2 * MARGIN
    canvas = Image.new("L", (width, max(height, 2 * MARGIN + CELL_H)), 255)
    y = MARGIN
    for img, align in pieces:
        x = MARGIN
        if align == "center":
            x = (width - img.width) // 2
        elif align == "right":
            x = width - MARGIN - img.width
        canvas.paste(img, (max(x, 0), y))
        y += img.height
    out = Path(path)
    canvas.save(out, "PNG", optimize=True)
    return out


def _piece(item: object, max_width: int) -> tuple[Any, str]:
    from PIL import Image  # why: heavy, see the module docstring

    if isinstance(item, TextLine):
        return _text(item, max_width), item.align
    if isinstance(item, Barcode):
        return _barcode(item, max_width), "center"
    if isinstance(item, QRCode):
        return _qr(item), "center"
    if isinstance(item, Raster):
        img = Image.new("L", (item.width, item.height), 255)
        img.putdata([0 if dot else 255 for row in item.rows for dot in row])
        if img.width > max_width:
            img = img.crop((0, 0, max_width, img.height))
        return img, "left"
    return Image.new("L", (1, CELL_H), 255), "left"


def _text(line: TextLine, max_width: int) -> Any:
    from PIL import Image, ImageDraw  # why: heavy, see the module docstring

    regular, bold = _fonts()
    text = line.text.rstrip()
    img = Image.new("L", (max(len(text), 1) * CELL_W, CELL_H), 255)
    draw = ImageDraw.Draw(img)
    for i, ch in enumerate(text):
        draw.text((i * CELL_W, 1), ch, font=bold if line.bold else regular, fill=0)
    if line.underline:
        draw.line((0, CELL_H - 2, img.width, CELL_H - 2), fill=0, width=line.underline)
    if line.width > 1 or line.height > 1:
        img = img.resize((img.width * line.width, CELL_H * line.height))
    if img.width > max_width:
        img = img.crop((0, 0, max_width, img.height))
    return img


def _barcode(item: Barcode, max_width: int) -> Any:
    from PIL import Image, ImageDraw  # why: heavy, see the module docstring

    modules = _modules(item)
    module_w = max(1, min(3, max_width // max(len(modules), 1)))
    bar_h = 64
    img = Image.new("L", (len(modules) * module_w, bar_h + CELL_H), 255)
    draw = ImageDraw.Draw(img)
    for i, m in enumerate(modules):
        if m == "1":
            draw.rectangle((i * module_w, 0, (i + 1) * module_w - 1, bar_h), fill=0)
    regular, _ = _fonts()
    draw.text((max((img.width - len(item.data) * CELL_W) // 2, 0), bar_h + 2), item.data, font=regular, fill=0)
    return img


def _modules(item: Barcode) -> str:
    """The bar/space pattern from python-barcode; a plain marker pattern if it cannot encode."""
    import barcode  # why: heavy, see the module docstring

    name = {"CODE128": "code128", "GS1-128": "gs1_128", "EAN13": "ean13", "EAN8": "ean8", "CODE39": "code39",
            "UPC-A": "upca", "ITF": "itf"}.get(item.symbology)
    try:
        if name:
            cls = barcode.get_barcode_class(name)
            kwargs = {"add_checksum": False} if name == "code39" else {}
            return "".join(cls(item.data, **kwargs).build())
    except (barcode.errors.BarcodeError, LookupError):  # data it cannot hold (LookupError: an empty Code 128)
        pass
    return "1010" * 20


def _qr(item: QRCode) -> Any:
    import qrcode  # why: heavy, see the module docstring

    qr = qrcode.QRCode(box_size=4, border=2)
    qr.add_data(item.data)
    qr.make(fit=True)
    return qr.make_image().get_image().convert("L")
