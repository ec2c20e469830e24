"""Doctor's checks of what is outside the till: its readers and printer, and head office.

Each device configured in `[devices]` / `[printer]` is opened the way the app opens it (pyserial, pyscard,
the printer driver's DLE EOT status), briefly, and closed. Head office is asked by a probe the caller
passes in (the CLI gives it the sync client): services sit below sync, and the judgement here (reachable,
clock skew) needs only the answer.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import serial

from drivers.errors import DeviceError
from drivers.printer import open_configured
from pos_client.services.doctor import FAIL, OK, WARN, Check
from pos_client.store.config import Config


@dataclass(frozen=True)
class HealthReply:
    """What head office said to GET /v1/health: `error` when it could not be asked; `date` its HTTP Date."""

    ok: bool
    date: str | None = None
    error: str | None = None
    sent_at: datetime | None = None
    received_at: datetime | None = None


HealthProbe = Callable[[str, float], HealthReply]


def check_printer(config: Config) -> Check:
    """The configured printer opens and answers DLE EOT with no problem (paper, cover, offline)."""
    section = config.section("printer")
    url = str(section.get("url") or "")
    if not url:
        return Check("printer", OK, "no printer configured (receipts are not printed)")
    timeout = float(section.get("status_timeout", 2))
    try:
        with open_configured(config, timeout=min(float(section.get("timeout", 5)), 3.0)) as printer:
            status = printer.status(timeout)
    except DeviceError as exc:
        return Check("printer", FAIL, f"{url}: {exc}",
                     "switch the printer on, check its cable or network, then `pos-client printer-status`")
    if not status.known:
        return Check("printer", OK, f"{url}: opened (this connection cannot report paper or cover)")
    if status.problem:
        return Check("printer", FAIL, f"{url}: {status.problem}", "fix the printer, then `pos-client printer-status`")
    if status.warning:
        return Check("printer", WARN, f"{url}: {status.warning}", "load a new paper roll soon")
    return Check("printer", OK, f"{url}: ready")


def check_readers(config: Config) -> list[Check]:
    """Every reader in `[devices] readers` is present: the serial port opens, the PC/SC reader is listed."""
    specs = config.section("devices").get("readers") or []
    if not isinstance(specs, list):
        return [Check("readers", FAIL, "[devices] readers must be a list of tables", "see README: Devices")]
    if not specs:
        return [Check("readers", OK, "no card reader configured")]
    return [_reader(i, spec) for i, spec in enumerate(specs)]


def _reader(i: int, spec: Any) -> Check:
    if not isinstance(spec, dict):
        return Check(f"reader {i}", FAIL, "entry is not a table", 'e.g. { kind = "pcsc" }')
    kind = str(spec.get("kind", ""))
    name = f"reader {spec.get('name') or i} ({kind or '?'})"
    if kind == "serial":
        return _serial(name, str(spec.get("url") or ""), int(spec.get("baud", 9600)))
    if kind == "pcsc":
        return _pcsc(name, str(spec.get("reader") or ""))
    if kind == "evdev":
        path = Path(str(spec.get("path") or ""))
        if not path.exists():
            return Check(name, FAIL, f"{path} is missing", "plug the scanner in; check the path under /dev/input/by-id")
        if not os.access(path, os.R_OK):
            return Check(name, FAIL, f"{path} is not readable by this user", "add the till's user to group input")
        return Check(name, OK, f"{path} present")
    return Check(name, FAIL, f"unknown kind {kind!r}", "kind must be serial, pcsc or evdev")


def _serial(name: str, url: str, baud: int) -> Check:
    if not url:
        return Check(name, FAIL, "no url", "set url to the device path, e.g. /dev/serial/by-id/...")
    if "://" not in url and not Path(url).exists():
        return Check(name, FAIL, f"{url} is missing", "plug the reader in; check the path under /dev/serial/by-id")
    try:
        port = serial.serial_for_url(url, baudrate=baud, timeout=0.05)
    except (serial.SerialException, OSError, ValueError) as exc:
        return Check(name, FAIL, f"{url} does not open: {exc}", "check the cable and the user's dialout group")
    port.close()
    return Check(name, OK, f"{url} opens")


def _pcsc(name: str, wanted: str) -> Check:
    try:
        from smartcard import scard  # why: pyscard loads libpcsclite; only a till with an NFC reader needs it
    except (ImportError, OSError) as exc:
        return Check(name, FAIL, f"PC/SC unavailable: {exc}", "install pcscd and libpcsclite1")
    hr, ctx = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
    if hr != scard.SCARD_S_SUCCESS:
        return Check(name, FAIL, "the PC/SC service (pcscd) is not answering", "start it: systemctl start pcscd")
    try:
        hr, names = scard.SCardListReaders(ctx, [])
    finally:
        scard.SCardReleaseContext(ctx)
    found = [n for n in (names or []) if wanted.lower() in n.lower()] if hr == scard.SCARD_S_SUCCESS else []
    if not found:
        return Check(name, FAIL, f"no PC/SC reader{f' matching {wanted!r}' if wanted else ''} is connected",
                     "plug the NFC reader in (`pcsc_scan` lists what pcscd sees)")
    return Check(name, OK, f"listed: {found[0]}")


def check_headoffice(config: Config, probe: HealthProbe, lim: dict[str, float]) -> list[Check]:
    """Head office answers /v1/health, and the till's clock agrees with its Date header."""
    url = str(config.section("headoffice").get("url") or "")
    if not url:
        return [Check("head office", WARN, "not registered: sales stay on this till",
                      "`pos-client register URL CODE` with a code from head office")]
    reply = probe(url, lim["headoffice_timeout_s"])
    if reply.error or not reply.ok:
        return [Check("head office", FAIL, f"{url}: {reply.error or 'not healthy'}",
                      "check the network; sales keep being recorded and are sent once it is back")]
    checks = [Check("head office", OK, f"{url}: reachable")]
    checks.append(_skew(reply, lim))
    return checks


def _skew(reply: HealthReply, lim: dict[str, float]) -> Check:
    if not reply.date or reply.sent_at is None or reply.received_at is None:
        return Check("clock", WARN, "head office sent no Date header: clock not compared", "")
    try:
        theirs = parsedate_to_datetime(reply.date)
    except (TypeError, ValueError):
        return Check("clock", WARN, f"head office's Date header does not parse: {reply.date!r}", "")
    ours = reply.sent_at + (reply.received_at - reply.sent_at) / 2
    skew = (ours - theirs).total_seconds()
    if abs(skew) <= 2.5:  # the Date header counts whole seconds, and servers refresh it once a second
        skew = 0.0
    detail = f"till clock {abs(skew):.0f} s {'ahead of' if skew > 0 else 'behind'} head office" if skew else \
        "till clock agrees with head office"
    fix = "turn on time sync (timedatectl set-ntp true): points expiry and reports follow the date"
    if abs(skew) > lim["clock_fail_s"]:
        return Check("clock", FAIL, detail, fix)
    if abs(skew) > lim["clock_warn_s"]:
        return Check("clock", WARN, detail, fix)
    return Check("clock", OK, detail)
