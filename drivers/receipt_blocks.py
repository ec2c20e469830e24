"""What a receipt printer can print: text lines, rules, barcodes, QR codes, feeds.

The till lays a receipt out in these blocks (`pos_client.services.receipt`); the ESC/POS renderer
(`drivers.escpos_render`) turns them into bytes. Defined here, with the printer, so the device
layer never imports the till.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass


@dataclass(frozen=True)
class Text:
    """One line of text (wrapped to the paper width when longer). size: normal, tall, wide, double."""

    text: str
    bold: bool = False
    size: str = "normal"
    align: str = "left"
    underline: bool = False


@dataclass(frozen=True)
class Rule:
    """A full-width separator line."""

    char: str = "-"


@dataclass(frozen=True)
class Barcode:
    """A 1D barcode (Code 128 by default) with its text printed below."""

    data: str
    symbology: str = "CODE128"


@dataclass(frozen=True)
class QR:
    data: str
    size: int = 4


@dataclass(frozen=True)
class Feed:
    lines: int = 1


Block = Text | Rule | Barcode | QR | Feed


def wrap(text: str, columns: int) -> list[str]:
    """Wrap to the paper width; keeps an empty line empty.

    Most receipt lines fit: those skip textwrap (two thirds of the render time) with the result it would give.
    """
    if len(text) <= columns and text.isprintable():  # no tab or newline for textwrap to turn into spaces
        return [text.rstrip(" ")] if text.strip(" ") else [""]
    return textwrap.wrap(text, max(columns, 1), break_long_words=True) or [""]
