"""Marketing over sync, end to end: two tills of two stores and the real head office on loopback.

Coupons minted at one store verify offline at the other after a pull (head office distributes the
tills' public keys, first key wins); coupon uses travel both ways so a used coupon is refused at
every till, and a double use across two offline stores is reported at head office and at the tills;
erasures reach everyone whichever side took them; the rewards catalog and the offline redemption
cap come from head office.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import httpx
import pytest
from tillkit import enrol, loyalty, pos_cli_cmd, register, sell

from cardread import parse_card
from headoffice.cli import main as headoffice_main
from pos_client.domain.errors import RefusedInput
from pos_client.services.checkout import Basket, Line, commit_sale
from pos_client.services.marketing import coupons, manager, privacy, rewards, signing
from pos_client.services.members import member_for_card
from pos_client.store import sync_state
from sync.client import HeadOfficeClient
from sync.engine import sync_once
from sync.push import collect

PIN = "2468"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def tills(make_till, ho_store, proxy):
    """Store 1 and store 2, each with a manager, registered through a fault proxy in front of head office."""
    a, b = make_till("S1", "T1"), make_till("S2", "T1")
    for t in (a, b):
        register(t, ho_store, proxy.url)
        manager.add_manager(t, "Alice", PIN)
    return a, b


def sync(*ctxs):
    return [sync_once(t) for t in ctxs]


def member_with_points(a, b, n: int, cents: int):
    """A member enrolled at store 1 who earned cents/100 points there, known at both tills."""
    member = enrol(a, n)
    sell(a, n, cents)
    sync(a, b)
    return member


def checkout_with_coupon(ctx, scanned: str):
    basket = Basket()
    basket.add(Line.keyed(2000))
    line = coupons.apply_coupon(ctx, basket, scanned)
    return line, commit_sale(ctx, basket)


def offline(ctx, proxy) -> None:
    """Head office unreachable: the till's next round fails and it knows it is offline."""
    proxy.set_mode("refuse")
    with pytest.raises(Exception):  # noqa: B017 - any sync failure; the state is what matters
        sync_once(ctx, timeout=2)
    proxy.set_mode("pass")


def admin_get(headoffice, ho_store, path: str) -> dict:
    token = ho_store.add_admin("test-admin")
    resp = httpx.get(f"{headoffice.url}/v1{path}", headers={"authorization": f"Bearer {token}"}, timeout=5)
    assert resp.status_code == 200, resp.text
    return resp.json()


def test_coupon_from_store_1_is_accepted_once_at_store_2_then_refused_everywhere(tills, ho_store):
    a, b = tills
    early = coupons.issue(a, "amount_off", 100, expires="2099-01-01")
    # before store 2 has store 1's key (nothing synced yet), it cannot check store 1's coupons
    assert "not yet synced" in coupons.check(b, early.token)["reason"]
    member = member_with_points(a, b, 1, 20000)  # 200 points; both tills push their key and pull the other's
    assert [(k["store_id"], k["till_id"]) for k in ho_store.till_keys()] == [("S1", "T1"), ("S2", "T1")]
    assert coupons.check(b, early.token)["valid"]
    out = rewards.redeem(a, member.member_id, "R500", PIN, points=100)
    assert (out["points_spent"], out["value"], out["balance"]) == (100, 100, 100)

    sync(a, b)
    assert coupons.check(b, out["token"])["valid"]
    line, sale = checkout_with_coupon(b, out["token"])
    assert line.unit_cents == -100 and sale.total_cents == 1900
    with pytest.raises(RefusedInput, match="already used"):
        checkout_with_coupon(b, out["token"])

    assert coupons.check(a, out["coupon"])["valid"]  # store 1 has not heard yet (offline-first)
    sync(b, a)
    verdict = coupons.check(a, out["coupon"])
    assert not verdict["valid"] and verdict["reason"].startswith("already used (store S2, till T1")
    with pytest.raises(RefusedInput, match="already used"):
        checkout_with_coupon(a, out["token"])
    assert coupons.double_uses(a) == coupons.double_uses(b) == [] == ho_store.coupon_doubles()
    # both tills agree on the member's balance after the redemption
    assert member_for_card(b, parse_card(loyalty(1))).balance == member_for_card(a, parse_card(loyalty(1))).balance


def test_same_coupon_at_two_offline_stores_is_reported_at_head_office_and_at_the_tills(
        tills, ho_store, headoffice, proxy, capsys):
    a, b = tills
    member = member_with_points(a, b, 2, 20000)
    out = rewards.redeem(a, member.member_id, "R500", PIN, points=200)
    sync(a, b)

    proxy.set_mode("refuse")  # head office down: both stores take the same coupon
    _, sale_a = checkout_with_coupon(a, out["token"])
    _, sale_b = checkout_with_coupon(b, out["token"])
    proxy.set_mode("pass")
    sync(a, b, a)

    doubles = ho_store.coupon_doubles()
    assert [d["code"] for d in doubles] == [out["coupon"]]
    assert {(u["store_id"], u["sale_id"]) for u in doubles[0]["uses"]} == {("S1", sale_a.sale_id),
                                                                            ("S2", sale_b.sale_id)}
    assert admin_get(headoffice, ho_store, "/reports/coupon-doubles") == {"double_uses": doubles}
    assert headoffice_main(["report", "coupon-doubles", "--db", f"sqlite:///{ho_store.path}"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["code"] == out["coupon"]
    for till in (a, b):
        (row,) = coupons.double_uses(till)
        assert row["code"] == out["coupon"]
        assert {u["sale_id"] for u in row["uses"]} == {sale_a.sale_id, sale_b.sale_id}


def test_a_till_cannot_mint_in_another_tills_name(tills, ho_store):
    a, b = tills
    member_with_points(a, b, 3, 1000)
    sync(a, b)  # each till now trusts the other's key
    # store 2 signs a coupon claiming to come from store 1
    payload = coupons._payload("S1", "T1", 77, coupons.as_date("2099-01-01"), "amount_off", 5000, None)
    forged = f"{coupons._b32(payload)}.{coupons._b32(signing.sign(b, payload))}"
    for till in (a, b):
        verdict = coupons.check(till, forged)
        assert not verdict["valid"] and "bad signature" in verdict["reason"]

    # store 1 loses its key file and makes a new one: head office keeps the first key and says why
    first = ho_store.till_keys()[0]["public_key"]
    (a.home / signing.KEY_FILE).unlink()
    a.conn.execute("DELETE FROM till_keys WHERE store_id = 'S1'")
    new = signing.own_public_key(a).hex()
    assert new != first
    (report,) = sync(a)
    (reject,) = report.push.rejected
    assert reject["key"] == "S1/T1" and "already holds another key" in reject["reasons"][0]
    assert ho_store.till_keys()[0]["public_key"] == first
    assert [r["type"] for r in ho_store.rejects()] == ["docs"]
    # a coupon signed with the new key is refused at store 2, which trusts the key head office holds
    coupon = coupons.issue(a, "amount_off", 100, expires="2099-01-01")
    sync(b)
    assert "bad signature" in coupons.check(b, coupon.token)["reason"]


def test_a_till_sends_its_key_again_when_head_office_lacks_it(tills, ho_store):
    a, b = tills
    sync(a, b)
    assert len(ho_store.till_keys()) == 2
    ho_store._execute("DELETE FROM till_keys WHERE store_id = 'S1'")  # head office restored from an old backup
    (quiet,) = sync(a)
    assert quiet.push.batches == 0  # nothing waiting: the key is not sent every round
    enrol(a, 9)
    (report,) = sync(a)
    assert report.push.batches == 2 and report.push.docs == 1  # head office asked for it, the till sent it
    assert [k["store_id"] for k in ho_store.till_keys()] == ["S1", "S2"]


def _state(ctx, member_id: str) -> dict:
    row = ctx.conn.execute("SELECT name, phone, email, status FROM members WHERE member_id = ?",
                           (member_id,)).fetchone()
    cards = sorted(r[0] for r in ctx.conn.execute("SELECT status FROM cards WHERE member_id = ?", (member_id,)))
    granted = ctx.conn.execute("SELECT COUNT(*) FROM member_consent WHERE member_id = ? AND granted = 1",
                               (member_id,)).fetchone()[0]
    balance = ctx.conn.execute("SELECT points FROM balances WHERE member_id = ?", (member_id,)).fetchone()[0]
    erasures = ctx.conn.execute("SELECT COUNT(*) FROM erasures WHERE member_id = ?", (member_id,)).fetchone()[0]
    return {"details": tuple(row), "cards": cards, "granted": granted, "balance": balance, "erasures": erasures}


def test_erasure_at_a_till_and_at_head_office_end_the_same_everywhere(tills, ho_store):
    a, b = tills
    ho_store.approvals.set_setting("approvals.auto_erase", 1)  # the erasure's path is the point here, not its approval
    at_till = member_with_points(a, b, 4, 3000)
    at_ho = member_with_points(a, b, 5, 4000)
    privacy.erase(a, at_till.member_id, PIN)
    assert ho_store.erase_member(at_ho.member_id)
    sync(a, b, a)

    for member, points in ((at_till, 30), (at_ho, 40)):
        expected = {"details": (None, None, None, "erased"), "cards": ["blocked"], "granted": 0, "balance": points,
                    "erasures": 1}
        assert _state(a, member.member_id) == _state(b, member.member_id) == expected
        held = ho_store.member(member.member_id)
        assert (held["name"], held["phone"], held["email"], held["status"], held["consent"]) == (
            None, None, None, "erased", {})
        assert held["balance"] == points
    assert {(e["member_id"], e["store_id"]) for e in ho_store.erasures()} == {
        (at_till.member_id, "S1"), (at_ho.member_id, "HO")}
    assert ho_store.counts()["cards"] == 2
    with pytest.raises(RefusedInput):
        sell(b, 4, 1000)  # the erased member's card is blocked at the other store too


def test_rewards_catalog_and_tiers_from_head_office_reach_the_tills(tills, ho_store, headoffice, capsys):
    a, b = tills
    db = f"sqlite:///{ho_store.path}"
    admin = {"authorization": f"Bearer {ho_store.add_admin('rules')}"}
    bad = httpx.put(f"{headoffice.url}/v1/admin/rules/rewards", json={"value": [{"id": "X", "points": 1.5}]},
                    headers=admin, timeout=5)
    assert bad.status_code == 422 and any("points" in r for r in bad.json()["reasons"])
    spec = httpx.get(f"{headoffice.url}/v1/openapi.json", timeout=5).json()
    assert {"/v1/reports/coupon-doubles", "/v1/reports/till-keys"} <= set(spec["paths"])
    assert "docs" in spec["components"]["schemas"]["PushBatch"]["properties"]
    catalog = [{"id": "BAG", "name": "A free tote bag", "kind": "free_product", "points": 150, "sku": "TOTE"},
               {"id": "R200", "name": "2.00 off", "kind": "amount_off", "points": 200, "value": 200}]
    assert [r.id for r in rewards.catalog(a)] == ["R500", "PCT10", "COFFEE", "GIFT20"]
    assert headoffice_main(["rule", "set", "rewards", '[{"id": "X", "kind": "cash", "points": 0}]', "--db", db]) == 2
    assert "rewards[0].kind" in capsys.readouterr().err
    assert headoffice_main(["rule", "set", "rewards", json.dumps(catalog), "--db", db]) == 0
    tiers = [{"name": "Member", "min_spend_cents": 0, "multiplier_pct": 100},
             {"name": "VIP", "min_spend_cents": 10000, "multiplier_pct": 200}]
    assert headoffice_main(["rule", "set", "tiers", json.dumps(tiers), "--db", db]) == 0
    sync(a, b)
    for till in (a, b):
        assert [(r.id, r.points) for r in rewards.catalog(till)] == [("BAG", 150), ("R200", 200)]
        assert [t.name for t in rewards.tiers(till)] == ["Member", "VIP"]
    listed = subprocess.run([*pos_cli_cmd(), "rewards", "list", "--json"], cwd=ROOT, capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT), "POS_CLIENT_HOME": str(a.home)}, timeout=60)
    assert listed.returncode == 0, listed.stderr
    assert [(r["id"], r["name"], r["points"]) for r in json.loads(listed.stdout)["rewards"]] == [
        ("BAG", "A free tote bag", 150), ("R200", "2.00 off", 200)]
    member = enrol(b, 6)
    sell(b, 6, 30000)  # 300 points, VIP at once: x2 paid as a bonus
    assert member_for_card(b, parse_card(loyalty(6))).balance == 600
    out = rewards.redeem(b, member.member_id, "R200", PIN)
    assert (out["points_spent"], out["value"]) == (200, 200)
    with pytest.raises(Exception, match="no reward R500"):
        rewards.redeem(b, member.member_id, "R500", PIN)


def test_offline_cap_refuses_and_two_stores_overdraw_into_the_head_office_report(tills, ho_store, proxy):
    a, b = tills
    ho_store.set_rule("offline_redeem_cap", 300)
    member = member_with_points(a, b, 7, 40000)  # 400 points, known at both stores
    sync(b)
    for till in (a, b):
        offline(till, proxy)
    with pytest.raises(RefusedInput, match="offline: at most 300 more points"):
        rewards.redeem(a, member.member_id, "R500", PIN, points=400)
    with pytest.raises(RefusedInput, match="offline: at most 300 more points"):
        rewards.adjust(a, member.member_id, -350, "correction", PIN)
    first = rewards.redeem(a, member.member_id, "R500", PIN, points=300)
    with pytest.raises(RefusedInput, match="offline: at most 0 more points"):
        rewards.redeem(a, member.member_id, "R500", PIN, points=50)  # the cap counts what is not yet pushed
    second = rewards.redeem(b, member.member_id, "R500", PIN, points=300)  # the same points, at store 2
    assert first["balance"] == second["balance"] == 100

    sync(a, b, a)
    assert ho_store.balance(member.member_id) == 400 - 600
    (row,) = ho_store.overdraft_report()
    assert row["member_id"] == member.member_id and row["balance"] == -200
    assert sorted((r["store_id"], r["points"]) for r in row["redemptions"]) == [("S1", -300), ("S2", -300)]
    for till in (a, b):
        assert member_for_card(till, parse_card(loyalty(7))).balance == -200
    with pytest.raises(RefusedInput, match="not enough points"):
        rewards.redeem(a, member.member_id, "R500", PIN, points=10)  # online now: the balance is the limit


def test_a_replayed_push_with_documents_changes_nothing(tills, ho_store):
    ho_store.approvals.set_setting("approvals.auto_erase", 1)  # b erases a's member: else it waits for approval
    a, b = tills
    member = member_with_points(a, b, 8, 20000)
    out = rewards.redeem(a, member.member_id, "R500", PIN, points=100)
    sync(a, b)
    checkout_with_coupon(b, out["token"])
    privacy.erase(b, member.member_id, PIN)
    body, _, _ = collect(b, announce=True)
    assert sorted(d["type"] for d in body["docs"]) == ["coupon_use", "erasure"]  # key already confirmed
    sync(b)
    before = ho_store.counts()
    with HeadOfficeClient(str(b.config.section("headoffice")["url"]),
                          sync_state.get(b.conn, sync_state.TOKEN)) as client:  # kept in <home>/secrets/token
        again = client.push(body)
    assert (again.accepted, again.docs, again.rejected, again.wants) == (0, 0, [], [])
    after = ho_store.counts()
    assert {k: after[k] for k in after if k != "feed"} == {k: before[k] for k in before if k != "feed"}
    assert after["coupon_uses"] == 1 and after["erasures"] == 1 and after["till_keys"] == 2


def test_upgrade_queues_earlier_uses_and_only_this_tills_records_are_pushed(tills, ho_store):
    a, b = tills
    member = member_with_points(a, b, 10, 20000)
    out = rewards.redeem(a, member.member_id, "R500", PIN, points=100)
    _, sale = checkout_with_coupon(a, out["token"])
    # a use of another till recorded outside sync (queued by the trigger): never pushed in that till's name
    coupons.record_uses(a, [{"use_id": "f" * 32, "code": "S9-T9-1-AAAA", "store_id": "S9", "till_id": "T9",
                             "sale_id": "x", "used_at": "2026-03-01T10:00:00+00:00"}])
    # the till as it was before m0310: no triggers, nothing queued; the migration queues what is there
    a.conn.execute("DROP TRIGGER sync_coupon_uses_ins")
    a.conn.execute("DROP TRIGGER sync_erasures_ins")
    a.conn.execute("DELETE FROM sync_outbox WHERE type IN ('coupon_use', 'erasure')")
    a.conn.execute("DELETE FROM schema_migrations WHERE name = 'm0310_sync_marketing'")
    from pos_client.store.db import apply_migrations

    assert apply_migrations(a.conn) == ["m0310_sync_marketing"]
    assert a.conn.execute("SELECT COUNT(*) FROM sync_outbox WHERE type = 'coupon_use'").fetchone()[0] == 2
    (report,) = sync(a)
    assert report.push.rejected == [] and report.push.docs == 1
    assert ho_store._execute("SELECT store_id, sale_id FROM coupon_uses") == [("S1", sale.sale_id)]
    assert a.conn.execute("SELECT COUNT(*) FROM sync_outbox").fetchone()[0] == 0
