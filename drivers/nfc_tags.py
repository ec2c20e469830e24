"""The APDU dialogue with a tapped card: payment card?, NFC Forum Type 4 NDEF loyalty id?, UID.

Pure logic over a `transmit(apdu) -> (data, sw)` function, so the same code runs against pyscard
in the till and could run against any other transport. The order matters:

1. SELECT the EMV payment directories (PPSE `2PAY.SYS.DDF01`, PSE `1PAY.SYS.DDF01`): a card that
   answers 90 00 is a bank card; nothing more is read from it, no number is kept.
2. The NFC Forum Type 4 Tag application (`D2760000850101`): capability container `E103`, then the
   NDEF file it names. Its Text or URI records are candidate loyalty ids.
   Otherwise an NFC Forum Type 2 Tag (NTAG, Ultralight): the PC/SC reader's READ BINARY
   (`FF B0 00 <page> 10`) gives 4 pages at a time; page 3 is the capability container (E1 ...),
   the NDEF message TLV (03) follows from page 4.
3. GET DATA UID (`FF CA 00 00 00`), answered by the PC/SC reader itself.

A card with an NDEF application whose files fail mid-read raises `TagReadError` rather than falling
back to the UID: the same card must never show up under two different numbers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from drivers import ndef

Transmit = Callable[[bytes], tuple[bytes, int]]

PSE = b"1PAY.SYS.DDF01"
PPSE = b"2PAY.SYS.DDF01"
NDEF_AID = bytes.fromhex("D2760000850101")
CC_FILE = bytes.fromhex("E103")
GET_UID = bytes.fromhex("FFCA000000")
SW_OK = 0x9000
READ_AGAIN = "card could not be read, tap again"


class TagReadError(Exception):
    """A read that started and failed (error status word, short answer): ask for another tap."""


@dataclass(frozen=True)
class TagInfo:
    payment: bool = False
    uid: bytes | None = None
    loyalty_ids: list[str] = field(default_factory=list)


def select_by_name(name: bytes) -> bytes:
    return bytes([0x00, 0xA4, 0x04, 0x00, len(name)]) + name + b"\x00"


def select_file(fid: bytes) -> bytes:
    return bytes([0x00, 0xA4, 0x00, 0x0C, len(fid)]) + fid


def read_binary(offset: int, length: int) -> bytes:
    return bytes([0x00, 0xB0, (offset >> 8) & 0x7F, offset & 0xFF, length & 0xFF])


def _ok(sw: int) -> bool:
    return sw == SW_OK or (sw >> 8) == 0x61  # 61xx: more data waiting (T=0), still a success


def is_payment_card(transmit: Transmit) -> bool:
    for name in (PPSE, PSE):
        _, sw = transmit(select_by_name(name))
        if _ok(sw):
            return True
    return False


def _read(transmit: Transmit, offset: int, length: int) -> bytes:
    data, sw = transmit(read_binary(offset, length))
    if sw != SW_OK or len(data) < length:
        raise TagReadError(f"{READ_AGAIN} (READ BINARY answered {sw:04X})")
    return data[:length]


def read_type4_ndef(transmit: Transmit) -> list[ndef.Record] | None:
    """The NDEF records of a Type 4 tag; None when there is no NDEF application or it is locked."""
    _, sw = transmit(select_by_name(NDEF_AID))
    if not _ok(sw):
        return None
    _, sw = transmit(select_file(CC_FILE))
    if sw != SW_OK:
        raise TagReadError(f"{READ_AGAIN} (no capability container: {sw:04X})")
    cc = _read(transmit, 0, 15)
    mle = int.from_bytes(cc[3:5], "big")
    if cc[7] != 0x04 or cc[8] < 6:
        return None  # no NDEF File Control TLV: a proprietary file layout we do not read
    fid, max_size, read_access = cc[9:11], int.from_bytes(cc[11:13], "big"), cc[13]
    if read_access != 0x00:
        return None  # read-protected: consistently unreadable, so the UID is the identity
    _, sw = transmit(select_file(fid))
    if sw != SW_OK:
        raise TagReadError(f"{READ_AGAIN} (NDEF file: {sw:04X})")
    nlen = int.from_bytes(_read(transmit, 0, 2), "big")
    if nlen == 0:
        return []
    if nlen > max_size - 2:
        raise TagReadError(f"{READ_AGAIN} (NDEF length {nlen} beyond the file)")
    chunk = max(1, min(mle or 0xFF, 0xFF))
    message = b""
    while len(message) < nlen:
        size = min(chunk, nlen - len(message))
        message += _read(transmit, 2 + len(message), size)
    try:
        return ndef.parse_message(message)
    except ndef.NdefError:
        return []


def _read_pages(transmit: Transmit, page: int) -> bytes:
    data, sw = transmit(bytes([0xFF, 0xB0, 0x00, page, 0x10]))
    if sw != SW_OK or len(data) < 16:
        raise TagReadError(f"{READ_AGAIN} (READ BINARY page {page} answered {sw:04X})")
    return data[:16]


PCSC_STORAGE_RID = bytes.fromhex("A000000306")


def is_storage_card(atr: bytes) -> bool:
    """The PC/SC part 3 ATR a contactless reader builds for a memory card (Ultralight, NTAG, ...)."""
    return PCSC_STORAGE_RID in atr


def read_type2_ndef(transmit: Transmit, *, storage_card: bool = False) -> list[ndef.Record] | None:
    """The NDEF records of a Type 2 tag; None when the card is not one (or has no NDEF).

    When the ATR already says memory card, a failed first read is an error, not "some other card".
    """
    data, sw = transmit(bytes([0xFF, 0xB0, 0x00, 0x03, 0x10]))
    if sw != SW_OK or len(data) < 4:
        if storage_card:
            raise TagReadError(f"{READ_AGAIN} (READ BINARY page 3 answered {sw:04X})")
        return None
    if data[0] != 0xE1:
        return None  # a memory card without the NDEF magic number
    data_size = data[2] * 8
    if data[3] >> 4 != 0:
        return None  # read access is not granted
    area = bytearray(data[4:16])  # pages 4-6 came with page 3
    page = 7
    pos = 0
    while True:  # walk the TLVs: 00 NULL, 01/02 lock and memory control, 03 NDEF, FE terminator
        while pos + 4 > len(area) and len(area) < data_size:
            area += _read_pages(transmit, page)
            page += 4
        if pos >= len(area):
            return None
        tag = area[pos]
        if tag == 0x00:
            pos += 1
            continue
        if tag == 0xFE:
            return None
        length, head = area[pos + 1], 2
        if length == 0xFF:
            length, head = int.from_bytes(area[pos + 2 : pos + 4], "big"), 4
        end = pos + head + length
        if end > data_size:
            raise TagReadError(f"{READ_AGAIN} (NDEF TLV beyond the tag's memory)")
        while len(area) < end:
            area += _read_pages(transmit, page)
            page += 4
        if tag == 0x03:
            try:
                return ndef.parse_message(bytes(area[pos + head : end])) if length else []
            except ndef.NdefError:
                return []
        pos = end


def identify(transmit: Transmit, atr: bytes = b"") -> TagInfo:
    """Everything the till needs to know about a tapped card, in as few APDUs as possible."""
    storage = is_storage_card(atr)
    if not storage and is_payment_card(transmit):
        return TagInfo(payment=True)
    records = None if storage else read_type4_ndef(transmit)
    if records is None:
        records = read_type2_ndef(transmit, storage_card=storage)
    ids = ndef.loyalty_ids(records or [])
    data, sw = transmit(GET_UID)
    uid = data if sw == SW_OK and data else None
    return TagInfo(uid=uid, loyalty_ids=ids)
