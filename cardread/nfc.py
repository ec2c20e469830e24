"""NFC card identities: UIDs as hex, and why a random UID is never an identity."""

from __future__ import annotations

from cardread.read import CardRead, Source

NFC_PREFIX = "NFC:"
RANDOM_UID_MESSAGE = "this card shows a random ID (phone or passport): scan the loyalty card itself"


def parse_uid(raw: str) -> CardRead:
    """A 4, 7 or 10 byte UID in hex; a 4-byte UID starting 0x08 is random per tap (ISO 14443-3)."""
    text = raw.strip().replace(":", "").replace(" ", "").upper()
    if text.startswith(NFC_PREFIX.rstrip(":")):
        text = text[3:].lstrip(":")
    try:
        uid = bytes.fromhex(text)
    except ValueError:
        return CardRead.bad(Source.NFC, raw, "unreadable card, please tap again")
    if len(uid) not in (4, 7, 10):
        return CardRead.bad(Source.NFC, raw, "unreadable card, please tap again")
    if len(uid) == 4 and uid[0] == 0x08:
        return CardRead.bad(Source.NFC, raw, RANDOM_UID_MESSAGE)
    return CardRead.good(Source.NFC, raw, NFC_PREFIX + uid.hex().upper())
