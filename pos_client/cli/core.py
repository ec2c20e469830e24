"""Till core commands: init, members, sales, balances, refunds, cards, catalog, history import."""

from __future__ import annotations

import argparse

from pos_client.cli.base import Outcome, add_command, open_ctx


def register(sub: argparse._SubParsersAction) -> None:
    p = add_command(sub, "init", cmd_init, "create the till's home, config and database")
    p.add_argument("--store", required=True)
    p.add_argument("--till", required=True)
    p.add_argument("--name", help="store name printed on receipts")

    member = sub.add_parser("member", help="enrol and find members").add_subparsers(dest="member_cmd", metavar="ACTION")
    member.required = True
    p = add_command(member, "enroll", cmd_enroll, "enrol a member with a card or a phone number")
    p.add_argument("--card")
    p.add_argument("--phone")
    p.add_argument("--name")
    p.add_argument("--email")
    p.add_argument("--consent", default="", help="channels the member agreed to, e.g. email,sms")
    p = add_command(member, "find", cmd_find, "find members by card, phone or name fragment")
    p.add_argument("query")
    p = add_command(member, "show", cmd_show, "a member's balance, cards and last visits")
    p.add_argument("data", help="card data, phone or member id")

    p = add_command(sub, "sale", cmd_sale, "record a sale and earn points")
    p.add_argument("--card", help="card data as the reader delivers it")
    p.add_argument("--amount", help="sale total (e.g. 12.34); a keyed line when no item is given")
    p.add_argument("--category", default="general", help="category of the keyed amount")
    p.add_argument("--item", action="append", default=[], metavar="EAN:QTY")
    p.add_argument("--sale-id")
    p.add_argument("--tender", default="cash")

    p = add_command(sub, "balance", cmd_balance, "a card's member, balance and tier")
    p.add_argument("data")

    p = add_command(sub, "refund", cmd_refund, "return a sale or some of its items, reversing their points")
    p.add_argument("sale_id")
    p.add_argument("--item", action="append", default=[], metavar="EAN:QTY")
    p.add_argument("--refund-id")

    card = sub.add_parser("card", help="card management").add_subparsers(dest="card_cmd", metavar="ACTION")
    card.required = True
    p = add_command(card, "replace", cmd_card_replace, "a lost card: block it and move the member to a new one")
    p.add_argument("old")
    p.add_argument("new")

    imp = sub.add_parser("import", help="bring in history").add_subparsers(dest="import_cmd", metavar="WHAT")
    imp.required = True
    p = add_command(imp, "sales", cmd_import_sales, "import past sales from a CSV file")
    p.add_argument("file")
    p.add_argument("--enroll-unknown", action="store_true")

    cat = sub.add_parser("catalog", help="the product catalog").add_subparsers(dest="catalog_cmd", metavar="ACTION")
    cat.required = True
    p = add_command(cat, "import", cmd_catalog_import, "load products from a CSV (sku,ean,name,category,price)")
    p.add_argument("file")
    p = add_command(cat, "add", cmd_catalog_add, "add or change one product")
    p.add_argument("--sku", required=True)
    p.add_argument("--ean")
    p.add_argument("--name", required=True)
    p.add_argument("--category", default="general")
    p.add_argument("--price", required=True)


def _read(ctx, data: str):
    from cardread import parse_card

    return parse_card(data, loyalty_prefixes=ctx.rules.loyalty_prefixes)


def _items(values: list[str]) -> list[tuple[str, int]]:
    from pos_client.domain.errors import UsageError

    out = []
    for value in values:
        code, _, qty = value.partition(":")
        if not code or (qty and not qty.isdigit()) or qty == "0":
            raise UsageError(f"--item takes EAN:QTY, got {value!r}")
        out.append((code.strip(), int(qty or 1)))
    return out


def cmd_init(args: argparse.Namespace) -> Outcome:
    from pos_client.store.config import write_config
    from pos_client.store.db import connect
    from pos_client.store.home import db_path, till_home

    home = till_home(getattr(args, "home", None))
    updates = {"store_id": args.store, "till_id": args.till}
    if args.name:
        updates["store_name"] = args.name
    write_config(home, updates)
    connect(db_path(home)).close()
    return Outcome({"home": str(home), "store_id": args.store, "till_id": args.till},
                   f"till {args.store}/{args.till} ready in {home}")


def cmd_enroll(args: argparse.Namespace) -> Outcome:
    from pos_client.services import members

    ctx = open_ctx(args)
    card = _read(ctx, args.card) if args.card else None
    consent = [c for c in args.consent.split(",") if c.strip()]
    m = members.enroll(ctx, card=card, phone=args.phone, name=args.name, email=args.email, consent=consent)
    return Outcome({"member_id": m.member_id, "balance": m.balance},
                   f"enrolled member {m.member_id}" + (f" ({m.name})" if m.name else ""))


def cmd_find(args: argparse.Namespace) -> Outcome:
    from pos_client.services import members

    ctx = open_ctx(args)
    found = [m.public() for m in members.find(ctx, args.query)]
    text = "\n".join(f"{m['member_id']}  {m['name'] or '-':20}  {m['phone'] or '-':14}  {m['balance']:>7} pts  "
                     f"{m['tier']}" for m in found) or "no member found"
    return Outcome({"members": found}, text)


def cmd_show(args: argparse.Namespace) -> Outcome:
    from pos_client.domain.errors import NotFound
    from pos_client.services import history, members

    ctx = open_ctx(args)
    read = _read(ctx, args.data)
    try:
        m = members.member_for_card(ctx, read) if read.ok else None
    except NotFound:
        m = None
    if m is None:
        found = members.find(ctx, args.data) or ([members.get_member(ctx, args.data)] if args.data else [])
        if len(found) != 1:
            raise NotFound("no single member matches")
        m = found[0]
    visits = history.last_visits(ctx, m.member_id)
    lines = [f"{m.name or '-'}  {m.public()['phone']}  balance {m.balance} pts  tier {m.tier}"]
    for v in visits:
        items = ", ".join(f"{li['qty']}x {li['name']}" for li in v["lines"])
        lines.append(f"  {v['created_at'][:10]}  {v['total_cents'] / 100:>8.2f}  {items}")
    return Outcome({**m.public(), "cards": [c for c in members.cards_of(ctx, m.member_id)], "last_visits": visits},
                   "\n".join(lines))


def cmd_sale(args: argparse.Namespace) -> Outcome:
    from pos_client.domain.errors import UsageError
    from pos_client.domain.money import format_cents, parse_amount
    from pos_client.services import catalog, checkout, members

    ctx = open_ctx(args)
    basket = checkout.Basket(tender=args.tender)
    for code, qty in _items(args.item):
        basket.add(checkout.Line.of_product(catalog.by_sku_or_ean(ctx, code), qty))
    if args.amount is not None:
        amount = parse_amount(args.amount)
        rest = amount - basket.total_cents
        if rest < 0:
            raise UsageError(f"--amount {format_cents(amount)} is less than the items' total "
                             f"{format_cents(basket.total_cents)}")
        if rest > 0 or not basket.lines:
            basket.add(checkout.Line.keyed(rest, args.category))
    if not basket.lines:
        raise UsageError("give --amount or at least one --item")
    if args.card:
        read = _read(ctx, args.card)
        m = members.member_for_card(ctx, read)
        basket.member_id, basket.card_number = m.member_id, read.card_number
    result = checkout.commit_sale(ctx, basket, sale_id=args.sale_id)
    text = f"sale {result.sale_id}: {format_cents(result.total_cents)}"
    if result.member_id:
        text += f", +{result.points_earned} pts, balance {result.balance} pts"
    if result.replayed:
        text += " (already recorded)"
    data = {"sale_id": result.sale_id, "member_id": result.member_id, "points_earned": result.points_earned,
            "balance": result.balance}
    return Outcome(data, text)


def cmd_balance(args: argparse.Namespace) -> Outcome:
    from pos_client.services import members

    ctx = open_ctx(args)
    m = members.member_for_card(ctx, _read(ctx, args.data))
    return Outcome({"member_id": m.member_id, "balance": m.balance, "tier": m.tier},
                   f"{m.name or m.member_id}: {m.balance} pts ({m.tier})")


def cmd_refund(args: argparse.Namespace) -> Outcome:
    from pos_client.domain.money import format_cents
    from pos_client.services import checkout

    ctx = open_ctx(args)
    items: dict[str, int] | None = None
    if args.item:
        items = {}
        for code, qty in _items(args.item):
            items[code] = items.get(code, 0) + qty
    r = checkout.refund(ctx, args.sale_id, items, refund_id=args.refund_id)
    text = f"refund {r.refund_id}: {format_cents(r.amount_cents)}, -{r.points_reversed} pts"
    if r.balance is not None:
        text += f", balance {r.balance} pts"
    return Outcome({"refund_id": r.refund_id, "points_reversed": r.points_reversed, "balance": r.balance}, text)


def cmd_card_replace(args: argparse.Namespace) -> Outcome:
    from pos_client.services import members

    ctx = open_ctx(args)
    new = _read(ctx, args.new)
    m = members.replace_card(ctx, _read(ctx, args.old), new)
    return Outcome({"member_id": m.member_id, "card": new.card_number, "balance": m.balance},
                   f"old card blocked; member {m.member_id} now uses {new.card_number}, balance {m.balance} pts")


def cmd_import_sales(args: argparse.Namespace) -> Outcome:
    from pos_client.services.importer import import_sales

    ctx = open_ctx(args)
    r = import_sales(ctx, args.file, enroll_unknown=args.enroll_unknown)
    lines = [f"imported {r['imported']} sales, skipped {r['skipped']} rows, {r['duplicates']} already imported"
             + (f", enrolled {r['enrolled']} new members" if r["enrolled"] else "")]
    lines += [f"  line {e['line']}: {e['reason']}" for e in r["errors"][:50]]
    return Outcome(r, "\n".join(lines))


def cmd_catalog_import(args: argparse.Namespace) -> Outcome:
    import csv

    from pos_client.domain.money import parse_amount
    from pos_client.services import catalog

    ctx = open_ctx(args)
    with open(args.file, newline="", encoding="utf-8-sig") as fh:
        products = [catalog.Product(r["sku"], r.get("ean") or None, r["name"], r.get("category") or "general",
                                    parse_amount(r["price"])) for r in csv.DictReader(fh)]
    n = catalog.upsert_products(ctx, products)
    return Outcome({"products": n}, f"{n} products loaded")


def cmd_catalog_add(args: argparse.Namespace) -> Outcome:
    from pos_client.domain.money import parse_amount
    from pos_client.services import catalog

    ctx = open_ctx(args)
    catalog.upsert_products(ctx, [catalog.Product(args.sku, args.ean, args.name, args.category,
                                                  parse_amount(args.price))])
    return Outcome({"sku": args.sku}, f"product {args.sku} saved")
