"""Reports for the manager: pick a report and a period, read it in a table (pos_client.services.marketing.reports).

A report over a year of a busy till reads every sale: it runs in a worker thread on a connection of its
own (`pos_client.till.context_opener`), so the screen keeps taking keys while it says "computing…"; a new
run supersedes one still going (its result is dropped). Where a trend is the point, a bar or sparkline
(`report_charts`) sits with the table: the lifecycle stage mix, retention by months since, new customers
per month.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Footer, Input, Label, OptionList, Static
from textual.worker import Worker, WorkerState

from pos_client.app import report_charts
from pos_client.app.base import TillScreen
from pos_client.app.widgets import MessageLine, StatusBar
from pos_client.domain.errors import PosError
from pos_client.services.marketing import offers, report_labels, report_text, reports
from pos_client.services.marketing.report_base import month_index, month_label
from pos_client.store.context import TillContext
from pos_client.till import context_opener

REPORT_LABELS = {
    "new-customers": "New customers",
    "lifecycle": "Lifecycle",
    "tier-migration": "Tier migration",
    "rfm": "RFM segments",
    "points-liability": "Points liability",
    "rewards-redeemed": "Rewards redeemed",
    "contact-list": "Contact list",
    "second-purchase": "Second purchase",
    "reactivation": "Reactivation",
    "retention": "Retention",
    "offer-lift": "Offer lift",
}
PERIOD_LABELS = {
    "this-month": "This month",
    "last-month": "Last month",
    "last-quarter": "Last quarter",
    "last-30-days": "Last 30 days",
    "as-of": "30 days to date:",
}
TREND_MONTHS = 12  # new customers: the sparkline covers the 12 calendar months to the period's end

# What the worker hands back: the report and, for new customers, (month, new customers) oldest first.
Computed = tuple[dict[str, Any], list[tuple[str, int]]]


def new_per_month(ctx: TillContext, end: date) -> list[tuple[str, int]]:
    """New customers (first purchase ever) in each of the 12 calendar months to `end`: the cohort sizes of
    the retention report over those months (docs/marketing.md), a month with none as 0."""
    last = month_index(end)
    first = last - TREND_MONTHS + 1
    start = date(first // 12, first % 12 + 1, 1)
    sizes = {row[0]: row[1] for row in reports.run_report(ctx, "retention", start=start, end=end)["rows"]}
    return [(month_label(m), int(sizes.get(month_label(m), 0))) for m in range(first, last + 1)]


def compute(open_context: Callable[[], TillContext], name: str, start: date, end: date,
            options: dict[str, Any]) -> Computed:
    """Run one report (and its trend) on a connection of its own: called in the worker thread."""
    ctx = open_context()
    try:
        report = reports.run_report(ctx, name, start=start, end=end, **options)
        trend = new_per_month(ctx, end) if name == "new-customers" else []
    finally:
        ctx.close()
    return report, trend


class ReportsScreen(TillScreen[None]):
    """Reports list, period and (for offer lift) the offer on the left, the table on the right; Enter or F5 runs."""
    BINDINGS = [
        Binding("f5", "run", "Run"),
        Binding("escape", "back", "Back"),
    ]

    DEFAULT_CSS = """
    ReportsScreen #pick { width: 20; }
    ReportsScreen OptionList { height: auto; max-height: 9; }
    ReportsScreen #offer { max-height: 4; }
    ReportsScreen #asof { width: 20; }
    ReportsScreen .title { text-style: bold underline; padding: 0 1; }
    ReportsScreen #heading { height: 3; padding: 0 1; background: $primary-background; }
    ReportsScreen #chart { height: auto; padding: 0 1; color: $accent; }
    ReportsScreen #table { height: 1fr; }
    """

    def __init__(self) -> None:
        super().__init__()
        self.report: dict | None = None
        self.worker: Worker[Computed] | None = None  # the run whose result the screen waits for
        self._offers: list[str] = []

    @property
    def busy(self) -> bool:
        """A report is being computed (the screen shows "computing…")."""
        return self.worker is not None

    def compose(self) -> ComposeResult:
        with Horizontal():
            with Vertical(id="pick"):
                yield Label("Report", classes="title")
                yield OptionList(*REPORT_LABELS.values(), id="report", compact=True)
                yield Label("Period", classes="title")
                yield OptionList(*PERIOD_LABELS.values(), id="period", compact=True)
                yield Input(id="asof", placeholder="YYYY-MM-DD", compact=True)
                yield Label("Offer", classes="title", id="offer-title")
                yield OptionList(id="offer", compact=True)
            with Vertical():
                yield Static(id="heading")
                yield Static(id="chart")
                yield DataTable(id="table", zebra_stripes=True)
                yield Static(id="extra")  # what the CLI prints under the table (retention in %, lifecycle moves)
        yield MessageLine(id="message")
        yield StatusBar(id="status")
        yield Footer()

    def on_mount(self) -> None:
        try:
            self._offers = [o.id for o in offers.catalog(self.ctx)]
        except ValueError as exc:  # a bad offer in the program rules: the other reports still run
            self.say(str(exc), error=True)
        self.query_one("#offer", OptionList).add_options(self._offers)
        self.query_one("#report", OptionList).highlighted = 0
        self.query_one("#period", OptionList).highlighted = 0
        self.query_one("#offer", OptionList).highlighted = 0 if self._offers else None
        self._show_offer_picker(False)
        self.query_one("#report", OptionList).focus()
        self.say("Pick a report and a period (Tab), Enter or F5 runs it")

    def _show_offer_picker(self, shown: bool) -> None:
        self.query_one("#offer-title", Label).display = shown
        self.query_one("#offer", OptionList).display = shown

    def selection(self) -> tuple[str, str, str, str | None]:
        """(report name, period preset, as-of text, offer id) from the widgets."""
        report = self.query_one("#report", OptionList).highlighted or 0
        period = self.query_one("#period", OptionList).highlighted or 0
        offer = self.query_one("#offer", OptionList).highlighted
        return (list(REPORT_LABELS)[report], list(PERIOD_LABELS)[period],
                self.query_one("#asof", Input).value.strip(),
                self._offers[offer] if offer is not None and offer < len(self._offers) else None)

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        if event.option_list.id == "report":
            self._show_offer_picker(list(REPORT_LABELS)[event.option_index] == "offer-lift")

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if event.option_list.id == "period" and list(PERIOD_LABELS)[event.option_index] == "as-of":
            self.query_one("#asof", Input).focus()
            return
        self.action_run()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.query_one("#period", OptionList).highlighted = list(PERIOD_LABELS).index("as-of")
        self.action_run()

    def action_run(self) -> None:
        """Check the choice here (cheap), compute in a worker thread; a run still going is superseded."""
        name, preset, as_of, offer = self.selection()
        try:
            start, end = reports.period(preset, as_of=as_of or None)
            if preset == "as-of" and not as_of:
                raise PosError("key the as-of date (YYYY-MM-DD) under the periods")
            if name == "offer-lift" and offer is None:
                raise PosError("no offer is configured: offer lift needs one ([program] offers)")
        except PosError as exc:
            self.say(str(exc), error=True)
            return
        options = {"offer": offer} if name == "offer-lift" else {}
        self._computing(name, start, end, offer)
        opener = context_opener(self.ctx)  # read here: the UI thread's connection stays on the UI thread
        self.worker = self.run_worker(
            lambda: compute(opener, name, start, end, options), thread=True,
            exclusive=True, group="report", name=f"report {name}", exit_on_error=False)

    def _computing(self, name: str, start: date, end: date, offer: str | None) -> None:
        what = REPORT_LABELS[name] + (f" ({offer})" if offer else "")
        heading = Text(overflow="ellipsis")
        heading.append(f"{what}  {start} to {end}\n", style="bold")
        heading.append("computing…", style="italic")
        self.query_one("#heading", Static).update(heading)
        for part in ("#chart", "#extra"):
            self.query_one(part, Static).update("")
        self.query_one("#table", DataTable).clear(columns=True)
        self.say(f"{what}: computing… (the screen stays usable; F5 runs again)")

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """The worker's answer, on the UI thread; the answer of a superseded run is dropped."""
        if event.worker is not self.worker or event.state not in (WorkerState.SUCCESS, WorkerState.ERROR):
            return
        self.worker = None
        if event.state == WorkerState.ERROR:
            error = event.worker.error
            self.query_one("#heading", Static).update("")
            self.say(str(error) if isinstance(error, PosError) else f"report failed: {type(error).__name__}:"
                     f" {error}", error=True)
            return
        if event.worker.result is None:
            return
        report, trend = event.worker.result
        self.report = report
        self._show(report, trend)
        n = len(report["rows"])
        self.say(f"{REPORT_LABELS[report['report']]}: {n} row{'s' if n != 1 else ''}")

    def _show(self, report: dict, trend: list[tuple[str, int]]) -> None:
        span = f"{report['from']} to {report['to']}" if report["from"] else f"as of {report['to']}"
        heading = Text(overflow="ellipsis")
        heading.append(f"{REPORT_LABELS[report['report']]}  {span}\n", style="bold")
        heading.append(report_labels.summary_text(report["summary"]))
        self.query_one("#heading", Static).update(heading)
        chart = (report_charts.retention_line(report) if report["report"] == "retention"
                 else report_charts.new_per_month_line(trend))
        self.query_one("#chart", Static).update(Text(chart, overflow="ellipsis", no_wrap=True))
        table = self.query_one("#table", DataTable)
        table.clear(columns=True)
        sep = self.ctx.config.decimal_separator
        for column in report["columns"]:
            table.add_column(report_text.heading(column), key=column)  # human labels, never `new_pct`
        mix = report["report"] == "lifecycle"  # the stage mix as a bar beside each stage's %
        if mix:
            table.add_column("Mix", key="mix")
        # the cells as the CLI prints them (report_text): money grouped, % with one decimal, then the total
        for row in report["rows"]:
            cells = [report_text.cell(c, v, sep) for c, v in zip(report["columns"], row, strict=False)]
            table.add_row(*cells, *([report_charts.bar(float(row[-1]))] if mix else []))
        if report.get("total"):
            total = [report_text.cell(c, v, sep) for c, v in zip(report["columns"], report["total"], strict=False)]
            table.add_row(*total, *([""] if mix else []))
        self.query_one("#extra", Static).update(Text(report_text.extra_text(report, sep)))

    def action_back(self) -> None:
        self.dismiss(None)
