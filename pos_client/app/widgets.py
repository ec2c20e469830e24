"""Small widgets shared by the screens: the message line, the status bar, the member panel."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rich.text import Text
from textual.widgets import Static

from cardread.barcode import gtin_valid
from cardread.payment import looks_like_payment_card
from pos_client.domain.money import format_cents
from pos_client.services.checkout_view import MemberSummary

if TYPE_CHECKING:
    from pos_client.services.marketing.at_till import MemberNotes


_DIGIT_RUN = re.compile(r"\d{12,}")


def screen_safe(text: str) -> str:
    """Mask every run of 12+ digits that could be a bank card number; keep product and loyalty barcodes.

    A valid EAN-13/UPC-A that is not a payment card number stays readable (the cashier checks a scanned
    number against its label); any other run of 12+ digits is masked as `cardread.read.scrub` does,
    a mistyped card number included (it fails the GTIN check or looks like a card).
    """
    def mask(m: re.Match[str]) -> str:
        digits = m.group()
        return digits if gtin_valid(digits) and not looks_like_payment_card(digits) else "#" * len(digits)

    return _DIGIT_RUN.sub(mask, text)


def clip(text: str, width: int) -> str:
    """`text` cut to `width` characters with an ellipsis when it is longer (never a silent cut)."""
    return text if len(text) <= width else text[: max(0, width - 1)] + "…"


def _append_notes(out: Text, notes: MemberNotes) -> None:
    """Two short lines at most, plus the prompt: the panel is 31 characters wide."""
    if notes.next_tier and notes.spend_needed_cents is not None:
        out.append(f" {notes.next_tier} in {format_cents(notes.spend_needed_cents)} spend\n", style="dim")
    if notes.expiring_points:
        by = f" by {notes.expiring_by}" if notes.expiring_by else ""
        out.append(f"Expiring {notes.expiring_points} pts{by}\n", style="bold yellow")
    if notes.prompt:
        out.append(f"» {notes.prompt}\n", style="bold magenta")


@dataclass(frozen=True)
class Issued:
    """What marketing issued with a sale, as its receipt prints it: a coupon (code, what, expiry) or a message."""

    message: str = ""
    code: str | None = None
    what: str = ""
    expires: str = ""


def _append_issued(out: Text, issued: Issued) -> None:
    """The coupon of the last sale, so the cashier can read its code to a customer without a receipt."""
    if issued.code:
        out.append("Coupon ", style="bold")
        out.append(f"{issued.code}\n", style="bold reverse")
        line = f" {issued.what} until {issued.expires}"
        # the expiry is what the customer needs: on a line of its own when the description is long
        out.append(f"{line}\n" if len(line) <= 31 else f" {clip(issued.what, 30)}\n until {issued.expires}\n")
    elif issued.message:
        out.append(f"» {issued.message}\n", style="bold magenta")


class MessageLine(Static):
    """One line telling the cashier what just happened; errors in red, never a card number."""
    DEFAULT_CSS = """
    MessageLine { height: 1; padding: 0 1; background: $boost; }
    MessageLine.-error { background: $error; color: $text; text-style: bold; }
    """

    def say(self, text: str, *, error: bool = False) -> None:
        self.set_class(error, "-error")
        self.update(Text(screen_safe(text)))

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
             notes: MemberNotes | None = None, issued: Issued | None = None) -> None:
        """Render the panel; `earned` set means the sale was just committed (summary is after it);
        `notes` adds the tier progress, points expiring soon and the cashier prompt; `issued` the
        coupon (or message) that sale's receipt prints. Long names end in an ellipsis, never cut silently."""
        out = Text(no_wrap=True, overflow="ellipsis")
        if summary is None:
            out.append("No member\n", style="bold")
            out.append("F2 key or scan a card\nF9 find or enrol\n\n")
            out.append(f"This sale: {preview} pts to earn\n")
            self.update(out)
            return
        out.append(("Last sale\n" if earned is not None else "Member\n"), style="bold reverse")
        out.append(f"{clip(summary.name or '', 31)}\n", style="bold")  # 31: the panel's width inside
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
            if issued is not None:
                _append_issued(out, issued)
        else:
            out.append(f"This sale +{preview} pts\n")
        out.append("\nLast visits\n", style="underline")
        if not summary.visits:
            out.append("(first visit)\n")
        for visit in summary.visits:
            out.append(f"{visit.day} {format_cents(visit.total_cents):>8} +{visit.points}\n")
            items = ", ".join(visit.items)
            out.append(f" {clip(items, 30)}\n", style="italic")
        self.update(out)
