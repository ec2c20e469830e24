"""`pos-client setup`: a new till's home in one step, at the prompts or from flags for a scripted roll-out.

It is `init` (the identity, `services.identity.set_identity`), the device and currency sections of
config.toml (`store.config.write_config`) and `register` (`sync.register.register_till`) called in that
order, with every answer checked before the first file is written. A home that already holds a till is
refused unless `--force`, and even then its sales, members and ledger stay (only settings change, and
`set_identity` still refuses to rename a till with history).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any, TypeVar

from pos_client.cli.base import Outcome, add_command
from pos_client.domain.errors import PosError, RefusedInput, UsageError
from pos_client.services.identity import set_identity
from pos_client.services.setup import (
    READER_HELP,
    SetupAnswers,
    check_code,
    check_currency,
    check_headoffice_url,
    check_id,
    check_printer,
    check_readers,
    config_updates,
)
from pos_client.store.config import Config, load_config, write_config
from pos_client.store.home import config_path, db_path, is_till_home, resolve_home
from pos_client.till import open_till
from sync.register import register_till

T = TypeVar("T")


def register(sub: argparse._SubParsersAction) -> None:
    p = add_command(sub, "setup", _setup,
                    "set up this till: store, till, head office, devices (asks, or takes flags with"
                    " --non-interactive)")
    p.add_argument("--store", help="store id, e.g. S1 (as head office knows the store)")
    p.add_argument("--till", help="till id within the store, e.g. T1")
    p.add_argument("--name", help="store name printed on receipts")
    p.add_argument("--currency", help="ISO currency code (default EUR)")
    p.add_argument("--headoffice", metavar="URL", help="head office address, e.g. https://ho.example.com")
    p.add_argument("--code", help="the one-time enrolment code `headoffice till add` printed (with --headoffice)")
    p.add_argument("--printer", metavar="URL", help="receipt printer: tcp://HOST:9100, serial:///dev/ttyS0,"
                                                    " usb://VID:PID or file:///dev/usb/lp0")
    p.add_argument("--printer-profile", help="escpos profile of the printer (default TM-T88V)")
    p.add_argument("--reader", action="append", default=None, metavar="SPEC",
                   help=f"a card reader or scanner, repeat for more: {READER_HELP}")
    p.add_argument("--non-interactive", action="store_true",
                   help="take every answer from the flags (--store and --till required for a new till); never prompt")
    p.add_argument("--force", action="store_true",
                   help="change the settings of a home that already has a till (its sales and members are kept)")


def _setup(args: argparse.Namespace) -> Outcome:
    home = resolve_home(getattr(args, "home", None)).absolute()
    existing = is_till_home(home)
    current = load_config(home) if existing else None
    if current is not None and not args.force:
        raise RefusedInput(f"a till is already set up at {home} ({current.store_id}/{current.till_id}): nothing"
                           " changed. `pos-client setup --force` changes its settings (its sales and members are"
                           " kept); a new till needs a new --home")
    answers = _from_flags(args, current) if args.non_interactive else _ask(args, current)
    if answers is None:
        return Outcome({"home": str(home), "written": False}, "setup cancelled: nothing written")
    return _apply(home, answers, created=not existing)


def _from_flags(args: argparse.Namespace, current: Config | None) -> SetupAnswers:
    """Every answer from the flags (a --force'd till keeps its identity unless told), checked before writing."""
    store = args.store or (current.store_id if current else None)
    till = args.till or (current.till_id if current else None)
    if not store or not till:
        raise UsageError("setup --non-interactive needs --store and --till")
    if bool(args.headoffice) != bool(args.code):
        raise UsageError("--headoffice and --code go together (the code `headoffice till add` printed)")
    printer = check_printer(args.printer, args.printer_profile) if args.printer else (None, None)
    return SetupAnswers(
        store_id=check_id(store, "--store"), till_id=check_id(till, "--till"),
        store_name=args.name.strip() if args.name and args.name.strip() else None,
        currency=check_currency(args.currency) if args.currency else None,
        headoffice_url=check_headoffice_url(args.headoffice) if args.headoffice else None,
        code=check_code(args.code) if args.code else None,
        printer_url=printer[0], printer_profile=printer[1],
        readers=check_readers(args.reader) if args.reader is not None else None,
    )


def _prompt(question: str, default: str | None, check: Callable[[str], T], *, optional: bool = False) -> T | None:
    """Ask until the answer passes `check`; Enter takes the default (or skips, when `optional`)."""
    shown = f" [{default}]" if default else (" (Enter: none)" if optional else "")
    while True:
        sys.stderr.write(f"{question}{shown}: ")
        sys.stderr.flush()
        try:
            text = input().strip()
        except EOFError:
            raise UsageError(f"setup: the input ended at {question!r}; nothing written"
                             " (use --non-interactive with flags in scripts)") from None
        text = text or (default or "")
        if not text:
            if optional:
                return None
            sys.stderr.write("  an answer is needed\n")
            continue
        try:
            return check(text)
        except PosError as exc:
            sys.stderr.write(f"  {exc}\n")


def _yes(question: str) -> bool:
    answer = _prompt(question, "Y", lambda t: t.lower())
    while answer not in ("y", "yes", "n", "no"):
        sys.stderr.write("  y or n\n")
        answer = _prompt(question, "Y", lambda t: t.lower())
    return answer.startswith("y")


def _ask(args: argparse.Namespace, current: Config | None) -> SetupAnswers | None:
    """The prompts, each with a default from the flags or the till's current settings; None if not confirmed."""
    raw: dict[str, Any] = current.raw if current else {}
    printer_now = str((raw.get("printer") or {}).get("url") or "") or None
    sys.stderr.write("Setting up the till. Enter keeps the value in [brackets].\n")
    store = _prompt("Store id", args.store or raw.get("store_id") or "S1", lambda t: check_id(t, "store id"))
    till = _prompt("Till id", args.till or raw.get("till_id") or "T1", lambda t: check_id(t, "till id"))
    name = _prompt("Store name on receipts", args.name or raw.get("store_name"), str, optional=True)
    currency = _prompt("Currency", args.currency or raw.get("currency") or "EUR", check_currency)
    url = _prompt("Head office address (http://HOST:PORT or https://HOST; register later)", args.headoffice,
                  check_headoffice_url, optional=True)
    code = _prompt("Enrolment code from `headoffice till add` (Enter: register later)", args.code, check_code,
                   optional=True) if url else None
    printer = _prompt("Receipt printer URL (tcp://HOST:9100, serial:///dev/ttyS0, usb://VID:PID)",
                      args.printer or printer_now, lambda t: check_printer(t, args.printer_profile)[0], optional=True)
    readers = list(args.reader or [])
    sys.stderr.write(f"Card readers and scanners, one per line, Enter when done: {READER_HELP}\n")
    for spec in readers:
        sys.stderr.write(f"  reader: {spec}\n")
    if current is not None and not readers:
        sys.stderr.write("  (Enter alone keeps the readers config.toml has now)\n")
    while (spec := _prompt("Reader", None, _one_reader, optional=True)) is not None:
        readers.append(spec)
    answers = SetupAnswers(
        store_id=str(store), till_id=str(till), store_name=name, currency=currency,
        headoffice_url=url, code=code if url else None,
        printer_url=printer, printer_profile=check_printer(printer, args.printer_profile)[1] if printer else None,
        readers=check_readers(readers) if readers or current is None else None,
    )
    sys.stderr.write(_summary(answers) + "\n")
    return answers if _yes("Write this till") else None


def _one_reader(text: str) -> str:
    check_readers([text])
    return text


def _summary(a: SetupAnswers) -> str:
    readers = ", ".join(_reader_text(r) for r in a.readers or ()) or "none"
    return (f"  till {a.store_id}/{a.till_id}" + (f" ({a.store_name})" if a.store_name else "")
            + f", currency {a.currency or 'EUR'}\n  printer: {a.printer_url or 'none'}\n  readers: {readers}\n"
            + f"  head office: {a.headoffice_url or 'none'}" + (" (registering now)" if a.code else ""))


def _reader_text(spec: dict[str, Any]) -> str:
    where = spec.get("url") or spec.get("path") or spec.get("reader") or "first PC/SC reader"
    return f"{spec.get('name') or spec['kind']} ({where})"


def _apply(home: Path, answers: SetupAnswers, *, created: bool) -> Outcome:
    """Write the till: identity, settings, database; then register when a code was given."""
    if created and not home.exists():
        home.mkdir(parents=True, mode=0o700)
        home.chmod(0o700)  # mkdir's mode is cut by the umask: the till's database and token are its own
    registered = False
    with closing(open_till(home)) as ctx:
        store, till = set_identity(ctx, answers.store_id, answers.till_id, answers.store_name)
        updates = config_updates(answers)
        if updates:
            ctx.config = write_config(home, updates)
        if answers.headoffice_url and answers.code:
            try:
                done = register_till(ctx, answers.headoffice_url, answers.code)
            except PosError as exc:
                err = PosError(f"till {store}/{till} is set up in {home}, but registering with"
                               f" {answers.headoffice_url} failed: {exc}. Run `pos-client register"
                               f" {answers.headoffice_url} CODE` when head office is reachable")
                err.exit_code = exc.exit_code
                raise err from None
            store, till, registered = done["store_id"], done["till_id"], True
        config = ctx.config
    printer = str(config.section("printer").get("url") or "")
    readers = list(config.section("devices").get("readers") or [])
    url = str(config.section("headoffice").get("url") or "")
    lines = [f"till {store}/{till} {'set up' if created else 'updated'} in {home}",
             f"  config:      {config_path(home)} (currency {config.currency})",
             f"  database:    {db_path(home)}",
             f"  printer:     {printer or 'none'}",
             f"  readers:     {', '.join(_reader_text(r) for r in readers) or 'none'}",
             "  head office: " + (f"registered with {url} as {store}/{till}" if registered
                                  else "not registered (`pos-client register URL CODE` when you have a code)"),
             "next: `pos-client doctor` checks the devices and head office; `pos-client` starts the till"]
    data = {"home": str(home), "created": created, "store_id": store, "till_id": till,
            "currency": config.currency, "printer": printer or None, "readers": readers,
            "registered": registered, "headoffice_url": url or None}
    return Outcome(data, "\n".join(lines))
