"""The till's HTTP client for head office (httpx). Tests inject faults through `transport`.

Errors are sorted into what the worker needs to decide: `Offline` (retry with backoff: no
route, timeout, 5xx), `AuthError` (stop: the till must be registered again) and `Refused`
(the request itself is wrong).
"""

from __future__ import annotations

from typing import Any

from wire.protocol import PREFIX, PullPage, PushBatch, PushResult


class SyncError(Exception):
    """Base for sync failures; the message is safe to show in the status bar."""


class Offline(SyncError):
    """Head office cannot be reached or failed (retry later)."""


class AuthError(SyncError):
    """The till's token is missing or refused (register again)."""


class Refused(SyncError):
    """Head office refused the request as malformed."""


class HeadOfficeClient:
    def __init__(self, url: str, token: str | None = None, *, transport: Any = None, timeout: float = 15.0):
        import httpx

        if not url:
            raise AuthError("no head office URL: run `pos-client register URL CODE`")
        headers = {"authorization": f"Bearer {token}"} if token else {}
        self._httpx = httpx
        self._http = httpx.Client(base_url=url.rstrip("/") + PREFIX, headers=headers, transport=transport,
                                  timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)))

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> HeadOfficeClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, method: str, path: str, **kw: Any) -> tuple[int, Any]:
        httpx = self._httpx
        try:
            resp = self._http.request(method, path, **kw)
        except httpx.TimeoutException as exc:
            raise Offline(f"head office timed out ({type(exc).__name__})") from None
        except httpx.TransportError as exc:
            raise Offline(f"head office unreachable ({type(exc).__name__})") from None
        try:
            body = resp.json()
        except ValueError:
            body = None
        if resp.status_code >= 500 or body is None:
            raise Offline(f"head office error {resp.status_code}")
        if resp.status_code in (401, 403):
            raise AuthError(f"head office refused this till ({resp.status_code}): {body.get('error', '')}")
        if resp.status_code >= 400 and resp.status_code != 422:
            raise Refused(f"head office refused the request ({resp.status_code}): {body.get('error', '')}")
        return resp.status_code, body

    def register(self, code: str) -> dict[str, str]:
        status, body = self._call("POST", "/register", json={"code": code})
        if status != 200:
            raise Refused(f"registration refused: {body.get('reasons') or body.get('error')}")
        return body

    def push(self, batch: PushBatch | dict[str, Any]) -> PushResult:
        payload = batch.to_dict() if isinstance(batch, PushBatch) else batch
        status, body = self._call("POST", "/push", json=payload)
        if status == 422 and "high_seq" not in body:
            raise Refused(f"batch refused: {body.get('reasons') or body.get('error')}")
        return PushResult.from_dict(body)

    def pull(self, cursor: int, limit: int = 1000, total: bool = True) -> PullPage:
        """One page; `total` asks head office to count all pending changes (first page, for progress)."""
        _, body = self._call("GET", "/pull", params={"cursor": cursor, "limit": limit, "total": int(total)})
        return PullPage.from_dict(body)

    def balance(self, member_id: str) -> int:
        _, body = self._call("GET", f"/members/{member_id}/balance")
        return int(body["balance"])
