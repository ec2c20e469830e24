"""Realistic data for simulated swipes and scans: loyalty track 2, a bank card track 1, garbage.

The bank card uses the standard test PAN 4111111111111111, so the refusal tests can check that it
appears nowhere (events, logs, output).
"""

from __future__ import annotations

import random

TEST_PAN = "4111111111111111"


def lrc(body: str, base: int, mask: int) -> str:
    """ISO 7811 longitudinal redundancy check over the data bits, sentinels included."""
    acc = 0
    for ch in body:
        acc ^= (ord(ch) - base) & mask
    return chr(acc + base)


def track2(number: str, discretionary: str = "", *, with_lrc: bool = False) -> str:
    """`;<number>=<discretionary>?` (the separator only when there is discretionary data)."""
    body = ";" + number + ("=" + discretionary if discretionary else "") + "?"
    return body + (lrc(body, 0x30, 0x0F) if with_lrc else "")


def track1(number: str, name: str = "MEMBER/LOYALTY", data: str = "", *, fmt: str = "A", with_lrc: bool = False) -> str:
    body = f"%{fmt}{number}^{name}^{data}?"
    return body + (lrc(body, 0x20, 0x3F) if with_lrc else "")


def bank_swipe(pan: str = TEST_PAN, expiry: str = "3012", service: str = "101") -> str:
    """Tracks 1 (format B) and 2 of a bank card, as a two-track reader sends them in one frame."""
    t1 = f"%B{pan}^CARDHOLDER/TEST^{expiry}{service}0000000000000000?"
    t2 = f";{pan}={expiry}{service}0000000000?"
    return t1 + t2


def garbage(length: int = 24, seed: int | None = None) -> bytes:
    """Bytes a dirty read head or a wrong baud rate produces: not text at all."""
    rnd = random.Random(seed)
    return bytes(rnd.choice([0x00, 0x7F, 0x80, 0x9F, 0xC3, 0xFF, *range(0xA0, 0xB0)]) for _ in range(length))
