"""`pos-client demo`: the till app on simulated hardware (printer, readers, NFC card), no set-up needed."""

from __future__ import annotations

import argparse

from pos_client.cli.base import Outcome, add_command


def _demo(args: argparse.Namespace) -> Outcome:
    from pos_client.demo import run_demo

    code = run_demo(getattr(args, "home", None))
    return Outcome(data={"exit_code": code}, exit_code=code)


def register(sub: argparse._SubParsersAction) -> None:
    add_command(sub, "demo", _demo, "open the till on simulated hardware: swipe, scan, tap and print a receipt")
