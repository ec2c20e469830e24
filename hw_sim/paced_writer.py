"""A reader's paced bytes written from a process of its own, as a real device's clock is its own.

Why: `SerialDeviceSim.send(pace=True)` sleeps between bytes on a thread of the process it runs in. When that
process is the app's (the swipe probe), each byte's wake-up waits for the GIL behind the app's work: a 16-byte
frame took up to ~60 ms to write instead of 16.7 ms, and that delay was counted as the app's. A reader on the
wire is never slowed by the till's CPU; this child writes on the pty's master like it, stamping the first byte
and the terminator on the system's monotonic clock (`time.perf_counter` on Linux), the same clock in every
process.

`python -m hw_sim.paced_writer FD BYTE_SECONDS`: reads one frame per line on stdin as hex (frame, then a
terminator after a space), writes it paced to FD, and prints `first last` (when its first byte went out, and
when the terminator did, one byte-time after the frame's last byte).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time


class PacedWriter:
    """A child process that writes frames paced at the device's baud rate on a pty master it inherits."""

    def __init__(self, master: int, byte_seconds: float) -> None:
        self._child = subprocess.Popen(
            [sys.executable, "-m", "hw_sim.paced_writer", str(master), repr(byte_seconds)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, pass_fds=(master,))

    def send(self, frame: bytes, terminator: bytes) -> tuple[float, float]:
        """Write `frame` paced, then `terminator` one byte-time after its last byte: (first, terminator) times."""
        assert self._child.stdin is not None and self._child.stdout is not None
        self._child.stdin.write(f"{frame.hex()} {terminator.hex()}\n")
        self._child.stdin.flush()
        first, last = self._child.stdout.readline().split()
        return float(first), float(last)

    def close(self) -> None:
        if self._child.stdin is not None:
            self._child.stdin.close()
        try:
            self._child.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._child.kill()
            self._child.wait()


def _write_paced(fd: int, frame: bytes, terminator: bytes, step: float) -> tuple[float, float]:
    start = time.perf_counter()
    for i in range(len(frame)):
        os.write(fd, frame[i : i + 1])
        delay = start + (i + 1) * step - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
    last = time.perf_counter()
    os.write(fd, terminator)
    return start, last


def main(argv: list[str]) -> int:
    fd, step = int(argv[0]), float(argv[1])
    for line in sys.stdin:
        frame, terminator = (bytes.fromhex(part) for part in line.split())
        first, last = _write_paced(fd, frame, terminator, step)
        print(f"{first!r} {last!r}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
