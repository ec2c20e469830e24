"""Ports for the tests' servers, with no moment when another process can take them.

Binding port 0, closing the socket and using its number leaves the port free for anyone: on a machine where
other test runs open servers and outgoing connections all the time, one of them can take it before the
server binds it (or before the test connects to "a port nobody listens on"). Two ways round it here:

- `start_headoffice`: `headoffice serve --port 0` binds a port the kernel picks and keeps it, and writes
  which one to its --port-file once it listens (`headoffice.portfile`).
- `refusing_port`: a socket that stays bound and never listens keeps the port: connecting gets ECONNREFUSED
  at once, and no other socket can bind it (the kernel's port-0 picks skip it). SO_REUSEADDR lets the test's
  own server bind and listen on it (a printer switched on, a head office started again on the address its
  tills know), with no moment when the port is free.
"""

from __future__ import annotations

import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from headoffice.portfile import wait_for_port


@contextmanager
def refusing_port(host: str = "127.0.0.1") -> Iterator[int]:
    """A port on `host` that refuses connections until the block ends (and stays ours meanwhile)."""
    holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        holder.bind((host, 0))
        yield holder.getsockname()[1]
    finally:
        holder.close()


def start_headoffice(serve: Sequence[str], *, port: int = 0, cwd: str | Path | None = None,
                     env: Mapping[str, str] | None = None, timeout: float = 60.0,
                     **popen: Any) -> tuple[subprocess.Popen[Any], int]:
    """Run `serve` (a `headoffice serve ...` command line, without --port) on `port` (0: one of its own),
    and return the process and its port once it listens and /v1/health answers. A port to start it on again
    (the address its tills know): hold a `refusing_port` for the test and pass it."""
    port_file = Path(tempfile.gettempdir()) / f"ho-port-{uuid.uuid4().hex}"
    popen.setdefault("stdout", subprocess.DEVNULL)
    proc = subprocess.Popen([*serve, "--port", str(port), "--port-file", str(port_file)], cwd=cwd, env=env, **popen)
    try:
        deadline = time.monotonic() + timeout
        got = wait_for_port(port_file, proc, timeout)
        _wait_healthy(f"http://127.0.0.1:{got}/v1/health", proc, deadline)
    except BaseException:
        proc.kill()
        proc.wait(30)
        raise
    finally:
        port_file.unlink(missing_ok=True)
    return proc, got


def _wait_healthy(url: str, proc: subprocess.Popen[Any], deadline: float) -> None:
    """The socket listens before the app is up: a request waits in its backlog until the app answers."""
    while True:
        try:
            if httpx.get(url, timeout=max(0.5, deadline - time.monotonic())).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if proc.poll() is not None:
            raise RuntimeError(f"head office exited with {proc.returncode} before it answered")
        if time.monotonic() > deadline:
            raise TimeoutError(f"head office did not answer {url} in time")
        time.sleep(0.05)
