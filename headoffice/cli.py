"""`headoffice`: the head-office server and its administration commands.

    headoffice serve [--host 127.0.0.1] [--port 8080] [--port-file PATH] [--db URL] [--upkeep-at HH:MM]
                     [--no-upkeep] [--trusted-proxy ADDR ...] [--workers N] [--pool N]   (docs/scaling.md)
    headoffice upkeep [--status] [--json]                   refresh the marketing snapshot (headoffice.upkeep)
    headoffice till add --store S --till T [--valid-days 7] [--db URL]   prints a one-time enrolment code
    headoffice admin token [--name NAME]                    prints an administrator token
    headoffice card block NUMBER | member erase ID | member show ID | rule set KEY VALUE
    headoffice report overdraft|rejects|counts|coupon-doubles|till-keys|erasures   (JSON)
    headoffice report <marketing report> [--json|--csv] [--fresh]   aligned text tables, as at the till

Exit codes as at the till: 0 ok, 2 usage error, 3 refused, 4 not found. Only `serve`, `till add` and
`admin token` (the first things run at a new head office) may create a SQLite database; the others need
an existing one, so a misspelled --db is "not found", never a new empty head office.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import sys
from collections.abc import Callable
from datetime import time
from functools import partial
from pathlib import Path
from typing import Any

from headoffice import portfile, upkeep
from headoffice.backup import backup as backup_db
from headoffice.console import accounts
from headoffice.marketing_reports import HO_REPORTS, TILL_ONLY
from headoffice.store import Store, open_store
from pos_client.domain.errors import NotFound, PosError
from pos_client.services.marketing.reports import render_csv, render_text
from wire.protocol import validate_rule

DEFAULT_DB = "sqlite:///headoffice.db"
SQLITE = "sqlite:///"
EXIT_USAGE, EXIT_NOT_FOUND = 2, 4


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be more than 0, got {value}")
    return value


def _port(text: str) -> int:
    """0 is allowed: the kernel picks a free port, which serve then announces (headoffice.portfile)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"a TCP port is 1 to 65535 (0: any free one), got {value}")
    return value


def _proxy(text: str) -> str:
    """A trusted proxy: an IP address or network, or 'none'."""
    if text == "none":
        return text
    try:
        ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise argparse.ArgumentTypeError(f"a proxy is an IP address or network (or 'none'), not {text!r}") from None
    return text


def _db_arg(p: argparse.ArgumentParser, *, create: bool = False) -> None:
    p.add_argument("--db", default=os.environ.get("HEADOFFICE_DB", DEFAULT_DB),
                   help="sqlite:///PATH (default headoffice.db here, or $HEADOFFICE_DB) or postgresql://..."
                        + ("" if create else "; must already exist"))
    p.set_defaults(create_db=create)


def _at(text: str) -> time:
    try:
        return upkeep.parse_at(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _snapshot_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--snapshot", help="the marketing snapshot file (default beside a SQLite head office,"
                                      f" ho.db -> ho.marketing.db, or ${upkeep.SNAPSHOT_ENV})")
    p.add_argument("--upkeep-at", dest="upkeep_at", type=_at,
                   default=os.environ.get(upkeep.AT_ENV, upkeep.DEFAULT_AT.strftime("%H:%M")),
                   help="the daily refresh time, HH:MM UTC, after the tills close and sync (default 22:00,"
                        f" or ${upkeep.AT_ENV})")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="headoffice", description="Loyalty head office.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    serve = sub.add_parser("serve", help="run the HTTP API")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1; 0.0.0.0 for all)")
    serve.add_argument("--port", type=_port, default=8080,
                       help="TCP port (default 8080); 0: a free one the kernel picks. Once the socket listens,"
                            " serve prints 'headoffice: listening on http://HOST:PORT' on stdout")
    serve.add_argument("--port-file", dest="port_file", type=Path, metavar="PATH",
                       help="also write the port there (atomically) once the socket listens: how a supervisor"
                            " or test learns the port of --port 0 without a race")
    serve.add_argument("--no-upkeep", dest="upkeep", action="store_false",
                       help="do not refresh the marketing snapshot on a schedule (another host does)")
    serve.add_argument("--trusted-proxy", dest="trusted_proxies", action="append", type=_proxy, metavar="ADDR",
                       help="an address or network (10.0.0.5, 10.0.0.0/24) whose X-Forwarded-Proto/-For headers are"
                            " believed; repeat for several; default 127.0.0.1 (nginx on this host, docs/install.md);"
                            " 'none' believes no one")
    serve.add_argument("--workers", type=_positive_int, default=1,
                       help="worker processes on one socket (default 1); more than one needs PostgreSQL")
    serve.add_argument("--pool", type=_positive_int, default=8,
                       help="PostgreSQL connections per worker (default 8)")
    serve.add_argument("--directory-cache", metavar="DIR",
                       help="where the directory files for tills' first pulls are kept (default beside a SQLite"
                            " head office, else a directory of this host's temporary files; $HEADOFFICE_DIRECTORY)")
    _snapshot_args(serve)
    _db_arg(serve, create=True)
    serve.set_defaults(run=_serve)

    keep = sub.add_parser("upkeep", help="refresh the marketing snapshot and its lifecycle stages now"
                                         " (`serve` does it daily)")
    keep.add_argument("--status", action="store_true", help="only say when it last ran and whether it is due")
    keep.add_argument("--json", action="store_true", help="machine-readable output")
    _snapshot_args(keep)
    _db_arg(keep)
    keep.set_defaults(run=_upkeep)

    till = sub.add_parser("till", help="tills").add_subparsers(dest="action", metavar="ACTION")
    add = till.add_parser("add", help="enrol a till: prints a one-time code for `pos-client register`")
    add.add_argument("--store", required=True, help="the store's id (as the till will be known, e.g. S1)")
    add.add_argument("--till", required=True, help="the till's id within the store (e.g. T1)")
    add.add_argument("--valid-days", type=_positive_int, default=7, help="days the code can be used (default 7)")
    _db_arg(add, create=True)
    add.set_defaults(run=_till_add)

    user = sub.add_parser("user", help="console users").add_subparsers(dest="action", metavar="ACTION")
    uadd = user.add_parser("add", help="add a console user: prints a one-time link to set the password (24 h)")
    uadd.add_argument("name", help="the user's login name")
    uadd.add_argument("--role", required=True, choices=accounts.ROLES, help="owner (every store) or manager")
    uadd.add_argument("--store", help="a manager's store id")
    uadd.add_argument("--password-stdin", dest="password_stdin", action="store_true",
                      help="read the password from standard input instead of printing a link")
    uadd.add_argument("--url", default=os.environ.get("HEADOFFICE_URL", "http://127.0.0.1:8080"),
                      help="the console's address for the link (default http://127.0.0.1:8080, or $HEADOFFICE_URL)")
    _db_arg(uadd, create=True)
    uadd.set_defaults(run=_user_add)

    admin = sub.add_parser("admin", help="administrators").add_subparsers(dest="action", metavar="ACTION")
    tok = admin.add_parser("token", help="print a new administrator token (reports, blocking)")
    tok.add_argument("--name", default="admin", help="who the token is for (default admin)")
    _db_arg(tok, create=True)
    tok.set_defaults(run=lambda a: _with_store(a, lambda s: s.add_admin(a.name)))

    card = sub.add_parser("card", help="cards").add_subparsers(dest="action", metavar="ACTION")
    block = card.add_parser("block", help="block a card at every till (after their next pull)")
    block.add_argument("number", help="the loyalty card number")
    _db_arg(block)
    block.set_defaults(run=lambda a: _with_store(a, lambda s: {"blocked": s.block_card(a.number)},
                                                 missing=f"no card {a.number}"))

    member = sub.add_parser("member", help="members").add_subparsers(dest="action", metavar="ACTION")
    erase = member.add_parser("erase", help="erase a member's personal data everywhere")
    erase.add_argument("member_id", help="the member's id")
    _db_arg(erase)
    erase.set_defaults(run=lambda a: _with_store(a, lambda s: {"erased": s.erase_member(a.member_id)},
                                                 missing=f"no member {a.member_id}"))
    show = member.add_parser("show", help="a member with balance and cards")
    show.add_argument("member_id", help="the member's id")
    _db_arg(show)
    show.set_defaults(run=lambda a: _with_store(a, lambda s: s.member(a.member_id), missing=f"no member {a.member_id}"))

    rule = sub.add_parser("rule", help="program rules").add_subparsers(dest="action", metavar="ACTION")
    rset = rule.add_parser("set", help="set a program rule (JSON value), e.g. offline_redeem_cap 500,"
                                       " rewards '[{\"id\": ..., \"name\": ..., \"kind\": ..., \"points\": ...}]'")
    rset.add_argument("key", help="the rule: offline_redeem_cap, rewards, tiers, ...")
    rset.add_argument("value", help="its value as JSON (text that is not JSON is taken as a string)")
    _db_arg(rset)
    rset.set_defaults(run=_rule_set)

    bak = sub.add_parser("backup", help="back a SQLite head office up now (online, checked); PostgreSQL: pg_dump")
    bak.add_argument("--to", type=Path, required=True, help="directory the backup is written to")
    _db_arg(bak)
    bak.set_defaults(run=_backup)

    report = sub.add_parser("report", help="reports; the marketing ones across every store")
    names = ["overdraft", "rejects", "counts", "coupon-doubles", "till-keys", "erasures", *HO_REPORTS, *TILL_ONLY]
    report.add_argument("which", choices=names, help="the report: " + ", ".join(names))
    report.add_argument("--from", dest="start", help="marketing reports: first day")
    report.add_argument("--to", dest="to", help="marketing reports: last day")
    report.add_argument("--as-of", dest="as_of", help="marketing reports: as of this day (same as --to)")
    fmt = report.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="marketing reports: JSON instead of the text table")
    fmt.add_argument("--csv", action="store_true", help="marketing reports: CSV instead of the text table")
    report.add_argument("--fresh", action="store_true",
                        help="marketing reports: copy head office's data now instead of reading the snapshot")
    _snapshot_args(report)
    report.add_argument("--rule", default="first-purchase-no-second", help="contact-list rule")
    report.add_argument("--days", type=_positive_int, default=60, help="contact-list: days")
    report.add_argument("--channel", default="email", help="contact-list: consent channel")
    report.add_argument("--offer", help="offer-lift: the offer's id (as in the tills' [[program.offers]])")
    report.add_argument("--store", help="marketing reports: only the members whose home store this is (offer-lift:"
                        " that store's targetings)")
    _db_arg(report)
    report.set_defaults(run=_report)
    return parser


def _json_value(text: str) -> Any:
    """A rule value is JSON when it parses, else the text itself (`rule set greeting Hello`)."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def _open(args: argparse.Namespace) -> Store:
    """The database --db names; a SQLite file that is not there is created only by the commands that may."""
    url = str(args.db)
    if url.startswith(SQLITE) and not getattr(args, "create_db", False):
        path = Path(url[len(SQLITE):])
        if not path.is_file():
            raise NotFound(f"no head-office database at {path}: `headoffice till add` or `headoffice serve`"
                           " creates it; check --db or HEADOFFICE_DB")
    return open_store(url)


def _with_store(args: argparse.Namespace, fn: Callable[[Store], Any], missing: str = "nothing found") -> int:
    """Open the database, run one command on it, print its answer; exit 4 when it found nothing to act on."""
    store = _open(args)
    try:
        out = fn(store)
    finally:
        store.close()
    if out in (None, {"blocked": False}, {"erased": False}):
        raise NotFound(missing)
    sys.stdout.write((out if isinstance(out, str) else json.dumps(out, indent=2)) + "\n")
    return 0


def _user_add(args: argparse.Namespace) -> int:
    """Add a console user (audited as done from the command line); the password never appears in argv."""
    accounts.check(args.name, args.role, args.store)
    password = sys.stdin.readline().rstrip("\r\n") if args.password_stdin else None
    store = _open(args)
    try:
        _, token = accounts.add_user(store, args.name, args.role, args.store, password)
        store.console.audit_add("cli", "command line", args.store, "user.add", args.name, "headoffice user add",
                                json.dumps({"role": args.role, "store_id": args.store}))
    finally:
        store.close()
    if token is None:
        sys.stdout.write(f"{args.name} added\n")
    else:
        sys.stdout.write(f"{args.url.rstrip('/')}{accounts.LINK_PATH}{token}\n")
        sys.stderr.write(f"one-time link for {args.name} to set a password (valid 24 hours)\n")
    return 0


def _till_add(args: argparse.Namespace) -> int:
    store = _open(args)
    try:
        code = store.add_till(args.store, args.till, valid_days=args.valid_days)
    finally:
        store.close()
    sys.stdout.write(code + "\n")
    sys.stderr.write(f"enrolment code for {args.store}/{args.till} (one use, {args.valid_days} days): on the till"
                     f" run `pos-client register URL {code}`\n")
    return 0


def _report(args: argparse.Namespace) -> int:
    if args.which in HO_REPORTS or args.which in TILL_ONLY:
        def marketing(store: Store) -> Any:
            options: dict[str, Any] = {"start": args.start, "end": args.as_of or args.to, "rule": args.rule,
                                       "days": args.days, "channel": args.channel, "offer": args.offer,
                                       "store_id": args.store}
            result, source = upkeep.report(store, args.which, upkeep.snapshot_path(args.db, args.snapshot),
                                           at=args.upkeep_at, now=upkeep.utc_now(), fresh=args.fresh, **options)
            sys.stderr.write(f"headoffice: {args.which} {source}\n")
            if args.json:
                return result
            return render_csv(result).rstrip("\n") if args.csv else render_text(result)
        return _with_store(args, marketing)
    return _with_store(args, lambda s: {"overdraft": s.overdraft_report, "rejects": s.rejects,
                                        "counts": s.counts, "coupon-doubles": s.coupon_doubles,
                                        "till-keys": s.till_keys, "erasures": s.erasures}[args.which]())


def _upkeep(args: argparse.Namespace) -> int:
    """Refresh the snapshot now (or, with --status, say when it last ran and whether one is due)."""
    path = upkeep.snapshot_path(args.db, args.snapshot)

    def run(store: Store) -> Any:
        if not args.status:
            through = upkeep.due_through(upkeep.utc_now(), args.upkeep_at)
            done = upkeep.refresh(store, path, through)
            if done is not None:
                sys.stderr.write(f"headoffice: snapshot rebuilt in {done.seconds:.1f} s; stages recorded for"
                                 f" {len(done.days)} day{'s' if len(done.days) != 1 else ''}"
                                 f" ({done.stage_changes:,} changes)\n")
        info = upkeep.status(path, args.upkeep_at, upkeep.utc_now())
        return info if args.json else upkeep.status_text(info)
    return _with_store(args, run)


def _rule_set(args: argparse.Namespace) -> int:
    value = _json_value(args.value)
    if reasons := validate_rule(args.key, value):
        raise ValueError("; ".join(reasons))

    def set_rule(store: Store) -> dict[str, bool]:
        store.set_rule(args.key, value)
        return {"ok": True}
    return _with_store(args, set_rule)


def _backup(args: argparse.Namespace) -> int:
    """`headoffice backup`: the written file, its size and what it was checked to hold, as JSON."""
    sys.stdout.write(json.dumps(backup_db(str(args.db), args.to), indent=2) + "\n")
    return 0


def _serve(args: argparse.Namespace) -> int:
    from headoffice.server import TRUSTED_PROXIES, serve  # why: the HTTP stack (Starlette, uvicorn) loads only to serve

    if args.workers > 1 and str(args.db).startswith(SQLITE):
        raise ValueError("--workers above 1 needs a postgresql:// database: SQLite has one writer per file")
    _open(args).close()  # a bad --db fails here (and the schema is made once), before any worker starts
    snapshot = upkeep.snapshot_path(args.db, args.snapshot) if args.upkeep else None
    proxies = TRUSTED_PROXIES if args.trusted_proxies is None else tuple(
        p for p in args.trusted_proxies if p != "none")
    serve(args.db, args.host, args.port, snapshot=snapshot, upkeep_at=args.upkeep_at, trusted_proxies=proxies,
          workers=args.workers, pool=args.pool, directory=Path(args.directory_cache) if args.directory_cache else None,
          on_listening=partial(portfile.announce, port_file=args.port_file))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    except SystemExit as exc:  # argparse: 2 on usage errors, 0 on --help
        return int(exc.code or 0)
    command = getattr(args, "run", None)
    if command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        return int(command(args) or 0)
    except PosError as exc:
        sys.stderr.write(f"headoffice: {exc}\n")
        return exc.exit_code
    except ValueError as exc:
        sys.stderr.write(f"headoffice: {exc}\n")
        return EXIT_USAGE


if __name__ == "__main__":
    raise SystemExit(main())
