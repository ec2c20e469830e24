"""Signed coupons any till can check offline, used once.

A coupon has two printed forms:
- the token, in a QR code: base32(payload) "." base32(Ed25519 signature), about 150 characters
  of the QR alphanumeric set. The payload is "1|store|till|serial|YYYYMMDD|kind|value|sku".
  Any till holding the issuing till's public key verifies it with no network.
- the short code, in Code 128 and as text: "store-till-serial-XXXX" (XXXX from the signature).
  It is checked against the coupons this till knows (issued here, scanned here, or synced).

A use is a `coupon_uses` row; any use refuses the coupon. Uses from other tills arrive by sync
(`record_uses`); a code used in two stores while both were offline shows in `double_uses`.
"""

from __future__ import annotations

import base64
import re
from dataclasses import asdict, dataclass
from datetime import date
from typing import Any, NotRequired, TypedDict

from pos_client.domain.dates import as_date
from pos_client.domain.errors import NotFound, RefusedInput, UsageError
from pos_client.domain.money import format_cents
from pos_client.services.checkout import Basket, Line
from pos_client.services.marketing import signing
from pos_client.store import ledger
from pos_client.store.context import TillContext
from pos_client.store.db import now_iso, write_txn

KINDS = {"amount_off": "A", "percent_off": "P", "free_product": "F", "gift_certificate": "G"}
LETTERS = {v: k for k, v in KINDS.items()}
CATEGORY = "coupon"
_TOKEN = re.compile(r"^[A-Z2-7]+\.[A-Z2-7]+$", re.IGNORECASE)
# What a scanner or a cashier hands the checkout: the QR token (payload of 20+ base32 characters,
# an Ed25519 signature is 64 bytes = 103 base32 characters) or the short code store-till-serial-XXXX.
_TOKEN_SHAPE = re.compile(r"^[A-Z2-7]{20,}\.[A-Z2-7]{103}$", re.IGNORECASE)
_SHORT_SHAPE = re.compile(r"^[^\s|]+-[^\s|]+-\d+-[A-Z2-7]{4}$", re.IGNORECASE)


@dataclass(frozen=True)
class Coupon:
    code: str
    token: str
    store_id: str
    till_id: str
    serial: int
    kind: str
    value: int
    sku: str | None
    expires: str

    def public(self) -> dict[str, Any]:
        return asdict(self)


class _Fields(TypedDict):
    """What a coupon's signed payload says (everything but its code and token)."""

    store_id: str
    till_id: str
    serial: int
    expires: str
    kind: str
    value: int
    sku: str | None


class Verdict(TypedDict):
    """`check`'s answer; a coupon that could not be read has no fields beyond code None."""

    valid: bool
    reason: str
    code: str | None
    store_id: NotRequired[str]
    till_id: NotRequired[str]
    serial: NotRequired[int]
    kind: NotRequired[str]
    value: NotRequired[int]
    sku: NotRequired[str | None]
    expires: NotRequired[str]


def _b32(data: bytes) -> str:
    return base64.b32encode(data).decode().rstrip("=")


def _unb32(text: str) -> bytes:
    return base64.b32decode(text + "=" * (-len(text) % 8))


def _payload(store: str, till: str, serial: int, expires: date, kind: str, value: int, sku: str | None) -> bytes:
    fields = [store, till, sku or ""]
    if any("|" in f for f in fields):
        raise UsageError("store, till and sku must not contain '|'")
    return "|".join(["1", store, till, str(serial), expires.strftime("%Y%m%d"), KINDS[kind], str(value),
                     sku or ""]).encode()


def _parse(payload: bytes) -> _Fields:
    version, store, till, serial, expires, letter, value, sku = payload.decode().split("|")
    if version != "1" or letter not in LETTERS:
        raise ValueError("unknown coupon format")
    return {"store_id": store, "till_id": till, "serial": int(serial),
            "expires": date(int(expires[:4]), int(expires[4:6]), int(expires[6:])).isoformat(),
            "kind": LETTERS[letter], "value": int(value), "sku": sku or None}


def looks_like_coupon(text: str) -> bool:
    """True when scanned or keyed text has a coupon's shape (checked before card/product routing).

    Only the shape: amounts ("25.57"), EANs, loyalty numbers and track data never match;
    whether the coupon is genuine, unused and in date is `check`'s job.
    """
    text = text.strip()
    return bool(_TOKEN_SHAPE.match(text) or _SHORT_SHAPE.match(text))


def short_code(store: str, till: str, serial: int, signature: bytes) -> str:
    return f"{store}-{till}-{serial}-{_b32(signature)[:4]}"


def issue(ctx: TillContext, kind: str, value: int, *, expires: date | str, sku: str | None = None,
          member_id: str | None = None, source: str = "reward") -> Coupon:
    """Mint and record a coupon signed by this till (joins an open transaction)."""
    if kind not in KINDS:
        raise UsageError(f"unknown coupon kind {kind!r}")
    if not isinstance(value, int) or value < 0 or (kind == "percent_off" and not 0 < value <= 100):
        raise UsageError("coupon value must be whole cents (or a percent from 1 to 100)")
    if kind == "free_product" and not sku:
        raise UsageError("a free-product coupon names its product (sku)")
    day = as_date(expires)
    with write_txn(ctx.conn):
        serial = 1 + int(ctx.conn.execute(
            "SELECT COALESCE(MAX(serial), 0) FROM coupons WHERE store_id = ? AND till_id = ?",
            (ctx.store_id, ctx.till_id)).fetchone()[0])
        payload = _payload(ctx.store_id, ctx.till_id, serial, day, kind, value, sku)
        signature = signing.sign(ctx, payload)
        coupon = Coupon(short_code(ctx.store_id, ctx.till_id, serial, signature),
                        f"{_b32(payload)}.{_b32(signature)}", ctx.store_id, ctx.till_id, serial, kind, value, sku,
                        day.isoformat())
        _remember(ctx, coupon, member_id, source)
    return coupon


def _remember(ctx: TillContext, c: Coupon, member_id: str | None, source: str) -> None:
    ctx.conn.execute(
        "INSERT OR IGNORE INTO coupons (code, token, store_id, till_id, serial, kind, value, sku, expires, member_id,"
        " source, created_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
        (c.code, c.token, c.store_id, c.till_id, c.serial, c.kind, c.value, c.sku, c.expires, member_id, source,
         now_iso()))


def _decode(ctx: TillContext, code: str) -> tuple[Coupon | None, str]:
    """The coupon a scanned text stands for, verified; or None and why not."""
    text = code.strip()
    if not _TOKEN.match(text):
        row = ctx.conn.execute("SELECT token FROM coupons WHERE code = ? COLLATE NOCASE", (text,)).fetchone()
        if row is None:
            return None, "unknown coupon code: scan the QR code"
        text = str(row[0])
    try:
        head, tail = text.upper().split(".")
        payload, signature = _unb32(head), _unb32(tail)
        fields = _parse(payload)
    except (ValueError, UnicodeDecodeError):
        return None, "not a coupon (damaged or mistyped)"
    problem = signing.verify(ctx, fields["store_id"], fields["till_id"], payload, signature)
    if problem:
        return None, problem
    code = short_code(fields["store_id"], fields["till_id"], fields["serial"], signature)
    return Coupon(code=code, token=text.upper(), **fields), "ok"


def uses_of(ctx: TillContext, code: str) -> list[dict[str, Any]]:
    return [dict(r) for r in ctx.conn.execute(
        "SELECT use_id, code, store_id, till_id, sale_id, used_at FROM coupon_uses WHERE code = ? ORDER BY used_at",
        (code,))]


def check(ctx: TillContext, code: str, as_of: date | str | None = None) -> Verdict:
    """{"valid", "reason", ...}: signature, expiry and use, all from local data."""
    coupon, reason = _decode(ctx, code)
    if coupon is None:
        return {"valid": False, "reason": reason, "code": None}
    out: Verdict = {"valid": False, "reason": "ok", "code": coupon.code, "store_id": coupon.store_id,
                    "till_id": coupon.till_id, "serial": coupon.serial, "kind": coupon.kind, "value": coupon.value,
                    "sku": coupon.sku, "expires": coupon.expires}
    if as_date(as_of) > date.fromisoformat(coupon.expires):
        out["reason"] = f"expired on {coupon.expires}"
    elif uses := uses_of(ctx, coupon.code):
        first = uses[0]
        out["reason"] = f"already used (store {first['store_id']}, till {first['till_id']}, {first['used_at'][:10]})"
    else:
        out["valid"] = True
    return out


def use(ctx: TillContext, code: str, sale_id: str, as_of: date | str | None = None) -> dict[str, Any]:
    """Record a use for a sale; refused when the coupon is not valid (used, expired, forged)."""
    if not sale_id:
        raise UsageError("a coupon is used on a sale: give its sale id")
    with write_txn(ctx.conn):
        verdict = check(ctx, code, as_of)
        if not verdict["valid"]:
            unknown = verdict["reason"].startswith("unknown coupon")
            raise (NotFound if unknown else RefusedInput)(verdict["reason"])
        coupon, _ = _decode(ctx, code)
        assert coupon is not None
        _remember(ctx, coupon, None, "scanned")
        use_id = ledger.new_id()
        ctx.conn.execute(
            "INSERT INTO coupon_uses (use_id, code, store_id, till_id, sale_id, used_at) VALUES (?,?,?,?,?,?)",
            (use_id, coupon.code, ctx.store_id, ctx.till_id, sale_id, now_iso()))
    return {"use_id": use_id, "code": coupon.code, "sale_id": sale_id, "kind": coupon.kind, "value": coupon.value}


def apply_coupon(ctx: TillContext, basket: Basket, code: str, as_of: date | str | None = None) -> Line:
    """Scanning a coupon at checkout: add its discount line to the basket and return it.

    The use is recorded when the sale commits (sale hook), in the sale's transaction.
    """
    verdict = check(ctx, code, as_of)
    if not verdict["valid"]:
        raise RefusedInput(f"coupon refused: {verdict['reason']}")
    coupon = get(ctx, code)
    if any(li.ref == coupon.token for li in basket.lines):
        raise RefusedInput("this coupon is already in the basket")
    excluded = ctx.rules.excluded_categories
    eligible = sum(li.amount_cents for li in basket.lines if li.amount_cents > 0 and li.category not in excluded)
    kind, value = coupon.kind, coupon.value
    if kind == "percent_off":
        discount = eligible * value // 100
    elif kind == "free_product":
        lines = [li for li in basket.lines if li.sku == coupon.sku and li.unit_cents > 0]
        if not lines:
            raise RefusedInput("scan the free product first, then the coupon")
        discount = lines[0].unit_cents
    else:
        discount = min(value, max(basket.total_cents, 0))
    if discount <= 0:
        raise RefusedInput("nothing in the basket this coupon applies to")
    # ref is the signed token, so the sale hook can verify and record it even at a till that
    # has never seen this coupon's short code
    line = Line(name=f"Coupon {coupon.code}", category=CATEGORY, qty=1, unit_cents=-discount, ref=coupon.token)
    basket.add_discount(line)
    return line


def on_sale(ctx: TillContext, sale_id: str, basket: Basket) -> None:
    """Sale hook: record the use of every coupon in the basket with the sale, or refuse the sale."""
    refs = [li.ref for li in basket.lines if li.category == CATEGORY and li.ref]
    if refs:
        created = str(ctx.conn.execute("SELECT created_at FROM sales WHERE sale_id = ?", (sale_id,)).fetchone()[0])
        for ref in refs:
            use(ctx, ref, sale_id, as_of=created[:10])


def uses_since(ctx: TillContext, after: int = 0, limit: int = 500) -> list[dict[str, Any]]:
    """Uses in insertion order after a cursor (rowid), for sync to push."""
    return [dict(r) for r in ctx.conn.execute(
        "SELECT rowid AS cursor, use_id, code, store_id, till_id, sale_id, used_at FROM coupon_uses"
        " WHERE rowid > ? ORDER BY rowid LIMIT ?", (after, limit))]


def record_uses(ctx: TillContext, uses: list[dict[str, Any]]) -> int:
    """Uses pulled from head office (other tills); replays are ignored. Returns rows added."""
    added = 0
    with write_txn(ctx.conn):
        for u in uses:
            cur = ctx.conn.execute(
                "INSERT OR IGNORE INTO coupon_uses (use_id, code, store_id, till_id, sale_id, used_at)"
                " VALUES (?,?,?,?,?,?)", (u["use_id"], u["code"], u["store_id"], u["till_id"], u["sale_id"],
                                          u["used_at"]))
            added += cur.rowcount
    return added


def double_uses(ctx: TillContext) -> list[dict[str, Any]]:
    """Coupons used more than once (two stores offline at the same time): for the manager to chase."""
    codes = [r[0] for r in ctx.conn.execute(
        "SELECT code FROM coupon_uses GROUP BY code HAVING COUNT(*) > 1 ORDER BY code")]
    return [{"code": c, "uses": uses_of(ctx, c)} for c in codes]


def blocks(coupon: Coupon, title: str, description: str) -> list[dict[str, Any]]:
    """Receipt blocks for a coupon: what it is, the QR (works at any till) and the short code."""
    return [
        {"type": "text", "lines": [title, description, f"Valid until {coupon.expires}", f"Code {coupon.code}"]},
        {"type": "qr", "data": coupon.token},
        {"type": "code128", "data": coupon.code},
    ]


def describe(kind: str, value: int, sku: str | None = None) -> str:
    if kind == "percent_off":
        return f"{value}% off"
    if kind == "free_product":
        return f"one free {sku}"
    if kind == "gift_certificate":
        return f"gift certificate {format_cents(value)}"
    return f"{format_cents(value)} off"


def get(ctx: TillContext, code: str) -> Coupon:
    coupon, reason = _decode(ctx, code)
    if coupon is None:
        raise NotFound(reason)
    return coupon
