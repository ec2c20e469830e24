"""A kept-alive connection head office closes just as the till reuses it is not an outage: the till's client
sends the (idempotent) request once more on a fresh connection. Found by the 50-till soak: a till slower than
uvicorn's keep-alive timeout between two pull pages got `head office unreachable (RemoteProtocolError)`.

Real sockets on loopback: a tiny HTTP server that answers the first request on a connection, then closes that
connection without answering the next one (what a server does when its keep-alive timeout fires as the
request arrives)."""

from __future__ import annotations

import socket
import threading

import pytest

from sync.client import HeadOfficeClient, Offline

BODY = b'{"ok": true, "version": 1}'
OK = (b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: " + str(len(BODY)).encode()
      + b"\r\n\r\n" + BODY)


def _read_request(conn: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(4096)
        if not chunk:
            return data
        data += chunk
    return data


class ClosingServer:
    """Answers one request per connection, then closes the connection when the next request arrives;
    with `always_close`, closes every connection unanswered."""

    def __init__(self, always_close: bool = False) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.always_close = always_close
        self.connections = 0
        self.answered = 0
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        with conn:
            if not self.always_close and _read_request(conn):
                self.answered += 1  # counted before the client can see the answer
                conn.sendall(OK)
            _read_request(conn)  # the reused connection's request: closed unanswered

    def close(self) -> None:
        self.sock.close()


def test_a_closed_keepalive_connection_is_retried_on_a_fresh_one():
    server = ClosingServer()
    try:
        with HeadOfficeClient(server.url, "t") as client:
            assert client.health()[0].ok
            assert client.health()[0].ok  # the kept-alive connection was closed: retried, not an outage
            assert client.health()[0].ok
        assert server.answered == 3 and server.connections >= 2
    finally:
        server.close()


def test_a_server_that_never_answers_is_still_an_outage():
    server = ClosingServer(always_close=True)
    try:
        with HeadOfficeClient(server.url, "t") as client, pytest.raises(Offline, match="unreachable"):
            client.health()
        assert server.connections == 2  # the request and its one retry
    finally:
        server.close()
