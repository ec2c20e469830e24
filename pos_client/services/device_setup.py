"""Setting the till's devices up: what can fill each role, test one, save the choice to config.

Used by `pos-client devices list|test` and the manager's Devices screen, so both offer the same
devices and save the same config. A choice is saved by its stable identity: a serial reader by its
`/dev/serial/by-id/...` link (the `/dev/ttyUSB0` it is today changes with the plug order), an NFC
reader by its PC/SC name, a USB printer by `usb://VID:PID`, a network printer by `tcp://host:port`.
Saving a reader replaces the entry of the same role in `[devices] readers` and keeps its settings
(baud, terminator, name); the other readers are left as they are.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from drivers import discovery
from drivers.escpos_render import render_blocks
from drivers.events import DeviceState, Event, event_to_json, event_to_text
from drivers.printer import DEFAULT_PROFILE, open_printer, parse_url
from drivers.printer_status import UNKNOWN, PrinterStatus
from drivers.readers import build_reader
from drivers.receipt_blocks import Block, Rule, Text
from pos_client.domain.errors import UsageError
from pos_client.store.config import Config, load_config, write_config

READER_ROLES = ("magstripe", "barcode", "nfc")
ROLES = (*READER_ROLES, "printer")
SERIAL_KEPT = ("baud", "terminator", "max_frame", "name")  # a reader's settings that survive a new port


@dataclass(frozen=True)
class Candidate:
    """A device that can fill a role: `device` is what test and save take (its stable identity)."""

    role: str
    device: str
    label: str

    def as_dict(self) -> dict[str, str]:
        return {"role": self.role, "device": self.device, "label": self.label}


@dataclass
class ReaderTest:
    """What a reader read while it was open (None: nothing within the time), and its states meanwhile."""

    role: str
    device: str
    read: dict[str, Any] | None = None
    text: str = ""
    states: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.read is not None

    def as_dict(self) -> dict[str, Any]:
        return {"role": self.role, "device": self.device, "ok": self.ok, "read": self.read, "text": self.text,
                "states": self.states}


@dataclass
class PrinterTest:
    """A test receipt sent (`sent` bytes) and the status read back; `status.known` False: it sends none."""

    device: str
    sent: int
    status: PrinterStatus

    @property
    def ok(self) -> bool:
        return self.status.ok

    @property
    def text(self) -> str:
        if not self.status.known:
            return f"test receipt sent ({self.sent} bytes); this printer sends no status back: check the paper"
        return f"test receipt sent ({self.sent} bytes); status: {self.status.problem or self.status.warning or 'ok'}"

    def as_dict(self) -> dict[str, Any]:
        return {"role": "printer", "device": self.device, "ok": self.ok, "sent": self.sent,
                "status": self.status.as_dict(), "text": self.text}


def discover(config: Config, *, probe_hosts: Iterable[str] = (), by_id: Path | None = None,
             usb_backend: Any = None) -> discovery.Found:
    """What is plugged in; network printers are the configured one and `probe_hosts` (each probed)."""
    urls = [str(config.section("printer").get("url") or "")]
    urls += [h if h.startswith("tcp://") else f"tcp://{h}" for h in probe_hosts]
    return discovery.discover(printer_urls=urls, probe=True, by_id=by_id, usb_backend=usb_backend)


def candidates(found: discovery.Found) -> dict[str, list[Candidate]]:
    """The devices that can fill each role, in the order to offer them."""
    serial = [Candidate("", p.stable, " ".join(x for x in (_short(p), p.usb_ids, p.manufacturer or "",
                                                            p.serial_number or "") if x)) for p in found.serial]
    out: dict[str, list[Candidate]] = {
        role: [Candidate(role, c.device, c.label) for c in serial] for role in ("magstripe", "barcode")}
    out["nfc"] = [Candidate("nfc", name, name) for name in found.pcsc]
    out["printer"] = [Candidate("printer", p.url, f"{p.url} {p.manufacturer} {p.product}".strip())
                      for p in found.usb_printers]
    out["printer"] += [Candidate("printer", p.url, f"{p.url} ({'answers' if p.reachable else 'no answer'})")
                       for p in found.network_printers]
    return out


def _short(port: discovery.SerialPort) -> str:
    """`by-id/usb-MagTek_...-if00` for a by-id link (its directory says nothing), else the path."""
    return f"by-id/{Path(port.stable).name}" if port.stable != port.device else port.stable


def check_role(role: str) -> str:
    if role not in ROLES:
        raise UsageError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    return role


def entry_role(spec: dict[str, Any]) -> str:
    kind = spec.get("kind")
    if kind == "pcsc":
        return "nfc"
    return str(spec.get("role") or ("barcode" if kind == "evdev" else "magstripe"))


def current_choices(home: Path) -> dict[str, str]:
    """What config.toml names for each role now ("" for none), read from the file."""
    config = load_config(home)
    out = dict.fromkeys(ROLES, "")
    for spec in config.section("devices").get("readers") or []:
        if isinstance(spec, dict) and entry_role(spec) in out and not out[entry_role(spec)]:
            out[entry_role(spec)] = str(spec.get("url") or spec.get("path") or spec.get("reader") or "")
    out["printer"] = str(config.section("printer").get("url") or "")
    return out


def reader_spec(config: Config, role: str, device: str, by_id: Path | None = None) -> dict[str, Any]:
    """The `[devices] readers` entry for `device` in `role`, keeping the settings of the one it replaces."""
    if role == "nfc":
        return {"kind": "pcsc", "reader": device, "name": "nfc"}
    if role not in READER_ROLES:
        raise UsageError(f"{role!r} is not a reader role ({', '.join(READER_ROLES)})")
    current = next((s for s in config.section("devices").get("readers") or []
                    if isinstance(s, dict) and s.get("kind") == "serial" and entry_role(s) == role), {})
    kept = {k: current[k] for k in SERIAL_KEPT if k in current}
    return {"kind": "serial", "url": discovery.stable_path(device, by_id), "role": role, **kept}


def check_reader(config: Config, role: str, device: str, *, timeout: float = 10.0, by_id: Path | None = None,
                cancel: threading.Event | None = None) -> ReaderTest:
    """Open the reader for up to `timeout` seconds and return the first thing it read (a refused bank card
    shows as its refusal, never its number)."""
    spec = reader_spec(config, check_role(role), device, by_id)
    events: queue.Queue[Event] = queue.Queue()
    prefixes = config.section("program").get("loyalty_prefixes") or ["29"]
    reader = build_reader(0, spec, events.put, prefixes)
    result = ReaderTest(role, str(spec.get("url") or spec.get("reader")))
    deadline = time.monotonic() + timeout
    reader.start()
    try:
        while (left := deadline - time.monotonic()) > 0 and not (cancel and cancel.is_set()):
            try:
                event = events.get(timeout=min(left, 0.2))
            except queue.Empty:
                continue
            if isinstance(event, DeviceState):
                result.states.append(event.text)
                continue
            result.read, result.text = event_to_json(event), event_to_text(event)
            break
    finally:
        reader.stop(2.0)
    if result.read is None:
        result.text = f"nothing read in {timeout:g} s" + (f" ({result.states[-1]})" if result.states else "")
    return result


def printer_url(device: str) -> str:
    """A printer URL from what a person types: usb:VID:PID, usb://VID:PID, tcp://host:port, host:port."""
    text = device.strip()
    if text.startswith("usb:") and not text.startswith("usb://"):
        text = "usb://" + text.removeprefix("usb:")
    elif "://" not in text and text:
        text = f"tcp://{text}"
    url = parse_url(text)  # a clear DeviceConfigError (exit 2) for a bad one
    return str(url) + ("?" + "&".join(f"{k}={v}" for k, v in url.options.items()) if url.options else "")


def sample_receipt(config: Config, url: str) -> list[Block]:
    return [Text(str(config.raw.get("store_name", "")), bold=True, size="double", align="center"),
            Text("Printer test", align="center"), Rule(),
            Text(f"Printer: {url}"), Text(f"Till: {config.store_id}/{config.till_id}"),
            Text(f"At: {datetime.now().astimezone():%Y-%m-%d %H:%M}"), Rule(),
            Text("If you can read this, printing works.", align="center")]


def check_printer(config: Config, device: str, *, timeout: float = 5.0, usb_backend: Any = None) -> PrinterTest:
    """Print a test receipt and read the printer's status back (DLE EOT; asked over USB too).

    A USB printer that gives no answer is reported as one without a status channel, not as offline."""
    url = printer_url(device)
    section = config.section("printer")
    profile = str(section.get("profile") or DEFAULT_PROFILE)
    data = render_blocks(sample_receipt(config, url), profile)
    status_timeout = float(section.get("status_timeout", 2))
    with open_printer(url, profile, timeout=timeout, usb_backend=usb_backend) as printer:
        printer.send(data)
        status = printer.status(status_timeout, ask_usb=True)
    if printer.url.scheme == "usb" and status.silent:
        status = UNKNOWN
    return PrinterTest(url, len(data), status)


def save(home: Path, role: str, device: str, *, by_id: Path | None = None) -> dict[str, Any]:
    """Write the choice to config.toml by its stable identity; returns what was saved.

    The file is read again here, not taken from the running till: two choices in a row keep both."""
    config = load_config(home)
    if check_role(role) == "printer":
        url = printer_url(device)
        write_config(home, {"printer": {"url": url}})
        return {"role": role, "printer": {"url": url}}
    spec = reader_spec(config, role, device, by_id)
    build_reader(0, spec, lambda event: None)  # not started: checks the entry as the till will read it
    readers = list(config.section("devices").get("readers") or [])
    at = next((i for i, s in enumerate(readers) if isinstance(s, dict) and entry_role(s) == role), None)
    if at is None:
        readers.append(spec)
    else:
        readers[at] = spec
    write_config(home, {"devices": {"readers": readers}})
    return {"role": role, "reader": spec}
