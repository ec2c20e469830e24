"""Till core commands: init, members, sales, balances, refunds, cards, catalog, history import."""

from __future__ import annotations

import argparse
import csv
from contextlib import closing

from cardread import parse_card
from cardread.read import CardRead
from pos_client.cli.base import EXIT_NOT_FOUND, Outcome, add_command, day, money, non_empty, table, till_of
from pos_client.domain.bounds import KEYED_QUANTITY
from pos_client.domain.errors import NotFound, PosError, RefusedInput, UsageError
from pos_client.domain.money import parse_amount
from pos_client.services import catalog, checkout, history, members
from pos_client.services.identity import set_identity
from pos_client.services.importer import import_sales
from pos_client.store.context import TillContext
from pos_client.store.home import is_till_home, resolve_home
from pos_client.till import open_till

MAX_QTY = KEYED_QUANTITY.high  # wire.bounds


def register(sub: argparse._SubParsersAction) -> None:
    p = add_command(sub, "init", cmd_init, "create the till's home, config and database (or change its identity)")
    p.add_argument("--store", help="store id (default: the till's current one, S1 for a new till)")
    p.add_argument("--till", help="till id within the store (default: the current one, T1 for a new till)")
    p.add_argument("--name", help="store name printed on receipts")
    p.add_argument("--force", action="store_true",
                   help="rename a till that already has sales or ledger entries (normally refused)")

    member = sub.add_parser("member", help="enrol and find members").add_subparsers(dest="member_cmd", metavar="ACTION")
    member.required = True
    p = add_command(member, "enroll", cmd_enroll, "enrol a member with a card or a phone number")
    p.add_argument("--card", help="loyalty card data as the reader delivers it, or the number keyed")
    p.add_argument("--phone", help="phone number in any formatting (06 12 34 56 78, +33612345678)")
    p.add_argument("--name", help="the member's name")
    p.add_argument("--email", help="e-mail address")
    p.add_argument("--consent", default="", help="channels the member agreed to, e.g. email,sms")
    p = add_command(member, "find", cmd_find, "find members by card, phone or name fragment (exit 4 if none)")
    p.add_argument("query", help="card data, a phone number in any formatting, or part of a name")
    p = add_command(member, "show", cmd_show, "a member's balance, cards and last visits")
    p.add_argument("data", help="card data, phone or member id")

    p = add_command(sub, "sale", cmd_sale, "record a sale and earn points")
    p.add_argument("--card", help="card data as the reader delivers it")
    p.add_argument("--amount", help="sale total (e.g. 12.34, more than 0); a keyed line when no item is given")
    p.add_argument("--category", default="general", help="category of the keyed amount (default general)")
    p.add_argument("--item", action="append", default=[], metavar="EAN:QTY",
                   help="a product by EAN or SKU, with a quantity (1-999, default 1); repeat for more lines")
    p.add_argument("--sale-id", type=non_empty, help="the sale's id: sending the same sale again records it once")
    p.add_argument("--tender", default="cash", help="how it was paid: one of [till] tenders (default cash, card)")

    p = add_command(sub, "balance", cmd_balance, "a card's member, balance and tier")
    p.add_argument("data", help="card data as the reader delivers it, or the number keyed")

    p = add_command(sub, "refund", cmd_refund, "return a sale or some of its items, reversing their points")
    p.add_argument("sale_id", help="the sale to return")
    p.add_argument("--item", action="append", default=[], metavar="EAN:QTY",
                   help="return only these items (EAN or SKU, quantity); the whole sale when none is named")
    p.add_argument("--refund-id", type=non_empty, help="the refund's id: sending the same refund again applies it once")

    card = sub.add_parser("card", help="card management").add_subparsers(dest="card_cmd", metavar="ACTION")
    card.required = True
    p = add_command(card, "replace", cmd_card_replace, "a lost card: block it and move the member to a new one")
    p.add_argument("old", help="the lost card's number")
    p.add_argument("new", help="the new card's number")

    imp = sub.add_parser("import", help="bring in history").add_subparsers(dest="import_cmd", metavar="WHAT")
    imp.required = True
    p = add_command(imp, "sales", cmd_import_sales, "import past sales from a CSV file")
    p.add_argument("file", help="CSV with card or member_id, date, amount (and optionally sale_id, sku, qty)")
    p.add_argument("--enroll-unknown", action="store_true", help="enrol cards the till does not know yet")

    cat = sub.add_parser("catalog", help="the product catalog").add_subparsers(dest="catalog_cmd", metavar="ACTION")
    cat.required = True
    p = add_command(cat, "import", cmd_catalog_import,
                    "load products from a CSV (sku,ean,name,category,price); one bad row refuses the file")
    p.add_argument("file", help="CSV with the columns sku, ean, name, category, price")
    p = add_command(cat, "add", cmd_catalog_add, "add or change one product")
    p.add_argument("--sku", required=True, help="the product's own code (its key in the catalog)")
    p.add_argument("--ean", help="barcode: EAN-13, EAN-8 or UPC-A with its check digit")
    p.add_argument("--name", required=True, help="name shown at the till and on receipts")
    p.add_argument("--category", default="general", help="category for earning rules (default general)")
    p.add_argument("--price", required=True, help="price, e.g. 12.99 (0 for a free product)")
    p = add_command(cat, "list", cmd_catalog_list, "the products in the catalog")
    p.add_argument("query", nargs="?", help="only products whose SKU, EAN, name or category contains this")


def _read(ctx: TillContext, data: str) -> CardRead:
    return parse_card(data, loyalty_prefixes=ctx.rules.loyalty_prefixes)


def _items(values: list[str]) -> list[tuple[str, int]]:
    out = []
    for value in values:
        code, _, qty = value.partition(":")
        if not code.strip() or (qty and not (qty.isdigit() and 1 <= int(qty) <= MAX_QTY)):
            raise UsageError(f"--item takes EAN:QTY with a quantity from 1 to {MAX_QTY}, got {value!r}")
        out.append((code.strip(), int(qty or 1)))
    return out


def _amount(ctx: TillContext, text: str, *, positive: bool = False) -> int:
    return parse_amount(text, decimal_separator=ctx.config.decimal_separator, positive=positive)


def cmd_init(args: argparse.Namespace) -> Outcome:
    path = resolve_home(getattr(args, "home", None))
    created = not is_till_home(path)
    with closing(open_till(path)) as ctx:
        store, till = set_identity(ctx, args.store, args.till, args.name, force=args.force)
    verb = "ready in" if created else "updated in"
    return Outcome({"home": str(path), "store_id": store, "till_id": till, "created": created},
                   f"till {store}/{till} {verb} {path}")


def cmd_enroll(args: argparse.Namespace) -> Outcome:
    with till_of(args) as ctx:
        card = _read(ctx, args.card) if args.card else None
        consent = [c for c in args.consent.split(",") if c.strip()]
        m = members.enroll(ctx, card=card, phone=args.phone, name=args.name, email=args.email, consent=consent)
    return Outcome({"member_id": m.member_id, "balance": m.balance},
                   f"enrolled member {m.member_id}" + (f" ({m.name})" if m.name else ""))


def cmd_find(args: argparse.Namespace) -> Outcome:
    if not args.query.strip():
        raise UsageError("member find: give a card, a phone number or part of a name")
    with till_of(args) as ctx:
        found = [m.public() for m in members.find(ctx, args.query)]
    if not found:  # the contract: "not found" is exit 4, for scripts as for people
        return Outcome({"members": []}, "no member found", EXIT_NOT_FOUND)
    text = table(["member", "name", "phone", "points", "tier"],
                 [[m["member_id"], m["name"], m["phone"], m["balance"], m["tier"]] for m in found], right={3})
    return Outcome({"members": found}, text)


def cmd_show(args: argparse.Namespace) -> Outcome:
    with till_of(args) as ctx:
        read = _read(ctx, args.data)
        try:
            m = members.member_for_card(ctx, read) if read.ok else None
        except NotFound:
            m = None
        if m is None:
            if read.payment_card:
                raise RefusedInput(read.error or "this is a payment card, not a loyalty card")
            found = members.find(ctx, args.data)
            if not found and args.data:
                try:
                    found = [members.get_member(ctx, args.data)]
                except NotFound:
                    found = []
            if len(found) != 1:
                raise NotFound("no single member matches")
            m = found[0]
        visits = history.last_visits(ctx, m.member_id)
        cards = members.cards_of(ctx, m.member_id)
        head = f"{m.name or '-'}  {m.public()['phone'] or '-'}  balance {m.balance} pts  tier {m.tier}"
        rows = [[day(v["created_at"]), money(ctx, v["total_cents"]), v["points_earned"],
                 ", ".join(f"{li['qty']}x {li['name']}" for li in v["lines"])] for v in visits]
    text = head + ("\n" + table(["day", "total", "points", "items"], rows, right={1, 2}) if rows else "")
    return Outcome({**m.public(), "cards": list(cards), "last_visits": visits}, text)


def cmd_sale(args: argparse.Namespace) -> Outcome:
    with till_of(args) as ctx:
        basket = checkout.Basket(tender=checkout.check_tender(ctx, args.tender))
        amount = _amount(ctx, args.amount, positive=True) if args.amount is not None else None
        for code, qty in _items(args.item):
            basket.add(checkout.Line.of_product(catalog.by_sku_or_ean(ctx, code), qty))
        if amount is not None:
            rest = amount - basket.total_cents
            if rest < 0:
                raise UsageError(f"--amount {money(ctx, amount)} is less than the items' total "
                                 f"{money(ctx, basket.total_cents)}")
            if rest > 0 or not basket.lines:
                basket.add(checkout.Line.keyed(rest, args.category))
        if not basket.lines:
            raise UsageError("give --amount or at least one --item")
        if args.card:
            read = _read(ctx, args.card)
            m = members.member_for_card(ctx, read)
            basket.member_id, basket.card_number = m.member_id, read.card_number
        result = checkout.commit_sale(ctx, basket, sale_id=args.sale_id)
        text = f"sale {result.sale_id}: {money(ctx, result.total_cents)} {basket.tender}"
    if result.member_id:
        bonus = f" ({result.points_base} + {result.points_bonus} bonus)" if result.points_bonus else ""
        text += f", +{result.points_earned} pts{bonus}, balance {result.balance} pts"
    if result.replayed:
        text += " (already recorded)"
    data = {"sale_id": result.sale_id, "member_id": result.member_id, "points_earned": result.points_earned,
            "points_base": result.points_base, "points_bonus": result.points_bonus, "balance": result.balance}
    return Outcome(data, text)


def cmd_balance(args: argparse.Namespace) -> Outcome:
    with till_of(args) as ctx:
        m = members.member_for_card(ctx, _read(ctx, args.data))
    return Outcome({"member_id": m.member_id, "balance": m.balance, "tier": m.tier},
                   f"{m.name or m.member_id}: {m.balance} pts ({m.tier})")


def cmd_refund(args: argparse.Namespace) -> Outcome:
    with till_of(args) as ctx:
        items: dict[str, int] | None = None
        if args.item:
            items = {}
            for code, qty in _items(args.item):
                items[code] = items.get(code, 0) + qty
        r = checkout.refund(ctx, args.sale_id, items, refund_id=args.refund_id)
        text = f"refund {r.refund_id}: {money(ctx, r.amount_cents)}, -{r.points_reversed} pts"
    if r.balance is not None:
        text += f", balance {r.balance} pts"
    return Outcome({"refund_id": r.refund_id, "points_reversed": r.points_reversed, "balance": r.balance}, text)


def cmd_card_replace(args: argparse.Namespace) -> Outcome:
    with till_of(args) as ctx:
        new = _read(ctx, args.new)
        m = members.replace_card(ctx, _read(ctx, args.old), new)
    return Outcome({"member_id": m.member_id, "card": new.card_number, "balance": m.balance},
                   f"old card blocked; member {m.member_id} now uses {new.card_number}, balance {m.balance} pts")


def cmd_import_sales(args: argparse.Namespace) -> Outcome:
    with till_of(args) as ctx:
        r = import_sales(ctx, args.file, enroll_unknown=args.enroll_unknown)
    lines = [f"imported {r['imported']} sales, skipped {r['skipped']} rows, {r['duplicates']} already imported"
             + (f", enrolled {r['enrolled']} new members" if r["enrolled"] else "")]
    lines += [f"  line {e['line']}: {e['reason']}" for e in r["errors"][:50]]
    return Outcome(r, "\n".join(lines))


def _csv_products(path: str) -> list[catalog.Product]:
    """Every row of a catalog CSV checked first: any bad row refuses the file with its line numbers.

    Prices in files use "." for decimals whatever the till's separator, as in `import sales`: a file is
    data exchanged between programs, not something keyed at this till.
    """
    products, errors = [], []
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            missing = {"sku", "name", "price"} - set(reader.fieldnames or ())
            if missing:
                raise UsageError(f"{path}: the header must name sku, ean, name, category, price"
                                 f" (missing {', '.join(sorted(missing))})")
            for row in reader:
                try:
                    products.append(catalog.check_product(catalog.Product(
                        (row["sku"] or "").strip(), (row.get("ean") or "").strip() or None, (row["name"] or "").strip(),
                        (row.get("category") or "").strip() or "general", parse_amount(row["price"] or ""))))
                except PosError as exc:
                    errors.append(f"line {reader.line_num}: {exc}")
    except FileNotFoundError:
        raise NotFound(f"no such file: {path}") from None
    if errors:
        raise RefusedInput(f"{path} not loaded ({len(errors)} bad rows, nothing changed): " + "; ".join(errors[:20]))
    return products


def cmd_catalog_import(args: argparse.Namespace) -> Outcome:
    with till_of(args) as ctx:
        n = catalog.upsert_products(ctx, _csv_products(args.file))
    return Outcome({"products": n}, f"{n} products loaded")


def cmd_catalog_add(args: argparse.Namespace) -> Outcome:
    with till_of(args) as ctx:
        product = catalog.Product(args.sku.strip(), (args.ean or "").strip() or None, args.name.strip(),
                                  args.category, _amount(ctx, args.price))
        catalog.upsert_products(ctx, [product])
        text = f"product {product.sku} saved: {product.name}, {money(ctx, product.price_cents)}"
    return Outcome({"sku": product.sku}, text)


def cmd_catalog_list(args: argparse.Namespace) -> Outcome:
    with till_of(args) as ctx:
        products = catalog.list_products(ctx, args.query)
        rows = [[p.sku, p.ean, p.name, p.category, money(ctx, p.price_cents)] for p in products]
    data = {"products": [{"sku": p.sku, "ean": p.ean, "name": p.name, "category": p.category,
                          "price_cents": p.price_cents} for p in products]}
    if not products:
        return Outcome(data, "no product" + (f" matches {args.query!r}" if args.query else " in the catalog"),
                       EXIT_NOT_FOUND if args.query else 0)
    return Outcome(data, table(["sku", "ean", "name", "category", "price"], rows, right={4}))
