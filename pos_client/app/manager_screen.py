"""Manager mode: unlocked by a manager PIN; redeem rewards (whole or partial), adjust points, reports, devices.

The screen wires widgets to the marketing domain (manager, rewards, at_till, coupon_receipt). The
PIN is kept in memory only while the screen is open, because every approval checks it again and
records the manager; leaving the screen (Esc) forgets it, so manager mode locks itself again.
"""

from __future__ import annotations

import logging
import re

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widgets import DataTable, Footer, Input, Label, Static

from pos_client.app.base import TillScreen
from pos_client.app.devices_screen import DevicesScreen
from pos_client.app.reports_screen import ReportsScreen
from pos_client.app.widgets import MessageLine, StatusBar, clip
from pos_client.domain.bounds import KEYED_POINTS, require
from pos_client.domain.errors import PosError, UsageError
from pos_client.domain.money import format_cents, parse_amount
from pos_client.services import checkout_view
from pos_client.services.marketing import at_till, coupon_receipt, coupons, manager, rewards

log = logging.getLogger(__name__)


def parse_adjustment(text: str) -> tuple[int, str]:
    """'+50 goodwill' / '-20 correction' -> (points, reason code)."""
    parts = text.split()
    if len(parts) != 2 or not re.fullmatch(r"[+-]?[0-9]{1,12}", parts[0]):
        raise UsageError("key the points and a reason code, e.g. +50 goodwill")
    return require(KEYED_POINTS, int(parts[0])), parts[1].lower()


def parse_part(text: str, decimal_separator: str = ".") -> tuple[int | None, int | None]:
    """The Points slot: '' (the whole reward), '200' (points) or '2.50' (an amount, the till's separator)
    -> (points, cents)."""
    text = text.strip()
    if not text:
        return None, None
    if text.isdigit():
        if len(text) > 12:  # never int() a thousand digits
            raise UsageError(f"points: at most {KEYED_POINTS.high:,}")
        return require(KEYED_POINTS, int(text), "points"), None
    try:
        return None, parse_amount(text, decimal_separator=decimal_separator)
    except PosError:
        raise UsageError(f"part of a reward: whole points (200) or an amount (2{decimal_separator}50)") from None


class ManagerScreen(TillScreen[dict]):
    """Rewards for the attached member; every action needs the unlocked PIN."""
    BINDINGS = [
        Binding("f2", "focus_pin", "PIN"),
        Binding("f5", "redeem", "Redeem"),
        Binding("f6", "focus_adjust", "Adjust"),
        Binding("f7", "reports", "Reports"),
        Binding("f8", "devices", "Devices"),
        Binding("escape,f10", "leave", "Lock & back"),
    ]

    DEFAULT_CSS = """
    ManagerScreen #who { height: 2; padding: 0 1; background: $primary-background; }
    ManagerScreen #rewards { height: 1fr; }
    ManagerScreen .slot { height: 1; }
    ManagerScreen .slot Label { width: 9; padding: 0 1; }
    ManagerScreen .slot Input { width: 1fr; }
    ManagerScreen #coupon { height: 4; padding: 0 1; border-top: hkey $primary; }
    """

    def __init__(self, member_id: str | None = None) -> None:
        super().__init__()
        self.member_id = member_id
        self.manager_name: str | None = None
        self._pin: str | None = None
        self.last_redemption: dict | None = None

    @property
    def unlocked(self) -> bool:
        return self._pin is not None

    def compose(self) -> ComposeResult:
        yield Static(id="who")
        with Horizontal(classes="slot"):
            yield Label("PIN")
            yield Input(id="pin", password=True, placeholder="manager PIN, Enter", compact=True)
        yield DataTable(id="rewards", cursor_type="row", zebra_stripes=True)
        with Horizontal(classes="slot"):
            yield Label("Points")
            yield Input(id="points", placeholder="part: points (200) or amount (2.50), Enter; empty: F5 whole",
                        compact=True)
        with Horizontal(classes="slot"):
            yield Label("Adjust")
            yield Input(id="adjust", placeholder="+50 goodwill / -20 correction, Enter", compact=True)
        yield Static(id="coupon")
        yield MessageLine(id="message")
        yield StatusBar(id="status")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#rewards", DataTable)
        for label, width in (("ID", 7), ("Reward", 24), ("Points", 6), ("Tier", 7), ("Value", 8), ("Now", 14)):
            table.add_column(label, width=width)
        self.refresh_view()
        self.query_one("#coupon", Static).update("No coupon issued yet")
        minutes = manager.locked_minutes(self.ctx)
        if minutes:
            self.say(f"Manager PIN locked for {minutes} minutes (five wrong tries)", error=True)
        else:
            self.say("Manager mode is locked: key the manager PIN and Enter")
        self.query_one("#pin", Input).focus()

    # --- rendering -------------------------------------------------------------------------

    def refresh_view(self) -> None:
        who = Text(no_wrap=True, overflow="ellipsis")
        if self.unlocked:
            who.append(f"Manager: {self.manager_name}", style="bold green")
        else:
            who.append("Manager mode LOCKED", style="bold red")
        who.append("\n")
        if self.member_id:
            s = checkout_view.member_summary(self.ctx, self.member_id)
            who.append(f"Member: {clip(s.name or '', 40)} · {s.balance} pts · {s.tier}")
        else:
            who.append("No member attached: scan the card at checkout first (reports work without one)")
        self.query_one("#who", Static).update(who)
        table = self.query_one("#rewards", DataTable)
        table.clear()
        for choice in at_till.rewards_for(self.ctx, self.member_id):
            r = choice.reward
            value = f"{r.value}%" if r.kind == "percent_off" else "free" if r.kind == "free_product" \
                else format_cents(r.value)
            table.add_row(r.id, clip(r.name, 24), str(r.points), r.tier or "-", value,
                          "yes" if choice.available else choice.why_not or "", key=r.id)

    def _show_coupon(self, result: dict, printed: str) -> None:
        out = Text(no_wrap=True, overflow="ellipsis")
        out.append("Coupon ", style="bold")
        out.append(result["coupon"], style="bold reverse")
        out.append(f"  {coupons.describe(result['kind'], result['value'])}, valid until {result['expires']}\n")
        out.append(f"-{result['points_spent']} pts, balance {result['balance']}"
                   f" · approved by {result['approved_by']}\n")
        out.append(printed, style="italic")
        self.query_one("#coupon", Static).update(out)

    # --- input -----------------------------------------------------------------------------

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if event.input.id == "pin":
            self._unlock(event.input)
        elif event.input.id == "points":
            self.action_redeem()
        elif event.input.id == "adjust":
            self._adjust(event.input)

    def _unlock(self, field: Input) -> None:
        pin, field.value = field.value.strip(), ""
        if not pin:
            return
        try:
            approver = manager.check_pin(self.ctx, pin)
        except PosError as exc:
            minutes = manager.locked_minutes(self.ctx)
            if minutes:
                self.say(f"Manager PIN locked for {minutes} minutes (five wrong tries)", error=True)
            else:
                self.say(str(exc), error=True)
            return
        self._pin, self.manager_name = pin, approver.name
        self.refresh_view()
        self.query_one("#rewards", DataTable).focus()
        self.say(f"Unlocked for {approver.name}: pick a reward, F5 redeems it (Points: part of it)")

    def _ready(self) -> bool:
        if not self.unlocked:
            self.say("locked: key the manager PIN first (F2)", error=True)
            self.query_one("#pin", Input).focus()
            return False
        if not self.member_id:
            self.say("no member attached: scan the card at checkout first", error=True)
            return False
        return True

    # --- actions ---------------------------------------------------------------------------

    def action_focus_pin(self) -> None:
        self.query_one("#pin", Input).focus()

    def action_focus_adjust(self) -> None:
        self.query_one("#adjust", Input).focus()

    def action_redeem(self) -> None:
        """Redeem the highlighted reward: whole, or the number of points keyed in the Points slot."""
        if not self._ready():
            return
        assert self.member_id is not None and self._pin is not None
        table = self.query_one("#rewards", DataTable)
        if table.row_count == 0:
            return
        reward_id = str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)
        slot = self.query_one("#points", Input)
        try:
            points, amount = parse_part(slot.value, self.ctx.config.decimal_separator)
            result = rewards.redeem(self.ctx, self.member_id, reward_id, self._pin, points=points,
                                    amount_cents=amount)
        except PosError as exc:
            self.say(str(exc), error=True)
            return
        slot.value = ""
        self.last_redemption = result
        self.refresh_view()
        self.say(f"Redeemed {result['points_spent']} pts for {reward_id}: coupon {result['coupon']}")
        reward = rewards.get_reward(self.ctx, reward_id)
        whole = result["points_spent"] == reward.points and result["value"] == reward.value
        self._print(result, reward.name if whole else f"Part of: {reward.name}")

    def _print(self, result: dict, title: str) -> None:
        """Queue the coupon slip here; only the printer I/O runs in a worker thread (it may be slow or gone)."""
        if not str(self.ctx.config.section("printer").get("url", "")):
            self._show_coupon(result, "No printer configured: write the code down for the customer")
            return
        try:
            job = coupon_receipt.queue_coupon(self.ctx, coupons.get(self.ctx, result["coupon"]), title)
        except Exception as exc:  # broad on purpose: the coupon is issued whatever the slip's rendering raised
            log.warning("coupon slip not queued", exc_info=True)  # not the code: it is worth money
            self._show_coupon(result, f"Not printed: {exc}")
            return
        self._show_coupon(result, "Printing the coupon…")
        config = self.ctx.config

        def work() -> None:
            printed, reason = coupon_receipt.send_to_printer(config, job.data or b"")
            self.app.call_from_thread(self._printed, result, job.job_id, printed, reason)

        self.run_worker(work, thread=True, group="coupon-print", exit_on_error=False)

    def _printed(self, result: dict, job_id: str, printed: bool, reason: str | None) -> None:
        coupon_receipt.finish(self.ctx, job_id, printed, reason)
        if self.is_attached:
            self._show_coupon(result, "Coupon printed" if printed else f"Not printed ({reason}): in the print queue")

    def _adjust(self, field: Input) -> None:
        if not self._ready():
            return
        assert self.member_id is not None and self._pin is not None
        try:
            points, reason = parse_adjustment(field.value)
            result = rewards.adjust(self.ctx, self.member_id, points, reason, self._pin)
        except PosError as exc:
            self.say(str(exc), error=True)
            return
        field.value = ""
        self.refresh_view()
        self.say(f"Adjusted {points:+d} pts ({reason}), balance {result['balance']},"
                 f" approved by {result['approved_by']}")

    def action_reports(self) -> None:
        if not self.unlocked:
            self.say("locked: key the manager PIN first (F2)", error=True)
            return
        self.app.push_screen(ReportsScreen())

    def action_devices(self) -> None:
        """The Devices screen (readers, printer): a manager's job, so only once unlocked."""
        if not self.unlocked:
            self.say("locked: key the manager PIN first (F2)", error=True)
            return
        self.app.push_screen(DevicesScreen())

    def action_leave(self) -> None:
        """Forget the PIN (manager mode locks again) and go back to the sale."""
        self._pin = self.manager_name = None
        self.dismiss(self.last_redemption)
