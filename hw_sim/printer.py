"""`hw-sim printer`: a network ESC/POS receipt printer (raw TCP, port 9100) that decodes its input.

With `--link PATH` it is a serial printer instead: a pseudo-terminal whose other end is at PATH
(open it as `serial://PATH?baudrate=38400`); status replies go back over the same line.

Each receipt (up to a cut) is written to the output directory as `receipt-NNNN.txt` (decoded
text, `[BARCODE CODE128: ...]` / `[QR: ...]` markers) and `receipt-NNNN.png`. It answers
DLE EOT 1-4 with real status bytes and can be switched to paper-out, cover-open, paper
near-end or offline. Like a real printer, once the paper is out nothing more is printed:
the bytes are read (so status requests are still answered) but dropped, and the part
printed before the paper ran out is kept aside as a torn receipt. The till finds out by
asking for the status after sending, which is what `pos_client.services.printing` does.

In-process control (tests, the demo):
    sim = PrinterSim(port=0, out_dir=tmp).start(); sim.paper_out(True); sim.receipts; sim.stop()
"""

from __future__ import annotations

import argparse
import os
import select
import socket
import sys
import threading
import tty
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from hw_sim.escpos_decode import Decoder, Page, code_page_table
from hw_sim.receipt_png import render_png

# DLE EOT n status bytes: bits 1 and 4 are always set, bits 0 and 7 always clear.
FIXED = 0x12
OFFLINE = 0x08              # n=1
COVER_OPEN = 0x04           # n=2
STOPPED_PAPER_END = 0x20    # n=2
ERROR_OCCURRED = 0x40       # n=2
AUTO_RECOVERABLE = 0x40     # n=3
PAPER_NEAR_END = 0x0C       # n=4
PAPER_END = 0x60            # n=4


@dataclass
class SimReceipt:
    """One cut receipt as received: decoded page, text, and the files written for it."""

    number: int
    page: Page
    text: str
    txt_path: Path | None = None
    png_path: Path | None = None
    torn: bool = False


class PrinterSim:
    """The simulated printer: a listening socket, one connection served at a time, like port 9100."""

    def __init__(
        self,
        port: int = 9100,
        out_dir: str | Path | None = None,
        host: str = "127.0.0.1",
        profile: str | None = "TM-T88V",
        png: bool = True,
        link: str | Path | None = None,
        on_receipt: Callable[[SimReceipt], None] | None = None,
    ) -> None:
        self.host, self.requested_port = host, port
        self.out_dir = Path(out_dir) if out_dir else None
        self.profile = profile
        self.png = png
        self.columns = _columns(profile)
        self.code_pages = code_page_table(profile)
        self.receipts: list[SimReceipt] = []
        self.torn: list[SimReceipt] = []
        self.status_queries = 0
        self._lock = threading.Lock()
        self._paper_out = self._offline = self._cover_open = self._near_end = self._error = False
        self._paper_budget: int | None = None
        self._stop = threading.Event()
        self._sock: socket.socket | None = None
        self._conn: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._counter = 0
        self.port = port
        self.link = Path(link) if link else None  # serial mode: a pty instead of a TCP port
        self._pty: tuple[int, int] | None = None
        self.on_receipt = on_receipt

    # -- control API ------------------------------------------------------
    def start(self) -> PrinterSim:
        self._stop.clear()  # a stopped simulator can be switched on again
        if self.out_dir:
            self.out_dir.mkdir(parents=True, exist_ok=True)
        if self.link is not None:
            master = self._start_pty(self.link)
            self._thread = threading.Thread(target=self._serve_pty, args=(master,), name=f"printer-sim:{self.link}",
                                            daemon=True)
            self._thread.start()
            return self
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.requested_port))
        sock.listen(4)
        sock.settimeout(0.2)
        self._sock, self.port = sock, sock.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, name=f"printer-sim:{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        for s in (self._conn, self._sock):
            if s is not None:
                try:
                    s.shutdown(socket.SHUT_RDWR)  # wakes a blocked accept/recv at once
                except OSError:
                    pass
                try:
                    s.close()
                except OSError:
                    pass
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._pty is not None:
            for fd in self._pty:
                try:
                    os.close(fd)
                except OSError:
                    pass
            self._pty = None
            if self.link is not None and self.link.is_symlink():
                self.link.unlink()

    @property
    def url(self) -> str:
        if self.link is not None:
            return f"serial://{self.link}?baudrate=38400"
        return f"tcp://{self.host}:{self.port}"

    def paper_out(self, flag: bool = True) -> None:
        """Take the roll out (True) or load a new one (False)."""
        with self._lock:
            self._paper_out = flag
            self._paper_budget = None

    def paper_out_after(self, nbytes: int) -> None:
        """The roll ends after `nbytes` bytes of print data in a connection: paper out in mid-receipt."""
        with self._lock:
            self._paper_budget = nbytes

    def offline(self, flag: bool = True) -> None:
        with self._lock:
            self._offline = flag

    def error(self, flag: bool = True) -> None:
        """An auto-recoverable error (head too hot, say): offline, with the error bits set."""
        with self._lock:
            self._error = flag

    def cover_open(self, flag: bool = True) -> None:
        with self._lock:
            self._cover_open = flag

    def paper_near_end(self, flag: bool = True) -> None:
        with self._lock:
            self._near_end = flag

    def state(self) -> dict[str, bool]:
        with self._lock:
            return {"paper_out": self._paper_out, "offline": self._offline, "cover_open": self._cover_open,
                    "paper_near_end": self._near_end, "error": self._error}

    def status_byte(self, n: int) -> bytes:
        """What DLE EOT n answers in the current state."""
        with self._lock:
            stopped = self._paper_out or self._offline or self._cover_open or self._error
            value = FIXED
            if n == 1 and stopped:
                value |= OFFLINE
            elif n == 2:
                value |= (COVER_OPEN if self._cover_open else 0) | (STOPPED_PAPER_END if self._paper_out else 0)
                value |= ERROR_OCCURRED if self._error else 0
            elif n == 3 and self._error:
                value |= AUTO_RECOVERABLE
            elif n == 4:
                value |= (PAPER_END if self._paper_out else 0) | (PAPER_NEAR_END if self._near_end else 0)
        return bytes([value])

    # -- serving ----------------------------------------------------------
    def _serve(self) -> None:
        assert self._sock is not None
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self._conn = conn
            try:
                self._handle(conn)
            finally:
                self._conn = None
                try:
                    conn.close()
                except OSError:
                    pass

    def _handle(self, conn: socket.socket) -> None:
        conn.settimeout(0.2)

        def recv() -> bytes | None:
            try:
                return conn.recv(65536)
            except TimeoutError:
                return None
            except OSError:
                return b""

        def send(data: bytes) -> None:
            try:
                conn.sendall(data)
            except OSError:
                pass

        self._run(recv, send)

    def _run(self, recv: Callable[[], bytes | None], send: Callable[[bytes], None]) -> None:
        """Decode one link until it ends: recv() gives bytes, None when idle, b"" at the end."""
        dec: Decoder

        def on_status(n: int) -> bytes:
            self.status_queries += 1
            return self.status_byte(n)

        def accepting() -> bool:
            with self._lock:
                if self._paper_budget is not None and dec.printed_bytes >= self._paper_budget:
                    self._paper_out, self._paper_budget = True, None
                ok = not (self._paper_out or self._offline or self._cover_open or self._error)
            if not ok and (dec.page.items or dec.line):
                torn = dec.discard_page()
                if torn is not None:
                    self._store(torn, torn_off=True)
            return ok

        dec = Decoder(self.code_pages, on_status=on_status, accepting=accepting, respond=send,
                      on_page=self._store)
        while not self._stop.is_set():
            data = recv()
            if data is None:
                continue
            if not data:
                break
            dec.feed(data)
        tail = dec.flush()  # a printer without a cutter: the receipt ends with the job
        if tail is not None:
            self._store(tail)

    # -- serial: a pseudo-terminal whose other end is at `link` -------------
    def _start_pty(self, link: Path) -> int:
        """Open the pty, point `link` at its device; returns the simulator's (master) end."""
        master, slave = os.openpty()
        tty.setraw(slave)  # no echo, no newline translation: a serial line carries bytes as they are
        if link.is_symlink() or link.exists():
            link.unlink()
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(os.ttyname(slave))
        self._pty = (master, slave)
        return master

    def _serve_pty(self, master: int) -> None:
        def recv() -> bytes | None:
            try:
                ready, _, _ = select.select([master], [], [], 0.2)
                return os.read(master, 65536) if ready else None
            except OSError:
                return b""

        def send(data: bytes) -> None:
            try:
                os.write(master, data)
            except OSError:
                pass

        self._run(recv, send)

    def _store(self, page: Page, torn_off: bool = False) -> SimReceipt:
        self._counter += 1
        rec = SimReceipt(self._counter, page, page.text(self.columns), torn=torn_off)
        if self.out_dir:
            stem = f"receipt-{self._counter:04d}" + ("-torn" if torn_off else "")
            rec.txt_path = self.out_dir / f"{stem}.txt"
            rec.txt_path.write_text(rec.text, encoding="utf-8")
            if self.png:
                rec.png_path = render_png(page, self.out_dir / f"{stem}.png", self.columns)
        (self.torn if torn_off else self.receipts).append(rec)
        if self.on_receipt is not None:
            self.on_receipt(rec)
        return rec


def _columns(profile: str | None) -> int:
    if not profile:
        return 42
    from drivers import escpos_adapter  # why: imports escpos (~150 ms), only for a named profile

    return escpos_adapter.profile(profile).columns


# -- CLI ---------------------------------------------------------------------
COMMANDS = {"paper-out": "paper_out", "offline": "offline", "cover": "cover_open", "near-end": "paper_near_end",
            "error": "error"}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("printer", help="TCP ESC/POS receipt printer writing receipts as .txt and .png")
    p.add_argument("--port", type=int, default=9100)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--link", help="serial printer instead: a pseudo-terminal whose other end is at LINK")
    p.add_argument("--out", required=True, help="directory for receipt-NNNN.txt/.png")
    p.add_argument("--profile", default="TM-T88V", help="escpos capability profile (code pages, width)")
    p.add_argument("--no-png", action="store_true", help="write only the .txt files")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    def announce(rec: SimReceipt) -> None:
        print(f"{'torn receipt' if rec.torn else 'receipt'} {rec.number}: {rec.txt_path}", flush=True)

    sim = PrinterSim(args.port, args.out, args.host, args.profile, png=not args.no_png, link=args.link,
                     on_receipt=announce).start()
    print(f"printer listening on {sim.url.split('?')[0]}, receipts in {args.out}", flush=True)
    print("commands: paper-out|offline|cover|near-end|error on|off, status, quit", flush=True)
    try:
        for line in sys.stdin:
            words = line.split()
            if not words:
                continue
            if words[0] in ("quit", "exit"):
                break
            if words[0] == "status":
                print(sim.state(), flush=True)
            elif words[0] in COMMANDS and len(words) == 2 and words[1] in ("on", "off"):
                getattr(sim, COMMANDS[words[0]])(words[1] == "on")
                print(sim.state(), flush=True)
            else:
                print(f"unknown command: {line.strip()}", flush=True)
        else:
            sim._stop.wait()  # stdin closed (run in the background): serve until killed
    except KeyboardInterrupt:
        pass
    finally:
        sim.stop()
    return 0
