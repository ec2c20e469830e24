"""Printer status from DLE EOT n replies: offline, cover open, paper near end, paper out.

A status byte always has bits 1 and 4 set and bits 0 and 7 clear (0xx1xx10b); anything else
on the line (an XOFF, an automatic status block) is not a reply and is skipped.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

DLE_EOT = b"\x10\x04"
QUERIES = (1, 2, 4)  # printer, offline cause, roll paper sensor


def is_status_byte(value: int) -> bool:
    return value & 0x93 == 0x12


@dataclass(frozen=True)
class PrinterStatus:
    """What the printer said; `known` is False when the transport cannot read back (file, USB, dummy)."""

    known: bool = True
    online: bool = True
    cover_open: bool = False
    paper_near_end: bool = False
    paper_out: bool = False
    error: bool = False
    silent: bool = False

    @property
    def ok(self) -> bool:
        """Ready to print (or nothing known against it)."""
        return self.problem is None

    @property
    def problem(self) -> str | None:
        """Why printing cannot happen, in words for the cashier; None when it can."""
        if not self.known:
            return None
        if self.silent:
            return "printer not answering: is it switched on and online?"
        if self.paper_out:
            return "printer out of paper"
        if self.cover_open:
            return "printer cover open"
        if self.error:
            return "printer error: check the printer, then retry"
        if not self.online:
            return "printer offline"
        return None

    @property
    def warning(self) -> str | None:
        return "printer paper near end" if self.known and self.paper_near_end and not self.paper_out else None

    def as_dict(self) -> dict:
        return {"known": self.known, "online": self.online, "cover_open": self.cover_open,
                "paper_near_end": self.paper_near_end, "paper_out": self.paper_out, "error": self.error,
                "silent": self.silent,
                "problem": self.problem, "warning": self.warning}


UNKNOWN = PrinterStatus(known=False)


def decode(replies: dict[int, int]) -> PrinterStatus:
    """Status from {n: byte} for the DLE EOT n requests that were answered."""
    printer, cause, paper = replies.get(1), replies.get(2), replies.get(4)
    online = printer is None or not printer & 0x08
    cover = cause is not None and bool(cause & 0x04)
    stopped_paper = cause is not None and bool(cause & 0x20)
    error = cause is not None and bool(cause & 0x40)
    near = paper is not None and bool(paper & 0x0C)
    out = paper is not None and bool(paper & 0x60)
    return PrinterStatus(True, online, cover, near, out or stopped_paper, error)


def query(write: Callable[[bytes], None], read: Callable[[float], bytes], timeout: float = 2.0) -> PrinterStatus:
    """Ask DLE EOT 1, 2 and 4 in one write and match the replies in order.

    `read(remaining_seconds)` returns whatever bytes arrived (b"" on timeout). A printer that
    does not answer within `timeout` is reported offline: a till must not wait on it.
    """
    write(b"".join(DLE_EOT + bytes([n]) for n in QUERIES))
    got: list[int] = []
    deadline = time.monotonic() + timeout
    while len(got) < len(QUERIES):
        left = deadline - time.monotonic()
        if left <= 0:
            break
        chunk = read(left)
        got += [b for b in chunk if is_status_byte(b)]
    if len(got) < len(QUERIES):
        return PrinterStatus(known=True, online=False, silent=True)
    return decode(dict(zip(QUERIES, got, strict=False)))
