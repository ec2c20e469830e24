"""`headoffice serve --port 0`: the server binds a port the kernel picks, keeps it, and says which.

Picking a "free" port by binding 0 and closing, then starting a server on it, leaves the port free for anyone
in between: on a busy CI machine another test's server or an outgoing connection takes it. Here the server's
own socket gets the port, so nothing is ever free in between; once it listens, the port is printed as one
line (`LINE`) and written atomically to the `--port-file` (a reader sees the whole number or no file), which
a supervisor, a test or the bench reads with `wait_for_port`.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import TextIO

LINE = "headoffice: listening on http://{host}:{port}"
POLL_SECONDS = 0.05


def announce(sock: socket.socket, port_file: Path | None, out: TextIO | None = None) -> int:
    """Say which port the listening `sock` holds: one line on `out` (stdout), then the port file."""
    host, port = sock.getsockname()[:2]
    stream = out or sys.stdout
    stream.write(LINE.format(host=host, port=port) + "\n")
    stream.flush()
    if port_file is not None:
        write(port_file, port)
    return int(port)


def write(path: Path, port: int) -> None:
    """Write the port through a temporary file and a rename: never half a number on disk."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(f"{port}\n")
    os.replace(tmp, path)


def wait_for_port(path: Path, proc: subprocess.Popen[bytes] | subprocess.Popen[str], timeout: float = 60.0) -> int:
    """The port `proc` (a `serve --port-file path`) listens on, once it does; a clear error when it exits
    or says nothing within `timeout` s. `path` must not exist before `proc` starts (a fresh name, or removed
    first): a file left by an earlier run names that run's port, and the server only replaces it."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            text = path.read_text()
        except FileNotFoundError:
            text = ""
        if text.strip():
            return int(text)
        if proc.poll() is not None:
            raise RuntimeError(f"head office exited with {proc.returncode} before it listened")
        if time.monotonic() > deadline:
            raise TimeoutError(f"head office did not listen within {timeout} s (no {path})")
        time.sleep(POLL_SECONDS)
