"""One contract for every head-office storage backend (SQLite and a real PostgreSQL server)."""

from __future__ import annotations

import json

import pytest
from records import T0, batch, card, coupon_use, entry, erasure, member, offer_target, till_key

from cardread.barcode import with_check_digit
from headoffice.store import Forbidden, Principal

CARD_A = with_check_digit("290000000001")
CARD_B = with_check_digit("290000000002")


def enrol(store, s: str, t: str) -> Principal:
    token, who = store.register(store.add_till(s, t))
    assert store.authenticate(token) == who
    return who


def pull_all(store, who, cursor=0, limit=1000):
    changes, cursors = [], [cursor]
    while True:
        page = store.pull(who, cursor, limit)
        changes += page.changes
        assert page.next_cursor >= cursor
        cursor = page.next_cursor
        cursors.append(cursor)
        if not page.more:
            return changes, cursor


def test_enrolment_code_is_single_use_and_tokens_are_stored_hashed(store):
    code = store.add_till("S1", "T1")
    token, who = store.register(code)
    assert who == Principal("S1", "T1", "till")
    assert store.register(code) is None
    assert store.register("NOPE-NOPE-NOPE") is None
    assert store.authenticate(token) == who
    assert store.authenticate(token + "x") is None
    stored = [r[0] for r in store._execute("SELECT token_hash FROM tills WHERE store_id = 'S1'")]
    assert stored and token not in stored and all(len(h) == 64 for h in stored)
    # a code typed in lower case without dashes still works (the cashier reads it off a screen)
    token2, _ = store.register(store.add_till("S1", "T2").lower().replace("-", ""))
    assert store.authenticate(token2) == Principal("S1", "T2", "till")


def test_an_enrolment_code_expires(store):
    expired = store.add_till("S1", "T3", valid_days=-1)  # issued and already past its validity
    assert store.register(expired) is None
    fresh = store.add_till("S1", "T3")  # a new code for the same till replaces the old one
    assert store.register(expired) is None and store.register(fresh) is not None


def test_replayed_batch_changes_nothing(store):
    who = enrol(store, "S1", "T1")
    b = batch("S1", "T1", members=[member("m1", "S1")],
              entries=[entry("S1", "T1", i, "m1", 10) for i in range(1, 6)])
    first = store.ingest(who, b)
    assert (first.accepted, first.duplicates, first.high_seq) == (5, 0, 5)
    again = store.ingest(who, b)
    assert (again.accepted, again.duplicates, again.high_seq) == (0, 5, 5)
    assert store.balance("m1") == 50
    assert store.counts()["ledger"] == 5


def test_gaps_are_detected_and_high_seq_is_contiguous(store):
    who = enrol(store, "S1", "T1")
    r = store.ingest(who, batch("S1", "T1", entries=[entry("S1", "T1", s, "m1", 1) for s in (1, 2, 3, 6, 7)]))
    assert r.high_seq == 3 and r.gaps == [[4, 5]] and r.accepted == 5
    r = store.ingest(who, batch("S1", "T1", entries=[entry("S1", "T1", s, "m1", 1) for s in (4, 5)]))
    assert r.high_seq == 7 and r.gaps == []


def test_malformed_records_are_set_aside_with_reasons_and_the_rest_is_kept(store):
    who = enrol(store, "S1", "T1")
    good = [entry("S1", "T1", s, "m1", 5) for s in (1, 2, 4)]
    bad_points = entry("S1", "T1", 3, "m1", 5)
    bad_points["points"] = 2.5
    no_id = entry("S1", "T1", 5, "m1", 5)
    del no_id["entry_id"]
    r = store.ingest(who, batch("S1", "T1", entries=[*good, bad_points, no_id],
                                members=[{"member_id": "m2"}], cards=[card("4111111111111111", "m1")]))
    assert r.accepted == 3
    reasons = {(x["type"], x["index"]): " ".join(x["reasons"]) for x in r.rejected}
    assert "points: must be an integer" in reasons[("entries", 3)]
    assert "entry_id: required" in reasons[("entries", 4)]
    assert "store_id: required" in reasons[("members", 0)]
    assert "payment card" in reasons[("cards", 0)]
    assert r.high_seq == 5  # the quarantined seqs are held: the till does not resend them forever
    kept = store.rejects()
    assert len(kept) == 4
    assert all("4111111111111111" not in (k["raw"] or "") for k in kept)
    assert store.balance("m1") == 15
    # the same bad batch again quarantines nothing twice
    store.ingest(who, batch("S1", "T1", entries=[bad_points]))
    assert len(store.rejects()) == 4


def test_a_seq_reused_under_another_uuid_is_quarantined_not_counted(store):
    who = enrol(store, "S1", "T1")
    store.ingest(who, batch("S1", "T1", entries=[entry("S1", "T1", 1, "m1", 5)]))
    r = store.ingest(who, batch("S1", "T1", entries=[entry("S1", "T1", 1, "m1", 7)]))
    assert r.accepted == 0 and r.duplicates == 0 and len(r.rejected) == 1
    assert store.balance("m1") == 5


def test_a_till_may_only_write_for_its_own_store_and_till(store):
    who = enrol(store, "S1", "T1")
    with pytest.raises(Forbidden):
        store.ingest(who, batch("S1", "T2", entries=[entry("S1", "T2", 1, "m1", 5)]))
    with pytest.raises(Forbidden):
        store.ingest(who, batch("S1", "T1", entries=[entry("S2", "T1", 1, "m1", 5)]))
    assert store.counts()["ledger"] == 0


def test_pull_pages_other_tills_changes_with_monotonic_cursors(store):
    a, b = enrol(store, "S1", "T1"), enrol(store, "S2", "T1")
    store.ingest(a, batch("S1", "T1", members=[member(f"m{i}", "S1") for i in range(7)],
                          entries=[entry("S1", "T1", i + 1, f"m{i % 7}", 3) for i in range(25)]))
    store.ingest(b, batch("S2", "T1", entries=[entry("S2", "T1", 1, "m1", 4)]))
    changes, cursor = pull_all(store, b, limit=4)
    kinds = [c.type for c in changes]
    assert kinds.count("member") == 7 and kinds.count("entry") == 25  # not its own entry
    cursors = [c.cursor for c in changes]
    assert cursors == sorted(cursors) and len(set(cursors)) == len(cursors)
    assert store.pull(b, cursor).changes == []
    # resuming from the middle gives exactly the rest
    rest, _ = pull_all(store, b, cursor=cursors[9], limit=5)
    assert [c.cursor for c in rest] == cursors[10:]
    first = store.pull(b, 0, 4)
    assert first.total_pending == 32 and first.more


def test_same_phone_enrolled_at_two_stores_is_merged_into_the_older_member(store):
    store.approvals.set_setting("approvals.auto_merge", 1)  # a merge across stores waits for approval otherwise
    a, b = enrol(store, "S1", "T1"), enrol(store, "S2", "T1")
    store.ingest(a, batch("S1", "T1", members=[member("ma", "S1", "+33612345678", "2026-03-01T09:00:00+00:00")],
                          cards=[card(CARD_A, "ma")], entries=[entry("S1", "T1", 1, "ma", 100)]))
    r = store.ingest(b, batch("S2", "T1", members=[member("mb", "S2", "+33612345678", "2026-03-01T09:30:00+00:00")],
                              cards=[card(CARD_B, "mb")], entries=[entry("S2", "T1", 1, "mb", 40)]))
    assert r.merges == 2
    assert store.balance("ma") == 140 and store.balance("mb") == 140
    loser = store.member("mb")
    assert loser["status"] == "merged" and loser["merged_into"] == "ma" and loser["balance"] == 0
    assert store.member("ma")["cards"] == sorted([CARD_A, CARD_B])
    history = store.member_history("ma")
    assert {h["member_id"] for h in history} == {"ma", "mb"} and sum(h["points"] for h in history) == 140
    # an offline till that still earns on the merged member: the points follow to the survivor
    store.ingest(b, batch("S2", "T1", entries=[entry("S2", "T1", 2, "mb", 5)]))
    assert store.balance("ma") == 145 and store.member("mb")["balance"] == 0
    changes, _ = pull_all(store, a)
    merged = [c.data for c in changes if c.type == "member" and c.data["member_id"] == "mb"]
    assert merged[-1]["status"] == "merged" and merged[-1]["merged_into"] == "ma"
    cards = {c.data["card_number"]: c.data["member_id"] for c in changes if c.type == "card"}
    assert cards[CARD_B] == "ma"
    moved = sum(c.data["points"] for c in changes if c.type == "entry" and c.data["member_id"] == "ma")
    assert moved == 45  # what head office moved onto the survivor, as entries every till applies


def test_offline_double_spend_keeps_both_and_shows_in_the_overdraft_report(store):
    a, b = enrol(store, "S1", "T1"), enrol(store, "S2", "T1")
    store.ingest(a, batch("S1", "T1", members=[member("m1", "S1")], entries=[entry("S1", "T1", 1, "m1", 100)]))
    store.ingest(a, batch("S1", "T1", entries=[entry("S1", "T1", 2, "m1", -80, "redeem")]))
    store.ingest(b, batch("S2", "T1", entries=[entry("S2", "T1", 1, "m1", -80, "redeem")]))
    assert store.balance("m1") == -60
    report = store.overdraft_report()
    assert [r["member_id"] for r in report] == ["m1"]
    assert report[0]["balance"] == -60 and {x["store_id"] for x in report[0]["redemptions"]} == {"S1", "S2"}


def test_blocked_card_reaches_every_till_and_a_till_cannot_unblock_it(store):
    a, b = enrol(store, "S1", "T1"), enrol(store, "S2", "T1")
    store.ingest(a, batch("S1", "T1", members=[member("m1", "S1")], cards=[card(CARD_A, "m1")]))
    _, cursor = pull_all(store, b)
    assert store.block_card(CARD_A) and not store.block_card("nope")
    changes, cursor = pull_all(store, b, cursor)
    assert [(c.type, c.data["status"]) for c in changes] == [("card", "blocked")]
    store.ingest(a, batch("S1", "T1", cards=[card(CARD_A, "m1", "active")]))
    changes, _ = pull_all(store, b, cursor)
    assert all(c.data["status"] == "blocked" for c in changes if c.type == "card")


def test_erasure_rules_and_products_are_pulled(store):
    a, b = enrol(store, "S1", "T1"), enrol(store, "S2", "T1")
    store.ingest(a, batch("S1", "T1", members=[member("m1", "S1", "+33612345678")]))
    store.erase_member("m1")
    store.set_rule("offline_redeem_cap", 300)
    store.upsert_products([{"sku": "A1", "ean": "4006381333931", "name": "Pen", "category": "office",
                            "price_cents": 199}])
    with pytest.raises(ValueError):
        store.upsert_products([{"sku": "A2", "name": "Bad", "price_cents": 1.5}])
    changes, _ = pull_all(store, b)
    by_type = {c.type: c.data for c in changes}
    assert by_type["member"]["status"] == "erased" and by_type["member"]["phone"] is None
    assert by_type["rule"] == {"key": "offline_redeem_cap", "value": 300, "version": 1}  # the program version
    assert by_type["product"]["price_cents"] == 199
    # a till's later update cannot bring erased details back
    store.ingest(a, batch("S1", "T1", members=[member("m1", "S1", "+33612345678")]))
    assert store.member("m1")["phone"] is None


def test_clock_skew_orders_by_receive_time_and_keeps_till_time(store):
    a, b, c = enrol(store, "S1", "T1"), enrol(store, "S2", "T1"), enrol(store, "S3", "T1")
    store.ingest(a, batch("S1", "T1", entries=[entry("S1", "T1", 1, "m1", 1, created_at="2040-01-01T00:00:00+00:00")]))
    store.ingest(b, batch("S2", "T1", entries=[entry("S2", "T1", 1, "m1", 2, created_at="1999-01-01T00:00:00+00:00")]))
    store.ingest(a, batch("S1", "T1", entries=[entry("S1", "T1", 2, "m1", 3, created_at=T0)]))
    changes, _ = pull_all(store, c)
    assert [x.data["points"] for x in changes] == [1, 2, 3]
    assert [x.data["created_at"][:4] for x in changes] == ["2040", "1999", "2026"]
    assert [h["created_at"][:4] for h in store.member_history("m1")] == ["2040", "1999", "2026"]


def test_large_overlapping_batches_take_each_entry_once(store):
    who = enrol(store, "S1", "T1")
    entries = [entry("S1", "T1", s, f"m{s % 13}", s % 7) for s in range(1, 451)]
    first = store.ingest(who, batch("S1", "T1", entries=entries[:300]))
    assert (first.accepted, first.high_seq) == (300, 300)
    second = store.ingest(who, batch("S1", "T1", entries=entries[149:]))
    assert (second.accepted, second.duplicates, second.high_seq) == (150, 151, 450)
    counts = store.counts()
    assert counts["ledger"] == 450 and counts["points_total"] == counts["balance_total"] == sum(s % 7 for s in
                                                                                               range(1, 451))


KEY_1, KEY_2 = "11" * 32, "22" * 32


def test_till_keys_first_key_wins_and_every_other_till_pulls_them(store):
    a, b = enrol(store, "S1", "T1"), enrol(store, "S2", "T1")
    r = store.ingest(a, batch("S1", "T1"))
    assert r.wants == ["till_key"]  # head office asks for the key it lacks
    r = store.ingest(a, batch("S1", "T1", docs=[till_key("S1", "T1", KEY_1)]))
    assert (r.docs, r.rejected, r.wants) == (1, [], [])
    again = store.ingest(a, batch("S1", "T1", docs=[till_key("S1", "T1", KEY_1)]))
    assert (again.docs, again.rejected) == (0, [])
    other = store.ingest(a, batch("S1", "T1", docs=[till_key("S1", "T1", KEY_2)]))
    assert other.docs == 0 and "already holds another key" in other.rejected[0]["reasons"][0]
    assert [k["public_key"] for k in store.till_keys()] == [KEY_1]
    assert [(x["type"], x["store_id"]) for x in store.rejects()] == [("docs", "S1")]
    store.ingest(b, batch("S2", "T1", docs=[till_key("S2", "T1", KEY_2)]))
    # each till pulls the others' keys, never its own
    for who, expected in ((b, [("S1", "T1", KEY_1)]), (a, [("S2", "T1", KEY_2)])):
        changes, _ = pull_all(store, who)
        assert [(c.data["store_id"], c.data["till_id"], c.data["public_key"]) for c in changes
                if c.type == "till_key"] == expected
    with pytest.raises(Forbidden):  # a till cannot push a key in another till's name
        store.ingest(a, batch("S1", "T1", docs=[till_key("S3", "T1", KEY_2)]))
    bad = store.ingest(a, batch("S1", "T1", docs=[till_key("S1", "T1", "not-hex")]))
    assert "data.public_key: malformed" in bad.rejected[0]["reasons"]


def test_coupon_uses_are_idempotent_and_double_uses_are_reported(store):
    a, b, c = enrol(store, "S1", "T1"), enrol(store, "S2", "T1"), enrol(store, "S3", "T1")
    use_a = coupon_use("S1", "T1", "S1-T1-1-ABCD", "sale-a")
    assert store.ingest(a, batch("S1", "T1", docs=[use_a])).docs == 1
    assert store.ingest(a, batch("S1", "T1", docs=[use_a])).docs == 0  # replay
    assert store.coupon_doubles() == []
    store.ingest(b, batch("S2", "T1", docs=[coupon_use("S2", "T1", "S1-T1-1-ABCD", "sale-b"),
                                           coupon_use("S2", "T1", "S1-T1-2-EFGH", "sale-c")]))
    (double,) = store.coupon_doubles()
    assert double["code"] == "S1-T1-1-ABCD"
    assert [(u["store_id"], u["sale_id"]) for u in double["uses"]] == [("S1", "sale-a"), ("S2", "sale-b")]
    assert store.counts()["coupon_uses"] == 3
    changes, _ = pull_all(store, c)
    assert sorted(x.data["sale_id"] for x in changes if x.type == "coupon_use") == ["sale-a", "sale-b", "sale-c"]
    with pytest.raises(Forbidden):
        store.ingest(a, batch("S1", "T1", docs=[coupon_use("S2", "T1", "S1-T1-3-IJKL", "sale-d")]))
    bad = coupon_use("S1", "T1", "S1-T1-4-MNOP", "sale-e")
    bad["key"] = "something-else"
    r = store.ingest(a, batch("S1", "T1", docs=[bad]))
    assert r.docs == 0 and "key: must be" in r.rejected[0]["reasons"][0]


def test_erasure_from_a_till_and_from_head_office_end_the_same(store):
    a, b = enrol(store, "S1", "T1"), enrol(store, "S2", "T1")
    store.approvals.set_setting("approvals.auto_erase", 1)  # a till's erasure otherwise waits for a decision
    store.ingest(a, batch("S1", "T1", members=[member("m1", "S1", "+33612345678"), member("m2", "S1", "+33699999999")],
                          cards=[card(CARD_A, "m1"), card(CARD_B, "m2")],
                          entries=[entry("S1", "T1", 1, "m1", 30), entry("S1", "T1", 2, "m2", 40)]))
    _, cursor = pull_all(store, b)
    gone = erasure("S1", "T1", "m1")
    assert store.ingest(a, batch("S1", "T1", docs=[gone])).docs == 1
    assert store.ingest(a, batch("S1", "T1", docs=[gone])).docs == 0
    assert store.erase_member("m2") and not store.erase_member("nobody")
    for member_id, points in (("m1", 30), ("m2", 40)):
        held = store.member(member_id)
        assert (held["name"], held["phone"], held["email"], held["status"], held["consent"], held["balance"]) == (
            None, None, None, "erased", {}, points)
    assert {(e["member_id"], e["store_id"]) for e in store.erasures()} == {("m1", "S1"), ("m2", "HO")}
    changes, _ = pull_all(store, b, cursor)
    assert sorted(c.data["member_id"] for c in changes if c.type == "erasure") == ["m1", "m2"]
    assert {c.data["card_number"]: c.data["status"] for c in changes if c.type == "card"} == {
        CARD_A: "blocked", CARD_B: "blocked"}
    assert {c.data["member_id"]: c.data["status"] for c in changes if c.type == "member"} == {
        "m1": "erased", "m2": "erased"}


def test_offer_targets_are_idempotent_immutable_checked_and_pulled_by_every_till(store):
    a, b, c = enrol(store, "S1", "T1"), enrol(store, "S2", "T1"), enrol(store, "S3", "T1")
    treated = offer_target("S1", "T1", "welcome", "sale-1", "m1", coupon_code="S1-T1-1-ABCD")
    control = offer_target("S1", "T1", "welcome", "sale-2", "m2", "control", "2026-03-02")
    odd_id = offer_target("S1", "T1", "Spring 10% / VIP", "sale-3", "m3", holdout_bp=0, window_days=3660)
    assert store.ingest(a, batch("S1", "T1", docs=[treated, control, odd_id])).docs == 3
    assert store.ingest(a, batch("S1", "T1", docs=[treated])).docs == 0  # replay
    changed = offer_target("S1", "T1", "welcome", "sale-1", "m1", "control")  # same key, other content
    assert store.ingest(a, batch("S1", "T1", docs=[changed])).docs == 0  # immutable: the first stands
    elsewhere = offer_target("S2", "T1", "welcome", "sale-9", "m1", day="2026-03-05")
    assert store.ingest(b, batch("S2", "T1", docs=[elsewhere])).docs == 1
    assert store.counts()["offer_targets"] == 4
    sent = {d["key"]: d["data"] for d in (treated, control, odd_id, elsewhere)}
    changes, _ = pull_all(store, c)
    assert {f"{x.data['offer_id']}/{x.data['sale_id']}": x.data for x in changes if x.type == "offer_target"} == sent
    changes, _ = pull_all(store, a)  # a till pulls its own back too, and applies them idempotently
    assert sorted(x.data["sale_id"] for x in changes if x.type == "offer_target") == [
        "sale-1", "sale-2", "sale-3", "sale-9"]
    exported = {(r["offer_id"], r["sale_id"]): r for r in store.export_rows("offer_targets")}
    assert exported == {(d["offer_id"], d["sale_id"]): d for d in sent.values()}
    with pytest.raises(Forbidden):
        store.ingest(a, batch("S1", "T1", docs=[offer_target("S2", "T1", "welcome", "sale-x", "m1")]))
    bad = [offer_target("S1", "T1", "welcome", "sale-4", "m4", "maybe"),
           offer_target("S1", "T1", "welcome", "sale-5", "m5", holdout_bp=10_001, window_days=0),
           offer_target("S1", "T1", "welcome", "sale-6", "m6", day="2026-02-30", at=T0),
           offer_target("S1", "T1", "x" * 201, "sale-7", "m7")]
    wrong_key = offer_target("S1", "T1", "welcome", "sale-8", "m8")
    wrong_key["key"] = "welcome/sale-1"
    r = store.ingest(a, batch("S1", "T1", docs=[*bad, wrong_key]))
    assert r.docs == 0 and store.counts()["offer_targets"] == 4
    assert [rej["reasons"] for rej in r.rejected] == [
        ["data.grp: must be one of control, treated"],
        ["data.holdout_bp: must be <= 10000", "data.window_days: must be >= 1"],
        ["data.day: not an ISO-8601 date"],
        ["data.offer_id: longer than 200 characters"],
        ["key: must be the key its data names, 'welcome/sale-8' for this offer_target"]]


def test_export_rows_gives_the_program_data_for_head_office_reports(store):
    who = enrol(store, "S1", "T1")
    store.ingest(who, batch("S1", "T1", members=[member("m1", "S1")], cards=[card("2900000000018", "m1")],
                            entries=[entry("S1", "T1", 1, "m1", 12), entry("S1", "T1", 2, "m1", -2, "redeem")]))
    members = store.export_rows("members")
    assert [(m["member_id"], json.loads(m["consent"])) for m in members] == [("m1", {"email": True})]
    assert [(c["card_number"], c["member_id"]) for c in store.export_rows("cards")] == [("2900000000018", "m1")]
    assert sorted(e["points"] for e in store.export_rows("ledger")) == [-2, 12]
    with pytest.raises(ValueError):
        store.export_rows("tills")  # tokens never leave through here
