"""Head office's tables, created on open (both backends; column types from the dialect).

Ordering: every change head office keeps gets a `server_seq` from one counter (`meta.server_seq`),
allocated inside the single write transaction (backends serialise writers), so a pull cursor is
simply "the last server_seq I saw" and never skips a row committed later. The till's own
`created_at` is kept for the audit trail but never used for ordering, so a till with a wrong clock
syncs correctly.
"""

from __future__ import annotations

from headoffice.store.db import Db, now_iso
from headoffice.store.migrations import SCHEMA_VERSION, pending
from headoffice.store.purge import purge_payment_cards
from pos_client.domain.errors import UsageError

# Head office's own ledger entries (merge transfers) are written as this store and till.
HO_STORE = HO_TILL = "HO"
# The schema this code writes (`meta.schema_version`, = migrations.SCHEMA_VERSION) is re-exported here;
# a database a newer head office wrote is refused.
__all__ = ["HO_STORE", "HO_TILL", "SCHEMA", "SCHEMA_VERSION", "SchemaTooNew", "create"]


class SchemaTooNew(UsageError):
    """The head-office database was written by a newer version (exit 2): never guess at its schema."""

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value {BIGINT} NOT NULL);
CREATE TABLE IF NOT EXISTS tills (
    store_id TEXT NOT NULL, till_id TEXT NOT NULL, role TEXT NOT NULL DEFAULT 'till',
    code_hash TEXT, code_expires_at TEXT, token_hash TEXT UNIQUE, created_at TEXT NOT NULL, registered_at TEXT,
    high_seq {BIGINT} NOT NULL DEFAULT 0, last_push_at TEXT, PRIMARY KEY (store_id, till_id));
CREATE TABLE IF NOT EXISTS ledger (
    server_seq {SEQ_PK}, entry_id TEXT NOT NULL UNIQUE, member_id TEXT NOT NULL,
    store_id TEXT NOT NULL, till_id TEXT NOT NULL, seq {BIGINT} NOT NULL, kind TEXT NOT NULL,
    points {BIGINT} NOT NULL, sale_id TEXT, amount_cents {BIGINT} NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL, operator TEXT, reason TEXT, ref TEXT, received_at TEXT NOT NULL,
    UNIQUE (store_id, till_id, seq));
CREATE INDEX IF NOT EXISTS idx_ho_ledger_member ON ledger (member_id);
CREATE TABLE IF NOT EXISTS balances (member_id TEXT PRIMARY KEY, points {BIGINT} NOT NULL, updated_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS members (
    member_id TEXT PRIMARY KEY, store_id TEXT NOT NULL, name TEXT, phone TEXT, email TEXT,
    status TEXT NOT NULL, merged_into TEXT, consent TEXT NOT NULL DEFAULT '{}',
    created_at TEXT NOT NULL, updated_at TEXT NOT NULL, received_at TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS idx_ho_members_phone ON members (phone);
CREATE TABLE IF NOT EXISTS cards (
    card_number TEXT PRIMARY KEY, member_id TEXT NOT NULL, source TEXT NOT NULL, status TEXT NOT NULL,
    replaced_by TEXT, created_at TEXT, updated_at TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS idx_ho_cards_member ON cards (member_id);
CREATE TABLE IF NOT EXISTS sales (
    sale_id TEXT PRIMARY KEY, store_id TEXT NOT NULL, till_id TEXT NOT NULL, member_id TEXT,
    total_cents {BIGINT} NOT NULL, tender TEXT, points_earned {BIGINT} NOT NULL, operator TEXT,
    created_at TEXT NOT NULL, received_at TEXT NOT NULL, lines TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS feed (server_seq {SEQ_PK}, entity TEXT NOT NULL, key TEXT NOT NULL, UNIQUE (entity, key));
CREATE TABLE IF NOT EXISTS rules (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS products (
    sku TEXT PRIMARY KEY, ean TEXT, name TEXT NOT NULL, category TEXT NOT NULL, price_cents {BIGINT} NOT NULL);
CREATE TABLE IF NOT EXISTS rejects (
    rkey TEXT PRIMARY KEY, store_id TEXT NOT NULL, till_id TEXT NOT NULL, type TEXT NOT NULL,
    seq {BIGINT}, reasons TEXT NOT NULL, raw TEXT, received_at TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS idx_ho_rejects_seq ON rejects (store_id, till_id, seq);
CREATE TABLE IF NOT EXISTS till_keys (
    store_id TEXT NOT NULL, till_id TEXT NOT NULL, public_key TEXT NOT NULL, received_at TEXT NOT NULL,
    PRIMARY KEY (store_id, till_id));
CREATE TABLE IF NOT EXISTS coupon_uses (
    use_id TEXT PRIMARY KEY, code TEXT NOT NULL, store_id TEXT NOT NULL, till_id TEXT NOT NULL,
    sale_id TEXT NOT NULL, used_at TEXT NOT NULL, received_at TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS idx_ho_coupon_uses_code ON coupon_uses (code);
CREATE TABLE IF NOT EXISTS erasures (
    erasure_id TEXT PRIMARY KEY, member_id TEXT NOT NULL, store_id TEXT NOT NULL, till_id TEXT NOT NULL,
    at TEXT NOT NULL, received_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS offer_targets (
    offer_id TEXT NOT NULL, member_id TEXT NOT NULL, sale_id TEXT NOT NULL, grp TEXT NOT NULL,
    holdout_bp INTEGER NOT NULL, window_days INTEGER NOT NULL, coupon_code TEXT, store_id TEXT NOT NULL,
    till_id TEXT NOT NULL, day TEXT NOT NULL, at TEXT NOT NULL, received_at TEXT NOT NULL,
    PRIMARY KEY (offer_id, sale_id));
CREATE INDEX IF NOT EXISTS idx_ho_offer_targets_sale ON offer_targets (sale_id);
CREATE TABLE IF NOT EXISTS tier_changes (
    change_key TEXT PRIMARY KEY, store_id TEXT NOT NULL, till_id TEXT NOT NULL, row_no {BIGINT} NOT NULL,
    member_id TEXT NOT NULL, tier TEXT NOT NULL, prev_tier TEXT, since TEXT NOT NULL, reason TEXT NOT NULL,
    sale_id TEXT, created_at TEXT NOT NULL, received_at TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS idx_ho_tier_changes_member ON tier_changes (member_id, since);
CREATE INDEX IF NOT EXISTS idx_ho_sales_member ON sales (member_id, created_at);
CREATE TABLE IF NOT EXISTS till_pulls (
    store_id TEXT NOT NULL, till_id TEXT NOT NULL, acked {BIGINT} NOT NULL, served {BIGINT} NOT NULL,
    pulled_at TEXT NOT NULL, PRIMARY KEY (store_id, till_id));
CREATE TABLE IF NOT EXISTS console_users (
    user_id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, role TEXT NOT NULL, store_id TEXT, password_hash TEXT,
    active INTEGER NOT NULL DEFAULT 1, created_at TEXT NOT NULL, updated_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS console_tokens (
    token_hash TEXT PRIMARY KEY, user_id TEXT NOT NULL, purpose TEXT NOT NULL, csrf TEXT NOT NULL,
    created_at TEXT NOT NULL, expires_at TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS idx_ho_console_tokens_user ON console_tokens (user_id);
CREATE TABLE IF NOT EXISTS login_attempts (
    akey TEXT PRIMARY KEY, failures {BIGINT} NOT NULL, window_start TEXT NOT NULL, locked_until TEXT);
CREATE TABLE IF NOT EXISTS audit (
    audit_id {BIGINT} PRIMARY KEY, at TEXT NOT NULL, user_id TEXT NOT NULL, user_name TEXT NOT NULL, store_id TEXT,
    action TEXT NOT NULL, target TEXT NOT NULL, reason TEXT NOT NULL, detail TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS idx_ho_audit_store ON audit (store_id, audit_id);
CREATE TABLE IF NOT EXISTS till_reports (
    store_id TEXT NOT NULL, till_id TEXT NOT NULL, last_contact_at TEXT, last_push_at TEXT, last_pull_at TEXT,
    pending {BIGINT}, version TEXT, clock_skew_ms {BIGINT}, last_error TEXT, last_error_at TEXT, revoked_at TEXT,
    PRIMARY KEY (store_id, till_id));
CREATE TABLE IF NOT EXISTS counters (name TEXT NOT NULL, label TEXT NOT NULL, value {BIGINT} NOT NULL,
    PRIMARY KEY (name, label));
CREATE TABLE IF NOT EXISTS approval_requests (
    request_id TEXT PRIMARY KEY, kind TEXT NOT NULL, rkey TEXT NOT NULL, store_id TEXT NOT NULL, till_id TEXT NOT NULL,
    member_id TEXT NOT NULL, member_store TEXT, seq {BIGINT}, payload TEXT NOT NULL, why TEXT NOT NULL,
    status TEXT NOT NULL, created_at TEXT NOT NULL, decided_at TEXT, decided_by TEXT, decision_reason TEXT,
    UNIQUE (kind, rkey));
CREATE INDEX IF NOT EXISTS idx_ho_approvals_store ON approval_requests (member_store, status);
CREATE INDEX IF NOT EXISTS idx_ho_approvals_seq ON approval_requests (store_id, till_id, seq);
CREATE TABLE IF NOT EXISTS till_reads (
    store_id TEXT NOT NULL, till_id TEXT NOT NULL, window_start TEXT NOT NULL, reads {BIGINT} NOT NULL,
    PRIMARY KEY (store_id, till_id));
CREATE TABLE IF NOT EXISTS till_follows (
    store_id TEXT NOT NULL, till_id TEXT NOT NULL, member_id TEXT NOT NULL, until TEXT NOT NULL,
    PRIMARY KEY (store_id, till_id, member_id))
"""


def create(db: Db) -> None:
    """Create what is missing, the server_seq counter and head office's own till row (idempotent)."""
    with db.write():
        for stmt in db.dialect.ddl(SCHEMA).split(";"):
            if stmt.strip():
                db.execute(stmt)
        db.execute("INSERT INTO meta (key, value) VALUES ('server_seq', 0) ON CONFLICT DO NOTHING")
        db.execute("INSERT INTO meta (key, value) VALUES ('schema_version', 1) ON CONFLICT DO NOTHING")
        found = int(db.value("SELECT value FROM meta WHERE key = 'schema_version'"))
        if found > SCHEMA_VERSION:
            raise SchemaTooNew(f"this head-office database has schema version {found}, written by a newer"
                               f" headoffice; this version knows up to {SCHEMA_VERSION}: run the newer version")
        for version, _what, apply in pending(found):  # same transaction: all steps or none
            apply(db)
            db.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (version,))
        purge_payment_cards(db)  # once per database: numbers older versions let in
        db.execute("INSERT INTO tills (store_id, till_id, role, created_at) VALUES (?, ?, 'system', ?)"
                   " ON CONFLICT DO NOTHING", (HO_STORE, HO_TILL, now_iso()))
