"""Small widgets shared by the screens: the message line, the status bar, the member panel."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.widgets import Static

from cardread.read import scrub
from pos_client.domain.money import format_cents
from pos_client.services.checkout_view import MemberSummary

if TYPE_CHECKING:
    from pos_client.services.marketing.at_till import MemberNotes


def _append_notes(out: Text, notes: MemberNotes) -> None:
    """Two short lines at most, plus the prompt: the panel is 31 characters wide."""
    if notes.next_tier and notes.spend_needed_cents is not None:
        out.append(f" {notes.next_tier} in {format_cents(notes.spend_needed_cents)} spend\n", style="dim")
    if notes.expiring_points:
        by = f" by {notes.expiring_by}" if notes.expiring_by else ""
        out.append(f"Expiring {notes.expiring_points} pts{by}\n", style="bold yellow")
    if notes.prompt:
        out.append(f"» {notes.prompt}\n", style="bold magenta")


class MessageLine(Static):
    """One line telling the cashier what just happened; errors in red, never a card number."""

    DEFAULT_CSS = """
    MessageLine { height: 1; padding: 0 1; background: $boost; }
    MessageLine.-error { background: $error; color: $text; text-style: bold; }
    """

    def say(self, text: str, *, error: bool = False) -> None:
        self.set_class(error, "-error")
        self.update(Text(scrub(text)))

    @property
    def text(self) -> str:
        return str(self.render())


class StatusBar(Static):
    """Device and sync states, fed through `TillApp.set_status(part, text)`."""

    DEFAULT_CSS = """
    StatusBar { height: 1; padding: 0 1; background: $panel; color: $text-muted; }
    """

    def on_mount(self) -> None:
        self.watch(self.app, "status_text", self._show)

    def _show(self, text: str) -> None:
        self.update(Text(text or "devices: none"))


class MemberPanel(Static):
    """Who is at the till: name, masked phone, balance, tier, points this sale, last visits."""

    DEFAULT_CSS = """
    MemberPanel { width: 34; height: 1fr; border-left: vkey $primary; padding: 0 1; }
    """

    def show(self, summary: MemberSummary | None, preview: int, *, earned: int | None = None,
             notes: MemberNotes | None = None) -> None:
        """Render the panel; `earned` set means the sale was just committed (summary is after it);
        `notes` adds the tier progress, points expiring soon and the cashier prompt."""
        out = Text(no_wrap=True, overflow="ellipsis")
        if summary is None:
            out.append("No member\n", style="bold")
            out.append("F2 key or scan a card\nF9 find or enrol\n\n")
            out.append(f"This sale: {preview} pts to earn\n")
            self.update(out)
            return
        out.append(("Last sale\n" if earned is not None else "Member\n"), style="bold reverse")
        out.append(f"{summary.name}\n", style="bold")
        if summary.phone:
            out.append(f"Phone   {summary.phone}\n")
        out.append("Balance ")
        out.append(f"{summary.balance} pts\n", style="bold")
        out.append(f"Tier    {summary.tier}\n")
        if notes is not None:
            _append_notes(out, notes)
        if earned is not None:
            out.append("Earned  ")
            out.append(f"+{earned} pts\n", style="bold green")
        else:
            out.append(f"This sale +{preview} pts\n")
        out.append("\nLast visits\n", style="underline")
        if not summary.visits:
            out.append("(first visit)\n")
        for visit in summary.visits:
            out.append(f"{visit.day} {format_cents(visit.total_cents):>8} +{visit.points}\n")
            items = ", ".join(visit.items)
            out.append(f" {items[:30]}\n", style="italic")
        self.update(out)
