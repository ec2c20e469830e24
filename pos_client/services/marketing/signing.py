"""The till's own Ed25519 key and the table of tills whose coupons it trusts.

The private key is made on first use and kept in the till home (keys/coupon_ed25519.pem, mode
0600); it never leaves the till. The public key is registered under (store, till); head office
distributes the others through sync with `add_trusted_key`. A coupon claiming to come from a
till is checked against that till's key only, so a till cannot mint in another till's name.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from pos_client.domain.errors import Conflict, PosError, UsageError
from pos_client.store.context import TillContext
from pos_client.store.db import now_iso, write_txn

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

KEY_FILE = Path("keys") / "coupon_ed25519.pem"


def _key_path(ctx: TillContext) -> Path:
    if ctx.home is None:
        raise PosError("this till has no home directory for its signing key")
    return Path(ctx.home) / KEY_FILE


def _load(path: Path) -> Ed25519PrivateKey:
    """The key in the till's key file, which must be Ed25519 (the only kind coupons are checked with)."""
    from cryptography.hazmat.primitives import serialization  # why: ~40 ms, paid only when a coupon is signed
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey  # why: as above

    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise PosError(f"{path} does not hold an Ed25519 key: move it away and a new one is made")
    return key


def _load_or_create(path: Path) -> Ed25519PrivateKey:
    from cryptography.hazmat.primitives import serialization  # why: ~40 ms, paid only when a coupon is signed
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey  # why: as above

    if path.exists():
        return _load(path)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
        fh.flush()
        os.fsync(fh.fileno())
    try:
        os.link(tmp, path)  # atomic, and never replaces a key another process made first
    except FileExistsError:
        return _load(path)
    finally:
        tmp.unlink()
    return key


def private_key(ctx: TillContext) -> Ed25519PrivateKey:
    """This till's signing key, created on first use; its public half is registered as trusted."""
    key = _load_or_create(_key_path(ctx))
    add_trusted_key(ctx, ctx.store_id, ctx.till_id, public_bytes(key))
    return key


def public_bytes(key: Ed25519PrivateKey) -> bytes:
    from cryptography.hazmat.primitives import serialization  # why: ~40 ms, paid only when a coupon is signed

    return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def own_public_key(ctx: TillContext) -> bytes:
    """The 32 raw bytes head office needs to let other tills check this till's coupons."""
    return public_bytes(private_key(ctx))


def add_trusted_key(ctx: TillContext, store: str, till: str, public_key_bytes: bytes, *,
                    replace: bool = False) -> None:
    """Trust coupons signed by (store, till) with this key; a different key for a known till is refused
    unless `replace` (a re-keyed till announced by head office)."""
    if len(public_key_bytes) != 32:
        raise UsageError("an Ed25519 public key is 32 bytes")
    with write_txn(ctx.conn):
        row = ctx.conn.execute("SELECT public_key FROM till_keys WHERE store_id = ? AND till_id = ?",
                               (store, till)).fetchone()
        if row is not None and bytes(row[0]) == bytes(public_key_bytes):
            return
        if row is not None and not replace:
            raise Conflict(f"another key is already trusted for till {store}/{till}")
        ctx.conn.execute(
            "INSERT INTO till_keys (store_id, till_id, public_key, added_at) VALUES (?,?,?,?) ON CONFLICT"
            "(store_id, till_id) DO UPDATE SET public_key = excluded.public_key, added_at = excluded.added_at",
            (store, till, bytes(public_key_bytes), now_iso()))


def trusted_keys(ctx: TillContext) -> list[dict[str, str]]:
    return [{"store_id": r[0], "till_id": r[1], "public_key": bytes(r[2]).hex()} for r in ctx.conn.execute(
        "SELECT store_id, till_id, public_key FROM till_keys ORDER BY store_id, till_id")]


def sign(ctx: TillContext, payload: bytes) -> bytes:
    return private_key(ctx).sign(payload)


def verify(ctx: TillContext, store: str, till: str, payload: bytes, signature: bytes) -> str | None:
    """None when the signature is good, else why not."""
    from cryptography.exceptions import InvalidSignature  # why: ~40 ms, paid only when a coupon is checked
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey  # why: as above

    row = ctx.conn.execute("SELECT public_key FROM till_keys WHERE store_id = ? AND till_id = ?",
                           (store, till)).fetchone()
    if row is None:
        return f"unknown till key {store}/{till} (not yet synced from head office)"
    try:
        Ed25519PublicKey.from_public_bytes(bytes(row[0])).verify(signature, payload)
    except InvalidSignature:
        return "bad signature: not issued by the till it names"
    return None
