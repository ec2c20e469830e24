"""A TCP port on loopback that refuses connections for as long as a test needs it.

Binding port 0, closing the socket and using its number as "a port nobody listens on" leaves the port free
for anyone: on a machine where other test runs open servers and outgoing connections all the time, one of
them can take it before the test connects, and the "unreachable" printer or head office answers. A socket
that stays bound and never listens keeps the port: connecting gets ECONNREFUSED at once, and no other
socket can bind it. SO_REUSEADDR lets the test's own simulator bind and listen on it later (a printer
switched on), with no moment when the port is free.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def refusing_port(host: str = "127.0.0.1") -> Iterator[int]:
    """A port on `host` that refuses connections until the block ends."""
    holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        holder.bind((host, 0))
        yield holder.getsockname()[1]
    finally:
        holder.close()
