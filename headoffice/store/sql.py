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
from headoffice.store.approval_apply import Decisions
from headoffice.store.approvals import Approvals
from headoffice.store.base import DirectorySink, Principal, Store
from headoffice.store.console import ConsoleRecords
from headoffice.store.db import Db, Row
from headoffice.store.directory import Directory
from headoffice.store.docs import Documents
from headoffice.store.enrolment import CODE_VALID_DAYS, Enrolment
from headoffice.store.feed import ChangeFeed
from headoffice.store.ingest import Ingest
from headoffice.store.ledger import Ledger
from headoffice.store.members import Members
from headoffice.store.program import Program
from headoffice.store.pull import Pull
from headoffice.store.recover import Recover
from headoffice.store.reports import Reports
from headoffice.store.snapshot import Snapshot
from headoffice.store.till_reads import TillReads
from headoffice.store.view import Follows
from wire.batches import RecoverPage
from wire.protocol import PullPage, PushBatch, PushResult
from wire.snapshot import PART, SnapshotPart
from wire.view import Followed, View


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
        self._console = ConsoleRecords(db)
        self._approvals = Approvals(db, self._console)
        self._ingest = Ingest(db, self._members, self._ledger, self._docs, self._approvals)
        self._recover = Recover(db)
        self._pull = Pull(db, feed, {
            "member": self._members.load, "card": self._members.load_cards,
            "balance": self._ledger.load_balances, "rule": self._program.load_rules,
            "product": self._program.load_products,
            "till_key": self._docs.load_till_keys, "coupon_use": self._docs.load_coupon_uses,
            "erasure": self._docs.load_erasures, "offer_target": self._docs.load_offer_targets,
        }, record=self._program.record_pull)
        self._snapshot = Snapshot(db, feed)
        self._follows = Follows(db, feed)
        self._directory = Directory(db, feed, self._members, self._ledger)
        self._decisions = Decisions(db, self._approvals, feed, self._members, self._ledger, self._docs,
                                    self._directory)
        self._till_reads = TillReads(db)
        self._directory.create_indexes()

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

    def pull(self, principal: Principal, cursor: int, limit: int = 1000, with_total: bool = True,
             floor: int = 0, view: View = "all") -> PullPage:
        return self._pull.pull(principal, cursor, limit, with_total, floor, view)

    def follow(self, principal: Principal, member_ids: list[str], history: bool = True) -> Followed:
        return self._follows.follow(principal, member_ids, history)

    def snapshot(self, principal: Principal, after: str, top: int, limit: int = PART) -> SnapshotPart:
        return self._snapshot.part(principal, after, top, limit)

    def directory(self, put: DirectorySink, chunk: int = 20_000) -> int:
        return self._snapshot.directory(put, chunk)

    def feed_top(self) -> int:
        return self._snapshot.feed_top()

    def has_entries(self, principal: Principal) -> bool:
        return self._snapshot.has_entries(principal)

    def recover(self, principal: Principal, after_seq: int, sales_after: str = "", sales_after_id: str = "",
                limit: int = 1000) -> RecoverPage:
        return self._recover.recover(principal, after_seq, sales_after, sales_after_id, limit)

    # --- administration ---------------------------------------------------------------------
    def block_card(self, card_number: str) -> bool:
        return self._members.block_card(card_number)

    def erase_member(self, member_id: str) -> bool:
        return self._docs.erase_member(member_id)

    def set_rule(self, key: str, value: Any, *, by: str = "headoffice", reason: str = "") -> int:
        return self._program.set_rule(key, value, by=by, reason=reason)

    def upsert_products(self, products: list[dict[str, Any]]) -> int:
        return self._program.upsert_products(products)

    # --- the console (headoffice/store/directory.py, program.py) --------------------------------
    def search_members(self, query: str, store_id: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        return self._directory.search(query, store_id, limit)

    def member_page(self, member_id: str) -> dict[str, Any] | None:
        return self._directory.member_page(member_id)

    def member_store(self, member_id: str) -> str | None:
        return self._directory.member_store(member_id)

    def card_owner(self, card_number: str) -> tuple[str, str] | None:
        return self._directory.card_owner(card_number)

    def adjust_points(self, member_id: str, points: int, reason: str, operator: str) -> dict[str, Any]:
        return self._directory.adjust(member_id, points, reason, operator)

    def block_member_card(self, card_number: str) -> str:
        return self._directory.block_card(card_number)

    def replace_card(self, old: str, new: str) -> str:
        return self._directory.replace_card(old, new)

    def merge_members(self, loser: str, winner: str) -> None:
        self._directory.merge(loser, winner)

    def console_setting(self, name: str) -> int:
        return self._directory.setting(name)

    def set_console_setting(self, name: str, value: int) -> None:
        self._directory.set_setting(name, value)

    def rules(self) -> dict[str, Any]:
        return self._program.rules()

    def rule_versions(self) -> dict[str, Any]:
        return self._program.rule_versions()

    def program_history(self, limit: int = 50) -> list[dict[str, Any]]:
        return self._program.history(limit)

    @property
    def console(self) -> ConsoleRecords:
        return self._console

    # --- approvals and till reads (approvals.py, approval_apply.py, till_reads.py) -------------
    @property
    def approvals(self) -> Approvals:
        return self._approvals

    def decide_request(self, request_id: str, approve: bool, user_name: str, reason: str) -> dict[str, Any]:
        return self._decisions.decide(request_id, approve, user_name, reason)

    def till_read_allowed(self, principal: Principal) -> bool:
        limit = self._approvals.setting("lookup_limit.per_minute")
        return self._till_reads.allow(principal.store_id, principal.till_id, limit)

    def lookup_member(self, card: str | None, phone: str | None) -> dict[str, Any] | None:
        return self._till_reads.lookup(card, phone)

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
