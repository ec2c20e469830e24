"""Running the API under uvicorn, in the foreground (`headoffice serve`, with the day's upkeep beside it,
one process or a supervisor and N workers on one socket) or in a thread (tests, demo)."""

from __future__ import annotations

import socket
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from datetime import time as clock_time
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from headoffice.app import API_FAIL_LIMIT, create_app
from headoffice.console import figures
from headoffice.directory_files import cache_dir
from headoffice.store import Store, open_store
from headoffice.upkeep import DEFAULT_AT, UpkeepScheduler

if TYPE_CHECKING:
    import uvicorn
    from starlette.applications import Starlette


DEFAULT_POOL = 8  # PostgreSQL connections per worker: more than the cores, fewer than uvicorn's 40 threads
# longer than a till's pull interval: at uvicorn's 5 s a till reusing its kept-alive connection met the close
# as it sent (ECONNRESET, "head office unreachable" in the 200-till load test, docs/scaling.md)
KEEP_ALIVE_SECONDS = 65
HEALTH_TIMEOUT = 10  # seconds a worker may take to answer its supervisor's ping before it is replaced
TRUSTED_PROXIES = ("127.0.0.1",)  # nginx on the same host (deploy/nginx/headoffice.conf)
BACKLOG = 2048  # uvicorn's own default, set here because the socket listens before uvicorn takes it


def proxy_settings(trusted: Sequence[str]) -> dict[str, Any]:
    """uvicorn's options for X-Forwarded-Proto/-For: honoured only from `trusted` addresses or networks.

    Behind the TLS proxy a request arrives as plain HTTP from the proxy; the proxy's headers make its scheme
    https (the session cookie is then Secure, absolute links https) and its client the browser's address (the
    per-address login throttle). From any other address the headers are ignored: a client cannot claim https
    or someone else's address. An empty `trusted` turns the headers off.
    """
    return {"proxy_headers": bool(trusted), "forwarded_allow_ips": ",".join(trusted) if trusted else ""}


def listening_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket with TCP_NODELAY, shared by every worker.

    IPPROTO_TCP named, not 0: asyncio sets TCP_NODELAY on accepted sockets only when their proto says TCP;
    with proto 0 every response waited out the client's delayed ACK (~40 ms on each request, issue 12). The
    option set here is inherited by accepted sockets (Linux), also in workers that get the socket by pickle.
    It listens at once: port 0 gets a port that is then held, and a client connecting before a worker is up
    waits in the backlog instead of being refused (`headoffice.portfile`).
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host, port))
        sock.listen(BACKLOG)
    except OSError as exc:  # a busy port or a foreign address: one clear line (exit 2), not a traceback
        sock.close()
        raise ValueError(f"cannot listen on {host}:{port}: {exc.strerror} (is another server on that port?)") from exc
    return sock


def open_for_serving(db_url: str, pool: int) -> Store:
    """A worker's store: PostgreSQL through a pool of `pool` connections (its request threads overlap),
    SQLite as it is (one file, one writer: a pool would only wait on SQLite's lock)."""
    if pool > 0 and db_url.startswith(("postgresql://", "postgres://")):
        # why: psycopg loads only when a PostgreSQL database is served (as in headoffice.store.open_store)
        from headoffice.store.pg_pool import open_pooled

        return open_pooled(db_url, pool)
    return open_store(db_url)


def worker_app(db_url: str, pool: int, snapshot: Path | None, directory: Path | None = None) -> Starlette:
    """uvicorn's app factory in each worker process: its own store (closed when the process ends); the
    directory files (`directory`) are shared by the workers of this host."""
    return create_app(open_for_serving(db_url, pool), snapshot, directory=directory or cache_dir(db_url))


def serve(db_url: str, host: str = "127.0.0.1", port: int = 8080, *, snapshot: Path | None = None,
          upkeep_at: clock_time = DEFAULT_AT, trusted_proxies: Sequence[str] = TRUSTED_PROXIES,
          workers: int = 1, pool: int = DEFAULT_POOL, directory: Path | None = None,
          on_listening: Callable[[socket.socket], object] | None = None) -> None:
    """Serve until interrupted, refreshing the marketing snapshot on its schedule when `snapshot` is given
    (`headoffice.upkeep`); the scheduler is stopped and the store closed on the way out.

    `workers` > 1: a uvicorn supervisor (this process) and that many worker processes accepting on one
    socket; they keep nothing of their own (sessions, counters, idempotency are rows in the database), the
    upkeep thread runs only here, and a worker that stops answering its health check within
    `HEALTH_TIMEOUT` s is replaced. `on_listening` is told the socket once it listens (port 0: which port).
    """
    import uvicorn  # why: uvicorn loads only to serve, not for the administration commands
    from uvicorn.supervisors import Multiprocess  # why: as above

    scheduler = (UpkeepScheduler(db_url, snapshot, at=upkeep_at, after=figures.warm_snapshot).start()
                 if snapshot is not None else None)
    sock = listening_socket(host, port)
    options: dict[str, Any] = {"log_level": "warning", "access_log": False, "timeout_keep_alive": KEEP_ALIVE_SECONDS,
                               **proxy_settings(trusted_proxies)}
    try:
        if on_listening is not None:
            on_listening(sock)
        if workers > 1:
            config = uvicorn.Config(partial(worker_app, db_url, pool, snapshot, directory), factory=True,
                                    workers=workers, timeout_worker_healthcheck=HEALTH_TIMEOUT, **options)
            Multiprocess(config, sockets=[sock]).run()
        else:
            store = open_for_serving(db_url, pool)
            try:
                uvicorn.Server(uvicorn.Config(create_app(store, snapshot, directory=directory or cache_dir(db_url)),
                                              **options)).run(sockets=[sock])
            finally:
                store.close()
    finally:
        sock.close()
        if scheduler is not None:
            scheduler.stop()


class ServerThread:
    """A real uvicorn server on loopback in a background thread; stop() and start() again to restart it.

    Its port is held from the first start for as long as the object lives (a bound, never-listening socket
    with SO_REUSEADDR, which the server's own socket binds over): between a stop and the next start, the
    tills' address cannot be taken by another process's server or outgoing connection.
    """

    def __init__(self, store: Store, host: str = "127.0.0.1", port: int = 0, *, snapshot: Path | None = None,
                 api_fail_limit: int = API_FAIL_LIMIT, trusted_proxies: Sequence[str] = TRUSTED_PROXIES,
                 directory: Path | None = None) -> None:
        self.store = store
        self.directory = directory
        self.trusted_proxies = tuple(trusted_proxies)
        self.snapshot = snapshot
        self.api_fail_limit = api_fail_limit
        self.host = host
        self.port = port
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._held: weakref.finalize[[], ServerThread] | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> ServerThread:
        import uvicorn  # why: uvicorn loads only to serve, not for the administration commands

        if self._held is None:
            self.port = self._hold()
        sock = listening_socket(self.host, self.port)
        config = uvicorn.Config(create_app(self.store, self.snapshot, api_fail_limit=self.api_fail_limit,
                                           directory=self.directory),
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

    def _hold(self) -> int:
        """Bind the port (0: a free one) and keep it until this object is collected; the port."""
        holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            holder.bind((self.host, self.port))
        except OSError as exc:
            holder.close()
            raise ValueError(f"cannot listen on {self.host}:{self.port}: {exc.strerror}") from exc
        self._held = weakref.finalize(self, holder.close)
        return int(holder.getsockname()[1])

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(10)
        self._server = None
        self._thread = None
