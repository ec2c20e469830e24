"""Documents tills push for other capabilities: coupon-signing till keys, coupon uses, erasure requests,
offer targetings, tier changes.

Documents are immutable and idempotent by key; a till key is first-wins per (store, till). An
erasure taken at head office is recorded as the same document a till pushes, so every till ends
in the same state whichever side took the request. Offer targetings (key "offer_id/sale_id") are
what head office's offer-lift report reads, and every till pulls them (chain-wide caps and groups). Tier
changes (key "store/till/row/created_at") are what its tier-migration report reads; no till pulls them.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from typing import Any

from headoffice.store.approvals import Gate
from headoffice.store.db import Db, marks, now_iso
from headoffice.store.feed import ChangeFeed
from headoffice.store.members import Members
from headoffice.store.schema import HO_STORE, HO_TILL
from wire.protocol import DOC_FIELDS, DocRecord, Reject

_TABLES = {"coupon_use": ("coupon_uses", "use_id"), "erasure": ("erasures", "erasure_id")}


class Documents:
    """The `till_keys`, `coupon_uses`, `erasures`, `offer_targets` and `tier_changes` tables."""

    def __init__(self, db: Db, feed: ChangeFeed, members: Members) -> None:
        self._db = db
        self._feed = feed
        self._members = members

    # --- push (inside the push's write) ----------------------------------------------------------
    def ingest(self, docs: Sequence[DocRecord], now: str, gate: Gate | None = None) -> tuple[int, list[Reject]]:
        """Take new documents; a second, different key for the same till is refused. With a `gate` (a till's
        push), an erasure waits for approval unless the policy approves erasures (approvals.py)."""
        db = self._db
        taken = 0
        rejects: list[Reject] = []
        for i, d in enumerate(docs):
            data = d.data
            if d.type == "till_key":
                row = db.one("SELECT public_key FROM till_keys WHERE store_id = ? AND till_id = ?",
                             (data["store_id"], data["till_id"]))
                if row is not None:
                    if row[0] != data["public_key"]:
                        rejects.append(Reject(type="docs", index=i, key=d.key, reasons=[
                            f"till_key: head office already holds another key for {d.key}; a till cannot sign in"
                            " another till's name (re-enrol the till to change its key)"], raw=d.to_dict()))
                    continue
                db.execute("INSERT INTO till_keys (store_id, till_id, public_key, received_at) VALUES (?,?,?,?)",
                           (data["store_id"], data["till_id"], data["public_key"], now))
            elif d.type == "coupon_use":
                row = db.one(
                    "INSERT INTO coupon_uses (use_id, code, store_id, till_id, sale_id, used_at, received_at)"
                    " VALUES (?,?,?,?,?,?,?) ON CONFLICT DO NOTHING RETURNING use_id",
                    (*(data[f] for f in DOC_FIELDS["coupon_use"]), now))
                if row is None:
                    continue
            elif d.type == "erasure":
                known = db.one("SELECT 1 FROM erasures WHERE erasure_id = ?", (data["erasure_id"],))
                if gate is not None and known is None and gate.hold("erase", d.key, data["member_id"],
                                                  self._members.home_store(data["member_id"]), dict(data),
                                                  f"erasure taken at till {gate.store_id}/{gate.till_id}"):
                    continue
                row = db.one(
                    "INSERT INTO erasures (erasure_id, member_id, store_id, till_id, at, received_at)"
                    " VALUES (?,?,?,?,?,?) ON CONFLICT DO NOTHING RETURNING erasure_id",
                    (*(data[f] for f in DOC_FIELDS["erasure"]), now))
                if row is None:
                    continue
                self._members.anonymise(data["member_id"], now)
            elif d.type == "tier_change":
                fields = DOC_FIELDS["tier_change"]
                row = db.one(
                    f"INSERT INTO tier_changes (change_key, {', '.join(fields)}, received_at)"
                    f" VALUES ({marks(len(fields) + 2)}) ON CONFLICT DO NOTHING RETURNING change_key",
                    (d.key, *(data[f] for f in fields), now))
                if row is not None:
                    taken += 1
                continue  # kept for head office's reports only: tills never pull them, so no feed row
            elif d.type == "offer_target":
                fields = DOC_FIELDS["offer_target"]
                row = db.one(
                    f"INSERT INTO offer_targets ({', '.join(fields)}, received_at) VALUES ({marks(len(fields) + 1)})"
                    " ON CONFLICT DO NOTHING RETURNING offer_id", (*(data[f] for f in fields), now))
                if row is None:
                    continue
            else:  # pragma: no cover - the protocol refuses unknown types
                continue
            self._feed.record(d.type, [d.key])
            taken += 1
        return taken, rejects

    def has_till_key(self, store_id: str, till_id: str) -> bool:
        return self._db.one("SELECT 1 FROM till_keys WHERE store_id = ? AND till_id = ?",
                            (store_id, till_id)) is not None

    # --- administration -------------------------------------------------------------------------
    def erase_member(self, member_id: str) -> bool:
        """Right to erasure: personal details go, cards are blocked; the ledger stays (no personal data in it)."""
        now = now_iso()
        with self._db.write():
            if not self._members.exists(member_id):
                return False
            erasure_id = secrets.token_hex(16)
            self._db.execute("INSERT INTO erasures (erasure_id, member_id, store_id, till_id, at, received_at)"
                             " VALUES (?,?,?,?,?,?)", (erasure_id, member_id, HO_STORE, HO_TILL, now, now))
            self._members.anonymise(member_id, now)
            self._feed.record("erasure", [erasure_id])
        return True

    # --- reading --------------------------------------------------------------------------------
    def load_till_keys(self, keys: Sequence[str]) -> list[tuple[str, dict[str, Any]]]:
        """Till keys by "store/till", as a pull sends them."""
        out = []
        for key in keys:
            store_id, _, till_id = key.partition("/")
            row = self._db.one("SELECT public_key FROM till_keys WHERE store_id = ? AND till_id = ?",
                               (store_id, till_id))
            if row:
                out.append((key, {"store_id": store_id, "till_id": till_id, "public_key": row[0]}))
        return out

    def load_coupon_uses(self, keys: Sequence[str]) -> list[tuple[str, dict[str, Any]]]:
        return self._load("coupon_use", keys)

    def load_erasures(self, keys: Sequence[str]) -> list[tuple[str, dict[str, Any]]]:
        return self._load("erasure", keys)

    def load_offer_targets(self, keys: Sequence[str]) -> list[tuple[str, dict[str, Any]]]:
        """Targetings by "offer_id/sale_id", found through the sale id's index (a sale id has no "/")."""
        wanted = set(keys)
        fields = DOC_FIELDS["offer_target"]
        sales = list(dict.fromkeys(k.rpartition("/")[2] for k in keys))
        rows = self._db.execute(f"SELECT {', '.join(fields)} FROM offer_targets WHERE sale_id IN ({marks(len(sales))})",
                                sales)
        found = (dict(zip(fields, r, strict=True)) for r in rows)
        return [(key, d) for d in found if (key := f"{d['offer_id']}/{d['sale_id']}") in wanted]

    def _load(self, entity: str, keys: Sequence[str]) -> list[tuple[str, dict[str, Any]]]:
        fields = DOC_FIELDS[entity]
        table, pk = _TABLES[entity]
        rows = self._db.execute(f"SELECT {', '.join(fields)} FROM {table} WHERE {pk} IN ({marks(len(keys))})", keys)
        return [(r[0], dict(zip(fields, r, strict=True))) for r in rows]

    def till_keys(self) -> list[dict[str, Any]]:
        """The coupon-signing public keys tills pushed (first key per till wins)."""
        with self._db.read():
            rows = self._db.execute("SELECT store_id, till_id, public_key, received_at FROM till_keys"
                                    " ORDER BY store_id, till_id")
        return [{"store_id": r[0], "till_id": r[1], "public_key": r[2], "received_at": r[3]} for r in rows]

    def coupon_doubles(self) -> list[dict[str, Any]]:
        """Coupon codes used more than once (two stores offline at once), with every use."""
        with self._db.read():
            codes = [r[0] for r in self._db.execute(
                "SELECT code FROM coupon_uses GROUP BY code HAVING COUNT(*) > 1 ORDER BY code")]
            out = []
            for code in codes:
                uses = [{"use_id": r[0], "store_id": r[1], "till_id": r[2], "sale_id": r[3], "used_at": r[4],
                         "received_at": r[5]} for r in self._db.execute(
                    "SELECT use_id, store_id, till_id, sale_id, used_at, received_at FROM coupon_uses"
                    " WHERE code = ? ORDER BY received_at, use_id", (code,))]
                out.append({"code": code, "uses": uses})
        return out

    def erasures(self) -> list[dict[str, Any]]:
        """Erasure requests, from tills and from head office itself."""
        cols = ("erasure_id", "member_id", "store_id", "till_id", "at", "received_at")
        with self._db.read():
            rows = self._db.execute(f"SELECT {', '.join(cols)} FROM erasures ORDER BY received_at, erasure_id")
        return [dict(zip(cols, r, strict=True)) for r in rows]
