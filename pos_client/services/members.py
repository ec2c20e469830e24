"""Members and their cards: enrol with the minimum, find them again, move them to a new card."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, TypedDict

from cardread import parse_card
from cardread.payment import payment_card_in
from cardread.read import CardRead
from pos_client.domain.cards import card_number
from pos_client.domain.errors import NotFound, RefusedInput, UsageError
from pos_client.domain.phone import mask_phone, normalise_phone
from pos_client.services.card_formats import storable_number
from pos_client.services.program_settings import tiers
from pos_client.store import ledger
from pos_client.store.context import TillContext
from pos_client.store.db import now_iso, write_txn

CHANNELS = frozenset({"email", "sms", "post", "phone"})


class PublicMember(TypedDict):
    """A member as scripts and screens see it (`--json`, the checkout's member panel)."""

    member_id: str
    name: str | None
    phone: str
    balance: int
    tier: str


@dataclass(frozen=True)
class Member:
    member_id: str
    name: str | None
    phone: str | None
    email: str | None
    status: str
    balance: int
    tier: str

    def public(self) -> PublicMember:
        """What scripts and screens may show: the phone is masked."""
        return {
            "member_id": self.member_id,
            "name": self.name,
            "phone": mask_phone(self.phone),
            "balance": self.balance,
            "tier": self.tier,
        }


def tier_of(ctx: TillContext, member_id: str, lowest: str | None = None) -> str:
    """The member's tier: the last change recorded (`member_tiers`, written by the tier rules in
    `marketing.tiers`), else the program's lowest tier. The one place a tier is read. `lowest`: that tier's
    name when the caller has the ladder already (a sale's hook: no second read of the rules)."""
    row = ctx.conn.execute(
        "SELECT tier FROM member_tiers WHERE member_id = ? ORDER BY rowid DESC LIMIT 1", (member_id,)).fetchone()
    if row:
        return str(row[0])
    return lowest if lowest is not None else tiers(ctx)[0].name


def get_member(ctx: TillContext, member_id: str) -> Member:
    row = ctx.conn.execute(
        "SELECT m.*, COALESCE(b.points, 0) AS balance FROM members m "
        "LEFT JOIN balances b ON b.member_id = m.member_id WHERE m.member_id = ?",
        (member_id,),
    ).fetchone()
    if row is None:
        raise NotFound("no such member")
    if row["status"] == "merged" and row["merged_into"]:
        return get_member(ctx, row["merged_into"])
    return Member(row["member_id"], row["name"], row["phone"], row["email"], row["status"],
                  int(row["balance"]), tier_of(ctx, row["member_id"]))


def member_for_card(ctx: TillContext, read: CardRead) -> Member:
    """The member behind a read card; refused reads and lost or blocked cards raise."""
    number = card_number(read)
    row = ctx.conn.execute("SELECT member_id, status FROM cards WHERE card_number = ?", (number,)).fetchone()
    if row is None:
        raise NotFound("card not enrolled: enrol the customer or key the card again")
    if row["status"] != "active":
        raise RefusedInput(f"this card is {row['status']}: ask for the customer's new card or phone number")
    return get_member(ctx, row["member_id"])


def enroll(
    ctx: TillContext,
    *,
    card: CardRead | None = None,
    phone: str | None = None,
    name: str | None = None,
    email: str | None = None,
    consent: Iterable[str] = (),
    member_id: str | None = None,
) -> Member:
    """Enrol with a card or a phone number (either is enough); consent recorded per channel."""
    if card is None and not phone:
        raise UsageError("a card or a phone number is needed to enrol")
    number = storable_number(ctx, card) if card is not None else None  # the program's formats only
    phone_norm = normalise_phone(phone, ctx.config.raw.get("country_code", "33")) if phone else None
    channels = {c.strip().lower() for c in consent if c.strip()}
    unknown = channels - CHANNELS
    if unknown:
        raise UsageError(f"unknown consent channel(s): {', '.join(sorted(unknown))}")
    if email is not None and "@" not in email:
        raise UsageError("not an email address")
    for field, text in (("name", name), ("email", email)):
        if text and payment_card_in(text):  # free text is no place for a bank card number either
            raise RefusedInput(f"{field}: remove the bank card number (it is never stored)")
    mid = member_id or ledger.new_id()
    ts = now_iso()
    with write_txn(ctx.conn):
        if number and ctx.conn.execute("SELECT 1 FROM cards WHERE card_number = ?", (number,)).fetchone():
            raise RefusedInput("this card is already enrolled")
        if phone_norm and ctx.conn.execute(
            "SELECT 1 FROM members WHERE phone = ? AND status = 'active'", (phone_norm,)
        ).fetchone():
            raise RefusedInput("a member with this phone number already exists: find them instead")
        ctx.conn.execute(
            "INSERT INTO members (member_id, name, phone, email, store_id, status, created_at, updated_at)"
            " VALUES (?,?,?,?,?, 'active', ?, ?)",
            (mid, name, phone_norm, email, ctx.store_id, ts, ts),
        )
        ctx.conn.execute("INSERT INTO balances (member_id, points, updated_at) VALUES (?, 0, ?)", (mid, ts))
        if card is not None:
            add_card(ctx, mid, card)
        for channel in sorted(channels):
            set_consent(ctx, mid, channel, True)
        if ctx.rules.welcome_bonus > 0:
            ledger.append(ctx.conn, ctx.store_id, ctx.till_id, [
                ledger.Entry(member_id=mid, kind="bonus", points=ctx.rules.welcome_bonus,
                             reason="welcome", operator=ctx.operator)])
    return get_member(ctx, mid)


def add_card(ctx: TillContext, member_id: str, card: CardRead) -> None:
    ts = now_iso()
    ctx.conn.execute(
        "INSERT INTO cards (card_number, member_id, source, status, created_at, updated_at)"
        " VALUES (?, ?, ?, 'active', ?, ?)",
        (storable_number(ctx, card), member_id, str(card.source), ts, ts),
    )


def set_consent(ctx: TillContext, member_id: str, channel: str, granted: bool) -> None:
    """Record consent for one channel with the time it was given or withdrawn."""
    if channel not in CHANNELS:
        raise UsageError(f"unknown consent channel: {channel}")
    ctx.conn.execute(
        "INSERT INTO member_consent (member_id, channel, granted, at) VALUES (?,?,?,?) "
        "ON CONFLICT(member_id, channel) DO UPDATE SET granted = excluded.granted, at = excluded.at",
        (member_id, channel, int(granted), now_iso()),
    )


def consents(ctx: TillContext, member_id: str) -> dict[str, bool]:
    rows = ctx.conn.execute("SELECT channel, granted FROM member_consent WHERE member_id = ?", (member_id,))
    return {r[0]: bool(r[1]) for r in rows}


def find(ctx: TillContext, query: str, limit: int = 20) -> list[Member]:
    """Find by card number, phone (any formatting) or a name fragment."""
    q = query.strip()
    if not q:
        return []
    ids: list[str] = []
    read = parse_card(q, loyalty_prefixes=ctx.rules.loyalty_prefixes)
    if read.payment_card:
        raise RefusedInput(read.error or "payment card")
    if read.ok:
        row = ctx.conn.execute("SELECT member_id FROM cards WHERE card_number = ?", (read.card_number,)).fetchone()
        if row:
            ids.append(row[0])
    if sum(c.isdigit() for c in q) >= 6:
        try:
            phone = normalise_phone(q, ctx.config.raw.get("country_code", "33"))
        except UsageError:
            phone = None
        if phone:
            ids += [r[0] for r in ctx.conn.execute(
                "SELECT member_id FROM members WHERE phone = ? AND status = 'active'", (phone,))]
    if any(c.isalpha() for c in q):
        pattern = "%" + q.replace("%", "").replace("_", "") + "%"
        ids += [r[0] for r in ctx.conn.execute(
            "SELECT member_id FROM members WHERE name LIKE ? AND status = 'active' ORDER BY name LIMIT ?",
            (pattern, limit))]
    seen: dict[str, None] = dict.fromkeys(ids)
    return [get_member(ctx, mid) for mid in list(seen)[:limit]]


def replace_card(ctx: TillContext, old: CardRead, new: CardRead, status: str = "lost") -> Member:
    """Report a lost card: block the old one, attach the new one; the balance stays with the member."""
    old_number, new_number = card_number(old), storable_number(ctx, new)
    with write_txn(ctx.conn):
        row = ctx.conn.execute("SELECT member_id, status FROM cards WHERE card_number = ?", (old_number,)).fetchone()
        if row is None:
            raise NotFound("old card not enrolled")
        if ctx.conn.execute("SELECT 1 FROM cards WHERE card_number = ?", (new_number,)).fetchone():
            raise RefusedInput("the new card is already enrolled")
        add_card(ctx, row["member_id"], new)
        ctx.conn.execute(
            "UPDATE cards SET status = ?, replaced_by = ?, updated_at = ? WHERE card_number = ?",
            (status, new_number, now_iso(), old_number),
        )
    return get_member(ctx, row["member_id"])


def cards_of(ctx: TillContext, member_id: str) -> list[dict[str, Any]]:
    rows = ctx.conn.execute(
        "SELECT card_number, source, status, created_at FROM cards WHERE member_id = ? ORDER BY created_at",
        (member_id,))
    return [dict(r) for r in rows]
