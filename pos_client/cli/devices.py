"""`pos-client devices watch|list|test`: what the readers read, what is plugged in, try one and save it.

`list` shows the candidates for each role (`pos_client.services.device_setup`); `test ROLE DEVICE`
opens a reader until it reads something (or prints a test receipt and reads the printer's status back)
and with `--save` writes the choice to config.toml by its stable identity. Exit 1 when the device did
not answer (nothing read, printer not reachable or reporting a problem); nothing is saved then.

`watch`: open the configured readers and print one line per event.

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
from pos_client.cli.base import EXIT_FAILED, Outcome, add_command, positive_float, positive_int, table
from pos_client.domain.errors import UsageError
from pos_client.services import device_setup
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


def _list(args: argparse.Namespace) -> Outcome:
    config = load_config(till_home(getattr(args, "home", None), create=False))
    found = device_setup.discover(config, probe_hosts=args.probe or ())
    offered = device_setup.candidates(found)
    rows = [(role, c.label) for role in device_setup.ROLES for c in offered[role]]
    text = table(["role", "device"], rows) if rows else "no devices found"
    text += "".join(f"\nnote: {note}" for note in found.notes)
    return Outcome(data={"roles": {role: [c.as_dict() for c in offered[role]] for role in device_setup.ROLES},
                         "found": found.as_dict()}, text=text)


def _test(args: argparse.Namespace) -> Outcome:
    home = till_home(getattr(args, "home", None), create=False)
    config = load_config(home)
    result: device_setup.ReaderTest | device_setup.PrinterTest
    if args.role == "printer":
        result = device_setup.check_printer(config, args.device, timeout=args.timeout or 5.0)
    else:
        result = device_setup.check_reader(config, args.role, args.device, timeout=args.timeout or 10.0)
    data = result.as_dict()
    text = f"{args.role} {result.device}: {result.text}"
    if args.save and result.ok:
        data["saved"] = device_setup.save(home, args.role, result.device)
        text += "\nsaved to config.toml"
    elif args.save:
        text += "\nnot saved: the test did not pass"
    return Outcome(data=data, text=text, exit_code=0 if result.ok else EXIT_FAILED)


def _devices_usage(args: argparse.Namespace) -> Outcome:
    raise UsageError("usage: pos-client devices watch|list|test [--json] (see pos-client devices ACTION --help)")


def register(sub: argparse._SubParsersAction) -> None:
    devices = add_command(sub, "devices", _devices_usage, "card readers and printers: list, test, watch")
    dsub = devices.add_subparsers(dest="devices_command", metavar="ACTION")
    p = add_command(dsub, "watch", _watch, "open the configured readers and print one line per event")
    p.add_argument("--count", type=positive_int, help="stop after N reads (cards, products, errors)")
    p.add_argument("--timeout", type=positive_float, help="stop after S seconds")
    p = add_command(dsub, "list", _list, "serial ports, NFC readers and printers that can fill each role")
    p.add_argument("--probe", action="append", metavar="HOST[:PORT]",
                   help="also look for a network printer there (port 9100 by default); repeatable")
    p = add_command(dsub, "test", _test, "read from a reader (or print a test receipt) and show the result")
    p.add_argument("role", choices=device_setup.ROLES, help="what the device is for: " + ", ".join(device_setup.ROLES))
    p.add_argument("device", help="a serial port, a PC/SC reader name, usb:VID:PID or tcp://HOST:PORT")
    p.add_argument("--timeout", type=positive_float, help="seconds to wait for a read (10) or the printer (5)")
    p.add_argument("--save", action="store_true", help="when it works, save it to config.toml for this role")
