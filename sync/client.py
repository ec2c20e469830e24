"""The till's HTTP client for head office (httpx). Tests inject faults through `transport`.

Errors are sorted into what the worker needs to decide: `Offline` (retry with backoff: no
route, timeout, 5xx), `AuthError` (stop: the till must be registered again) and `Refused`
(the request itself is wrong).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

import msgspec

from wire.batches import PullPage, PushBatch, PushResult, RecoverPage, encode
from wire.fields import PREFIX
from wire.messages import Balance, Error, Health, Registered
from wire.snapshot import PART, DirectoryInfo, SnapshotPart
from wire.view import Followed, FollowRequest, View

T = TypeVar("T")


class SyncError(Exception):
    """Base for sync failures; the message is safe to show in the status bar."""


class Offline(SyncError):
    """Head office cannot be reached or failed (retry later)."""


class AuthError(SyncError):
    """The till's token is missing or refused (register again)."""


class Refused(SyncError):
    """Head office refused the request as malformed."""


class Writer(Protocol):
    """Where a download goes: positioned (`seek`, then `truncate` after it) and then written to."""

    def seek(self, offset: int, /) -> Any: ...

    def truncate(self) -> Any: ...

    def write(self, data: bytes, /) -> Any: ...


class Gone(Refused):
    """A directory file head office no longer keeps (a newer one replaced it): ask which one again."""


class HeadOfficeClient:
    def __init__(self, url: str, token: str | None = None, *, transport: Any = None, timeout: float = 15.0):
        import httpx  # why: httpx and its TLS stack load only once the till talks to head office

        if not url:
            raise AuthError("no head office URL: run `pos-client register URL CODE`")
        headers = {"authorization": f"Bearer {token}"} if token else {}
        self._httpx = httpx
        self.pending: int | None = None  # entries waiting to be pushed, as last counted (sent as X-Till-Pending)
        self.version: str | None = None  # this till's software version (sent as X-Till-Version)
        self.program_version: int | None = None  # the program version the till applied (sent as X-Till-Program)
        # plain http has no certificate to check: loading the CA bundle took ~100 ms per client (a tenth of a push)
        self._http = httpx.Client(base_url=url.rstrip("/") + PREFIX, headers=headers, transport=transport,
                                  timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
                                  verify=not url.lower().startswith("http://"))

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> HeadOfficeClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, method: str, path: str, body: Any = None, **kw: Any) -> tuple[int, bytes]:
        """(status, body bytes) of a request whose body the wire encoder writes; errors sorted as above."""
        resp = self._send(method, path, body, **kw)
        return resp.status_code, resp.content

    def _send(self, method: str, path: str, body: Any = None, **kw: Any) -> Any:
        """The httpx response of a request, errors sorted as above."""
        httpx = self._httpx
        kw["headers"] = self._till_headers()
        if body is not None:
            kw["content"] = encode(body)
            kw["headers"]["content-type"] = "application/json"
        try:
            try:
                resp = self._http.request(method, path, **kw)
            except httpx.RemoteProtocolError:
                if path == "/register":  # a one-time code: never sent twice
                    raise
                # head office closed a kept-alive connection just as it was reused (its keep-alive timeout
                # passed between two pages): every other request is idempotent (pull reads, push carries
                # entry ids), so once more on a fresh connection before calling it an outage
                resp = self._http.request(method, path, **kw)
        except httpx.TimeoutException as exc:
            raise Offline(f"head office timed out ({type(exc).__name__})") from None
        except httpx.TransportError as exc:
            raise Offline(f"head office unreachable ({type(exc).__name__})") from None
        return self._sorted(resp)

    def _sorted(self, resp: Any) -> Any:
        """The response, or the error its status means (see the module)."""
        status = resp.status_code
        if status >= 500:
            raise Offline(f"head office error {status}")
        if status in (401, 403):
            raise AuthError(f"head office refused this till ({status}): {_why(resp.content)}")
        if status >= 400 and status != 422:
            raise Refused(f"head office refused the request ({status}): {_why(resp.content)}")
        return resp

    def health(self) -> tuple[Health, str | None]:
        """Head office's liveness and its HTTP Date header (`pos-client doctor` compares clocks with it)."""
        resp = self._send("GET", "/health")
        return _read(resp.content, Health), resp.headers.get("date")

    def _till_headers(self) -> dict[str, str]:
        """What head office's console shows about this till (optional there: an older head office ignores them)."""
        headers = {"x-till-clock": datetime.now(UTC).isoformat(timespec="milliseconds")}
        if self.pending is not None:
            headers["x-till-pending"] = str(self.pending)
        if self.version:
            headers["x-till-version"] = self.version
        if self.program_version is not None:
            headers["x-till-program"] = str(self.program_version)
        return headers

    def register(self, code: str) -> dict[str, str]:
        status, raw = self._call("POST", "/register", {"code": code})
        if status != 200:
            raise Refused(f"registration refused: {_why(raw)}")
        return msgspec.structs.asdict(_read(raw, Registered))

    def push(self, batch: PushBatch | dict[str, Any] | msgspec.Raw) -> PushResult:
        """Send a batch (a PushBatch, the wire dict `sync.push.collect` builds, or that dict already encoded as
        msgspec.Raw); 422 with a result is a batch head office took in part (see `rejected`)."""
        status, raw = self._call("POST", "/push", batch)
        if status == 422:
            try:
                return msgspec.json.decode(raw, type=PushResult)
            except msgspec.DecodeError:
                raise Refused(f"batch refused: {_why(raw)}") from None
        return _read(raw, PushResult)

    def pull(self, cursor: int, limit: int = 1000, total: bool = True, floor: int = 0, view: View = "all"
             ) -> PullPage:
        """One page; `total` asks head office to count all pending changes (first page, for progress); `floor`:
        the position of the snapshot this till took (wire/snapshot.py), sent until the cursor passes it;
        `view` (wire/view.py): balances and followed members' entries instead of every other till's entries."""
        params: dict[str, Any] = {"cursor": cursor, "limit": limit, "total": int(total)}
        if floor > cursor:
            params["floor"] = floor
        if view != "all":
            params["view"] = view
        _, raw = self._call("GET", "/pull", params=params)
        return _read(raw, PullPage)

    def snapshot(self, after: str, top: int, limit: int = PART) -> SnapshotPart:
        """One part of a first pull (members after `after` as of feed position `top`; 0 on the first part).
        `after` goes as a JSON string: head office reads each query value as the JSON scalar it spells, and a
        member id of digits would otherwise arrive as a number."""
        _, raw = self._call("GET", "/pull/snapshot", params={"after": msgspec.json.encode(after).decode(),
                                                                  "top": top, "limit": limit})
        return _read(raw, SnapshotPart)

    def directory(self) -> DirectoryInfo:
        """Which directory file to download for a first pull (`ready` false: head office is building one)."""
        _, raw = self._call("GET", "/pull/directory")
        return _read(raw, DirectoryInfo)

    def download(self, name: str, out: Writer, start: int = 0, tick: Callable[[int], None] | None = None) -> int:
        """Write directory file `name` into `out` from byte `start` (a Range request: what a cut left resumes;
        a 200 instead of 206 starts over at 0) and return the bytes `out` then holds. `Gone` when head office no
        longer keeps that file; `Offline` on a cut, with every byte received so far already in `out`."""
        httpx = self._httpx
        headers = self._till_headers()
        if start:
            headers["range"] = f"bytes={start}-"
        try:
            with self._http.stream("GET", f"/pull/directory/{name}", headers=headers) as resp:
                status = resp.status_code
                if status == 416:  # nothing after `start`: the file was whole already
                    return start
                if status == 404:
                    raise Gone(f"head office no longer keeps {name}")
                if status != 206 or not resp.headers.get("content-range", "").startswith(f"bytes {start}-"):
                    if status != 200:
                        resp.read()
                        self._sorted(resp)
                    start = 0
                out.seek(start)
                out.truncate()
                held = start
                for chunk in resp.iter_bytes():  # as they arrive: a cut keeps every byte received
                    out.write(chunk)
                    held += len(chunk)
                    if tick is not None:
                        tick(held)
                return held
        except httpx.TimeoutException as exc:
            raise Offline(f"head office timed out ({type(exc).__name__})") from None
        except httpx.TransportError as exc:
            raise Offline(f"head office unreachable ({type(exc).__name__})") from None

    def follow(self, member_ids: list[str]) -> Followed:
        """Follow members this till sees; head office answers their history so far (wire/view.py)."""
        _, raw = self._call("POST", "/pull/follow", FollowRequest(member_ids=member_ids))
        return _read(raw, Followed)

    def recover(self, after_seq: int, sales_after: str = "", sales_after_id: str = "", limit: int = 1000
                ) -> RecoverPage:
        """After a restore: this till's own entries above `after_seq` and sales after the keyset, at head office."""
        _, raw = self._call("GET", "/recover", params={"after_seq": after_seq, "sales_after": sales_after,
                                                       "sales_after_id": sales_after_id, "limit": limit})
        return _read(raw, RecoverPage)

    def balance(self, member_id: str) -> int:
        _, raw = self._call("GET", f"/members/{member_id}/balance")
        return _read(raw, Balance).balance


def _read(raw: bytes, cls: type[T]) -> T:
    """Head office's answer as `cls`; an answer that is not one is a head-office fault (retry later)."""
    try:
        return msgspec.json.decode(raw, type=cls)
    except msgspec.DecodeError as exc:
        raise Offline(f"head office answered a malformed {cls.__name__}: {exc}") from None


def _why(raw: bytes) -> str:
    """The reasons (or the message) of an Error body, or the start of whatever came instead."""
    try:
        error = msgspec.json.decode(raw, type=Error)
    except msgspec.DecodeError:
        return raw[:200].decode("utf-8", "replace")
    return "; ".join(error.reasons) or error.error
