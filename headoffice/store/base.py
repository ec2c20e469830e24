"""The storage interface head office needs, small enough that a second backend is an afternoon's work.

Every backend is checked by the same contract test suite (tests/sync/test_ho_store_contract.py). The
one implementation, `sql.SqlStore`, forwards each method to the repository of its aggregate.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from headoffice.store.approvals import Approvals
from headoffice.store.console import ConsoleRecords
from wire.batches import RecoverPage
from wire.protocol import PullPage, PushBatch, PushResult
from wire.snapshot import PART, SnapshotPart
from wire.view import Followed, View

DirectorySink = Callable[[str, list[tuple[Any, ...]]], None]  # (table, rows) of a directory read


class Forbidden(PermissionError):
    """A till wrote for a store or till that is not its own."""


@dataclass(frozen=True)
class Principal:
    """Who a bearer token belongs to: a till (store_id, till_id) or an administrator."""

    store_id: str
    till_id: str
    role: str = "till"


class Store(ABC):
    """Head office's data: tills and their tokens, members, cards, sales, the ledger, the change feed."""

    # --- tills and tokens -------------------------------------------------------------
    @abstractmethod
    def add_till(self, store_id: str, till_id: str, valid_days: int = 7) -> str:
        """Create (or re-enrol) a till and return its one-time enrolment code, valid `valid_days` days."""

    @abstractmethod
    def add_admin(self, name: str) -> str:
        """Create an administrator token (reports, blocking cards) and return it once."""

    @abstractmethod
    def register(self, code: str) -> tuple[str, Principal] | None:
        """Exchange an enrolment code for a bearer token; None when the code is unknown or used."""

    @abstractmethod
    def authenticate(self, token: str) -> Principal | None: ...

    # --- sync -------------------------------------------------------------------------
    @abstractmethod
    def ingest(self, principal: Principal, batch: PushBatch) -> PushResult:
        """Take a till's batch in one transaction: idempotent, gap-aware, malformed records quarantined."""

    @abstractmethod
    def pull(self, principal: Principal, cursor: int, limit: int = 1000, with_total: bool = True,
             floor: int = 0, view: View = "all") -> PullPage:
        """Changes after `cursor` that this till did not write itself, in receive order.

        `with_total` also counts everything pending (for a progress bar; asked on a pull's first page only);
        `floor` leaves out the entries and member/card changes a snapshot at that position gave the till;
        `view` (wire/view.py): `seen`/`store` sends balances and only the entries of members the till sees.
        """

    @abstractmethod
    def follow(self, principal: Principal, member_ids: list[str], history: bool = True) -> Followed:
        """The till follows these members (`view=seen` pulls carry their entries); with their history so far."""

    @abstractmethod
    def snapshot(self, principal: Principal, after: str, top: int, limit: int = PART) -> SnapshotPart:
        """A first pull's part: members after `after`, their cards and opening balances as of `top` (0: now)."""

    @abstractmethod
    def directory(self, put: DirectorySink, chunk: int = 20_000) -> int:
        """The whole directory in one consistent read, for a directory file (headoffice/directory_file.py):
        `put("members", rows)` (with each member's balance) then `put("cards", rows)`, in key order, `chunk`
        rows at a time; returns the feed position the read stands at (the file's floor)."""

    @abstractmethod
    def feed_top(self) -> int:
        """The last server_seq handed out (how far a directory file's floor is behind)."""

    @abstractmethod
    def has_entries(self, principal: Principal) -> bool:
        """Head office holds ledger entries of this till (its first pull then takes the parts, not the file)."""

    @abstractmethod
    def recover(self, principal: Principal, after_seq: int, sales_after: str = "", sales_after_id: str = "",
                limit: int = 1000) -> RecoverPage:
        """A restored till's own entries above `after_seq` and own sales after (sales_after, sales_after_id)."""

    # --- administration ----------------------------------------------------------------
    @abstractmethod
    def block_card(self, card_number: str) -> bool: ...

    @abstractmethod
    def erase_member(self, member_id: str) -> bool: ...

    @abstractmethod
    def set_rule(self, key: str, value: Any, *, by: str = "headoffice", reason: str = "") -> int:
        """Publish a rule: a new program version (returned), stamped on the rule tills pull."""

    @abstractmethod
    def upsert_products(self, products: list[dict[str, Any]]) -> int: ...

    # --- the console: members and program (headoffice/store/directory.py, program.py) ----------
    @abstractmethod
    def search_members(self, query: str, store_id: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        """Members by phone, exact card number or name prefix (indexed; at most `limit`; one store if given)."""

    @abstractmethod
    def member_page(self, member_id: str) -> dict[str, Any] | None:
        """Details, consents, cards, balance, newest ledger entries and purchases (None when unknown)."""

    @abstractmethod
    def member_store(self, member_id: str) -> str | None: ...

    @abstractmethod
    def card_owner(self, card_number: str) -> tuple[str, str] | None:
        """(member_id, store_id) of a card's member."""

    @abstractmethod
    def adjust_points(self, member_id: str, points: int, reason: str, operator: str) -> dict[str, Any]:
        """A head-office ledger entry (till "HO") that tills pull; raises ActionRefused with the reason."""

    @abstractmethod
    def block_member_card(self, card_number: str) -> str:
        """Block a card; returns its member (ActionRefused when unknown)."""

    @abstractmethod
    def replace_card(self, old: str, new: str) -> str:
        """Block `old`, give its member `new`; returns the member."""

    @abstractmethod
    def merge_members(self, loser: str, winner: str) -> None:
        """Fold one member into another (cards, balance by transfer entries), in one transaction."""

    @abstractmethod
    def console_setting(self, name: str) -> int:
        """An integer console setting (e.g. "adjust_limit.manager"), or its default."""

    @abstractmethod
    def set_console_setting(self, name: str, value: int) -> None: ...

    @abstractmethod
    def rules(self) -> dict[str, Any]:
        """Every program rule head office sets, by key."""

    @abstractmethod
    def rule_versions(self) -> dict[str, Any]:
        """The program's feed position and, per till, whether it has pulled past it."""

    @abstractmethod
    def program_history(self, limit: int = 50) -> list[dict[str, Any]]:
        """The program's versions, newest first: which rule, its value, who published it, when and why."""

    # --- the console's own records (headoffice/store/console.py) -----------------------------
    @property
    @abstractmethod
    def console(self) -> ConsoleRecords:
        """Console users, sessions, login throttling, audit, till reports and counters (both backends)."""

    # --- what a till may do alone, and what it must ask for (headoffice/store/approvals.py) -------
    @property
    @abstractmethod
    def approvals(self) -> Approvals:
        """Approval requests from tills and the approval settings (policy, till limits)."""

    @abstractmethod
    def decide_request(self, request_id: str, approve: bool, user_name: str, reason: str) -> dict[str, Any]:
        """Approve (and apply) or deny a pending request; joins the caller's transaction (its audit record)."""

    @abstractmethod
    def till_read_allowed(self, principal: Principal) -> bool:
        """Count one member read by a till; False above `lookup_limit.per_minute`."""

    @abstractmethod
    def lookup_member(self, card: str | None, phone: str | None) -> dict[str, Any] | None:
        """The member of an exact card number or phone, with what a till needs (id, status, balance)."""

    # --- reading --------------------------------------------------------------------------
    @abstractmethod
    def balance(self, member_id: str) -> int:
        """The member's balance (following merges to the surviving member)."""

    @abstractmethod
    def member(self, member_id: str) -> dict[str, Any] | None: ...

    @abstractmethod
    def member_history(self, member_id: str) -> list[dict[str, Any]]:
        """Ledger entries of the member and of every member merged into it."""

    @abstractmethod
    def overdraft_report(self) -> list[dict[str, Any]]:
        """Members whose head-office balance went negative, with the redemptions that did it."""

    @abstractmethod
    def coupon_doubles(self) -> list[dict[str, Any]]:
        """Coupon codes used more than once (two stores offline at once), with every use."""

    @abstractmethod
    def till_keys(self) -> list[dict[str, Any]]:
        """The coupon-signing public keys tills pushed (first key per till wins)."""

    @abstractmethod
    def erasures(self) -> list[dict[str, Any]]:
        """Erasure requests, from tills and from head office itself."""

    @abstractmethod
    def rejects(self) -> list[dict[str, Any]]:
        """Quarantined malformed records with their reasons."""

    @abstractmethod
    def counts(self) -> dict[str, int]: ...

    @abstractmethod
    def export_rows(self, table: str) -> list[dict[str, Any]]:
        """All rows of members, cards, sales, ledger, rules, coupon_uses, offer_targets or tier_changes (the
        marketing reports' snapshot)."""

    @abstractmethod
    def close(self) -> None: ...
