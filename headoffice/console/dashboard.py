"""The console's dashboard: `/` (every figure, with its chart and its table) and `/dashboard/<figure>.csv`.

Query parameters: `store` (owner: a store id, or empty / "all" for the chain; a manager is held to their
own store, and naming another is Denied) and `period` (30d, 90d, 365d or Nd, ending on the snapshot's last
day) or `from`/`to` dates. The numbers are the reports' own (`figures`); this module only lays them out as
tables, and each chart and each CSV is drawn from its table, so the three cannot disagree.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from markupsafe import Markup
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from headoffice.console import charts
from headoffice.console.figures import (
    PRESETS,
    Period,
    PeriodError,
    Snapshot,
    cached,
    cached_stores,
    parse_period,
    snapshot_state,
)
from headoffice.console.web import Console, Denied, User
from pos_client.domain.money import format_cents
from pos_client.services.marketing.report_base import pct

ALL = "all"


@dataclass
class Table:
    """One figure's table: what the page shows, what its chart draws and what its CSV holds."""

    key: str
    title: str
    columns: list[str]
    rows: list[list[Any]]
    total: list[Any] | None = None
    money: frozenset[int] = frozenset()  # column indexes holding cents (shown as money, CSV keeps cents)
    chart: Markup | None = None
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def shown(self, index: int, value: Any) -> str:
        if value is None:
            return ""
        if index in self.money and isinstance(value, int):
            return format_cents(value, group=True)
        return f"{value:,}" if isinstance(value, int) else str(value)

    def csv(self) -> str:
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(self.columns)
        writer.writerows(["" if v is None else v for v in row] for row in self.rows)
        return buf.getvalue()


def routes(console: Console) -> list[BaseRoute]:
    """`/` and `/dashboard/{figure}.csv`."""
    page = Dashboard(console)
    return [Route("/", page.show, methods=["GET"]), Route("/dashboard/{figure}.csv", page.csv, methods=["GET"])]


def tables(data: dict[str, Any]) -> list[Table]:
    """The dashboard's tables, in page order, from one `figures` payload."""
    r = data["reports"]
    new = r["new-customers"]["summary"]
    liability = r["points-liability"]["summary"]
    out = [Table("members", "Members", ["members", "active", "new", "new_pct", "points_liability",
                                        "points_liability_value_cents", "with_purchase"],
                 [[data["members"], new["active"], new["new"], new["new_pct"], liability["points"],
                   liability["value_cents"], data["with_purchase"]]], money=frozenset({5}),
                 note="members: enrolled by the last day and neither merged nor erased (docs/marketing.md,"
                      " Members); active: bought in the period; new: first purchase ever in it (% of active);"
                      " liability: points members could still spend, in money; with_purchase: members with a"
                      " sale by the last day")]
    life = r["lifecycle"]
    stage_rows = [list(row) for row in life["rows"]]
    buyers = sum(int(row[1]) for row in stage_rows)
    out.append(Table("lifecycle", "Lifecycle stage at the period's end", life["columns"], stage_rows, life.get("total"),
                     chart=charts.bar_chart("chart-lifecycle", "Members per lifecycle stage",
                                            [row[0] for row in stage_rows], [row[1] for row in stage_rows]),
                     note=f"every member id with a sale by the last day ({buyers:,}): the members table's"
                          f" with_purchase ({data['with_purchase']:,}) and {buyers - data['with_purchase']:,}"
                          " since merged into another member or erased, whose sales keep their id"))
    moves = life["summary"]["moves"]
    out.append(Table("lifecycle-moves", "Stage moves during the period", ["from_stage", "to_stage", "members"],
                     [[m["from"], m["to"], m["members"]] for m in moves]))
    sp = r["second-purchase"]
    sp_rows = [list(row) for row in sp["rows"]]
    out.append(Table("second-purchase", f"Second purchase within {sp['summary']['days']} days", sp["columns"],
                     sp_rows, sp.get("total"), chart=charts.stacked_bar_chart(
                         "chart-second-purchase", "First buyers by cohort: bought again, still open, not yet",
                         [row[0] for row in sp_rows],
                         [("bought again", [row[2] for row in sp_rows]), ("still open", [row[4] for row in sp_rows]),
                          ("not yet", [row[1] - row[2] - row[4] for row in sp_rows])])))
    re_ = r["reactivation"]
    re_rows = [list(row) for row in re_["rows"]]
    out.append(Table("reactivation", "Reactivation of at-risk and lapsed members", re_["columns"], re_rows,
                     re_.get("total"), money=frozenset({4}), chart=charts.stacked_bar_chart(
                         "chart-reactivation", "At risk or lapsed at the start: came back or not",
                         [row[0] for row in re_rows],
                         [("came back", [row[2] for row in re_rows]),
                          ("did not", [row[1] - row[2] for row in re_rows])])))
    ret = r["retention"]
    pct_rows = [list(row) for row in ret["summary"]["pct_rows"]]
    total_pct = ret["summary"]["total_pct"]
    months = ret["columns"][2:]
    out.append(Table("retention", "Retention: % of each cohort buying in each month since", ret["columns"], pct_rows,
                     total_pct, chart=charts.line_chart(
                         "chart-retention", "All cohorts: % still buying, by months since the first purchase",
                         months, [("all cohorts", total_pct[2:])])))
    rw = r["rewards-redeemed"]
    rw_rows = [list(row) for row in rw["rows"]]
    out.append(Table("rewards-redeemed", "Rewards redeemed", rw["columns"], rw_rows, None, money=frozenset({3}),
                     chart=charts.bar_chart("chart-rewards", "Redemptions per reward", [row[0] for row in rw_rows],
                                            [row[1] for row in rw_rows]) if rw_rows else None))
    out += _tier_tables(r["tier-migration"])
    out.append(_lift_table(data["offer_lift"]))
    return out


def _tier_tables(tm: dict[str, Any]) -> list[Table]:
    """Tier mix at the period's end and who moved between tiers (the Gold -> Silver question), both from the
    tier-migration report's own matrix."""
    summary = tm["summary"]
    names = list(summary["at_end"])
    start, end = summary["at_start"], summary["at_end"]
    total_end = sum(end.values())
    mix_rows: list[list[Any]] = [[t, start[t], end[t], end[t] - start[t], pct(end[t], total_end)] for t in names]
    mix = Table("tier-mix", "Tier mix and migration: members per tier at the period's start and end",
                ["tier", "at_start", "at_end", "change", "pct_at_end"], mix_rows,
                ["total", sum(start.values()), total_end, total_end - sum(start.values()), pct(total_end, total_end)],
                chart=charts.bar_chart("chart-tier-mix", "Members per tier at the period's end", names,
                                       [end[t] for t in names]),
                note="members known by the period's end, at the tier they held at its start and at its end")
    matrix = summary["matrix"]
    moved = [[a, b, matrix[a][b], pct(matrix[a][b], start[a])] for a in names for b in names
             if a != b and matrix[a][b]]
    migration = Table("tier-migration", "Tier migration: who moved between tiers during the period",
                      ["from_tier", "to_tier", "members", "pct_of_from"], moved,
                      chart=charts.stacked_bar_chart(
                          "chart-tier-migration", "Tier at the start (bars) by tier at the end (segments)", names,
                          [(f"to {b}", [matrix[a][b] for a in names]) for b in names]),
                      note="pct_of_from: share of the members who held the first tier at the start; the full"
                           " matrix, stayers included, is `headoffice report tier-migration`")
    return [mix, migration]


def _lift_table(lifts: list[dict[str, Any]]) -> Table:
    rows: list[list[Any]] = []
    for rep in lifts:
        s = rep["summary"]
        t, c, lf = s["groups"]["treated"], s["groups"]["control"], s["lift"]
        ci = lf["bought_diff_ci"] or (None, None)
        rows.append([s["offer"], t["members"], t["bought_pct"], c["members"], c["bought_pct"],
                     _points(lf["bought_diff"]), _points(ci[0]), _points(ci[1]),
                     s["verdict"] if s["conclusive"] else "too small to conclude"])
    return Table("offer-lift", "Offer lift (bought in the window: treated against held-out control, 95% CI)",
                 ["offer", "treated", "treated_bought_pct", "control", "control_bought_pct", "lift_pct_points",
                  "ci_low", "ci_high", "verdict"], rows)


def _points(share: float | None) -> float | None:
    """A difference of two shares as percentage points, one decimal (as the report's text says it)."""
    return None if share is None else round(share * 100, 1)


class Dashboard:
    """The handlers, over one Console (no state of their own)."""

    def __init__(self, console: Console) -> None:
        self.console = console

    def _scope(self, request: Request) -> tuple[User, str | None]:
        """The user and the store asked for (None: chain-wide), after the store check."""
        user = self.console.require(request)
        asked = request.query_params.get("store", "").strip()
        if user.is_owner:
            return user, None if asked in ("", ALL) else asked
        if asked == ALL or (asked and not user.sees(asked)):
            raise Denied("another store")
        return user, user.store_id

    async def show(self, request: Request) -> Response:
        user, store = self._scope(request)
        snap = snapshot_state(self.console.snapshot, datetime.now(UTC))
        context: dict[str, Any] = {"active": "dashboard", "store": store, "snap": snap, "presets": list(PRESETS),
                                   "query": dict(request.query_params), "tables": [], "error": None,
                                   "stores": [], "period": None}
        if snap is None or not snap.usable:
            return self.console.render(request, "dashboard.html", context)
        assert snap.last_day is not None
        try:
            period = parse_period(request.query_params, snap.last_day)
        except PeriodError as exc:
            context["error"] = str(exc)
            return self.console.render(request, "dashboard.html", context, status=400)
        html = await run_in_threadpool(self.console.fragments.get_or_render, (snap.built_at, store, period.start,
                                       period.end), lambda: self._figures_html(snap, store, period))
        listed = await run_in_threadpool(cached_stores, snap) if user.is_owner else []
        if listed is None:
            self.console.warmer.ask(snap, None, None)
        if html is None:  # computing is upkeep's job (or the warmer's), never a page's: say so, come back later
            self.console.warmer.ask(snap, store, period)
            context.update(period=period, computing=True, stores=listed or [])
            return self.console.render(request, "dashboard.html", context)
        context.update(period=period, figures_html=html, stores=listed or [], csv_query=_csv_query(store, period))
        return self.console.render(request, "dashboard.html", context)

    def _figures_html(self, snap: Snapshot, store: str | None, period: Period) -> Markup | None:
        """The page's figures section (tables, charts, CSV links) from the cache, rendered once per snapshot build
        (`Console.fragments`); None while the figures are not computed yet."""
        data = cached(snap, store, period)
        if data is None:
            return None
        template = self.console.templates.env.get_template("dashboard.html")
        context = template.new_context({"tables": tables(data), "csv_query": _csv_query(store, period)})
        return Markup("".join(template.blocks["figures"](context)))

    async def csv(self, request: Request) -> Response:
        _user, store = self._scope(request)
        snap = snapshot_state(self.console.snapshot, datetime.now(UTC))
        if snap is None or not snap.usable:
            return Response("no marketing snapshot yet: `headoffice upkeep` builds it\n", 404,
                            media_type="text/plain")
        assert snap.last_day is not None
        try:
            period = parse_period(request.query_params, snap.last_day)
        except PeriodError as exc:
            return Response(f"{exc}\n", 400, media_type="text/plain")
        data = await run_in_threadpool(cached, snap, store, period)
        if data is None:
            self.console.warmer.ask(snap, store, period)
            return Response(f"these figures are being computed from the snapshot built {snap.built_at}: try again"
                            " in a minute\n", 503, media_type="text/plain", headers={"retry-after": "60"})
        found = {t.key: t for t in tables(data)}
        table = found.get(request.path_params["figure"])
        if table is None:
            return Response(f"no such figure: one of {', '.join(found)}\n", 404, media_type="text/plain")
        name = f"{table.key}-{store or 'chain'}-{period.start.isoformat()}-{period.end.isoformat()}.csv"
        return Response(table.csv(), media_type="text/csv; charset=utf-8",
                        headers={"content-disposition": f'attachment; filename="{name}"', "cache-control": "no-store"})


def _csv_query(store: str | None, period: Period) -> str:
    """The query string that asks the CSV for the page's own scope and period."""
    params = {"store": store} if store else {}
    if period.key == "custom":
        return urlencode({**params, "from": period.start.isoformat(), "to": period.end.isoformat()})
    return urlencode({**params, "period": period.key})

