"""Reports for the manager: pick a report and a period, read it in a table (pos_client.services.marketing.reports)."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Footer, Input, Label, OptionList, Static

from pos_client.app.base import TillScreen
from pos_client.app.widgets import MessageLine, StatusBar
from pos_client.domain.errors import PosError
from pos_client.services.marketing import report_labels, report_text, reports

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
}
PERIOD_LABELS = {
    "this-month": "This month",
    "last-month": "Last month",
    "last-quarter": "Last quarter",
    "last-30-days": "Last 30 days",
    "as-of": "30 days to date:",
}


class ReportsScreen(TillScreen[None]):
    """Reports list and period on the left, the table on the right; Enter or F5 runs."""
    BINDINGS = [
        Binding("f5", "run", "Run"),
        Binding("escape", "back", "Back"),
    ]

    DEFAULT_CSS = """
    ReportsScreen #pick { width: 20; }
    ReportsScreen OptionList { height: auto; max-height: 9; }
    ReportsScreen #asof { width: 20; }
    ReportsScreen .title { text-style: bold underline; padding: 0 1; }
    ReportsScreen #heading { height: 3; padding: 0 1; background: $primary-background; }
    ReportsScreen #table { height: 1fr; }
    """

    def __init__(self) -> None:
        super().__init__()
        self.report: dict | None = None

    def compose(self) -> ComposeResult:
        with Horizontal():
            with Vertical(id="pick"):
                yield Label("Report", classes="title")
                yield OptionList(*REPORT_LABELS.values(), id="report", compact=True)
                yield Label("Period", classes="title")
                yield OptionList(*PERIOD_LABELS.values(), id="period", compact=True)
                yield Input(id="asof", placeholder="YYYY-MM-DD", compact=True)
            with Vertical():
                yield Static(id="heading")
                yield DataTable(id="table", zebra_stripes=True)
                yield Static(id="extra")  # what the CLI prints under the table (retention in %, lifecycle moves)
        yield MessageLine(id="message")
        yield StatusBar(id="status")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#report", OptionList).highlighted = 0
        self.query_one("#period", OptionList).highlighted = 0
        self.query_one("#report", OptionList).focus()
        self.say("Pick a report and a period (Tab), Enter or F5 runs it")

    def selection(self) -> tuple[str, str, str]:
        """(report name, period preset, as-of text) from the widgets."""
        report = self.query_one("#report", OptionList).highlighted or 0
        period = self.query_one("#period", OptionList).highlighted or 0
        return (list(REPORT_LABELS)[report], list(PERIOD_LABELS)[period],
                self.query_one("#asof", Input).value.strip())

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
        name, preset, as_of = self.selection()
        try:
            start, end = reports.period(preset, as_of=as_of or None)
            if preset == "as-of" and not as_of:
                raise PosError("key the as-of date (YYYY-MM-DD) under the periods")
            report = reports.run_report(self.ctx, name, start=start, end=end)
        except PosError as exc:
            self.say(str(exc), error=True)
            return
        self.report = report
        self._show(report)
        n = len(report["rows"])
        self.say(f"{REPORT_LABELS[name]}: {n} row{'s' if n != 1 else ''}")

    def _show(self, report: dict) -> None:
        span = f"{report['from']} to {report['to']}" if report["from"] else f"as of {report['to']}"
        heading = Text(overflow="ellipsis")
        heading.append(f"{REPORT_LABELS[report['report']]}  {span}\n", style="bold")
        heading.append(report_labels.summary_text(report["summary"]))
        self.query_one("#heading", Static).update(heading)
        table = self.query_one("#table", DataTable)
        table.clear(columns=True)
        sep = self.ctx.config.decimal_separator
        for column in report["columns"]:
            table.add_column(report_text.heading(column), key=column)  # human labels, never `new_pct`
        # the cells as the CLI prints them (report_text): money grouped, % with one decimal, then the total
        for row in [*report["rows"], *([report["total"]] if report.get("total") else [])]:
            table.add_row(*(report_text.cell(c, v, sep) for c, v in zip(report["columns"], row, strict=False)))
        self.query_one("#extra", Static).update(Text(report_text.extra_text(report, sep)))

    def action_back(self) -> None:
        self.dismiss(None)
