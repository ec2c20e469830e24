"""A fault-injecting TCP proxy on loopback, for the network faults sync must survive.

Modes (switchable while running, they apply to the next bytes that flow):
- pass: forward both ways.
- refuse: accept and close at once (the till sees a dropped connection, head office sees nothing).
- drop_after_response: forward the request; once head office starts answering (so it has
  committed), pass `drop_bytes` bytes of the answer and cut both sides.
- error500: answer every request itself with an HTTP 500, never reaching head office.
- delay: forward, but hold every chunk both ways `delay` seconds (a slow link).
- delay_response: forward the request at once, hold the answer `delay` seconds (with a short
  client timeout: a timeout after head office has committed).

    hw-sim netfault --listen 127.0.0.1:8081 --upstream 127.0.0.1:8080 --mode delay --delay 0.5
"""

from __future__ import annotations

import argparse
import socket
import threading
import time

MODES = ("pass", "refuse", "drop_after_response", "error500", "delay", "delay_response")
_500 = (b"HTTP/1.1 500 Internal Server Error\r\ncontent-type: application/json\r\ncontent-length: 26\r\n"
        b"connection: close\r\n\r\n{\"error\": \"injected 500\"}\n")


class FaultProxy:
    def __init__(self, upstream: tuple[str, int], host: str = "127.0.0.1", port: int = 0, mode: str = "pass",
                 delay: float = 0.0, drop_bytes: int = 0):
        self.upstream = upstream
        self.mode = mode
        self.delay = delay
        self.drop_bytes = drop_bytes
        self.connections = 0
        self.dropped = 0
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((host, port))
        self._sock.listen(64)
        self.host, self.port = self._sock.getsockname()[:2]
        self._stop = threading.Event()
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def set_mode(self, mode: str, *, delay: float | None = None, drop_bytes: int | None = None) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}: one of {', '.join(MODES)}")
        self.mode = mode
        if delay is not None:
            self.delay = delay
        if drop_bytes is not None:
            self.drop_bytes = drop_bytes
        if mode != "pass":
            self.cut_all()

    def cut_all(self) -> None:
        """Close every open connection (kept-alive client connections must see the new mode)."""
        with self._lock:
            socks, self._open = list(self._open), set()
        for s in socks:
            _close(s)

    def start(self) -> FaultProxy:
        self._thread = threading.Thread(target=self._accept_loop, name=f"netfault:{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        _close(self._sock)
        self.cut_all()
        if self._thread:
            self._thread.join(5)

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._handle, args=(client,), daemon=True).start()

    def _track(self, *socks: socket.socket) -> None:
        with self._lock:
            self._open.update(socks)

    def _handle(self, client: socket.socket) -> None:
        mode = self.mode
        if mode == "refuse":
            self.dropped += 1
            client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            _close(client)
            return
        if mode == "error500":
            try:
                client.settimeout(2)
                client.recv(65536)
                client.sendall(_500)
            except OSError:
                pass
            _close(client)
            return
        try:
            upstream = socket.create_connection(self.upstream, timeout=5)
            upstream.settimeout(None)
        except OSError:
            _close(client)
            return
        self._track(client, upstream)
        threading.Thread(target=self._pump, args=(client, upstream, False), daemon=True).start()
        self._pump(upstream, client, True)

    def _pump(self, src: socket.socket, dst: socket.socket, response: bool) -> None:
        sent = 0
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if self.delay and (self.mode == "delay" or (response and self.mode == "delay_response")):
                    time.sleep(self.delay)
                if response and self.mode == "drop_after_response":
                    room = max(self.drop_bytes - sent, 0)
                    if room:
                        dst.sendall(data[:room])
                        sent += min(room, len(data))
                    if sent >= self.drop_bytes:
                        self.dropped += 1
                        break
                    continue
                dst.sendall(data)
                sent += len(data)
        except OSError:
            pass
        _close(src)
        _close(dst)


def _close(s: socket.socket) -> None:
    try:
        s.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    try:
        s.close()
    except OSError:
        pass


def _addr(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host or "127.0.0.1", int(port)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("netfault", help="fault-injecting TCP proxy (pass, refuse, drop, 500, delay)")
    p.add_argument("--listen", default="127.0.0.1:8081")
    p.add_argument("--upstream", default="127.0.0.1:8080")
    p.add_argument("--mode", choices=MODES, default="pass")
    p.add_argument("--delay", type=float, default=0.0)
    p.add_argument("--drop-bytes", type=int, default=0)
    p.set_defaults(run=_run)


def _run(args: argparse.Namespace) -> int:
    host, port = _addr(args.listen)
    proxy = FaultProxy(_addr(args.upstream), host, port, args.mode, args.delay, args.drop_bytes).start()
    print(f"netfault {args.mode} on {proxy.url} -> {args.upstream}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        proxy.stop()
    return 0
