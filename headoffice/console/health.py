"""`/healthz` (the database answers) and `/metrics` (Prometheus text: requests by route and status, entries
ingested, sync lag per till), both computed from the database so every worker reports the same figures.

/metrics names stores and tills, so it is not public: an owner's session or an administrator token
(`headoffice admin token`, as Prometheus' `authorization: Bearer`) may read it.
"""

from __future__ import annotations

from datetime import UTC, datetime

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from headoffice.console.security import RequestCounter
from headoffice.console.tills import describe
from headoffice.console.web import Console, Denied

PROMETHEUS = "text/plain; version=0.0.4; charset=utf-8"


def _label(value: str) -> str:
    """A Prometheus label value, escaped."""
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def render_metrics(requests: dict[str, int], ingested: int, lags: list[tuple[str, str, int | None]]) -> str:
    """The exposition text (one HELP/TYPE per family)."""
    lines = ["# HELP headoffice_http_requests_total HTTP requests answered, by route template and status.",
             "# TYPE headoffice_http_requests_total counter"]
    for label, n in sorted(requests.items()):
        method, route, status = label.split(" ", 2)
        lines.append(f'headoffice_http_requests_total{{method="{_label(method)}",route="{_label(route)}",'
                     f'status="{_label(status)}"}} {n}')
    lines += ["# HELP headoffice_ingest_entries_total Ledger entries accepted from tills' pushes.",
              "# TYPE headoffice_ingest_entries_total counter", f"headoffice_ingest_entries_total {ingested}",
              "# HELP headoffice_till_sync_lag_seconds Seconds since the till's last successful push or pull.",
              "# TYPE headoffice_till_sync_lag_seconds gauge"]
    for store_id, till_id, lag in lags:
        if lag is not None:
            lines.append(f'headoffice_till_sync_lag_seconds{{store="{_label(store_id)}",till="{_label(till_id)}"}}'
                         f" {lag}")
    return "\n".join(lines) + "\n"


def routes(console: Console, counter: RequestCounter) -> list[BaseRoute]:
    records = console.store.console

    async def healthz(request: Request) -> Response:
        try:
            ok = await run_in_threadpool(records.ping)
        except Exception:  # any database failure is "unhealthy", never a trace
            ok = False
        return JSONResponse({"ok": ok, "database": "up" if ok else "down"}, status_code=200 if ok else 503)

    async def metrics(request: Request) -> Response:
        header = request.headers.get("authorization", "")
        token = header[7:].strip() if header.lower().startswith("bearer ") else ""
        who = await run_in_threadpool(console.store.authenticate, token) if token else None
        if who is None or who.role != "admin":
            user = console.current(request)
            if user is None or not user.is_owner:
                raise Denied("metrics need an owner's session or an administrator token")
        await run_in_threadpool(counter.flush)
        now = datetime.now(UTC)
        tills = [describe(t, now) for t in await run_in_threadpool(records.tills, None)]
        text = render_metrics(await run_in_threadpool(records.counters, "http_requests"),
                              (await run_in_threadpool(records.counters, "ingest_entries")).get("", 0),
                              [(t["store_id"], t["till_id"], t["sync_lag"]) for t in tills if t["active"]])
        return PlainTextResponse(text, media_type=PROMETHEUS)

    return [Route("/healthz", healthz, methods=["GET"]), Route("/metrics", metrics, methods=["GET"])]
