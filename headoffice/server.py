"""Running the API under uvicorn, in the foreground (`headoffice serve`, with the day's upkeep beside it)
or in a thread (tests, demo)."""

from __future__ import annotations

import socket
import threading
import time
from datetime import time as clock_time
from pathlib import Path
from typing import TYPE_CHECKING

from headoffice.app import API_FAIL_LIMIT, create_app
from headoffice.console import figures
from headoffice.store import Store, open_store
from headoffice.upkeep import DEFAULT_AT, UpkeepScheduler

if TYPE_CHECKING:
    import uvicorn


def serve(db_url: str, host: str = "127.0.0.1", port: int = 8080, *, snapshot: Path | None = None,
          upkeep_at: clock_time = DEFAULT_AT) -> None:
    """Serve until interrupted, refreshing the marketing snapshot on its schedule when `snapshot` is given
    (`headoffice.upkeep`); the scheduler is stopped and the store closed on the way out."""
    import uvicorn  # why: uvicorn loads only to serve, not for the administration commands

    store = open_store(db_url)
    scheduler = (UpkeepScheduler(db_url, snapshot, at=upkeep_at, after=figures.warm_snapshot).start()
                 if snapshot is not None else None)
    try:
        uvicorn.run(create_app(store, snapshot), host=host, port=port, log_level="warning", access_log=False)
    finally:
        if scheduler is not None:
            scheduler.stop()
        store.close()


class ServerThread:
    """A real uvicorn server on loopback in a background thread; stop() and start() again to restart it."""

    def __init__(self, store: Store, host: str = "127.0.0.1", port: int = 0, *, snapshot: Path | None = None,
                 api_fail_limit: int = API_FAIL_LIMIT) -> None:
        self.store = store
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

        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(create_app(self.store, self.snapshot, api_fail_limit=self.api_fail_limit),
                                log_level="warning", access_log=False,
                                lifespan="off")
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
