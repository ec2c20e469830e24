"""ISO/IEC 7813 magnetic stripe tracks 1 and 2: sentinels, separators and the optional LRC."""

from __future__ import annotations

from cardread.payment import looks_like_payment_card
from cardread.read import CardRead, Source

SWIPE_AGAIN = "unreadable swipe, please swipe again"


def _lrc_ok(body: str, lrc: str, base: int) -> bool:
    """Longitudinal redundancy check: XOR of the data bits of every character incl. sentinels."""
    acc = 0
    for ch in body:
        acc ^= (ord(ch) - base) & (0x0F if base == 0x30 else 0x3F)
    return (ord(lrc) - base) == acc


def parse_track2(raw: str) -> CardRead:
    """`;PAN=...?` with an optional LRC character after the end sentinel."""
    text = raw.strip()
    end = text.find("?")
    if not text.startswith(";") or end < 2:
        return CardRead.bad(Source.MAGSTRIPE, raw, SWIPE_AGAIN)
    body, rest = text[: end + 1], text[end + 1 :]
    if len(rest) > 1:
        return CardRead.bad(Source.MAGSTRIPE, raw, SWIPE_AGAIN)
    data = body[1:-1]
    if any(c not in "0123456789=" for c in data):
        return CardRead.bad(Source.MAGSTRIPE, raw, SWIPE_AGAIN)
    if rest and (not "0" <= rest <= "?" or not _lrc_ok(body, rest, 0x30)):
        return CardRead.bad(Source.MAGSTRIPE, raw, SWIPE_AGAIN + " (check character)")
    number = data.split("=", 1)[0]
    if looks_like_payment_card(number) or ("=" in data and len(number) >= 13 and number.isdigit()
                                           and _has_payment_discretionary(data)):
        return CardRead.payment(Source.MAGSTRIPE)
    if not 4 <= len(number) <= 19:
        return CardRead.bad(Source.MAGSTRIPE, raw, SWIPE_AGAIN)
    return CardRead.good(Source.MAGSTRIPE, raw, number)


def _has_payment_discretionary(data: str) -> bool:
    """A track 2 with YYMM expiry and a 3-digit service code after '=' is a bank card layout."""
    after = data.split("=", 1)[1]
    if len(after) < 7 or not after[:7].isdigit():
        return False
    month = int(after[2:4])
    return 1 <= month <= 12 and after[4] in "1256" and looks_like_payment_card(data.split("=", 1)[0])


def parse_track1(raw: str) -> CardRead:
    """`%<format><PAN>^NAME^...?`; format B is the bank card format and is always refused."""
    text = raw.strip()
    end = text.find("?")
    if not text.startswith("%") or end < 3:
        return CardRead.bad(Source.MAGSTRIPE, raw, SWIPE_AGAIN)
    body, rest = text[: end + 1], text[end + 1 :]
    if len(rest) > 1 or any(not 0x20 <= ord(c) <= 0x5F for c in body):
        return CardRead.bad(Source.MAGSTRIPE, raw, SWIPE_AGAIN)
    fmt = body[1]
    if fmt == "B":
        return CardRead.payment(Source.MAGSTRIPE)
    if rest and not _lrc_ok(body, rest, 0x20):
        return CardRead.bad(Source.MAGSTRIPE, raw, SWIPE_AGAIN + " (check character)")
    data = body[2:-1]
    number = data.split("^", 1)[0].strip()
    if looks_like_payment_card(number):
        return CardRead.payment(Source.MAGSTRIPE)
    if not number.isalnum() or not 4 <= len(number) <= 19:
        return CardRead.bad(Source.MAGSTRIPE, raw, SWIPE_AGAIN)
    return CardRead.good(Source.MAGSTRIPE, raw, number)


def parse_swipe(raw: str) -> CardRead:
    """A swipe may carry track 1, track 2 or both; track 1 format B anywhere means a bank card."""
    text = raw.strip()
    t1_start = text.find("%")
    t2_start = text.find(";")
    if t1_start != -1:
        t1_end = text.find("?", t1_start)
        track1 = text[t1_start : t1_end + 2 if t1_end != -1 else len(text)]
        if len(track1) > 1 and track1[1] == "B":
            return CardRead.payment(Source.MAGSTRIPE)
    if t2_start != -1:
        result = parse_track2(text[t2_start:])
        if result.ok or result.payment_card or t1_start == -1:
            return result
    if t1_start != -1:
        t1_end = text.find("?", t1_start)
        segment = text[t1_start : (t2_start if t2_start > t1_start else len(text))]
        if t1_end == -1:
            segment = text[t1_start:]
        return parse_track1(segment)
    return CardRead.bad(Source.MAGSTRIPE, raw, SWIPE_AGAIN)
