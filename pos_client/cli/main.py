"""Entry point: `pos-client` with no arguments starts the app; subcommands are for scripts.

Each capability registers its subcommands from its own module listed in COMMAND_MODULES,
so adding one never edits the others. Errors become one line on stderr (and `{"error", "exit_code"}`
on stdout with --json) and the exit code of the contract in `pos_client.cli.base`.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import sqlite3
import sys

from pos_client.app import boot
from pos_client.cli.base import COMMON, EXIT_FAILED, EXIT_NOT_FOUND, EXIT_USAGE, Outcome, emit
from pos_client.domain.errors import StorageFault
from pos_client.services.errors import USER_ERRORS
from pos_client.store import faults, integrity, logsetup
from pos_client.store.config import load_config
from pos_client.store.home import db_path, is_till_home, resolve_home, till_home

log = logging.getLogger("pos_client.cli")

COMMAND_MODULES: tuple[str, ...] = (
    "pos_client.cli.core",
    "pos_client.cli.devices",
    "pos_client.cli.marketing",
    "pos_client.cli.upkeep",
    "pos_client.cli.sync",
    "pos_client.cli.backup",
    "pos_client.cli.setup",
    "pos_client.cli.printing",
    "pos_client.cli.demo",
    "pos_client.cli.doctor",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pos-client", description="Loyalty client for the store till. With no command: the till app.",
        parents=[COMMON],
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def _start_app(home: str | None) -> int:
    till_home(home, create=False)  # NotFound before Textual loads: a misspelled home is no new till
    return boot.start(home)


def app_only(argv: list[str]) -> argparse.Namespace | None:
    """`pos-client` or `pos-client --home DIR`: the app, read without building every command's parser (their
    modules cost a third of a second and load numpy, which the till's first screen does not need). Anything
    else (a command, --help, an abbreviation) goes through the full parser: None."""
    if not argv:
        return argparse.Namespace()
    if len(argv) == 2 and argv[0] == "--home" and not argv[1].startswith("-"):
        return argparse.Namespace(home=argv[1])
    if len(argv) == 1 and argv[0].startswith("--home=") and len(argv[0]) > len("--home="):
        return argparse.Namespace(home=argv[0].removeprefix("--home="))
    return None


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = app_only(argv)
    if args is None:
        try:
            args = build_parser().parse_args(argv)
        except SystemExit as exc:  # argparse: 2 on usage errors, 0 on --help
            return int(exc.code or 0)
    as_json = bool(getattr(args, "json", False))
    handler = getattr(args, "handler", None)
    _log_to_home(getattr(args, "home", None))
    try:
        if handler is None:
            return _start_app(getattr(args, "home", None))
        outcome: Outcome = handler(args)
    except USER_ERRORS as exc:
        code = int(getattr(exc, "exit_code", 1))
        _error(str(exc), code, as_json)
        return code
    except FileNotFoundError as exc:
        _error(f"no such file or directory: {exc.filename}", EXIT_NOT_FOUND, as_json)
        return EXIT_NOT_FOUND
    except (ValueError, TypeError) as exc:
        _error(str(exc), EXIT_USAGE, as_json)
        return EXIT_USAGE
    except (sqlite3.Error, OSError) as exc:  # a storage fault outside a write (opening, reading): in words
        if not faults.is_storage_error(exc):
            return _unexpected(exc, as_json)
        where = resolve_home(getattr(args, "home", None))
        refusal = integrity.stopped(db_path(where)) if isinstance(exc, sqlite3.Error) and faults.is_damage(exc) \
            else None  # the open check's own words name the latest good backup
        message = str(refusal) if refusal is not None else faults.describe(exc, where=where)
        _error(logsetup.redact(message), StorageFault.exit_code, as_json)
        return StorageFault.exit_code
    except Exception as exc:  # a bug: one line for the user, the traceback in the till's log only
        return _unexpected(exc, as_json)
    emit(outcome, as_json)
    return outcome.exit_code


def _unexpected(exc: Exception, as_json: bool) -> int:
    """A bug: one line for the user, the traceback in the till's log only (called inside the `except`)."""
    _error(logsetup.redact(f"unexpected error ({type(exc).__name__}: {exc}); details in the till's log"),
           EXIT_FAILED, as_json)
    return EXIT_FAILED


def _log_to_home(home_arg: str | None) -> None:
    """Log to the till's home (`[logging]`) when there is a till there; a missing or unwritable one logs nothing."""
    home = resolve_home(home_arg)
    if not is_till_home(home):
        return
    try:
        section = load_config(home).section("logging")
    except Exception:  # a broken config.toml must not stop the log that reports it (doctor explains it)
        section = {}
    try:
        logsetup.configure(home, section)
    except OSError:  # read-only home: the command still runs, its errors still reach stderr
        pass


def _error(message: str, code: int, as_json: bool) -> None:
    """The error as the user sees it, and in the log with its cause (called inside the `except`)."""
    if log.hasHandlers():  # no till log set up: logging's last resort would print the traceback to the user
        log.error("pos-client: %s", message, exc_info=True)
    if as_json:
        sys.stdout.write(json.dumps({"error": message, "exit_code": code}) + "\n")
    sys.stderr.write(f"pos-client: {message}\n")


if __name__ == "__main__":
    raise SystemExit(main())
