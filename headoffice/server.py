"""Running the API under uvicorn, in the foreground (`headoffice serve`, with the day's upkeep beside it)
or in a thread (tests, demo)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Sequence
from datetime import time as clock_time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from headoffice.app import API_FAIL_LIMIT, create_app
from headoffice.console import figures
from headoffice.store import Store, open_store
from headoffice.upkeep import DEFAULT_AT, UpkeepScheduler

if TYPE_CHECKING:
    import uvicorn


TRUSTED_PROXIES = ("127.0.0.1",)  # nginx on the same host (deploy/nginx/headoffice.conf)


def proxy_settings(trusted: Sequence[str]) -> dict[str, Any]:
    """uvicorn's options for X-Forwarded-Proto/-For: honoured only from `trusted` addresses or networks.

    Behind the TLS proxy a request arrives as plain HTTP from the proxy; the proxy's headers make its scheme
    https (the session cookie is then Secure, absolute links https) and its client the browser's address (the
    per-address login throttle). From any other address the headers are ignored: a client cannot claim https
    or someone else's address. An empty `trusted` turns the headers off.
    """
    return {"proxy_headers": bool(trusted), "forwarded_allow_ips": ",".join(trusted) if trusted else ""}


def serve(db_url: str, host: str = "127.0.0.1", port: int = 8080, *, snapshot: Path | None = None,
          upkeep_at: clock_time = DEFAULT_AT, trusted_proxies: Sequence[str] = TRUSTED_PROXIES) -> None:
    """Serve until interrupted, refreshing the marketing snapshot on its schedule when `snapshot` is given
    (`headoffice.upkeep`); the scheduler is stopped and the store closed on the way out."""
    import uvicorn  # why: uvicorn loads only to serve, not for the administration commands

    store = open_store(db_url)
    scheduler = (UpkeepScheduler(db_url, snapshot, at=upkeep_at, after=figures.warm_snapshot).start()
                 if snapshot is not None else None)
    try:
        uvicorn.run(create_app(store, snapshot), host=host, port=port, log_level="warning", access_log=False,
                    **proxy_settings(trusted_proxies))
    finally:
        if scheduler is not None:
            scheduler.stop()
        store.close()


class ServerThread:
    """A real uvicorn server on loopback in a background thread; stop() and start() again to restart it."""

    def __init__(self, store: Store, host: str = "127.0.0.1", port: int = 0, *, snapshot: Path | None = None,
                 api_fail_limit: int = API_FAIL_LIMIT, trusted_proxies: Sequence[str] = TRUSTED_PROXIES) -> None:
        self.store = store
        self.trusted_proxies = tuple(trusted_proxies)
        self.snapshot = snapshot
        self.api_fail_limit = api_fail_limit
        self.host = host
        self.port = port
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> ServerThread:
        import uvicorn  # why: uvicorn loads only to serve, not for the administration commands

        # IPPROTO_TCP named, not 0: asyncio sets TCP_NODELAY on accepted sockets only when their proto says TCP;
        # with proto 0 every response waited out the client's delayed ACK (~40 ms on each request, issue 12)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # inherited by accepted sockets (Linux)
        sock.bind((self.host, self.port))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(create_app(self.store, self.snapshot, api_fail_limit=self.api_fail_limit),
                                log_level="warning", access_log=False,
                                lifespan="off", **proxy_settings(self.trusted_proxies))
        server = self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True,
                                        name=f"headoffice:{self.port}")
        self._thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("head office did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(10)
        self._server = None
        self._thread = None
