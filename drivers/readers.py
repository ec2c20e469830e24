"""Build the configured card readers (config.toml `[devices] readers = [...]`) as reader threads.

    [devices]
    readers = [
      { kind = "serial", url = "/dev/serial/by-id/usb-MagTek-if00", role = "magstripe", baud = 9600 },
      { kind = "serial", url = "socket://10.0.0.12:4001", role = "barcode", terminator = "\\r\\n" },
      { kind = "pcsc", reader = "ACR122" },
      { kind = "evdev", path = "/dev/input/by-id/usb-Honeywell-event-kbd", role = "barcode" },
    ]

`terminator` defaults to "\\r" and `baud` to 9600. An `evdev` entry reads a keyboard-wedge scanner as its
own input device (`drivers.evdev_reader`), grabbed (`grab = false` to share it) so its scans never reach
the terminal as typing. Each entry may also have a `name`, used as the events' `source` (the status bar's
label). The app and `pos-client devices watch` both start readers from here,
so a config that works in one works in the other.

Each kind's module is named in `READER_CLASSES` and imported when a reader of that kind is built: a till
loads the one or two drivers it has (pyserial, pyscard, python-evdev, tenacity), not every one, before its
first screen (bench `cold_start`). The entries are checked here, before any driver is imported.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import Any, Protocol, cast

from cardread.router import DEFAULT_LOYALTY_PREFIXES
from drivers.errors import DeviceConfigError
from drivers.events import READER_ROLES as ROLES
from drivers.events import EventSink

# kind -> (module, class), imported by `reader_class` when a reader of that kind is built (the docstring)
READER_CLASSES: Mapping[str, tuple[str, str]] = MappingProxyType({
    "serial": ("drivers.serial_reader", "SerialReader"),
    "pcsc": ("drivers.pcsc_reader", "PcscReader"),
    "evdev": ("drivers.evdev_reader", "EvdevReader"),
})
KINDS = tuple(READER_CLASSES)
SERIAL_KEYS = {"kind", "url", "role", "baud", "terminator", "name", "max_frame"}
PCSC_KEYS = {"kind", "reader", "name"}
EVDEV_KEYS = {"kind", "path", "role", "name", "grab", "max_frame"}


class Reader(Protocol):
    """What the app holds on to: a thread it can start, stop and name in the status bar."""

    source: str

    def start(self) -> None: ...

    def stop(self, timeout: float = ...) -> None: ...

    def is_alive(self) -> bool: ...


def reader_class(kind: str) -> Callable[..., Reader]:
    """The reader class of a kind in `READER_CLASSES`, its module imported now (once: Python keeps it)."""
    module, name = READER_CLASSES[kind]
    return cast("Callable[..., Reader]", getattr(importlib.import_module(module), name))


def _check(i: int, spec: dict[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(spec) - allowed)
    if unknown:
        raise DeviceConfigError(f"devices.readers[{i}]: unknown setting(s) {', '.join(unknown)}")


def build_reader(
    i: int, spec: dict[str, Any], on_event: EventSink, loyalty_prefixes: Sequence[str] = DEFAULT_LOYALTY_PREFIXES
) -> Reader:
    """One reader from one config entry; a clear DeviceConfigError for a bad entry."""
    if not isinstance(spec, dict):
        raise DeviceConfigError(f"devices.readers[{i}] must be a table, e.g. {{ kind = \"pcsc\" }}")
    kind = spec.get("kind")
    if kind == "serial":
        _check(i, spec, SERIAL_KEYS)
        if not spec.get("url"):
            raise DeviceConfigError(f"devices.readers[{i}]: a serial reader needs a url (e.g. /dev/ttyUSB0)")
        role = spec.get("role", "magstripe")
        if role not in ROLES:
            raise DeviceConfigError(f"devices.readers[{i}]: role must be one of {', '.join(ROLES)}, not {role!r}")
        try:
            baud = int(spec.get("baud", 9600))
        except (TypeError, ValueError):
            raise DeviceConfigError(f"devices.readers[{i}]: baud must be a number") from None
        return reader_class("serial")(
            str(spec["url"]),
            on_event,
            role=role,
            name=spec.get("name"),
            baud=baud,
            terminator=spec.get("terminator", "\r"),
            max_frame=int(spec.get("max_frame", 512)),
            loyalty_prefixes=loyalty_prefixes,
        )
    if kind == "evdev":
        return _evdev_reader(i, spec, on_event, loyalty_prefixes)
    if kind == "pcsc":
        _check(i, spec, PCSC_KEYS)
        return reader_class("pcsc")(
            on_event, reader=str(spec.get("reader", "")), name=str(spec.get("name") or "nfc"),
            loyalty_prefixes=loyalty_prefixes,
        )
    raise DeviceConfigError(f"devices.readers[{i}]: kind must be one of {', '.join(KINDS)}, not {kind!r}")


def _evdev_reader(i: int, spec: dict[str, Any], on_event: EventSink, loyalty_prefixes: Sequence[str]) -> Reader:
    _check(i, spec, EVDEV_KEYS)
    if not spec.get("path"):
        raise DeviceConfigError(f"devices.readers[{i}]: an evdev reader needs a path"
                                " (e.g. /dev/input/by-id/usb-...-event-kbd)")
    role = spec.get("role", "barcode")
    if role not in ROLES:
        raise DeviceConfigError(f"devices.readers[{i}]: role must be one of {', '.join(ROLES)}, not {role!r}")
    grab = spec.get("grab", True)
    if not isinstance(grab, bool):
        raise DeviceConfigError(f"devices.readers[{i}]: grab must be true or false")
    return reader_class("evdev")(str(spec["path"]), on_event, role=role, name=spec.get("name"), grab=grab,
                       max_frame=int(spec.get("max_frame", 512)), loyalty_prefixes=loyalty_prefixes)


def build_readers(
    devices: dict[str, Any], on_event: EventSink, loyalty_prefixes: Sequence[str] = DEFAULT_LOYALTY_PREFIXES
) -> list[Reader]:
    """All readers of a `[devices]` section, not started. Sources are made unique."""
    specs = devices.get("readers") or []
    if not isinstance(specs, list):
        raise DeviceConfigError("devices.readers must be a list of tables")
    readers = [build_reader(i, spec, on_event, loyalty_prefixes) for i, spec in enumerate(specs)]
    names = [r.source for r in readers]
    if len(set(names)) != len(names):
        raise DeviceConfigError("devices.readers: two readers share a name; give each a distinct `name`")
    return readers


def start_all(readers: Iterable[Reader]) -> None:
    for reader in readers:
        reader.start()


def stop_all(readers: Iterable[Reader], timeout: float = 2.0) -> None:
    for reader in readers:
        reader.stop(timeout)
