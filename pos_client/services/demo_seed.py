"""Demo data: an olive-oil shop's catalog and a few members with history.

Used by `pos-client demo` and by tests that want a realistic till. Loyalty numbers are real
program numbers (EAN-13 starting 29, with check digits) so the simulated readers deliver what
a store's cards would. A manager with a known PIN (shown on the demo's help line) lets a newcomer
try manager mode: redeem a reward, adjust points, read the reports.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cardread import parse_card
from cardread.barcode import with_check_digit
from pos_client.services import catalog, checkout, members
from pos_client.services.marketing import manager
from pos_client.store.context import TillContext

PRODUCTS = (
    catalog.Product("OIL-PIC-1L", "4006381333931", "Huile d'olive Picual 1L", "oil", 1450),
    catalog.Product("OIL-ARB-500", "5012345678900", "Aceite Arbequina 500ml", "oil", 990),
    catalog.Product("OIL-KOR-750", "4000417025005", "Koroneiki extra vierge 750ml", "oil", 1290),
    catalog.Product("VIN-XER-250", "8410000810004", "Vinaigre de Xérès 250ml", "food", 650),
    catalog.Product("SOAP-ALEP", "3017620422003", "Savon d'Alep", "hygiene", 550),
    catalog.Product("TAP-OLIV", "7622210449283", "Tapenade noire", "food", 480),
    catalog.Product("GIFT-25", "2000000000251", "Carte cadeau 25€", "gift_card", 2500),
)

CARDS = {
    "ana": with_check_digit("290000000001"),
    "bjorn": with_check_digit("290000000002"),
    "chloe": with_check_digit("290000000003"),
}


MANAGER_NAME = "Demo manager"
MANAGER_PIN = "1234"  # a demo's PIN, shown on its help line: never a store's


def ensure_manager(ctx: TillContext) -> None:
    """The demo's manager, added when the till has no manager yet (also to a demo home made before it had one)."""
    if not manager.list_managers(ctx):
        manager.add_manager(ctx, MANAGER_NAME, MANAGER_PIN)


def seed(ctx: TillContext, now: datetime | None = None) -> dict[str, str]:
    """Load the catalog, the demo manager and three members with a little history; returns name -> member id."""
    now = now or datetime.now(UTC)
    catalog.upsert_products(ctx, PRODUCTS)
    ensure_manager(ctx)
    out: dict[str, str] = {}
    people: tuple[tuple[str, str, str, list[tuple[str, int, int]]], ...] = (
        ("ana", "Ana Muñoz", "06 12 34 56 78", [("OIL-PIC-1L", 2, 40), ("VIN-XER-250", 1, 12)]),
        # a restaurant buying by the case: enough points to redeem a whole reward in manager mode (F10)
        ("bjorn", "Bjørn Øster", "06 98 76 54 32", [("OIL-KOR-750", 1, 95), ("OIL-PIC-1L", 40, 60)]),
        ("chloe", "Chloé Dubois", "07 11 22 33 44", []),
    )
    for key, name, phone, history in people:
        m = members.enroll(ctx, card=parse_card(CARDS[key]), phone=phone, name=name, consent=["email"])
        out[key] = m.member_id
        by_sku = {p.sku: p for p in PRODUCTS}
        for i, (sku, qty, days_ago) in enumerate(history):
            basket = checkout.Basket(member_id=m.member_id, card_number=CARDS[key])
            basket.add(checkout.Line.of_product(by_sku[sku], qty))
            when = (now - timedelta(days=days_ago)).isoformat(timespec="microseconds")
            checkout.commit_sale(ctx, basket, sale_id=f"demo-{key}-{i}", created_at=when)
    return out
