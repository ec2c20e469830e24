"""Shared CLI plumbing: common options, human or JSON output, exit codes.

Exit codes: 0 ok, 2 usage error, 3 refused input (bad or payment card, bad check digit),
4 not found. A command handler returns an `Outcome`; it never prints or exits itself.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

EXIT_OK, EXIT_USAGE, EXIT_REFUSED, EXIT_NOT_FOUND = 0, 2, 3, 4


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
    p.add_argument("--home", default=argparse.SUPPRESS, help="till home directory (default $POS_CLIENT_HOME)")
    return p


COMMON = common_parser()


def add_command(
    sub: argparse._SubParsersAction, name: str, handler: Handler, help: str, **kw: Any
) -> argparse.ArgumentParser:
    parser = sub.add_parser(name, help=help, description=help, parents=[COMMON], **kw)
    parser.set_defaults(handler=handler)
    return parser


def open_ctx(args: argparse.Namespace):
    """Open the till for a command (lazily: the app's start must not pay for it)."""
    from pos_client.store.context import open_till

    return open_till(getattr(args, "home", None))


def emit(outcome: Outcome, as_json: bool, stream=None) -> None:
    stream = stream or sys.stdout
    if as_json:
        stream.write(json.dumps(outcome.data, ensure_ascii=False, sort_keys=False) + "\n")
    elif outcome.text:
        stream.write(outcome.text.rstrip("\n") + "\n")
