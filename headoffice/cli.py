"""`headoffice`: the head-office server and its administration commands.

    headoffice serve [--host 127.0.0.1] [--port 8080] [--db URL]
    headoffice till add --store S --till T [--valid-days 7] [--db URL]   prints a one-time enrolment code
    headoffice admin token [--name NAME]                    prints an administrator token
    headoffice card block NUMBER | member erase ID | rule set KEY VALUE
    headoffice report overdraft|rejects|counts|coupon-doubles|till-keys|erasures
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

DEFAULT_DB = "sqlite:///headoffice.db"


def _db_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--db", default=os.environ.get("HEADOFFICE_DB", DEFAULT_DB),
                   help="sqlite:///PATH (default headoffice.db here) or postgresql://...")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="headoffice", description="Loyalty head office.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    serve = sub.add_parser("serve", help="run the HTTP API")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080)
    _db_arg(serve)
    serve.set_defaults(run=_serve)

    till = sub.add_parser("till", help="tills").add_subparsers(dest="action", metavar="ACTION")
    add = till.add_parser("add", help="enrol a till: prints a one-time code for `pos-client register`")
    add.add_argument("--store", required=True)
    add.add_argument("--till", required=True)
    add.add_argument("--valid-days", type=int, default=7, help="days the code can be used (default 7)")
    _db_arg(add)
    add.set_defaults(run=_till_add)

    admin = sub.add_parser("admin", help="administrators").add_subparsers(dest="action", metavar="ACTION")
    tok = admin.add_parser("token", help="print a new administrator token (reports, blocking)")
    tok.add_argument("--name", default="admin")
    _db_arg(tok)
    tok.set_defaults(run=lambda a: _with_store(a, lambda s: s.add_admin(a.name)))

    card = sub.add_parser("card", help="cards").add_subparsers(dest="action", metavar="ACTION")
    block = card.add_parser("block", help="block a card at every till (after their next pull)")
    block.add_argument("number")
    _db_arg(block)
    block.set_defaults(run=lambda a: _with_store(a, lambda s: {"blocked": s.block_card(a.number)}))

    member = sub.add_parser("member", help="members").add_subparsers(dest="action", metavar="ACTION")
    erase = member.add_parser("erase", help="erase a member's personal data everywhere")
    erase.add_argument("member_id")
    _db_arg(erase)
    erase.set_defaults(run=lambda a: _with_store(a, lambda s: {"erased": s.erase_member(a.member_id)}))
    show = member.add_parser("show", help="a member with balance and cards")
    show.add_argument("member_id")
    _db_arg(show)
    show.set_defaults(run=lambda a: _with_store(a, lambda s: s.member(a.member_id)))

    rule = sub.add_parser("rule", help="program rules").add_subparsers(dest="action", metavar="ACTION")
    rset = rule.add_parser("set", help="set a program rule (JSON value), e.g. offline_redeem_cap 500,"
                                       " rewards '[{\"id\": ..., \"name\": ..., \"kind\": ..., \"points\": ...}]'")
    rset.add_argument("key")
    rset.add_argument("value")
    _db_arg(rset)
    rset.set_defaults(run=_rule_set)

    from headoffice.marketing_reports import HO_REPORTS, TILL_ONLY

    report = sub.add_parser("report", help="reports; the marketing ones across every store")
    report.add_argument("which", choices=["overdraft", "rejects", "counts", "coupon-doubles", "till-keys", "erasures",
                                          *HO_REPORTS, *TILL_ONLY])
    report.add_argument("--from", dest="start", help="marketing reports: first day")
    report.add_argument("--to", dest="to", help="marketing reports: last day")
    report.add_argument("--as-of", dest="as_of", help="marketing reports: as of this day (same as --to)")
    report.add_argument("--csv", action="store_true", help="marketing reports: CSV instead of JSON")
    report.add_argument("--rule", default="first-purchase-no-second", help="contact-list rule")
    report.add_argument("--days", type=int, default=60, help="contact-list: days")
    report.add_argument("--channel", default="email", help="contact-list: consent channel")
    _db_arg(report)
    report.set_defaults(run=_report)
    return parser


def _json_value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def _with_store(args: argparse.Namespace, fn) -> int:
    from headoffice.store import open_store

    store = open_store(args.db)
    try:
        out = fn(store)
    finally:
        store.close()
    sys.stdout.write((out if isinstance(out, str) else json.dumps(out, indent=2)) + "\n")
    return 0 if out not in (None, {"blocked": False}, {"erased": False}) else 4


def _till_add(args: argparse.Namespace) -> int:
    from headoffice.store import open_store

    store = open_store(args.db)
    try:
        code = store.add_till(args.store, args.till, valid_days=args.valid_days)
    finally:
        store.close()
    sys.stdout.write(code + "\n")
    sys.stderr.write(f"enrolment code for {args.store}/{args.till} (one use, {args.valid_days} days): on the till"
                     f" run `pos-client register URL {code}`\n")
    return 0


def _report(args: argparse.Namespace) -> int:
    from headoffice.marketing_reports import HO_REPORTS, TILL_ONLY, run

    if args.which in HO_REPORTS or args.which in TILL_ONLY:
        from pos_client.services.marketing.reports import render_csv

        def marketing(store):
            result = run(store, args.which, start=args.start, end=args.as_of or args.to, rule=args.rule,
                         days=args.days, channel=args.channel)
            return render_csv(result).rstrip("\n") if args.csv else result
        return _with_store(args, marketing)
    return _with_store(args, lambda s: {"overdraft": s.overdraft_report, "rejects": s.rejects,
                                        "counts": s.counts, "coupon-doubles": s.coupon_doubles,
                                        "till-keys": s.till_keys, "erasures": s.erasures}[args.which]())


def _rule_set(args: argparse.Namespace) -> int:
    from wire.protocol import validate_rule

    value = _json_value(args.value)
    if reasons := validate_rule(args.key, value):
        raise ValueError("; ".join(reasons))
    return _with_store(args, lambda s: s.set_rule(args.key, value) or {"ok": True})


def _serve(args: argparse.Namespace) -> int:
    from headoffice.server import serve

    serve(args.db, args.host, args.port)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    run = getattr(args, "run", None)
    if run is None:
        parser.print_help()
        return 0
    from pos_client.domain.errors import PosError

    try:
        return int(run(args) or 0)
    except PosError as exc:
        sys.stderr.write(f"headoffice: {exc}\n")
        return exc.exit_code
    except ValueError as exc:
        sys.stderr.write(f"headoffice: {exc}\n")
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
