"""`hw-sim serial magstripe|barcode --link PATH`: a magstripe reader or scanner on a pseudo-terminal.

The device's end is the pty master, kept here; its other end (the slave, `/dev/pts/N`) is what the
till opens, through a symlink at PATH, exactly like `/dev/serial/by-id/...` on a real till. Frames end
with the terminator; with `pace` the bytes go out at the baud rate's speed (8N1: 10 bits per byte,
1.04 ms at 9600). unplug() removes the link and closes the master, so the till's reads fail as on a
USB unplug; replug() makes a new pty and link.

As on real hardware, pyserial flushes the input on open: whatever is sent before the till has the
port open is lost. Tests wait for the reader's `connected` state before sending.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import threading
import time
import tty
from pathlib import Path

from drivers.serial_reader import parse_terminator
from hw_sim import exit_on_sigterm, swipes

KINDS = ("magstripe", "barcode")


class SerialDeviceSim:
    """The control API: start(), send(data), unplug(), replug(), stop()."""

    def __init__(
        self,
        kind: str,
        link: str | os.PathLike[str],
        *,
        baud: int = 9600,
        terminator: str | bytes | None = b"\r",
        pace: bool = False,
    ) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown serial device {kind!r}; one of {', '.join(KINDS)}")
        self.kind, self.link, self.baud, self.pace = kind, Path(link), baud, pace
        self.terminator = parse_terminator(terminator)
        self.master: int | None = None
        self._slave: int | None = None
        self._lock = threading.Lock()

    @property
    def byte_seconds(self) -> float:
        return 10.0 / self.baud  # start bit, 8 data bits, stop bit

    @property
    def plugged(self) -> bool:
        return self.master is not None

    def start(self) -> SerialDeviceSim:
        with self._lock:
            if self.master is not None:
                return self
            master, slave = os.openpty()
            tty.setraw(slave)  # no echo, no CR->LF mapping before the till sets its own mode
            os.set_blocking(master, False)  # a device never waits for the till: unread data is lost
            slave_name = os.ttyname(slave)
            tmp = self.link.with_name(self.link.name + ".new")
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            tmp.symlink_to(slave_name)
            tmp.replace(self.link)
            self.master, self._slave = master, slave
        return self

    def send(self, data: str | bytes, *, terminate: bool = True) -> int:
        """Write one frame (the terminator is added); paced at the baud rate when asked.

        Returns the bytes that went out: when the till has not read the port for a while its
        buffer fills and the rest is lost, as with a real device without flow control.
        """
        raw = data.encode("latin-1") if isinstance(data, str) else bytes(data)
        if terminate:
            raw += self.terminator
        with self._lock:
            if self.master is None:
                raise OSError("device unplugged")
            if not self.pace:
                try:
                    return os.write(self.master, raw)
                except BlockingIOError:
                    return 0
            start, step = time.perf_counter(), self.byte_seconds
            for i in range(len(raw)):
                try:
                    os.write(self.master, raw[i : i + 1])
                except BlockingIOError:
                    return i
                delay = start + (i + 1) * step - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
            return len(raw)

    def swipe(self, number: str, discretionary: str = "", *, with_lrc: bool = False) -> None:
        self.send(swipes.track2(number, discretionary, with_lrc=with_lrc))

    def unplug(self) -> None:
        with self._lock:
            with contextlib.suppress(FileNotFoundError):
                self.link.unlink()
            for fd in (self.master, self._slave):
                if fd is not None:
                    with contextlib.suppress(OSError):
                        os.close(fd)
            self.master = self._slave = None

    def replug(self) -> SerialDeviceSim:
        self.unplug()
        return self.start()

    def stop(self) -> None:
        self.unplug()

    def __enter__(self) -> SerialDeviceSim:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


HELP = """Each line is sent as one frame, except these commands:
  :swipe NUMBER     a loyalty card's track 2        :bank      a bank card swipe (refused)
  :garbage          bytes that are not text         :half      a frame without its terminator
  :unplug / :replug the USB cable                   :quit"""


def _command(sim: SerialDeviceSim, line: str) -> bool:
    """Run one stdin line; False to quit."""
    cmd, _, arg = line.partition(" ")
    if cmd == ":quit":
        return False
    if cmd == ":swipe":
        sim.swipe(arg.strip())
    elif cmd == ":bank":
        sim.send(swipes.bank_swipe())
    elif cmd == ":garbage":
        sim.send(swipes.garbage())
    elif cmd == ":half":
        sim.send(arg.strip() or ";2900000", terminate=False)
    elif cmd == ":unplug":
        sim.unplug()
    elif cmd == ":replug":
        sim.replug()
    elif line.startswith(":"):
        print(HELP, file=sys.stderr, flush=True)
    elif line:
        sim.send(line)
    return True


def _run_cli(args: argparse.Namespace) -> int:
    exit_on_sigterm()
    sim = SerialDeviceSim(args.kind, args.link, baud=args.baud, terminator=args.terminator, pace=args.pace).start()
    print(f"hw-sim serial: {args.kind} at {args.link} -> {os.readlink(args.link)}", flush=True)
    print(HELP, file=sys.stderr, flush=True)
    try:
        for line in sys.stdin:
            try:
                if not _command(sim, line.rstrip("\r\n")):
                    break
            except OSError as exc:
                print(f"hw-sim serial: {exc}", file=sys.stderr, flush=True)
        else:
            threading.Event().wait()  # stdin closed: stay plugged in until interrupted
    except KeyboardInterrupt:
        pass
    finally:
        sim.stop()
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serial", help="magstripe reader or barcode scanner on a pseudo-terminal")
    p.add_argument("kind", choices=KINDS)
    p.add_argument("--link", required=True, help="symlink to create to the pty (the till's port)")
    p.add_argument("--baud", type=int, default=9600)
    p.add_argument("--terminator", default="\\r", help='frame terminator, e.g. "\\r" or "\\r\\n"')
    p.add_argument("--pace", action="store_true", help="send at the baud rate's speed, byte by byte")
    p.set_defaults(run=_run_cli)
