"""The program's card formats at this till: the allow-list every stored card number must match.

Why a module: enrolment, a card replacement, the importer and the sync pull all store card numbers, and
all must refuse the same numbers with the same words. The formats are the till's `[program]` settings
(`loyalty_prefixes`, `card_ranges`, `code128_prefixes`, `nfc_cards`, which also route scans); when head office
publishes its `card_formats` rule, that rule wins, so every till of the chain and head office agree.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from cardread.allowlist import CardFormats, NotProgramCard
from cardread.read import CardRead
from pos_client.domain.cards import card_number
from pos_client.domain.errors import RefusedInput, UsageError
from pos_client.store import sync_state
from pos_client.store.context import TillContext

RULE_KEY = "card_formats"


def card_formats(ctx: TillContext, published: Any = None) -> CardFormats:
    """Head office's published formats (`published`: a rule arriving in the page being applied, else the one
    pulled before) over `[program]`; a bad setting is a UsageError."""
    section = dict(ctx.config.section("program"))
    if published is None:
        try:
            published = sync_state.pulled_rule(ctx.conn, RULE_KEY)
        except sqlite3.OperationalError:  # a hand-built test context without the sync tables
            published = None
    if isinstance(published, dict):
        section.update({k: v for k, v in published.items() if v is not None})
    try:
        return CardFormats.from_mapping(section)
    except ValueError as exc:
        raise UsageError(f"program.{exc}") from None


def storable_number(ctx: TillContext, read: CardRead) -> str:
    """The read's card number if the program may store it; else RefusedInput (exit 3) naming the formats."""
    number = card_number(read)
    try:
        return card_formats(ctx).check(number)
    except NotProgramCard as exc:
        raise RefusedInput(str(exc)) from None
