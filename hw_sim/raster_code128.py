"""Read a Code 128 symbol back from a raster image (a printer that drew the barcode as dots).

The till falls back to raster barcodes on printers without native ones; reading them back
lets the simulator show and the tests check the coupon code on those printers too.
"""

from __future__ import annotations

import functools


@functools.cache
def _tables() -> tuple[dict[str, int], dict[int, str], dict[int, str]]:
    from barcode.charsets import code128  # why: python-barcode is heavy; only raster barcodes need it

    patterns = {p: v for v, p in enumerate(code128.CODES)}
    patterns[code128.STOP] = 106
    set_a = {v: k for k, v in code128.A.items() if isinstance(k, str) and len(k) == 1}
    set_b = {v: k for k, v in code128.B.items() if isinstance(k, str) and len(k) == 1}
    return patterns, set_a, set_b


def read_code128(rows: list[list[bool]]) -> str | None:
    """The text of the Code 128 symbol in the image, or None when there is none (or it fails its check)."""
    if not rows:
        return None
    for y in (len(rows) // 2, len(rows) // 3, len(rows) // 4):
        text = _read_row(rows[y])
        if text is not None:
            return text
    return None


def _read_row(row: list[bool]) -> str | None:
    try:
        first, last = row.index(True), len(row) - 1 - row[::-1].index(True)
    except ValueError:
        return None
    runs: list[int] = []
    colour, n = True, 0
    for dot in row[first:last + 1]:
        if dot == colour:
            n += 1
        else:
            runs.append(n)
            colour, n = dot, 1
    runs.append(n)
    if len(runs) < 6 * 3 + 7:
        return None
    module = sum(runs[:6]) / 11  # the start symbol is 11 modules wide
    if module < 1:
        return None
    bits = "".join(("1" if i % 2 == 0 else "0") * max(1, round(r / module)) for i, r in enumerate(runs))
    patterns, set_a, set_b = _tables()
    values: list[int] = []
    pos = 0
    while pos + 11 <= len(bits):
        value = patterns.get(bits[pos:pos + 11])
        if value is None:
            return None
        values.append(value)
        pos += 11
        if value == 106:
            break
    if len(values) < 3 or values[-1] != 106 or values[0] not in (103, 104, 105):
        return None
    data, check = values[1:-2], values[-2]
    if (values[0] + sum(i * v for i, v in enumerate(data, 1))) % 103 != check:
        return None
    mode = {103: "A", 104: "B", 105: "C"}[values[0]]
    out: list[str] = []
    shift = False
    for v in data:
        current = ("B" if mode == "A" else "A") if shift else mode
        shift = False
        if current == "C" and v < 100:
            out.append(f"{v:02d}")
        elif v == 99:
            mode = "C"
        elif v == 100 and current != "B":
            mode = "B"
        elif v == 101 and current != "A":
            mode = "A"
        elif v == 98 and current in "AB":
            shift = True
        elif v >= 96:
            continue  # FNC codes carry no text
        else:
            out.append((set_a if current == "A" else set_b).get(v, "?"))
    return "".join(out)
