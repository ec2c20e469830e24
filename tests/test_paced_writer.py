"""hw_sim's paced writer: a device's bytes from a process of its own, on a real pty, at the baud rate's pace."""

from __future__ import annotations

import os
import time
import tty

from hw_sim.paced_writer import PacedWriter


def _read_all(fd: int, n: int, deadline: float) -> bytes:
    got = b""
    while len(got) < n and time.monotonic() < deadline:
        got += os.read(fd, n - len(got))
    return got


def test_a_frame_arrives_whole_at_the_pace_stamped_on_the_callers_clock():
    master, slave = os.openpty()
    tty.setraw(slave)  # as a serial port is opened: no line discipline between the bytes
    writer = PacedWriter(master, 10 / 9600)
    try:
        frame = b";2900000000018?"
        before = time.perf_counter()
        first, last = writer.send(frame, b"\r")
        after = time.perf_counter()
        assert _read_all(slave, len(frame) + 1, time.monotonic() + 5) == frame + b"\r"
        assert before <= first < last <= after  # the child's stamps are on this process's perf_counter clock
        assert last - first >= len(frame) * 10 / 9600  # one byte-time per byte, the terminator after the last
        again = writer.send(b"12", b"\n")  # one child serves a session's swipes
        assert _read_all(slave, 3, time.monotonic() + 5) == b"12\n" and again[0] > last
    finally:
        writer.close()
        os.close(master)
        os.close(slave)
