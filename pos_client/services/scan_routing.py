"""What a scanned number is: what the till's database knows first, then the program's card numbers, then shape.

A loyalty card printed as an EAN-13 outside the program prefixes (`member enrol --card 2100000012343`)
has the shape of a product, and a product weighed in store may carry the program's `29` prefix: shape
alone (`cardread.router.route_scan`) gets both wrong. So a scan is routed, in order:

1. a card on file (any status: a lost card must say it is lost) is a card, so its member is attached;
2. a product in the catalog is a product;
3. a number with a program prefix (`[program] loyalty_prefixes`) or in a card range
   (`[program] card_ranges = ["2100000000000-2100000999999"]`) is a card;
4. otherwise the shape decides (track data and text are cards, a valid EAN/UPC a product).

Track data is always a card, and a payment card number is refused before any lookup: it is never
looked up, kept or shown. An unknown number says which way it was taken (`Routed.unknown_message`).
"""

from __future__ import annotations

from dataclasses import dataclass

from cardread import parse_card, route_scan
from cardread.barcode import gtin_valid, is_gtin_shape, normalise_gtin
from cardread.read import CardRead, Source
from cardread.router import CardRange, parse_card_range, program_card, strip_controls
from pos_client.domain.errors import UsageError
from pos_client.store.config import Config
from pos_client.store.context import TillContext

_GTIN_NAMES = {8: "EAN-8", 12: "UPC-A", 13: "EAN-13"}


@dataclass(frozen=True)
class Routed:
    """A routed scan: exactly one of `card` and `product_ean` is set.

    `known`: the database has it (a card on file, a product in the catalog); `taken_as` says how an
    unknown one was taken ("a product (EAN-13)", "a loyalty card (prefix 29)"); `as_card` is the same
    scan read as a card, for screens that expect nothing else (the member screen's enrol form).
    """

    number: str
    card: CardRead | None = None
    product_ean: str | None = None
    known: bool = False
    taken_as: str = ""
    as_card: CardRead | None = None

    def unknown_message(self) -> str:
        """What the cashier reads when the till knows neither a card nor a product by this number."""
        if self.card is not None and self.card.payment_card:
            return self.card.error or "payment card refused"
        return f"{self.number}: not a known card or product; taken as {self.taken_as}"


def card_ranges(config: Config) -> tuple[CardRange, ...]:
    """`[program] card_ranges` as CardRanges; a bad entry is a UsageError naming it."""
    raw = config.section("program").get("card_ranges") or []
    if not isinstance(raw, list):
        raise UsageError("program.card_ranges must be a list, e.g. [\"2100000000000-2100000999999\"]")
    out = []
    for i, text in enumerate(raw):
        try:
            out.append(parse_card_range(str(text)))
        except ValueError as exc:
            raise UsageError(f"program.card_ranges[{i}]: {exc}") from None
    return tuple(out)


def _known_card(ctx: TillContext, read: CardRead) -> bool:
    if not read.ok or read.card_number is None:
        return False
    return ctx.conn.execute("SELECT 1 FROM cards WHERE card_number = ?", (read.card_number,)).fetchone() is not None


def _known_product(ctx: TillContext, text: str) -> str | None:
    if not (is_gtin_shape(text) and gtin_valid(text)):
        return None
    ean = normalise_gtin(text)
    row = ctx.conn.execute("SELECT 1 FROM products WHERE ean = ?", (ean,)).fetchone()
    return ean if row is not None else None


def route(ctx: TillContext, data: str) -> Routed:
    """Route one scan (a wedge burst, a serial frame, a code keyed in the item slot); see the module doc."""
    text = strip_controls(data).strip()
    prefixes = ctx.rules.loyalty_prefixes
    ranges = card_ranges(ctx.config)
    if text[:1] in ("%", ";"):  # track data: a card, never a product
        read = parse_card(text, Source.MAGSTRIPE, loyalty_prefixes=prefixes, card_ranges=ranges)
        return Routed(read.card_number or "", card=read, known=_known_card(ctx, read), taken_as="a magstripe card",
                      as_card=read)
    as_card = parse_card(text, Source.BARCODE, loyalty_prefixes=prefixes, card_ranges=ranges)
    compact = text.replace(" ", "").replace("-", "")
    if _known_card(ctx, as_card):  # a payment card's read has no number: never looked up
        return Routed(as_card.card_number or text, card=as_card, known=True, as_card=as_card)
    ean = _known_product(ctx, compact)
    if ean is not None:
        return Routed(ean, product_ean=ean, known=True, as_card=as_card)
    shape = route_scan(text, loyalty_prefixes=prefixes, card_ranges=ranges)
    if shape.card is not None and shape.card.payment_card:  # refused, its number dropped here
        return Routed("", card=shape.card, as_card=shape.card)
    if shape.product_ean is not None:
        return Routed(shape.product_ean, product_ean=shape.product_ean,
                      taken_as=f"a product ({_GTIN_NAMES.get(len(compact), 'barcode')})", as_card=as_card)
    card = shape.card or as_card
    why = program_card(compact, prefixes, ranges) if compact.isdigit() else None
    return Routed(card.card_number or text, card=card, as_card=as_card,
                  taken_as=f"a loyalty card ({why})" if why else "a card number (not a product barcode)")


def reroute_card(ctx: TillContext, read: CardRead) -> Routed | None:
    """A card a reader routed by shape: the database's say, when it disagrees (None: keep the card).

    Only a barcode read can be a product: a swipe or a tap is a card whatever the catalog holds.
    """
    if not read.ok or read.source is not Source.BARCODE or read.card_number is None:
        return None
    routed = route(ctx, read.card_number)
    return routed if routed.product_ean is not None else None


def reroute_product(ctx: TillContext, ean: str) -> Routed:
    """A product a scanner routed by shape, routed again: it may be a card on file or in a card range."""
    return route(ctx, ean)
