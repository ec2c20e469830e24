"""What every till call needs: the database connection, the resolved configuration, and the
till's own extension points.

A `TillContext` is built by the composition root (`pos_client.till.open_till`), never by a module
at import time. Its `extensions` are plain lists owned by this till object: a test that builds a
`TillContext` by hand gets checkout alone; `open_till` gets the whole program (tiers, coupons,
lifecycle, receipt blocks, sync documents).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pos_client.domain.rules import ProgramRules
from pos_client.store.config import Config
from pos_client.store.program_overlay import earning_rules, rules_marker

# (ctx, sale_id, basket) inside the sale's transaction; (ctx, refund_id, sale_id) inside the refund's.
SaleObserver = Callable[["TillContext", str, Any], None]
RefundObserver = Callable[["TillContext", str, str], None]
# (ctx, sale_id) -> receipt blocks printed after the loyalty block (coupons, offers, messages).
ReceiptBlockSource = Callable[["TillContext", str], list[Any]]


@dataclass
class Extensions:
    """The till's extension points, in the order they run.

    sale_observers: run inside the sale's transaction, in order (coupon use first: a used coupon
      refuses the sale before anything else is written; then the tier upgrade and bonus; then the
      lifecycle stage offers look at).
    refund_observers: run inside the refund's transaction, before the balance is read.
    receipt_blocks: extra blocks after the loyalty block of a receipt.
    sync_docs: document type -> `sync.extensions.DocHandler` (what sync carries for other capabilities).
    """

    sale_observers: list[SaleObserver] = field(default_factory=list)
    refund_observers: list[RefundObserver] = field(default_factory=list)
    receipt_blocks: list[ReceiptBlockSource] = field(default_factory=list)
    sync_docs: dict[str, Any] = field(default_factory=dict)


@dataclass
class TillContext:
    conn: sqlite3.Connection
    config: Config
    home: Path | None = None
    operator: str | None = field(default=None)
    extensions: Extensions = field(default_factory=Extensions)
    # (rules marker, rules): rebuilt when a pull applied a rule (program_overlay), never copied by `on`
    _rules: tuple[str | None, ProgramRules] | None = field(default=None, init=False, repr=False, compare=False)
    # while `pinned()`: the program as read once (rules, tier ladder), so a sale asks nothing under the write lock
    _pinned: dict[str, Any] | None = field(default=None, init=False, repr=False, compare=False)
    # (rules marker, config, what `memo` built): kept from one pin to the next until a pull applies a rule or the
    # config is written again (`identity`, `setup`, `register` replace it)
    _program: tuple[str | None, Config, dict[str, Any]] | None = field(default=None, init=False, repr=False,
                                                                      compare=False)

    @property
    def store_id(self) -> str:
        return self.config.store_id

    @property
    def till_id(self) -> str:
        return self.config.till_id

    @property
    def rules(self) -> ProgramRules:
        """config.toml's `[program]` with what head office published over it, as of the last applied pull."""
        if self._pinned is not None and "rules" in self._pinned:
            return self._pinned["rules"]  # type: ignore[no-any-return]
        marker = rules_marker(self.conn)
        if self._rules is None or self._rules[0] != marker:
            self._rules = (marker, earning_rules(self.conn, self.config.section("program")))
        return self._rules[1]

    @contextmanager
    def pinned(self) -> Iterator[None]:
        """Read the program once for what runs inside (a sale: before its BEGIN IMMEDIATE, not under the lock).

        A pull changes rules only in its own write transaction, so a sale sees one consistent program,
        as of just before it, the one its points were computed with. Joins an outer pin."""
        if self._pinned is not None:
            yield
            return
        marker = rules_marker(self.conn)
        if self._program is None or self._program[0] != marker or self._program[1] is not self.config:
            self._program = (marker, self.config, {})
            self._rules = None
        if self._rules is None or self._rules[0] != marker:
            self._rules = (marker, earning_rules(self.conn, self.config.section("program")))
        self._pinned = self._program[2]
        self._pinned["rules"] = self._rules[1]
        try:
            yield
        finally:
            self._pinned = None

    def memo(self, key: str, build: Callable[[], Any]) -> Any:
        """`build()` once while pinned, kept for the next pins until a pull applies a rule (the tier ladder: config
        and pulled rules only; the rules marker moves in the pull's transaction), every call when not pinned."""
        if self._pinned is None:
            return build()
        if key not in self._pinned:
            self._pinned[key] = build()
        return self._pinned[key]

    def on(self, conn: sqlite3.Connection) -> TillContext:
        """The same till on another connection (a worker thread's own): same config and extensions."""
        return replace(self, conn=conn)

    def close(self) -> None:
        self.conn.close()
