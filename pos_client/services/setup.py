"""What `pos-client setup` writes: the answers of a new till, checked before anything touches the disk.

A roll-out script and a person at the prompts give the same answers (store, till, currency, head office,
printer, readers); each answer is checked here by the same parsers the till uses when it runs (the
printer URL by `drivers.printer`, reader entries by `drivers.readers`), so a till that setup accepted
starts, and a typo is refused at the prompt instead of at the first sale.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from drivers.errors import DeviceConfigError
from drivers.printer import check_profile, parse_url
from drivers.readers import build_reader
from pos_client.domain.errors import UsageError

ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$")
CURRENCY_RE = re.compile(r"^[A-Z]{3}$")
READER_KINDS = ("pcsc", "magstripe", "barcode", "evdev")
READER_HELP = ("pcsc[:READER NAME] | magstripe:PORT | barcode:PORT | evdev:/dev/input/by-id/...-event-kbd"
               " (PORT: /dev/ttyUSB0, /dev/serial/by-id/..., socket://HOST:PORT)")


@dataclass(frozen=True)
class SetupAnswers:
    """Everything setup asks; None for what was not given (left as the till already has it)."""

    store_id: str
    till_id: str
    store_name: str | None = None
    currency: str | None = None
    headoffice_url: str | None = None
    code: str | None = None
    printer_url: str | None = None
    printer_profile: str | None = None
    readers: tuple[dict[str, Any], ...] | None = None


def check_id(text: str, what: str) -> str:
    """A store or till id: letters, digits, `_ . -`, at most 32, as it is printed and sent to head office."""
    value = text.strip()
    if not ID_RE.match(value):
        raise UsageError(f"{what} must be 1-32 letters, digits, '_', '.' or '-' (starting with a letter or digit),"
                         f" got {text!r}")
    return value


def check_currency(text: str) -> str:
    """An ISO 4217 code (EUR, GBP, USD): what receipts and reports name the money in."""
    value = text.strip().upper()
    if not CURRENCY_RE.match(value):
        raise UsageError(f"currency must be a 3-letter ISO code such as EUR, got {text!r}")
    return value


def check_headoffice_url(text: str) -> str:
    """http(s)://host[:port]: the address `pos-client register` and the sync worker call."""
    value = text.strip().rstrip("/")
    parts = urlsplit(value)
    try:
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise UsageError(f"not a head-office address: {text!r} (bad port)") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"not a head-office address: {text!r} (expected http://HOST:PORT or https://HOST)")
    return value


def check_code(text: str) -> str:
    """The one-time enrolment code `headoffice till add` printed (no spaces inside)."""
    value = text.strip()
    if not value or any(c.isspace() for c in value):
        raise UsageError(f"the enrolment code is one word, as `headoffice till add` printed it, got {text!r}")
    return value


def check_printer(url: str, profile: str | None = None) -> tuple[str, str]:
    """A printer URL and escpos profile the till can open (tcp://, serial://, usb://, file://)."""
    try:
        parse_url(url)
        return url.strip(), check_profile(profile)
    except DeviceConfigError as exc:
        raise UsageError(str(exc)) from None


def parse_reader(text: str) -> dict[str, Any]:
    """One `--reader` value as its `[devices] readers` entry, checked by the builder the till starts it with."""
    kind, _, where = text.strip().partition(":")
    kind = kind.strip().lower()
    where = where.strip()
    if kind == "pcsc":
        spec: dict[str, Any] = {"kind": "pcsc", "name": "nfc"}
        if where:
            spec["reader"] = where
    elif kind in ("magstripe", "barcode") and where:
        spec = {"kind": "serial", "url": where, "role": kind, "name": kind}
    elif kind == "evdev" and where:
        spec = {"kind": "evdev", "path": where, "role": "barcode", "name": "scanner"}
    else:
        raise UsageError(f"not a reader: {text!r}; expected {READER_HELP}")
    try:
        build_reader(0, spec, _discard)
    except DeviceConfigError as exc:
        raise UsageError(f"reader {text!r}: {exc}") from None
    return spec


def check_readers(values: list[str]) -> tuple[dict[str, Any], ...]:
    """All readers; two of the same kind get numbered names so the status bar tells them apart."""
    specs = [parse_reader(v) for v in values if v.strip()]
    seen: dict[str, int] = {}
    for spec in specs:
        name = str(spec.get("name") or "nfc")
        seen[name] = seen.get(name, 0) + 1
        if seen[name] > 1:
            spec["name"] = f"{name}{seen[name]}"
    return tuple(specs)


def config_updates(answers: SetupAnswers) -> dict[str, Any]:
    """The config.toml sections the answers set (the identity is written by `set_identity`)."""
    updates: dict[str, Any] = {}
    if answers.currency:
        updates["currency"] = answers.currency
    if answers.printer_url:
        updates["printer"] = {"url": answers.printer_url, "profile": answers.printer_profile or check_profile(None)}
    if answers.readers is not None:
        updates["devices"] = {"readers": [dict(r) for r in answers.readers]}
    return updates


def _discard(event: object) -> None:
    """The reader built only to check its entry is never started: it has no event to deliver."""
