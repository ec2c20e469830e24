"""`hw-sim nfc`: a virtual contactless card for Debian's vsmartcard `vpcd` PC/SC driver.

vpcd (loaded by pcscd) listens on a TCP port per slot; the card connects to it as a client. Every
message either way is a 2-byte big-endian length then the payload. From vpcd, a 1-byte payload is
a control message (0 power off, 1 power on, 2 reset, 4 get ATR: answered with the ATR); anything
longer is a command APDU, answered with the response APDU. The card is *present* while the socket is
connected: tap() connects, lift() closes.

Debian's vpcd writes the length and the payload in two writes; with delayed ACKs each APDU would then
cost ~40 ms, so the card sets TCP_QUICKACK before every receive (the kernel clears it again).

Card kinds: `uid` (answers GET DATA UID only), `type4` (NFC Forum Type 4 Tag with an NDEF loyalty
id), `type2` (an NTAG-like NFC Forum Type 2 Tag, read in 4-byte pages through the reader's READ BINARY
pseudo-APDU), `emv` (a payment card that answers the PSE/PPSE directory).
"""

from __future__ import annotations

import argparse
import contextlib
import socket
import struct
import sys
import threading
import time

from drivers import ndef
from hw_sim import exit_on_sigterm

DEFAULT_PORT = 0x8C7B  # 35963, vpcd's default in /etc/reader.conf.d/vpcd
ATR = bytes.fromhex("3B80800101")  # ISO 14443-4 card behind a PC/SC contactless reader, no historical bytes
# PC/SC part 3 ATR of a storage card, card name 00 03 (MIFARE Ultralight / NTAG: NFC Forum Type 2)
ATR_TYPE2 = bytes.fromhex("3B8F8001804F0CA0000003060300030000000068")
KINDS = ("uid", "type4", "type2", "emv")
SW_OK, SW_NOT_FOUND, SW_WRONG_P1P2, SW_WRONG_LENGTH = b"\x90\x00", b"\x6a\x82", b"\x6b\x00", b"\x67\x00"
SW_NO_EF, SW_INS = b"\x69\x86", b"\x6d\x00"
NDEF_AID = bytes.fromhex("D2760000850101")
PSE, PPSE = b"1PAY.SYS.DDF01", b"2PAY.SYS.DDF01"
VISA_AID = bytes.fromhex("A0000000031010")


def _tlv(tag: bytes, value: bytes) -> bytes:
    return tag + bytes([len(value)]) + value


def emv_fci(name: bytes) -> bytes:
    """The FCI a payment card answers to SELECT PSE/PPSE: its directory with one Visa application."""
    entry = _tlv(b"\x61", _tlv(b"\x4f", VISA_AID) + _tlv(b"\x87", b"\x01"))
    prop = _tlv(b"\xa5", _tlv(b"\xbf\x0c", entry) if name == PPSE else _tlv(b"\x88", b"\x01"))
    return _tlv(b"\x6f", _tlv(b"\x84", name) + prop)


def type4_files(message: bytes, *, max_read: int = 0x3B) -> dict[bytes, bytes]:
    """CC file E103 and NDEF file E104 of a Type 4 tag (mapping version 2.0, read-only)."""
    size = max(len(message) + 2, 0x80)
    cc = struct.pack(">HBHH", 15, 0x20, max_read, 0x34) + bytes([0x04, 0x06]) + b"\xe1\x04"
    cc += struct.pack(">H", size) + b"\x00\xff"
    return {b"\xe1\x03": cc, b"\xe1\x04": struct.pack(">H", len(message)) + message}


def type2_memory(message: bytes, uid: bytes) -> bytes:
    """NTAG213-like memory: UID pages, the CC in page 3, then the NDEF TLV and a terminator TLV."""
    uid7 = (uid + bytes(7))[:7]
    tlv = b"\x03" + (bytes([len(message)]) if len(message) < 0xFF else b"\xff" + len(message).to_bytes(2, "big"))
    data = tlv + message + b"\xfe"
    size = max(144, (len(data) + 7) // 8 * 8)
    memory = uid7[:3] + b"\x88" + uid7[3:7] + b"\x00\x48\x00\x00" + bytes([0xE1, 0x10, size // 8, 0x0F])
    memory += data + bytes(size - len(data))
    return memory


class CardApplet:
    """The card's answers to APDUs, kept apart from the socket so it can be reasoned about alone."""

    def __init__(self, kind: str, uid: bytes, ndef_message: bytes = b"", *, max_read: int = 0x3B) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown card kind {kind!r}; one of {', '.join(KINDS)}")
        self.kind, self.uid = kind, uid
        self.files = type4_files(ndef_message, max_read=max_read) if kind == "type4" else {}
        self.memory = type2_memory(ndef_message, uid) if kind == "type2" else b""
        self.fail: dict[int, bytes] = {}  # INS -> status word, to test error handling
        self.reset()

    def reset(self) -> None:
        self.app_selected = False
        self.current: bytes | None = None

    def process(self, apdu: bytes) -> bytes:
        if len(apdu) < 4:
            return SW_WRONG_LENGTH
        cla, ins, p1, p2 = apdu[:4]
        body = apdu[5 : 5 + apdu[4]] if len(apdu) > 5 else b""
        if ins in self.fail:
            return self.fail[ins]
        if cla == 0xFF and ins == 0xCA and p1 == 0x00:  # GET DATA UID, answered by the PC/SC reader
            return self.uid + SW_OK
        if cla == 0xFF and ins == 0xB0:  # the reader's READ BINARY on a storage card: 16 bytes from page P2
            if self.kind != "type2" or p2 * 4 >= len(self.memory):
                return b"\x6a\x81" if self.kind != "type2" else SW_WRONG_P1P2
            return (self.memory[p2 * 4 : p2 * 4 + 16] + bytes(16))[: apdu[4] or 16] + SW_OK
        if ins == 0xA4 and p1 == 0x04:
            return self._select_name(body)
        if ins == 0xA4 and p1 == 0x00 and self.app_selected:
            if body in self.files:
                self.current = body
                return SW_OK
            return SW_NOT_FOUND
        if ins == 0xB0:
            return self._read_binary((p1 << 8) | p2, apdu[4] if len(apdu) == 5 else 0)
        return SW_NOT_FOUND if ins == 0xA4 else SW_INS

    def _select_name(self, name: bytes) -> bytes:
        self.reset()
        if self.kind == "emv" and name in (PSE, PPSE):
            return emv_fci(name) + SW_OK
        if self.kind == "type4" and name == NDEF_AID:
            self.app_selected = True
            return SW_OK
        return SW_NOT_FOUND

    def _read_binary(self, offset: int, length: int) -> bytes:
        if self.current is None:
            return SW_NO_EF
        data = self.files[self.current]
        if offset > len(data):
            return SW_WRONG_P1P2
        return data[offset : offset + (length or 256)] + SW_OK


def _recv_exact(sock: socket.socket, n: int) -> bytes | None:
    buf = b""
    while len(buf) < n:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
        chunk = sock.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


class VirtualCard:
    """A card on the vpcd reader: tap() puts it on the reader, lift() takes it away.

    `lift_after` makes the card vanish on receiving its Nth APDU (counting from 1), which is how
    the tests lift a card in the middle of a read; `fail` maps an INS byte to the status word the
    card answers it with (e.g. {0xB0: b"\\x6a\\x82"}); `stall_at` holds the answer to that APDU
    until release(), so a test can pull the reader (stop pcscd) in the middle of a read.
    `apdu_count` and `apdu_seconds` measure what went over the wire.
    """

    def __init__(
        self,
        kind: str = "uid",
        *,
        uid: str | bytes = "04A2B3C4D5E680",
        loyalty_id: str | None = None,
        record: str = "text",
        host: str = "127.0.0.1",
        port: int = DEFAULT_PORT,
        quickack: bool = True,
        lift_after: int | None = None,
        fail: dict[int, bytes] | None = None,
        stall_at: int | None = None,
    ) -> None:
        self.uid = bytes.fromhex(uid) if isinstance(uid, str) else uid
        message = b""
        if kind in ("type4", "type2"):
            if not loyalty_id:
                raise ValueError(f"a {kind} card needs a loyalty id")
            rec = ndef.text_record(loyalty_id) if record == "text" else ndef.uri_record(record.format(id=loyalty_id))
            message = ndef.encode_message([rec])
        self.applet = CardApplet(kind, self.uid, message)
        self.applet.fail = dict(fail or {})
        self.atr = ATR_TYPE2 if kind == "type2" else ATR
        self.kind, self.host, self.port, self.quickack = kind, host, port, quickack
        self.lift_after = lift_after
        self.stall_at = stall_at
        self.stalled = threading.Event()  # set while the card holds its answer to APDU number `stall_at`
        self._release = threading.Event()
        self.apdu_count = 0
        self.apdu_seconds: list[float] = []
        self.connected = threading.Event()
        self._sock: socket.socket | None = None
        self._present = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name=f"vicc-{kind}", daemon=True)
        self._thread.start()

    # control API -----------------------------------------------------------------------
    def tap(self) -> VirtualCard:
        """Put the card on the reader (connect to vpcd; retried while pcscd is not up)."""
        self._present.set()
        return self

    def lift(self) -> None:
        """Take the card off the reader (close the connection)."""
        self._present.clear()
        self._drop()

    def release(self) -> None:
        """Let a stalled card answer (or notice it has been cut off)."""
        self._release.set()

    def stop(self) -> None:
        self._release.set()
        self._stop.set()
        self.lift()
        self._thread.join(timeout=2)

    def __enter__(self) -> VirtualCard:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # the card ---------------------------------------------------------------------------
    def _drop(self) -> None:
        with self._lock:
            sock, self._sock = self._sock, None
        self.connected.clear()
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            if not self._present.wait(0.05):
                continue
            try:
                sock = socket.create_connection((self.host, self.port), timeout=0.5)
            except OSError:
                self._stop.wait(0.1)  # vpcd not listening yet (pcscd starting or stopped)
                continue
            sock.settimeout(None)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                if not self._present.is_set():
                    sock.close()
                    continue
                self._sock = sock
            self.applet.reset()
            self.connected.set()
            try:
                self._serve(sock)
            except OSError:
                pass
            finally:
                self._drop()
                # vpcd closed on us (pcscd stopped): stay on the reader and reconnect when it is back
                self._stop.wait(0.05)

    def _recv(self, sock: socket.socket, n: int) -> bytes | None:
        if not self.quickack:
            buf = b""
            while len(buf) < n:
                chunk = sock.recv(n - len(buf))
                if not chunk:
                    return None
                buf += chunk
            return buf
        return _recv_exact(sock, n)

    def _serve(self, sock: socket.socket) -> None:
        while True:
            head = self._recv(sock, 2)
            if head is None:
                return
            size = int.from_bytes(head, "big")
            payload = self._recv(sock, size) if size else b""
            if payload is None:
                return
            start = time.perf_counter()
            if size == 1:
                answer = self._control(payload[0])
            else:
                self.apdu_count += 1
                if self.lift_after is not None and self.apdu_count >= self.lift_after:
                    self.lift_after = None
                    self._present.clear()
                    return
                if self.stall_at is not None and self.apdu_count >= self.stall_at:
                    self.stall_at = None
                    self.stalled.set()
                    self._release.wait(10)
                answer = self.applet.process(payload)
            if answer is not None:
                sock.sendall(len(answer).to_bytes(2, "big") + answer)
            if size > 1:
                self.apdu_seconds.append(time.perf_counter() - start)

    def _control(self, code: int) -> bytes | None:
        if code == 4:
            return self.atr
        if code in (0, 1, 2):  # power off / on / reset: the card's volatile state goes
            self.applet.reset()
        return None


def _run_cli(args: argparse.Namespace) -> int:
    exit_on_sigterm()
    card = VirtualCard(
        args.kind, uid=args.uid, loyalty_id=args.loyalty_id, record=args.record, host=args.host, port=args.port
    )
    card.tap()
    print(f"hw-sim nfc: {args.kind} card on {args.host}:{args.port}; commands: tap, lift, quit", flush=True)
    try:
        for line in sys.stdin:
            cmd = line.strip().lower()
            if cmd == "tap":
                card.tap()
            elif cmd == "lift":
                card.lift()
            elif cmd in ("quit", "exit"):
                break
            elif cmd:
                print(f"hw-sim nfc: unknown command {cmd!r} (tap, lift, quit)", file=sys.stderr, flush=True)
        else:
            threading.Event().wait()  # stdin closed: keep the card on the reader until interrupted
    except KeyboardInterrupt:
        pass
    finally:
        card.stop()
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("nfc", help="virtual contactless card for the vpcd PC/SC driver")
    p.add_argument("--kind", choices=KINDS, default="uid")
    p.add_argument("--uid", default="04A2B3C4D5E680", help="UID in hex (4, 7 or 10 bytes)")
    p.add_argument("--loyalty-id", help="loyalty id stored in NDEF (type4, type2)")
    p.add_argument(
        "--record", default="text", help='"text", or a URI template such as "https://club.example/c/{id}"'
    )
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help="vpcd port (reader.conf DEVICENAME)")
    p.set_defaults(run=_run_cli)
