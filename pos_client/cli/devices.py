"""`pos-client devices watch`: open the configured readers and print one line per event.

The tool store IT uses to check a reader, like `pcsc_scan`: swipe, scan or tap and see what the till
sees. Refused payment cards show the refusal, never a number. Lines are printed as events arrive, so
this command streams instead of returning one result; the last line says why it ended.
"""

from __future__ import annotations

import argparse
import json
import queue
import sys
import time

from drivers.events import event_to_json, event_to_text
from drivers.readers import build_readers, start_all, stop_all
from pos_client.cli.base import Outcome, add_command, positive_float, positive_int
from pos_client.domain.errors import UsageError
from pos_client.store.config import load_config
from pos_client.store.home import till_home

READ_KINDS = ("card", "product", "error")


def _watch(args: argparse.Namespace) -> Outcome:
    config = load_config(till_home(getattr(args, "home", None), create=False))
    prefixes = config.section("program").get("loyalty_prefixes") or ["29"]
    events: queue.Queue = queue.Queue()
    readers = build_readers(config.section("devices"), events.put, prefixes)
    if not readers:
        raise UsageError("no readers configured: add [devices] readers = [...] to config.toml")
    as_json = bool(getattr(args, "json", False))
    deadline = time.monotonic() + args.timeout if args.timeout else None
    reads = seen = 0
    reason = "interrupted"
    start_all(readers)
    try:
        while True:
            if args.count and reads >= args.count:
                reason = "count"
                break
            wait = 0.2 if deadline is None else min(0.2, deadline - time.monotonic())
            if wait <= 0:
                reason = "timeout"
                break
            try:
                event = events.get(timeout=wait)
            except queue.Empty:
                continue
            seen += 1
            reads += event.kind in READ_KINDS
            line = json.dumps(event_to_json(event), ensure_ascii=False) if as_json else event_to_text(event)
            sys.stdout.write(line + "\n")
            sys.stdout.flush()
    except KeyboardInterrupt:
        reason = "interrupted"
    finally:
        stop_all(readers)
    return Outcome(
        data={"kind": "end", "reason": reason, "reads": reads, "events": seen},
        text=f"-- {reads} read(s), {seen} event(s); stopped: {reason}",
    )


def _devices_usage(args: argparse.Namespace) -> Outcome:
    raise UsageError("usage: pos-client devices watch [--json] [--count N] [--timeout S]")


def register(sub: argparse._SubParsersAction) -> None:
    devices = add_command(sub, "devices", _devices_usage, "card readers: watch what they read")
    dsub = devices.add_subparsers(dest="devices_command", metavar="ACTION")
    p = add_command(dsub, "watch", _watch, "open the configured readers and print one line per event")
    p.add_argument("--count", type=positive_int, help="stop after N reads (cards, products, errors)")
    p.add_argument("--timeout", type=positive_float, help="stop after S seconds")
