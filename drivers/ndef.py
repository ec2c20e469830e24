"""A small NDEF (NFC Data Exchange Format) parser and builder: just what a loyalty card needs.

Loyalty cards and phone wallets carry the member's id as a Text record ("290000000001") or a URI
record ("https://club.example/c/290000000001" or "...?id=290000000001"). Records may be short
(1-byte payload length) or long (4 bytes); chunked records are refused, no loyalty card uses them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import parse_qs, unquote, urlsplit

TNF_EMPTY, TNF_WELL_KNOWN, TNF_MEDIA, TNF_ABSOLUTE_URI, TNF_EXTERNAL = 0, 1, 2, 3, 4

# NFC Forum URI Record Type Definition, table 3: abbreviations for the start of the URI.
URI_PREFIXES: tuple[str, ...] = (
    "", "http://www.", "https://www.", "http://", "https://", "tel:", "mailto:",
    "ftp://anonymous:anonymous@", "ftp://ftp.", "ftps://", "sftp://", "smb://", "nfs://", "ftp://",
    "dav://", "news:", "telnet://", "imap:", "rtsp://", "urn:", "pop:", "sip:", "sips:", "tftp:",
    "btspp://", "btl2cap://", "btgoep://", "tcpobex://", "irdaobex://", "file://", "urn:epc:id:",
    "urn:epc:tag:", "urn:epc:pat:", "urn:epc:raw:", "urn:epc:", "urn:nfc:",
)  # fmt: skip


class NdefError(ValueError):
    """The bytes are not a well-formed NDEF message (truncated, chunked, bad header)."""


@dataclass(frozen=True)
class Record:
    tnf: int
    type: bytes
    payload: bytes
    id: bytes = b""

    def text(self) -> str | None:
        """The text of a well-known Text record ("T"), else None."""
        if self.tnf != TNF_WELL_KNOWN or self.type != b"T" or not self.payload:
            return None
        status = self.payload[0]
        lang_len = status & 0x3F
        body = self.payload[1 + lang_len :]
        return body.decode("utf-16" if status & 0x80 else "utf-8", errors="strict")

    def uri(self) -> str | None:
        """The URI of a well-known URI record ("U") or an absolute-URI record, else None."""
        if self.tnf == TNF_WELL_KNOWN and self.type == b"U" and self.payload:
            code = self.payload[0]
            prefix = URI_PREFIXES[code] if code < len(URI_PREFIXES) else ""
            return prefix + self.payload[1:].decode("utf-8", errors="strict")
        if self.tnf == TNF_ABSOLUTE_URI:
            return self.type.decode("utf-8", errors="strict")
        return None


def parse_message(data: bytes) -> list[Record]:
    """Parse an NDEF message into records; raise NdefError on anything malformed."""
    records: list[Record] = []
    pos = 0
    while pos < len(data):
        header = data[pos]
        pos += 1
        mb, me, cf, sr, il, tnf = header & 0x80, header & 0x40, header & 0x20, header & 0x10, header & 0x08, header & 7
        if not records and not mb:
            raise NdefError("first record lacks the message-begin flag")
        if cf:
            raise NdefError("chunked NDEF records are not supported")
        if tnf in (6, 7):
            raise NdefError(f"unexpected TNF {tnf} (unchanged or reserved)")
        need = 1 + (1 if sr else 4) + (1 if il else 0)
        if pos + need > len(data):
            raise NdefError("truncated record header")
        type_len = data[pos]
        pos += 1
        if sr:
            payload_len = data[pos]
            pos += 1
        else:
            payload_len = int.from_bytes(data[pos : pos + 4], "big")
            pos += 4
        id_len = 0
        if il:
            id_len = data[pos]
            pos += 1
        end = pos + type_len + id_len + payload_len
        if end > len(data):
            raise NdefError("truncated record")
        rtype = data[pos : pos + type_len]
        pos += type_len
        rid = data[pos : pos + id_len]
        pos += id_len
        payload = data[pos : pos + payload_len]
        pos += payload_len
        records.append(Record(tnf, bytes(rtype), bytes(payload), bytes(rid)))
        if me:
            return records
    raise NdefError("message ends without the message-end flag" if records else "empty NDEF message")


def encode_record(record: Record, *, first: bool, last: bool) -> bytes:
    """One record, short form when the payload fits in 255 bytes, long form otherwise."""
    short = len(record.payload) < 256
    header = (0x80 if first else 0) | (0x40 if last else 0) | (0x10 if short else 0)
    header |= (0x08 if record.id else 0) | record.tnf
    out = bytes([header, len(record.type)])
    out += bytes([len(record.payload)]) if short else len(record.payload).to_bytes(4, "big")
    if record.id:
        out += bytes([len(record.id)])
    return out + record.type + record.id + record.payload


def encode_message(records: Iterable[Record]) -> bytes:
    items = list(records)
    return b"".join(encode_record(r, first=i == 0, last=i == len(items) - 1) for i, r in enumerate(items))


def text_record(text: str, lang: str = "en") -> Record:
    code = lang.encode("ascii")
    return Record(TNF_WELL_KNOWN, b"T", bytes([len(code)]) + code + text.encode("utf-8"))


def uri_record(uri: str) -> Record:
    """Abbreviate with the longest matching prefix code, as tag writers do."""
    matches = [i for i in range(1, len(URI_PREFIXES)) if uri.startswith(URI_PREFIXES[i])]
    code = max(matches, key=lambda i: len(URI_PREFIXES[i]), default=0)
    return Record(TNF_WELL_KNOWN, b"U", bytes([code]) + uri[len(URI_PREFIXES[code]) :].encode("utf-8"))


def loyalty_id_from_uri(uri: str) -> str | None:
    """`id` or `card` query parameter, else the last path segment if it looks like a card number.

    A tag may carry an ordinary web link ("https://shop.example/promo"): a path segment only counts
    when it has 6+ characters including a digit, so a page name never becomes a member's card.
    """
    parts = urlsplit(uri)
    query = parse_qs(parts.query)
    for key in ("id", "card"):
        if query.get(key) and query[key][0].strip():
            return query[key][0].strip()
    path = parts.path.rstrip("/")
    segment = unquote(path.rsplit("/", 1)[-1] if parts.netloc or "/" in path else path.rsplit(":", 1)[-1]).strip()
    if len(segment) >= 6 and any(c.isdigit() for c in segment):
        return segment
    return None


def loyalty_ids(records: Iterable[Record]) -> list[str]:
    """Candidate loyalty ids, in record order: Text records and URI records."""
    found: list[str] = []
    for record in records:
        try:
            text = record.text()
            uri = None if text is not None else record.uri()
        except (UnicodeDecodeError, ValueError):
            continue
        if text is not None and text.strip():
            found.append(text.strip())
        elif uri is not None:
            value = loyalty_id_from_uri(uri)
            if value:
                found.append(value)
    return found
