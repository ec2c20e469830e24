"""The checkout screen: basket, card slot, product/amount slot and the member panel.

The screen only wires widgets to domain calls (cards, members, catalog, checkout,
checkout_view, scan_routing). Errors go to the message line; the basket is never lost on an error,
and the screen shows one state: the card slot always holds the attached member's card, so a refused
or unknown card changes neither. After a sale the panel shows what marketing issued with it (the
coupon the receipt prints, with its code and expiry).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Footer, Input, Label, Static

from cardread import parse_card
from cardread.read import CardRead
from pos_client.app.base import TillScreen
from pos_client.app.widgets import Issued, MemberPanel, MessageLine, StatusBar, clip
from pos_client.domain.errors import NotFound, PosError
from pos_client.domain.money import format_cents
from pos_client.services import catalog, checkout_view, members, scan_routing
from pos_client.services.checkout import Basket, Line, SaleResult, commit_sale
from pos_client.services.marketing import offers
from pos_client.services.marketing.at_till import member_notes
from pos_client.services.marketing.coupons import apply_coupon, describe, looks_like_coupon
from pos_client.services.marketing.receipt import printable_blocks

if TYPE_CHECKING:
    from pos_client.app.member_screen import Chosen
    from pos_client.services.marketing.at_till import MemberNotes
    from pos_client.services.scan_routing import Routed

class CheckoutScreen(TillScreen[None]):
    """The default screen: what the cashier sees all day."""
    TYPED_INPUTS = {"entry": "amount"}  # a fast typist's 12.50 stays in the item slot
    BINDINGS = [
        Binding("f2", "focus_card", "Card"),
        Binding("f3", "focus_entry", "Item"),
        Binding("f4", "tender", "Tender"),
        Binding("f5", "pay", "Pay"),
        Binding("f6", "void_last", "Void"),
        Binding("f8", "clear", "Clear"),
        Binding("f9", "members", "Members"),
        Binding("f10", "manager", "Manager"),
        Binding("escape", "cancel", "Cancel"),
    ]

    DEFAULT_CSS = """
    CheckoutScreen #main { height: 1fr; }
    CheckoutScreen #basket { height: 1fr; }
    CheckoutScreen #totals { height: 1; padding: 0 1; background: $primary-background; text-style: bold; }
    CheckoutScreen .slot { height: 1; }
    CheckoutScreen .slot Label { width: 9; padding: 0 1; }
    CheckoutScreen .slot Input { width: 1fr; }
    """

    def __init__(self) -> None:
        super().__init__()
        self.basket = Basket()
        self.last_result: SaleResult | None = None
        self.last_issued: Issued | None = None  # what marketing issued with the last sale (its receipt prints it)
        self.pending_card: CardRead | None = None
        self._notes: tuple[str, MemberNotes] | None = None  # read once per member, not per scan

    def compose(self) -> ComposeResult:
        with Horizontal(id="main"):
            with Vertical(id="left"):
                yield DataTable(id="basket", cursor_type="row", zebra_stripes=True)
                yield Static(id="totals")
                with Horizontal(classes="slot"):
                    yield Label("Card")
                    yield Input(id="card", placeholder="F2: key or scan a loyalty card", compact=True)
                with Horizontal(classes="slot"):
                    yield Label("Item")
                    yield Input(id="entry", placeholder="F3: EAN, 3*EAN, 12.50 grocery", compact=True)
            yield MemberPanel(id="member")
        yield MessageLine(id="message")
        yield StatusBar(id="status")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#basket", DataTable)
        table.add_column("Item", width=24, key="name")
        table.add_column("Qty", width=4, key="qty")
        table.add_column("Amount", width=9, key="amount")
        self.refresh_basket()
        self.say("Ready: scan products, key an amount, scan or key the card")
        self.query_one("#entry", Input).focus()

    # --- rendering -------------------------------------------------------------------------

    def refresh_basket(self) -> None:
        table = self.query_one("#basket", DataTable)
        table.clear()
        for i, line in enumerate(self.basket.lines):
            table.add_row(clip(line.name, 24), str(line.qty), format_cents(line.amount_cents).rjust(9), key=str(i))
        if self.basket.lines:
            table.move_cursor(row=len(self.basket.lines) - 1)
        preview = checkout_view.preview_points(self.ctx, self.basket)
        n = sum(li.qty for li in self.basket.lines)
        self.query_one("#totals", Static).update(Text(
            f"{n} item{'s' if n != 1 else ''}  Total {format_cents(self.basket.total_cents)}"
            f" {self.ctx.config.currency}  Tender: {self.basket.tender}"))
        self._refresh_panel(preview)

    def _refresh_panel(self, preview: int) -> None:
        panel = self.query_one(MemberPanel)
        if self.basket.member_id:
            panel.show(checkout_view.member_summary(self.ctx, self.basket.member_id), preview,
                       notes=self.member_notes(self.basket.member_id))
        elif self.last_result is not None and self.last_result.member_id and not self.basket.lines:
            panel.show(checkout_view.member_summary(self.ctx, self.last_result.member_id), 0,
                       earned=self.last_result.points_earned, notes=self.member_notes(self.last_result.member_id),
                       issued=self.last_issued)
        else:
            panel.show(None, preview)

    def member_notes(self, member_id: str) -> MemberNotes:
        """Tier progress, expiring points and cashier prompt, read once per member (not per scan)."""
        if self._notes is None or self._notes[0] != member_id:
            self._notes = (member_id, member_notes(self.ctx, member_id))
        return self._notes[1]

    # --- input -----------------------------------------------------------------------------

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        text = event.value.strip()
        if not text:
            return
        if event.input.id == "card":

            if looks_like_coupon(text):  # keyed in the wrong slot: a coupon is still a coupon
                if self.take_coupon(text):
                    event.input.value = ""
                return
            self.take_card(parse_card(text, loyalty_prefixes=self.ctx.rules.loyalty_prefixes))
        elif event.input.id == "entry":
            self._entry_keyed(event.input, text)

    def take_card(self, read: CardRead, *, unknown: str | None = None) -> None:
        """Attach the member behind a read card, or say clearly why not (the basket and its member stay).

        `unknown` replaces "card not enrolled" for a scan the router took for a card (it says why).
        """
        self.pending_card = None
        if not read.ok:
            self._card_refused(read.error or "unreadable card")
            return
        try:
            member = members.member_for_card(self.ctx, read)
        except NotFound as exc:
            self.pending_card = read  # F9 opens the enrol form with it
            self._card_refused(f"{unknown or exc} · F9 enrols")
            return
        except PosError as exc:  # a lost or blocked card
            self._card_refused(str(exc))
            return
        self.attach_member(member.member_id, read.card_number)
        prompt = self.member_notes(member.member_id).prompt
        self.say(f"Card …{(read.card_number or '')[-4:]}: {member.name or 'member'} attached"
                 + (f" · {prompt}" if prompt else ""))

    def _card_refused(self, why: str) -> None:
        """A card that attaches nobody: the slot goes back to the attached member's card, and says who stays."""
        self.query_one("#card", Input).value = self.basket.card_number or ""
        if self.basket.member_id:
            name = members.get_member(self.ctx, self.basket.member_id).name or "the member"
            why = f"{why}; {name} stays on this sale"
        self.say(why, error=True)

    def take_routed(self, routed: Routed) -> None:
        """A scan routed by the till: what the database knows, else what it was taken for, said plainly."""
        if routed.product_ean is not None:
            if routed.known:
                self.take_product(routed.product_ean)
            else:
                self.say(routed.unknown_message(), error=True)
        elif routed.card is not None:
            self.take_card(routed.card, unknown=None if routed.known else routed.unknown_message())

    def attach_member(self, member_id: str, card_number: str | None = None) -> None:
        self.basket.member_id = member_id
        self.basket.card_number = card_number
        self.query_one("#card", Input).value = card_number or ""
        self.last_result = None
        self.last_issued = None
        self._notes = None
        self.refresh_basket()

    def take_product(self, ean: str, qty: int = 1) -> None:
        try:
            product = catalog.by_ean(self.ctx, ean)
            self.basket.add(Line.of_product(product, qty))
        except PosError as exc:
            self.say(str(exc), error=True)
            return
        self._line_added(f"{product.name} {format_cents(product.price_cents)}")

    def _line_added(self, what: str) -> None:
        if self.last_result is not None and not self.basket.member_id:
            self.last_result = None
            self.last_issued = None
        self.refresh_basket()
        self.say(f"Added {what}")

    def take_coupon(self, text: str) -> bool:
        """A coupon scanned or keyed: add its discount line, or say why not (the basket stays)."""
        try:
            line = apply_coupon(self.ctx, self.basket, text)
        except PosError as exc:
            self.say(str(exc), error=True)
            return False
        self._line_added(f"{line.name} {format_cents(line.amount_cents)}")
        return True

    def _entry_keyed(self, slot: Input, text: str) -> None:
        if self.refuse_payment_numbers():
            return

        if looks_like_coupon(text):
            if self.take_coupon(text):
                slot.value = ""
            return
        try:
            entry = checkout_view.parse_entry(text, decimal_separator=self.ctx.config.decimal_separator)
        except PosError as exc:
            self.say(str(exc), error=True)
            return
        if entry.code is not None:
            try:
                routed = scan_routing.route(self.ctx, entry.code)
            except PosError as exc:
                self.say(str(exc), error=True)
                return
            if routed.card is not None:
                slot.value = ""
                self.take_routed(routed)
                return
            if not routed.known:
                self.say(routed.unknown_message(), error=True)  # the keyed code stays in the slot
                return
            before = len(self.basket.lines)
            self.take_product(routed.product_ean or entry.code, entry.qty)
            if len(self.basket.lines) > before:
                slot.value = ""
            return
        assert entry.amount_cents is not None
        try:
            self.basket.add(Line.keyed(entry.amount_cents, entry.category))
        except PosError as exc:
            self.say(str(exc), error=True)
            return
        slot.value = ""
        self._line_added(f"{format_cents(entry.amount_cents)} {entry.category}")

    # --- actions ---------------------------------------------------------------------------

    def action_focus_card(self) -> None:
        self.query_one("#card", Input).focus()

    def action_focus_entry(self) -> None:
        self.query_one("#entry", Input).focus()

    def action_tender(self) -> None:
        tenders = self.ctx.config.tenders  # [till] tenders, the list the CLI's --tender checks
        i = tenders.index(self.basket.tender) if self.basket.tender in tenders else -1
        self.basket.tender = tenders[(i + 1) % len(tenders)]
        self.refresh_basket()
        self.say(f"Tender: {self.basket.tender}")

    def action_pay(self) -> None:
        """Commit the sale in one transaction; on any error the basket stays as it was."""
        try:
            result = commit_sale(self.ctx, self.basket)
        except PosError as exc:
            self.say(str(exc), error=True)
            return
        tender = self.basket.tender
        self.last_result = result
        self._notes = None  # the sale may have moved the tier, the expiry and the offers
        self.last_issued = self._issue_offer(result)  # before printing: the receipt prints the same one
        self.till.sale_committed(result.sale_id)
        self.basket = Basket()
        self.query_one("#card", Input).value = ""
        self.query_one("#entry", Input).focus()
        self.refresh_basket()
        text = f"Paid {format_cents(result.total_cents)} {tender}."
        if result.member_id:
            text += f" +{result.points_earned} pts, balance {result.balance}"
        if self.last_issued is not None and self.last_issued.code:
            text += f" · Coupon {self.last_issued.code} issued"
        self.say(text)
        self.till.customer_done()

    def _issue_offer(self, result: SaleResult) -> Issued | None:
        """The offer marketing prints on this sale's receipt (a coupon or a message), chosen and recorded now.

        `offers.present` records one offer per sale, so the receipt printed in the background shows the same.
        Nothing on a till without marketing's receipt blocks (its receipts print no offer either).
        """
        if not result.member_id or printable_blocks not in self.ctx.extensions.receipt_blocks:
            return None
        try:
            shown = offers.present(self.ctx, result.member_id, result.sale_id)
        except PosError as exc:  # the sale is written: a failing offer must not hide that
            self.notify(f"offer not issued: {exc}", severity="warning")
            return None
        if not shown:
            return None
        coupon = shown["coupon"]
        if coupon is None:
            return Issued(message=shown["message"])
        return Issued(message=shown["message"], code=coupon.code,
                      what=describe(coupon.kind, coupon.value, coupon.sku), expires=coupon.expires)

    def action_void_last(self) -> None:
        line = self.basket.remove_last()
        self.refresh_basket()
        self.say(f"Removed {line.name}" if line else "nothing to remove", error=line is None)

    def action_clear(self) -> None:
        self.basket = Basket()
        self.last_result = None
        self.last_issued = None
        self.pending_card = None
        for slot in self.query(Input):
            slot.value = ""
        self.refresh_basket()
        self.say("Sale cleared")
        self.till.customer_done()

    def action_cancel(self) -> None:
        """Esc: drop what is being keyed; the card slot goes back to the attached member's card."""
        for slot in self.query(Input):
            slot.value = ""
        self.query_one("#card", Input).value = self.basket.card_number or ""
        self.say("")

    def action_members(self) -> None:
        """F9: the members' screen, built on first use (its tabs and forms are not on the first screen)."""
        from pos_client.app.member_screen import MemberScreen  # lazy: built on first use (bench cold_start)

        self.app.push_screen(MemberScreen(pending_card=self.pending_card), self._after_members)

    def _after_members(self, chosen: Chosen | None) -> None:
        """A member found, enrolled or given a new card joins the waiting sale."""
        if chosen is not None:
            self.attach_member(chosen.member_id, chosen.card_number)
            self.say(chosen.message)

    def action_manager(self) -> None:
        self.till.open_manager(self.basket.member_id, self._after_manager)

    def _after_manager(self, _result: object = None) -> None:
        """Points may have moved (redeem, adjust): read the member again."""
        self._notes = None
        self.refresh_basket()
