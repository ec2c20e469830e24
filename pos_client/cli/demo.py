"""`pos-client demo`: the till app on simulated hardware (printer, readers, NFC card), no set-up needed."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from typing import Any

from pos_client.cli.base import Outcome, add_command
from pos_client.demo import HOME_ENV, demo_home, prepare


def _demo(args: argparse.Namespace) -> Outcome:
    code = run_demo(getattr(args, "home", None))
    return Outcome(data={"exit_code": code}, exit_code=code)


def register(sub: argparse._SubParsersAction) -> None:
    add_command(sub, "demo", _demo, "open the till on simulated hardware: swipe, scan, tap and print a receipt")


def run_demo(home: str | None = None, *, say: Callable[[str], Any] = print) -> int:
    """Start the rig, open the app on it, stop everything on exit; returns the app's exit code."""
    from hw_sim.demo_rig import DemoRig  # lazy: the simulators and Pillow, only for the demo
    from pos_client.app.demo_app import build_demo_app  # lazy: Textual (~0.2 s), only when the app starts

    env = dict(os.environ)
    if home:
        env[HOME_ENV] = home
    path = demo_home(env)
    say(f"demo home: {path}")
    rig = DemoRig(path).start()
    if rig.nfc_problem:
        say(f"pos-client demo: {rig.nfc_problem} (apt-get install pcscd vsmartcard-vpcd); going on without NFC")
    ctx = None
    try:
        ctx = prepare(path, rig)
        app = build_demo_app(ctx, rig)
        app.run()
        code = int(app.return_code or 0)
    finally:
        if ctx is not None:
            ctx.close()
        rig.stop()
    receipts = [p for p in rig.receipt_files() if p.suffix == ".png"]
    say(f"demo home: {path}")
    say(f"receipts printed: {len(receipts)}" + (f", the last one: {receipts[-1]}" if receipts else ""))
    return code
