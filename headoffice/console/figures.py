"""The dashboard's figures: the till's own reports run on head office's marketing snapshot, computed once per
snapshot build and kept beside it.

Why this shape: a figure means what `headoffice report NAME` means only if it is that report's code
(`pos_client.services.marketing.reports.run_report`) on the same snapshot (`headoffice.upkeep`). At a million
members one report takes seconds, so a page cannot recompute it per request: the first request for a
(snapshot build, scope, period) computes every section and stores the JSON in a small SQLite file next to
the snapshot (`<snapshot>.figures.db`); every later request is one primary-key read. A new snapshot build
(a new `built_at`) makes the old entries unreachable and the next write clears them. `warm` computes the
preset periods ahead (the bench, or after a refresh). With no snapshot, nothing is computed or shown.
The sections that depend on the period's last day only (`END_DAY`: the member count and the points liability,
which is most of a set's time at a million members) are kept too, per scope and last day, so 30d, 90d and 365d
ending the same day compute them once.
Per store means the members whose home store it is (`report_base.of_store`); offer lift per store counts
that store's targetings, as a till does.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
from collections.abc import Iterable, Mapping
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from headoffice import upkeep
from pos_client.domain.dates import plus_days
from pos_client.services.marketing.reports import run_report
from pos_client.store.context import TillContext

PRESETS = {"30d": 30, "90d": 90, "365d": 365}
DEFAULT_PERIOD = "30d"
MAX_OFFERS = 5  # the offers shown: the most recently targeted in the period
REPORTS = ("new-customers", "lifecycle", "second-purchase", "reactivation", "retention", "points-liability",
           "rewards-redeemed", "tier-migration")
END_DAY = ("points-liability",)  # reports that read the period's last day only (their `start` is None)
CHAIN = "*"  # the scope key of the chain-wide figures in the cache
_TABLES = ("figures", "end_day")  # a figure set per (scope, period); its END_DAY sections per (scope, last day)
_CACHE = tuple(f"CREATE TABLE IF NOT EXISTS {t} (built_at TEXT NOT NULL, scope TEXT NOT NULL, start TEXT NOT NULL,"
               " end TEXT NOT NULL, payload TEXT NOT NULL, PRIMARY KEY (built_at, scope, start, end))" for t in _TABLES)
_DAYS = re.compile(r"^(\d{1,4})d$")


class PeriodError(ValueError):
    """A period the dashboard cannot read (the page says why, with a 400)."""


@dataclass(frozen=True)
class Period:
    start: date
    end: date
    key: str  # "30d" / "90d" / "365d", or "custom"

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1


def parse_period(params: Mapping[str, str], last_day: date) -> Period:
    """`period=30d|90d|365d|Nd` ending on the snapshot's last day, or `from`/`to` dates (YYYY-MM-DD)."""
    start_text, end_text = params.get("from", "").strip(), params.get("to", "").strip()
    if start_text or end_text:
        try:
            end = date.fromisoformat(end_text) if end_text else last_day
            start = date.fromisoformat(start_text) if start_text else plus_days(end, -(PRESETS[DEFAULT_PERIOD] - 1))
        except ValueError:
            raise PeriodError("dates are YYYY-MM-DD, e.g. from=2026-01-01&to=2026-03-31") from None
        if start > end:
            raise PeriodError("the period's first day is after its last day")
        if end > last_day:
            raise PeriodError(f"the figures reach {last_day.isoformat()} (the snapshot's last day): choose an earlier"
                              " last day")
        return Period(start, end, "custom")
    key = params.get("period", DEFAULT_PERIOD).strip() or DEFAULT_PERIOD
    found = _DAYS.match(key)
    if not found or not 1 <= int(found.group(1)) <= 3660:
        raise PeriodError(f"period is a number of days like 30d, 90d or 365d (at most 3660d), not {key!r}")
    return Period(plus_days(last_day, -(int(found.group(1)) - 1)), last_day, key)


@dataclass(frozen=True)
class Snapshot:
    """Which snapshot the figures come from: when built, the last day its stages reach, whether it is due."""

    path: Path
    built_at: str | None
    last_day: date | None
    stale: bool

    @property
    def usable(self) -> bool:
        return self.built_at is not None and self.last_day is not None


def snapshot_state(path: Path | None, now: datetime) -> Snapshot | None:
    """The published snapshot's state (None: the console runs without one)."""
    if path is None:
        return None
    at_text = os.environ.get(upkeep.AT_ENV)
    info = upkeep.status(path, upkeep.parse_at(at_text) if at_text else upkeep.DEFAULT_AT, now)
    last = date.fromisoformat(info["last_day"]) if info["last_day"] else None
    return Snapshot(path, info["built_at"], last, bool(info["stale"]))


def members_count(ctx: TillContext, end: date, store: str | None) -> dict[str, int]:
    """`members` as docs/marketing.md defines it ("Members": enrolled by the end day, neither merged nor erased)
    and `with_purchase`, how many of them have a sale dated by then. The lifecycle report's total counts every
    member id with a sale by then, merged and erased ones included: the page shows both and says why."""
    sql = ("SELECT COUNT(*), COALESCE(SUM(EXISTS (SELECT 1 FROM sales s WHERE s.member_id = m.member_id"
           " AND s.created_at < ?)), 0) FROM members m WHERE m.status = 'active' AND substr(m.created_at, 1, 10) <= ?")
    params: tuple[str, ...] = (plus_days(end, 1).isoformat(), end.isoformat())
    if store is not None:
        sql, params = sql + " AND m.store_id = ?", (*params, store)
    members, bought = ctx.conn.execute(sql, params).fetchone()
    return {"members": int(members), "with_purchase": int(bought)}


def end_day_sections(ctx: TillContext, store: str | None, period: Period) -> dict[str, Any]:
    """The sections that read the period's last day only: the same for every period ending that day."""
    return {**members_count(ctx, period.end, store),
            **{name: run_report(ctx, name, start=period.start, end=period.end, store_id=store) for name in END_DAY}}


def compute(ctx: TillContext, store: str | None, period: Period,
            end_day: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Every section of the dashboard for one scope and period: the reports' own output, unchanged (`end_day`:
    the END_DAY sections already computed for another period of this scope ending the same day)."""
    options: dict[str, Any] = {"start": period.start, "end": period.end, "store_id": store}
    shared = end_day if end_day is not None else end_day_sections(ctx, store, period)
    reports = {name: shared[name] if name in END_DAY else run_report(ctx, name, **options) for name in REPORTS}
    offers = _offers_in(ctx, period)[:MAX_OFFERS]
    lifts = [run_report(ctx, "offer-lift", offer=o, **options) for o in offers]
    return {"members": shared["members"], "with_purchase": shared["with_purchase"], "reports": reports,
            "offer_lift": lifts}


def _offers_in(ctx: TillContext, period: Period) -> list[str]:
    """Offers targeted (randomised) in the period, the most recent first."""
    rows = ctx.conn.execute(
        "SELECT offer_id, MAX(day) FROM offer_targets WHERE holdout_bp > 0 AND day BETWEEN ? AND ?"
        " GROUP BY offer_id ORDER BY MAX(day) DESC, offer_id", (period.start.isoformat(), period.end.isoformat()))
    return [str(r[0]) for r in rows]


def stores(snap: Snapshot) -> list[str]:
    """The stores that have members in the snapshot (cached per build: a scan of a million members)."""
    cached = _cache_get(snap, "stores", date.min, date.min)
    if cached is not None:
        return [str(s) for s in cached]
    ctx = upkeep.open_snapshot(snap.path)
    if ctx is None:
        return []
    try:
        found = [str(r[0]) for r in ctx.conn.execute(
            "SELECT DISTINCT store_id FROM members WHERE store_id IS NOT NULL ORDER BY store_id")]
    finally:
        ctx.close()
    _cache_put(snap, "stores", date.min, date.min, found)
    return found


def scope_key(store: str | None) -> str:
    """The cache's scope of one store's figures (None: the chain's)."""
    return CHAIN if store is None else f"store:{store}"


def cached(snap: Snapshot, store: str | None, period: Period) -> dict[str, Any] | None:
    """The figures if this build has them already: all a page reads, it never computes (None: not yet)."""
    found = _cache_get(snap, scope_key(store), period.start, period.end)
    if isinstance(found, dict) and set(REPORTS) <= set(found.get("reports", {})):
        return found  # (a payload an older console stored without some section is computed again)
    return None


def cached_stores(snap: Snapshot) -> list[str] | None:
    """The snapshot's stores if this build has listed them already (None: not yet)."""
    found = _cache_get(snap, "stores", date.min, date.min)
    return None if found is None else [str(s) for s in found]


def figures(snap: Snapshot, store: str | None, period: Period) -> dict[str, Any]:
    """The dashboard's figures for one scope and period from this snapshot build (computed on first use)."""
    scope = scope_key(store)
    found = cached(snap, store, period)
    if found is not None:
        return found
    ctx = upkeep.open_snapshot(snap.path)
    if ctx is None:
        raise FileNotFoundError(f"no marketing snapshot at {snap.path}")
    try:
        end_day = _cache_get(snap, scope, date.min, period.end, "end_day")
        if not isinstance(end_day, dict) or not {"members", "with_purchase", *END_DAY} <= set(end_day):
            end_day = end_day_sections(ctx, store, period)
            _cache_put(snap, scope, date.min, period.end, end_day, "end_day")
        payload = compute(ctx, store, period, end_day)
    finally:
        ctx.close()
    _cache_put(snap, scope, period.start, period.end, payload)
    return payload


def warm(snap: Snapshot, scopes: Iterable[str | None], periods: Iterable[str] = tuple(PRESETS)) -> int:
    """Compute the preset periods for each scope (None: chain-wide) ahead of the first page; how many."""
    if snap.last_day is None:
        return 0
    done = 0
    for key in periods:
        period = parse_period({"period": key}, snap.last_day)
        for store in scopes:
            figures(snap, store, period)
            done += 1
    return done


def warm_snapshot(path: Path) -> int:
    """After a refresh (`UpkeepScheduler`'s `after`): the preset periods, chain-wide and for every store, so the
    first page after a rebuild is a cache read too; how many figure sets."""
    snap = snapshot_state(path, datetime.now(UTC))
    if snap is None or not snap.usable:
        return 0
    return warm(snap, [None, *stores(snap)])


def cache_path(snapshot: Path) -> Path:
    return snapshot.with_name(snapshot.name + ".figures.db")


def _cache(snap: Snapshot) -> sqlite3.Connection:
    conn = sqlite3.connect(cache_path(snap.path), timeout=30, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    for create in _CACHE:
        conn.execute(create)
    return conn


def _cache_get(snap: Snapshot, scope: str, start: date, end: date, table: str = "figures") -> Any:
    if not cache_path(snap.path).exists():
        return None
    assert table in _TABLES
    with closing(_cache(snap)) as conn:
        row = conn.execute(f"SELECT payload FROM {table} WHERE built_at = ? AND scope = ? AND start = ? AND end = ?",
                           (snap.built_at, scope, start.isoformat(), end.isoformat())).fetchone()
    return None if row is None else json.loads(row[0])


def _cache_put(snap: Snapshot, scope: str, start: date, end: date, payload: Any, table: str = "figures") -> None:
    """One transaction: the entries of older builds go, this one is stored."""
    assert table in _TABLES
    text = json.dumps(payload, allow_nan=False)
    with closing(_cache(snap)) as conn:
        conn.execute("BEGIN IMMEDIATE")
        try:
            for t in _TABLES:
                conn.execute(f"DELETE FROM {t} WHERE built_at != ?", (snap.built_at,))
            conn.execute(f"INSERT OR REPLACE INTO {table} (built_at, scope, start, end, payload) VALUES (?,?,?,?,?)",
                         (snap.built_at, scope, start.isoformat(), end.isoformat(), text))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
