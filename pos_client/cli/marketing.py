"""`pos-client` commands for rewards and marketing: managers, rewards, redeem, coupons, tiers,
expiry, lifecycle, reports and erasure. A thin shell over `pos_client.services.marketing`; the JSON
keys named in the issue are a contract (extra keys may be added, never removed).

"""

from __future__ import annotations

import argparse
from collections.abc import Callable

from cardread import parse_card
from pos_client.cli.base import (
    EXIT_OK,
    EXIT_REFUSED,
    Handler,
    Outcome,
    add_command,
    day,
    non_empty,
    open_ctx,
    points_arg,
    positive_int,
    table,
)
from pos_client.domain.cards import card_number
from pos_client.domain.dates import as_date
from pos_client.domain.errors import NotFound, UsageError
from pos_client.domain.money import parse_amount
from pos_client.services.marketing.coupons import check, describe, double_uses, use
from pos_client.services.marketing.expiry import run_expiry
from pos_client.services.marketing.limits import add_owner
from pos_client.services.marketing.manager import add_manager
from pos_client.services.marketing.privacy import erase
from pos_client.services.marketing.reports import REPORTS, render_csv, render_text, run_report
from pos_client.services.marketing.rewards import adjust, catalog, redeem, reverse_entry
from pos_client.services.marketing.stage_review import record_stages
from pos_client.services.marketing.tiers import evaluate_tiers
from pos_client.services.members import find, member_for_card
from pos_client.store.context import TillContext


def _member_id(ctx: TillContext, data: str) -> str:
    """The member behind card data, a phone number or a name; the data itself is never echoed."""
    read = parse_card(data, loyalty_prefixes=ctx.rules.loyalty_prefixes)
    if read.ok:
        return member_for_card(ctx, read).member_id
    if read.payment_card:
        card_number(read)  # raises the payment card refusal
    found = find(ctx, data)
    if len(found) == 1:
        return found[0].member_id
    if not found:
        raise NotFound("no member for this card, phone or name")
    raise UsageError(f"{len(found)} members match: scan their card instead")


def _run(args: argparse.Namespace, fn: Callable[[TillContext], Outcome]) -> Outcome:
    ctx = open_ctx(args)
    try:
        return fn(ctx)
    finally:
        ctx.close()


def cmd_manager_add(args: argparse.Namespace) -> Outcome:
    def go(ctx: TillContext) -> Outcome:
        m = add_owner(ctx, args.name, args.pin) if args.owner else add_manager(ctx, args.name, args.pin)
        role = "owner" if args.owner else "manager"
        return Outcome({"manager_id": m.manager_id, "name": m.name, "role": role}, f"{role} {m.name} added")
    return _run(args, go)


def cmd_rewards_list(args: argparse.Namespace) -> Outcome:
    def go(ctx: TillContext) -> Outcome:
        items = catalog(ctx)
        data = {"rewards": [{"id": r.id, "name": r.name, "points": r.points, "kind": r.kind, "value": r.value,
                             "tier": r.tier} for r in items]}
        text = table(["reward", "points", "name", "tier"],
                     [[r.id, r.points, r.name, f"{r.tier}+" if r.tier else ""] for r in items], right={1})
        return Outcome(data, text)
    return _run(args, go)


def cmd_redeem(args: argparse.Namespace) -> Outcome:
    def go(ctx: TillContext) -> Outcome:
        amount = parse_amount(args.amount, decimal_separator=ctx.config.decimal_separator) if args.amount else None
        out = redeem(ctx, _member_id(ctx, args.card), args.reward, args.pin, points=args.points, amount_cents=amount)
        data = {"coupon": out["coupon"], "points_spent": out["points_spent"], "balance": out["balance"],
                "token": out["token"], "expires": out["expires"], "reward": out["reward"], "value": out["value"],
                "approved_by": out["approved_by"]}
        text = (f"coupon {out['coupon']} (valid until {day(out['expires'])}); {out['points_spent']} points spent,"
                f" balance {out['balance']}; approved by {out['approved_by']}")
        return Outcome(data, text)
    return _run(args, go)


def cmd_adjust(args: argparse.Namespace) -> Outcome:
    def go(ctx: TillContext) -> Outcome:
        out = adjust(ctx, _member_id(ctx, args.card), args.points, args.reason, args.pin)
        return Outcome(out, f"{out['points']:+d} points ({args.reason}); balance {out['balance']}")
    return _run(args, go)


def cmd_reverse(args: argparse.Namespace) -> Outcome:
    def go(ctx: TillContext) -> Outcome:
        out = reverse_entry(ctx, args.entry_id, args.reason, args.pin)
        return Outcome(out, f"entry reversed ({out['points']:+d} points); balance {out['balance']}")
    return _run(args, go)


def cmd_coupon_check(args: argparse.Namespace) -> Outcome:
    def go(ctx: TillContext) -> Outcome:
        verdict = check(ctx, args.code, args.as_of)
        text = (f"valid: {describe(verdict['kind'], verdict['value'], verdict['sku'])} until {day(verdict['expires'])}"
                if verdict["valid"] else f"not valid: {verdict['reason']}")
        return Outcome(dict(verdict), text, EXIT_OK if verdict["valid"] else EXIT_REFUSED)
    return _run(args, go)


def cmd_coupon_use(args: argparse.Namespace) -> Outcome:
    def go(ctx: TillContext) -> Outcome:
        out = use(ctx, args.code, args.sale_id)
        return Outcome(out, f"coupon {out['code']} used on sale {out['sale_id']}")
    return _run(args, go)


def cmd_coupon_doubles(args: argparse.Namespace) -> Outcome:
    def go(ctx: TillContext) -> Outcome:
        rows = double_uses(ctx)
        text = "\n".join(f"{r['code']}: " + ", ".join(f"{u['store_id']}/{u['till_id']} sale {u['sale_id']}"
                                                         for u in r["uses"]) for r in rows) or "no double use"
        return Outcome({"double_uses": rows}, text)
    return _run(args, go)


def cmd_tiers_evaluate(args: argparse.Namespace) -> Outcome:
    def go(ctx: TillContext) -> Outcome:
        changes = evaluate_tiers(ctx, args.as_of)
        text = "\n".join(f"{c['member_id']}: {c['from']} -> {c['to']}" for c in changes) or "no tier change"
        return Outcome({"as_of": as_date(args.as_of).isoformat(), "changes": changes}, text)
    return _run(args, go)


def cmd_expire(args: argparse.Namespace) -> Outcome:
    def go(ctx: TillContext) -> Outcome:
        rows = run_expiry(ctx, args.as_of)
        total = sum(r["points"] for r in rows)
        return Outcome({"as_of": as_date(args.as_of).isoformat(), "expired": rows, "points": total},
                       f"{total} points expired for {len(rows)} members")
    return _run(args, go)


def cmd_lifecycle_update(args: argparse.Namespace) -> Outcome:
    def go(ctx: TillContext) -> Outcome:
        changes = record_stages(ctx, args.as_of)
        return Outcome({"as_of": as_date(args.as_of).isoformat(), "changes": changes},
                       f"{len(changes)} stage changes recorded")
    return _run(args, go)


def cmd_report(args: argparse.Namespace) -> Outcome:
    def go(ctx: TillContext) -> Outcome:
        end = args.as_of or args.to
        result = run_report(ctx, args.name, start=args.start, end=end, rule=args.rule, days=args.days,
                            channel=args.channel, offer=args.offer)
        if args.csv and not getattr(args, "json", False):
            return Outcome(result, render_csv(result))
        # the marketing reports' own text: aligned, money and days by the helpers of pos_client.domain.money
        return Outcome(result, render_text(result, decimal_separator=ctx.config.decimal_separator))
    return _run(args, go)


def cmd_member_erase(args: argparse.Namespace) -> Outcome:
    def go(ctx: TillContext) -> Outcome:
        out = erase(ctx, _member_id(ctx, args.data), args.pin)
        return Outcome(out, f"member {out['member_id']} erased (points kept: {out['balance']})")
    return _run(args, go)


GROUPS = {"manager": "manager accounts for approvals", "rewards": "the rewards catalog",
          "coupon": "check and use coupons (works offline)", "tiers": "membership tiers",
          "lifecycle": "customer lifecycle stages", "member": "members"}


def _group(sub: argparse._SubParsersAction, name: str, help: str) -> argparse._SubParsersAction | None:
    """The sub-subcommands of `name`, reusing a group another module registered (e.g. `member`).

    None when another module owns `name` as a plain command: the caller then falls back to a
    top-level `name-command`, rather than changing how that command parses.
    """
    parser = sub.choices.get(name)
    if parser is not None:
        return next((a for a in parser._actions if isinstance(a, argparse._SubParsersAction)), None)
    parser = sub.add_parser(name, help=help, description=help)

    def usage(_args: argparse.Namespace) -> Outcome:
        raise UsageError(f"{name}: which command? {parser.format_usage().strip()}")

    parser.set_defaults(handler=usage)
    return parser.add_subparsers(dest=f"{name}_command", metavar="COMMAND")


def _add(
    sub: argparse._SubParsersAction, group: str, name: str, handler: Handler, help: str
) -> argparse.ArgumentParser:
    """`pos-client GROUP NAME ...`, or `pos-client GROUP-NAME ...` if GROUP is taken by a plain command."""
    target = _group(sub, group, GROUPS.get(group, group))
    if target is None:
        return add_command(sub, f"{group}-{name}", handler, help)
    return add_command(target, name, handler, help)


def register(sub: argparse._SubParsersAction) -> None:
    pin_help = "the approving manager's PIN"
    p = _add(sub, "manager", "add", cmd_manager_add, "add a manager with a PIN (stored as a slow salted hash)")
    p.add_argument("name", help="the manager's name, recorded on what they approve")
    p.add_argument("--pin", required=True, help="4 to 12 digits")
    p.add_argument("--owner", action="store_true",
                   help="the owner: approves adjustments above a manager's [limits] adjust_points_manager")

    _add(sub, "rewards", "list", cmd_rewards_list, "list the rewards and their points cost")

    p = add_command(sub, "redeem", cmd_redeem, "redeem a reward with a manager PIN and issue a coupon")
    p.add_argument("--card", required=True, help="card data, phone number or name")
    p.add_argument("--reward", required=True, help="the reward's id (see `pos-client rewards list`)")
    p.add_argument("--pin", required=True, help=pin_help)
    p.add_argument("--points", type=points_arg, help="partial: spend this many points")
    p.add_argument("--amount", help="partial: redeem this amount (e.g. 2.50)")

    p = add_command(sub, "adjust", cmd_adjust, "manual points adjustment with a reason code and manager PIN")
    p.add_argument("--card", required=True, help="card data, phone number or name")
    p.add_argument("--points", type=points_arg, required=True, help="points to add (e.g. 50) or take away (-20)")
    p.add_argument("--reason", required=True, help="a reason code from [program] reason_codes (e.g. goodwill)")
    p.add_argument("--pin", required=True, help=pin_help)

    p = add_command(sub, "reverse", cmd_reverse, "reverse one ledger entry with a reason code and manager PIN")
    p.add_argument("entry_id", help="the ledger entry to cancel")
    p.add_argument("--reason", required=True, help="a reason code from [program] reason_codes (e.g. correction)")
    p.add_argument("--pin", required=True, help=pin_help)

    p = _add(sub, "coupon", "check", cmd_coupon_check, "is this coupon valid here and now? (exit 3 if not)")
    p.add_argument("code", help="QR token or short code")
    p.add_argument("--as-of", dest="as_of", help="check as of this day (YYYY-MM-DD, default today)")
    p = _add(sub, "coupon", "use", cmd_coupon_use, "record a coupon's use on a sale")
    p.add_argument("code", help="QR token or short code")
    p.add_argument("--sale-id", dest="sale_id", type=non_empty, required=True, help="the sale the coupon paid for")
    _add(sub, "coupon", "doubles", cmd_coupon_doubles, "coupons used more than once (seen after sync)")

    as_of_help = "as of this day (YYYY-MM-DD, default today)"
    p = _add(sub, "tiers", "evaluate", cmd_tiers_evaluate, "period-end tier evaluation (downgrades)")
    p.add_argument("--as-of", dest="as_of", help=as_of_help)

    p = add_command(sub, "expire", cmd_expire, "write the points expiry due as of a day")
    p.add_argument("--as-of", dest="as_of", help=as_of_help)

    p = _add(sub, "lifecycle", "update", cmd_lifecycle_update, "record stage changes as of a day")
    p.add_argument("--as-of", dest="as_of", help=as_of_help)

    p = add_command(sub, "report", cmd_report, "marketing reports (as of a date)")
    p.add_argument("name", choices=sorted(REPORTS), help="the report: " + ", ".join(sorted(REPORTS)))
    p.add_argument("--from", dest="start", help="first day of the period (YYYY-MM-DD)")
    p.add_argument("--to", dest="to", help="last day of the period (YYYY-MM-DD, default today)")
    p.add_argument("--as-of", dest="as_of", help="report as of this day (same as --to)")
    p.add_argument("--csv", action="store_true", help="CSV output")
    p.add_argument("--rule", default="first-purchase-no-second", help="contact-list rule")
    p.add_argument("--days", type=positive_int, default=60, help="contact-list: days")
    p.add_argument("--channel", default="email", help="contact-list: consent channel")
    p.add_argument("--offer", help="offer-lift: the offer's id (as in [[program.offers]])")

    p = _add(sub, "member", "erase", cmd_member_erase, "erasure request: anonymise a member (manager PIN)")
    p.add_argument("data", help="card data, phone number or name")
    p.add_argument("--pin", required=True, help=pin_help)
