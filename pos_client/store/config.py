"""The till's config.toml, layered over embedded defaults so a fresh till needs no file at all.

The file is plain data (store, till, devices, printer, program rules, head office); other
modules read their own section from `Config.raw` so adding a capability never edits this file.
"""

from __future__ import annotations

import copy
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomli_w

from pos_client.domain.errors import UsageError
from pos_client.domain.money import DECIMAL_SEPARATORS
from pos_client.store.home import config_path

DEFAULTS: dict[str, Any] = {
    "store_id": "S1",
    "till_id": "T1",
    "store_name": "Corner Store",
    "currency": "EUR",
    "country_code": "33",
    # How the till reads and shows money, and what it is paid with (the CLI's --tender, the app's F4).
    "till": {"decimal_separator": ".", "tenders": ["cash", "card"]},
    "program": {
        "points_per_unit": 1,
        "unit_cents": 100,
        "category_multipliers": {},
        "excluded_categories": ["prescription", "gift_card", "tobacco"],
        "welcome_bonus": 0,
        "loyalty_prefixes": ["29"],
        "promotions": [],
    },
    "devices": {"readers": []},
    "printer": {"url": "", "profile": "TM-T88V"},
    "headoffice": {"url": ""},
}


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


@dataclass(frozen=True)
class Config:
    """Resolved configuration; `raw` holds every section, defaults included."""

    raw: dict[str, Any] = field(default_factory=lambda: copy.deepcopy(DEFAULTS))

    @property
    def store_id(self) -> str:
        return str(self.raw["store_id"])

    @property
    def till_id(self) -> str:
        return str(self.raw["till_id"])

    @property
    def currency(self) -> str:
        return str(self.raw.get("currency", "EUR"))

    @property
    def decimal_separator(self) -> str:
        """"." or "," (`[till] decimal_separator`): the one amounts are keyed and shown with."""
        sep = str(self.section("till").get("decimal_separator", "."))
        if sep not in DECIMAL_SEPARATORS:
            raise UsageError(f"[till] decimal_separator must be \".\" or \",\" in config.toml, not {sep!r}")
        return sep

    @property
    def tenders(self) -> tuple[str, ...]:
        """What this till is paid with (`[till] tenders`), in the order the app's F4 cycles through them."""
        tenders = self.section("till").get("tenders") or ["cash"]
        if isinstance(tenders, str) or not all(isinstance(t, str) and t.strip() for t in tenders):
            raise UsageError('[till] tenders must be a list of names in config.toml, e.g. ["cash", "card"]')
        return tuple(t.strip() for t in tenders)

    def section(self, name: str) -> dict[str, Any]:
        return dict(self.raw.get(name) or {})


def load_config(home: Path) -> Config:
    """Read config.toml when present; otherwise the embedded defaults."""
    path = config_path(home)
    data: dict[str, Any] = {}
    if path.exists():
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    return Config(_merge(DEFAULTS, data))


def from_mapping(data: dict[str, Any]) -> Config:
    """Build a config from a mapping (tests, the demo) on top of the defaults."""
    return Config(_merge(DEFAULTS, data))


def write_config(home: Path, updates: dict[str, Any]) -> Config:
    """Merge `updates` into config.toml (keeping what the store already set) and return it."""
    path = config_path(home)
    current: dict[str, Any] = {}
    if path.exists():
        with path.open("rb") as fh:
            current = tomllib.load(fh)
    merged = _merge(current, updates)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # the config may name head office's URL
    with os.fdopen(fd, "wb") as fh:
        fh.write(tomli_w.dumps(merged).encode())
    tmp.replace(path)
    return Config(_merge(DEFAULTS, merged))
