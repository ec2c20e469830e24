"""Shared CLI plumbing: common options, human or JSON output, exit codes, money/date/table formatting.

Exit codes: 0 ok, 1 a device or the network failed (printer, head office: nothing lost, try again),
a `doctor` check failed, or an unexpected error (one line here, its traceback in the till's log),
2 usage error, 3 refused input (bad or payment card, bad check digit), 4 not found (a card, member,
product, sale, or the till's home itself), 5 the till's storage failed (disk full or read-only, a damaged
database: nothing recorded; `pos_client.store.faults`). A command handler returns an `Outcome`; it never prints or
exits itself. Every human table and message shows money with `money()` and days with `day()`, so the
CLI reads the same everywhere and follows the till's decimal separator.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Collection, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from typing import Any, TextIO

from pos_client.domain.bounds import KEYED_POINTS
from pos_client.domain.money import format_cents, format_date
from pos_client.store.context import TillContext
from pos_client.till import open_till

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_REFUSED, EXIT_NOT_FOUND = 0, 1, 2, 3, 4
MAX_POINTS = KEYED_POINTS.high  # far above any balance; keeps every sum inside SQLite's 64-bit integers


@dataclass
class Outcome:
    """What a command produced: `data` for --json, `text` for people."""
    data: dict[str, Any] = field(default_factory=dict)
    text: str = ""
    exit_code: int = EXIT_OK


Handler = Callable[[argparse.Namespace], Outcome]


def common_parser() -> argparse.ArgumentParser:
    """Options every subcommand accepts, before or after its name."""
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="machine-readable output")
    p.add_argument("--home", default=argparse.SUPPRESS,
                   help="the till's directory (default $POS_CLIENT_HOME, else the platform data directory);"
                        " it must exist except for `init`")
    return p


COMMON = common_parser()


def add_command(
    sub: argparse._SubParsersAction, name: str, handler: Handler, help: str, **kw: Any
) -> argparse.ArgumentParser:
    parser = sub.add_parser(name, help=help, description=help, parents=[COMMON], **kw)
    parser.set_defaults(handler=handler)
    return parser


def points_arg(text: str) -> int:
    """argparse type for --points: a whole number of points, within MAX_POINTS either way."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number of points: {text!r}") from None
    if abs(value) > MAX_POINTS:
        raise argparse.ArgumentTypeError(f"points too large (max {MAX_POINTS:,})")
    return value


def positive_int(text: str) -> int:
    """argparse type for counts and days: a whole number above 0."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be more than 0, got {value}")
    return value


def positive_float(text: str) -> float:
    """argparse type for seconds: a number above 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be more than 0, got {text}")
    return value


def non_empty(text: str) -> str:
    """argparse type for ids given on the command line: an empty one is a script's unset variable."""
    if not text.strip():
        raise argparse.ArgumentTypeError("must not be empty")
    return text.strip()


def open_ctx(args: argparse.Namespace) -> TillContext:
    """Open the till for a command; a home with no till is NotFound (exit 4), never a new empty till."""
    return open_till(getattr(args, "home", None), create=False)


def till_of(args: argparse.Namespace) -> closing[TillContext]:
    """`with till_of(args) as ctx:` the command's till, closed when the command is done."""
    return closing(open_ctx(args))


def money(ctx: TillContext, cents: int) -> str:
    """Money for people: thousands grouped, the till's decimal separator ("1,234.56" / "1 234,56")."""
    return format_cents(cents, decimal_separator=ctx.config.decimal_separator, group=True)


def day(value: Any) -> str:
    """A stored timestamp or date as the day it names (YYYY-MM-DD)."""
    return format_date(value)


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], right: Collection[int] = ()) -> str:
    """Columns aligned on their widest cell; the columns in `right` (numbers, money) right-aligned."""
    cells = [[str(h) for h in headers]] + [["-" if v is None or v == "" else str(v) for v in row] for row in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(headers))]

    def line_of(line: list[str]) -> str:
        return "  ".join(c.rjust(w) if i in right else c.ljust(w)
                         for i, (c, w) in enumerate(zip(line, widths, strict=True))).rstrip()

    return "\n".join(line_of(line) for line in cells)


def emit(outcome: Outcome, as_json: bool, stream: TextIO | None = None) -> None:
    stream = stream or sys.stdout
    if as_json:
        stream.write(json.dumps(outcome.data, ensure_ascii=False, sort_keys=False) + "\n")
    elif outcome.text:
        stream.write(outcome.text.rstrip("\n") + "\n")
