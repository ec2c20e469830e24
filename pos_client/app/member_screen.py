"""The member screen: find a member who forgot the card, enrol in seconds, report a lost card.

Found, enrolled or moved members are attached to the basket waiting on the checkout screen.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widget import Widget
from textual.widgets import Button, Checkbox, DataTable, Footer, Input, Label, TabbedContent, TabPane

from cardread import parse_card
from cardread.read import CardRead
from pos_client.app.base import TillScreen
from pos_client.app.widgets import MessageLine, StatusBar, clip
from pos_client.domain.errors import PosError, UsageError
from pos_client.services import members

if TYPE_CHECKING:
    from pos_client.services.scan_routing import Routed


def _row(label: str, widget: Widget) -> Horizontal:
    return Horizontal(Label(label), widget, classes="row")


@dataclass(frozen=True)
class Chosen:
    """What the member screen hands back to the checkout: the member to attach and a word for the cashier."""

    member_id: str
    card_number: str | None
    message: str


class MemberScreen(TillScreen[Chosen]):
    """Three tabs, each reachable by one key; Esc goes back to the sale."""
    TYPED_INPUTS = {"q": "text", "e-phone": "text", "e-name": "text", "e-email": "text"}
    BINDINGS = [
        Binding("f2", "tab('find')", "Find"),
        Binding("f3", "tab('enrol')", "Enrol"),
        Binding("f4", "tab('lost')", "Lost card"),
        Binding("f5", "submit", "OK"),
        Binding("escape,f9", "back", "Back"),
    ]

    DEFAULT_CSS = """
    MemberScreen TabbedContent { height: 1fr; }
    MemberScreen .row { height: 1; margin-bottom: 1; }
    MemberScreen .row Label { width: 12; padding: 0 1; }
    MemberScreen .row Input { width: 1fr; }
    MemberScreen #results { height: 1fr; }
    MemberScreen Checkbox { margin-left: 12; }
    MemberScreen Button { margin-left: 12; }
    """

    def __init__(self, pending_card: CardRead | None = None) -> None:
        super().__init__()
        self.pending_card = pending_card
        self.selected: str | None = None
        self._reads: dict[str, CardRead] = {}

    def compose(self) -> ComposeResult:
        with TabbedContent(id="tabs", initial="find"):
            with TabPane("Find F2", id="find"), Vertical():
                yield _row("Phone/name", Input(id="q", placeholder="phone, name or card", compact=True))
                yield DataTable(id="results", cursor_type="row")
            with TabPane("Enrol F3", id="enrol"), Vertical():
                yield _row("Card", Input(id="e-card", placeholder="scan or key (or leave empty)", compact=True))
                yield _row("Phone", Input(id="e-phone", placeholder="card or phone is enough", compact=True))
                yield _row("Name", Input(id="e-name", placeholder="optional", compact=True))
                yield _row("Email", Input(id="e-email", placeholder="optional", compact=True))
                yield Checkbox("Email offers (consent)", id="c-email", compact=True)
                yield Checkbox("SMS offers (consent)", id="c-sms", compact=True)
                yield Button("Enrol (F5)", id="enrol-btn", compact=True)
            with TabPane("Lost card F4", id="lost"), Vertical():
                yield _row("Old card", Input(id="l-old", placeholder="F2: find the member first", compact=True))
                yield _row("New card", Input(id="l-new", placeholder="scan or key the new card", compact=True))
                yield Button("Block old, move to new (F5)", id="lost-btn", compact=True)
        yield MessageLine(id="message")
        yield StatusBar(id="status")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#results", DataTable)
        for label, width in (("Name", 22), ("Phone", 14), ("Points", 7), ("Tier", 10)):
            table.add_column(label, width=width)
        if self.pending_card is not None and self.pending_card.ok:
            self.action_tab("enrol")
            self._fill("e-card", self.pending_card)
            self.say("Unknown card: enrol the customer (a phone number or a name helps find them later)")
        else:
            self.action_tab("find")

    # --- tabs and scans --------------------------------------------------------------------

    @property
    def active(self) -> str:
        return self.query_one(TabbedContent).active

    HINTS = {
        "find": "Find by phone, name or card; Enter attaches to the sale; Esc back",
        "enrol": "A card or a phone is enough; Space ticks consent; F5 enrols",
        "lost": "Find the member first (F2), scan the new card, F5: the old card is blocked",
    }

    def action_tab(self, tab: str) -> None:
        self.query_one(TabbedContent).active = tab
        self.say(self.HINTS[tab])
        first = {"find": "#q", "enrol": "#e-card", "lost": "#l-old" if not self.selected else "#l-new"}[tab]
        self.query_one(first, Input).focus()

    def _fill(self, input_id: str, read: CardRead) -> None:
        self._reads[input_id] = read
        self.query_one(f"#{input_id}", Input).value = read.card_number or ""

    def _read_of(self, input_id: str) -> CardRead | None:
        """The read that filled a field (keeps its source), or the field's text parsed as keyed."""
        text = self.query_one(f"#{input_id}", Input).value.strip()
        if not text:
            return None
        read = self._reads.get(input_id)
        if read is not None and read.card_number == text:
            return read
        return parse_card(text, loyalty_prefixes=self.ctx.rules.loyalty_prefixes)

    def take_card(self, read: CardRead) -> None:
        """A scan here fills the card field of the open tab (a payment card fills nothing)."""
        if not read.ok:
            self.say(read.error or "unreadable card", error=True)
            return
        if self.active == "find":
            self.query_one("#q", Input).value = read.card_number or ""
            self._find(read.card_number or "")
        elif self.active == "enrol":
            self._fill("e-card", read)
        else:
            focused = self.focused.id if self.focused is not None else None
            target = focused if focused in ("l-old", "l-new") else (
                "l-new" if self.query_one("#l-old", Input).value else "l-old")
            self._fill(target, read)

    def take_routed(self, routed: Routed) -> None:
        """A scan here is a card (to find, to enrol, to replace a lost one) unless the catalog knows it as a product:
        a new card numbered like an EAN-13 outside the program prefixes is still a card."""
        if routed.product_ean is not None and routed.known:
            self.take_product(routed.product_ean)
        elif routed.as_card is not None:
            self.take_card(routed.as_card)

    # --- find ------------------------------------------------------------------------------

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if self.refuse_payment_numbers():
            return
        if event.input.id == "q":
            self._find(event.value)
        elif event.input.id in ("e-card", "e-phone", "e-name", "e-email", "l-old", "l-new"):
            self.focus_next()

    def _find(self, query: str) -> None:
        table = self.query_one("#results", DataTable)
        table.clear()
        try:
            found = members.find(self.ctx, query)
        except PosError as exc:
            self.say(str(exc), error=True)
            return
        for m in found:
            p = m.public()
            table.add_row(clip(p["name"] or "(no name)", 22), p["phone"], str(p["balance"]), p["tier"], key=m.member_id)
        if found:
            table.focus()
            table.move_cursor(row=0)
            self.say(f"{len(found)} found: Enter attaches to the sale, F4 reports a lost card")
        else:
            self.say("nobody found: F3 to enrol", error=True)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key is not None and event.row_key.value:
            self._select(event.row_key.value)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if event.row_key is not None and event.row_key.value:
            self._select(event.row_key.value)
            self._attach_and_back(event.row_key.value, "attached")

    def _select(self, member_id: str) -> None:
        self.selected = member_id
        active = [c for c in members.cards_of(self.ctx, member_id) if c["status"] == "active"]
        self._reads.pop("l-old", None)
        self.query_one("#l-old", Input).value = active[-1]["card_number"] if active else ""

    # --- enrol and lost card ---------------------------------------------------------------

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "enrol-btn":
            self._enrol()
        elif event.button.id == "lost-btn":
            self._replace()

    def action_submit(self) -> None:
        if self.active == "enrol":
            self._enrol()
        elif self.active == "lost":
            self._replace()
        elif self.selected:
            self._attach_and_back(self.selected, "attached")

    def _enrol(self) -> None:
        if self.refuse_payment_numbers():
            return
        value = {k: self.query_one(f"#{k}", Input).value.strip() for k in ("e-phone", "e-name", "e-email")}
        consent = [c for c, box in (("email", "#c-email"), ("sms", "#c-sms")) if self.query_one(box, Checkbox).value]
        try:
            card = self._read_of("e-card")
            if card is not None and not card.ok:
                self.query_one("#e-card", Input).value = ""
                raise UsageError(card.error or "unreadable card")
            member = members.enroll(self.ctx, card=card, phone=value["e-phone"] or None,
                                    name=value["e-name"] or None, email=value["e-email"] or None, consent=consent)
        except PosError as exc:
            self.say(str(exc), error=True)
            return
        self._attach_and_back(member.member_id, "enrolled", card.card_number if card else None)

    def _replace(self) -> None:
        if self.refuse_payment_numbers():
            return
        try:
            old, new = self._read_of("l-old"), self._read_of("l-new")
            if old is None or new is None:
                raise UsageError("the old card (F2: find the member) and the new card are both needed")
            for field_id, read in (("l-old", old), ("l-new", new)):
                if not read.ok:
                    self.query_one(f"#{field_id}", Input).value = ""
                    raise UsageError(read.error or "unreadable card")
            member = members.replace_card(self.ctx, old, new)
        except PosError as exc:
            self.say(str(exc), error=True)
            return
        self._attach_and_back(member.member_id, f"card replaced, {member.balance} pts kept", new.card_number)

    def _attach_and_back(self, member_id: str, what: str, card_number: str | None = None) -> None:
        member = members.get_member(self.ctx, member_id)
        self.dismiss(Chosen(member.member_id, card_number, f"{member.name or 'Member'}: {what}"))

    def action_back(self) -> None:
        self.dismiss()
