import base64

import pytest

from pos_client.domain.errors import Conflict, NotFound, RefusedInput
from pos_client.services.marketing import coupons, signing


@pytest.fixture
def two_stores(make_ctx):
    a = make_ctx(name="a", store_id="S1", till_id="T1")
    b = make_ctx(name="b", store_id="S2", till_id="T1")
    # what head office distributes: every till's public key
    signing.add_trusted_key(b, "S1", "T1", signing.own_public_key(a))
    signing.add_trusted_key(a, "S2", "T1", signing.own_public_key(b))
    return a, b


def test_any_till_verifies_offline_and_a_used_coupon_is_refused_after_sync(two_stores):
    a, b = two_stores
    c = coupons.issue(a, "amount_off", 500, expires="2099-12-31")
    assert len(c.token) < 160 and set(c.token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567.")
    assert coupons.check(b, c.token)["valid"]
    assert coupons.check(b, c.code)["reason"].startswith("unknown coupon code")  # short code: needs the record
    coupons.use(a, c.code, "sale-1")
    with pytest.raises(RefusedInput, match="already used"):
        coupons.use(a, c.token, "sale-2")  # at once at the same till
    assert coupons.check(b, c.token)["valid"]  # store 2 has not synced yet
    coupons.record_uses(b, coupons.uses_since(a))
    assert coupons.record_uses(b, coupons.uses_since(a)) == 0  # replay ignored
    verdict = coupons.check(b, c.token)
    assert not verdict["valid"] and verdict["reason"].startswith("already used (store S1")


def test_double_use_across_two_offline_stores_is_reported(two_stores):
    a, b = two_stores
    c = coupons.issue(a, "amount_off", 500, expires="2099-12-31")
    coupons.use(a, c.code, "sale-a")
    coupons.use(b, c.token, "sale-b")  # b was offline
    coupons.record_uses(b, coupons.uses_since(a))
    report = coupons.double_uses(b)
    assert [(r["code"], sorted(u["store_id"] for u in r["uses"])) for r in report] == [(c.code, ["S1", "S2"])]


def test_a_till_cannot_mint_in_another_tills_name(two_stores):
    a, b = two_stores
    payload = b"1|S1|T1|99|20991231|A|100000|"  # b pretends to be S1/T1
    signature = signing.sign(b, payload)
    forged = base64.b32encode(payload).decode().rstrip("=") + "." + base64.b32encode(signature).decode().rstrip("=")
    assert coupons.check(a, forged)["reason"].startswith("bad signature")
    assert coupons.check(b, forged)["reason"].startswith("bad signature")


def test_tampered_unknown_and_expired(two_stores, make_ctx):
    a, _ = two_stores
    c = coupons.issue(a, "amount_off", 500, expires="2026-01-31")
    head, tail = c.token.split(".")
    tampered = coupons._b32(coupons._unb32(head).replace(b"|500|", b"|900|")) + "." + tail
    assert coupons.check(a, tampered)["reason"].startswith("bad signature")
    assert coupons.check(a, "HELLO.WORLD")["reason"].startswith("not a coupon")
    assert coupons.check(a, c.token, as_of="2026-02-01")["reason"] == "expired on 2026-01-31"
    stranger = make_ctx(name="c", store_id="S9", till_id="T9")
    assert coupons.check(stranger, c.token)["reason"].startswith("unknown till key S1/T1")
    with pytest.raises(NotFound):
        coupons.use(stranger, "S1-T1-1-XXXX", "sale")


def test_a_known_till_cannot_be_rekeyed_silently(two_stores):
    a, _ = two_stores
    with pytest.raises(Conflict):
        signing.add_trusted_key(a, "S2", "T1", bytes(32))


def test_discount_lines_are_checked_and_lower_points(ctx):
    from pos_client.domain.errors import UsageError
    from pos_client.services.checkout import Basket, Line, earn_inputs

    basket = Basket()
    basket.add(Line.keyed(3000, "general"))
    basket.add(Line.keyed(1000, "general"))
    basket.add(Line.keyed(2000, "tobacco"))
    with pytest.raises(UsageError):
        basket.add_discount(Line("x", "coupon", 1, 100))
    with pytest.raises(RefusedInput):
        basket.add_discount(Line("x", "coupon", 1, -7000))
    basket.add_discount(Line("Coupon", "coupon", 1, -1001))
    # the 10.01 discount is spread over the two earning lines (tobacco earns nothing): 750 + 251
    assert [li.amount_cents for li in earn_inputs(ctx.rules, basket.lines)] == [2250, 749, 2000, 0]


def test_done_when_redeemed_coupon_accepted_once_at_any_till(two_stores):
    """A manager redeems at store 1; the printed QR is accepted at store 2's checkout and refused after."""
    from pos_client.services.checkout import Basket, Line, commit_sale
    from pos_client.services.marketing import manager, rewards
    from tests.marketing.helpers import new_member, sell

    a, b = two_stores
    manager.add_manager(a, "Alice", "4321")
    mid, _ = new_member(a)
    sell(a, mid, 60000, "2026-01-10")
    out = rewards.redeem(a, mid, "R500", "4321")
    qr = next(blk["data"] for blk in coupons.blocks(coupons.get(a, out["coupon"]), "Reward", "5.00 off")
              if blk["type"] == "qr")
    basket = Basket()
    basket.add(Line.keyed(1200))
    coupons.apply_coupon(b, basket, qr)
    sale = commit_sale(b, basket)
    assert sale.total_cents == 700
    again = Basket()
    again.add(Line.keyed(1200))
    with pytest.raises(RefusedInput, match="already used"):
        coupons.apply_coupon(b, again, qr)
    coupons.record_uses(a, coupons.uses_since(b))  # sync brings the use back to store 1
    assert coupons.check(a, out["coupon"])["reason"].startswith("already used (store S2")
