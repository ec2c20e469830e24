"""The head-office store both backends share: one `Db`, one repository per aggregate, one facade.

Each aggregate keeps its own tables and SQL (enrolment, members, ledger, documents, program,
reports) and push and pull tie them together; they all share one connection, its lock and its
transactions, so a push is still one transaction however many aggregates it touches. A backend
is only a `Db` (`sqlite.py`, `postgres.py`). `SqlStore` keeps the `Store` interface callers know.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from headoffice.store import schema
from headoffice.store.base import Principal, Store
from headoffice.store.db import Db, Row
from headoffice.store.docs import Documents
from headoffice.store.enrolment import CODE_VALID_DAYS, Enrolment
from headoffice.store.feed import ChangeFeed
from headoffice.store.ingest import Ingest
from headoffice.store.ledger import Ledger
from headoffice.store.members import Members
from headoffice.store.program import Program
from headoffice.store.pull import Pull
from headoffice.store.reports import Reports
from wire.protocol import PullPage, PushBatch, PushResult


class SqlStore(Store):
    """`Store` over a `Db`: creates the schema, wires the repositories, forwards each call to its owner."""

    def __init__(self, db: Db) -> None:
        self.db = db
        schema.create(db)
        feed = ChangeFeed(db)
        self._enrolment = Enrolment(db)
        self._members = Members(db, feed)
        self._ledger = Ledger(db, feed, self._members)
        self._docs = Documents(db, feed, self._members)
        self._program = Program(db, feed)
        self._reports = Reports(db)
        self._ingest = Ingest(db, self._members, self._ledger, self._docs)
        self._pull = Pull(db, feed, {
            "member": self._members.load, "card": self._members.load_cards,
            "rule": self._program.load_rules, "product": self._program.load_products,
            "till_key": self._docs.load_till_keys, "coupon_use": self._docs.load_coupon_uses,
            "erasure": self._docs.load_erasures, "offer_target": self._docs.load_offer_targets,
        })

    def _execute(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        """Raw SQL on the store's connection (tests and maintenance; nothing in head office uses it)."""
        with self.db.lock:
            return self.db.execute(sql, params)

    # --- tills and tokens -------------------------------------------------------------------
    def add_till(self, store_id: str, till_id: str, valid_days: int = CODE_VALID_DAYS) -> str:
        return self._enrolment.add_till(store_id, till_id, valid_days)

    def add_admin(self, name: str) -> str:
        return self._enrolment.add_admin(name)

    def register(self, code: str) -> tuple[str, Principal] | None:
        return self._enrolment.register(code)

    def authenticate(self, token: str) -> Principal | None:
        return self._enrolment.authenticate(token)

    def till_status(self, store_id: str, till_id: str) -> dict[str, Any] | None:
        return self._enrolment.till_status(store_id, till_id)

    # --- sync -------------------------------------------------------------------------------
    def ingest(self, principal: Principal, batch: PushBatch) -> PushResult:
        return self._ingest.ingest(principal, batch)

    def pull(self, principal: Principal, cursor: int, limit: int = 1000, with_total: bool = True) -> PullPage:
        return self._pull.pull(principal, cursor, limit, with_total)

    # --- administration ---------------------------------------------------------------------
    def block_card(self, card_number: str) -> bool:
        return self._members.block_card(card_number)

    def erase_member(self, member_id: str) -> bool:
        return self._docs.erase_member(member_id)

    def set_rule(self, key: str, value: Any) -> None:
        self._program.set_rule(key, value)

    def upsert_products(self, products: list[dict[str, Any]]) -> int:
        return self._program.upsert_products(products)

    # --- reading ----------------------------------------------------------------------------
    def balance(self, member_id: str) -> int:
        return self._ledger.balance(member_id)

    def member(self, member_id: str) -> dict[str, Any] | None:
        return self._members.member(member_id)

    def member_history(self, member_id: str) -> list[dict[str, Any]]:
        return self._ledger.history(member_id)

    def overdraft_report(self) -> list[dict[str, Any]]:
        return self._reports.overdraft_report()

    def coupon_doubles(self) -> list[dict[str, Any]]:
        return self._docs.coupon_doubles()

    def till_keys(self) -> list[dict[str, Any]]:
        return self._docs.till_keys()

    def erasures(self) -> list[dict[str, Any]]:
        return self._docs.erasures()

    def rejects(self) -> list[dict[str, Any]]:
        return self._reports.rejects()

    def counts(self) -> dict[str, int]:
        return self._reports.counts()

    def export_rows(self, table: str) -> list[dict[str, Any]]:
        return self._reports.export_rows(table)

    def close(self) -> None:
        self.db.close()
