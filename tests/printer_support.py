"""Shared set-up for the printer tests: a till with a member, a sale, and a printer simulator."""

from __future__ import annotations

from pathlib import Path

from cardread import parse_card
from cardread.barcode import with_check_digit
from pos_client.services import checkout, members
from pos_client.store.config import write_config
from pos_client.store.context import TillContext
from pos_client.till import open_till

ACCENTED = ["Crème brûlée", "Jamón ibérico", "Müsli ø", "Façade ß"]


def make_till(home: Path, printer_url: str = "", profile: str = "TM-T88V", **printer: object) -> TillContext:
    home.mkdir(parents=True, exist_ok=True)
    write_config(home, {"store_name": "Épicerie Zoë", "printer": {"url": printer_url, "profile": profile,
                                                                  "timeout": 3, "status_timeout": 1, **printer}})
    return open_till(home)


def member_sale(ctx: TillContext, name: str = "Zoë Müller", n: int = 1) -> checkout.SaleResult:
    """A member (card 29..., phone) buying accented products; returns the committed sale."""
    card = parse_card(with_check_digit(f"29000000000{n}"))
    m = members.enroll(ctx, card=card, phone=f"06 12 34 56 7{n}", name=name)
    basket = checkout.Basket(member_id=m.member_id)
    basket.add(checkout.Line("Crème brûlée", "general", 2, 350))
    basket.add(checkout.Line("Jamón ibérico", "general", 1, 1299))
    basket.add(checkout.Line("Müsli ø", "general", 1, 455))
    basket.add(checkout.Line("Façade ß", "general", 3, 100))
    return checkout.commit_sale(ctx, basket)
