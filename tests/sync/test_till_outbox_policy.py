"""Till-side bookkeeping without a network: the outbox, applying pages, the offline policy, the status line."""

from __future__ import annotations

import msgspec
import pytest
from records import T0
from tillkit import assert_invariant, enrol, loyalty, redeem, sell

from pos_client.domain.errors import RefusedInput, UsageError
from pos_client.services.marketing.offline_policy import check_offline_redeem, is_offline
from pos_client.services.members import set_consent
from pos_client.store import sync_state as state
from sync.apply import apply_page
from sync.push import collect
from wire.batches import encode
from wire.protocol import LEDGER_COLUMNS, Change, PullPage
from wire.records import LedgerRow


def test_local_changes_are_queued_and_pulled_changes_do_not_echo(make_till):
    t = make_till("S1", "T1")
    m = enrol(t, 1, "+33611111111")
    sell(t, 1, 1000)
    set_consent(t, m.member_id, "sms", True)
    body, marks, top = collect(t)
    assert [x["member_id"] for x in body["members"]] == [m.member_id]
    assert body["members"][0]["consent"] == {"email": True, "sms": True}
    assert [c["card_number"] for c in body["cards"]] == [loyalty(1)]
    assert len(body["sales"]) == 1 and body["sales"][0]["lines"][0]["amount_cents"] == 1000
    assert top == 1 and marks.outbox_id > 0 and marks.sale_rowid == 1
    t.conn.execute("DELETE FROM sync_outbox")
    state.put(t.conn, **{state.PUSH_SALE: marks.sale_rowid})
    page = PullPage([
        Change(1, "member", {"member_id": "x1", "store_id": "S2", "name": "Bo", "phone": None, "email": None,
                             "status": "active", "merged_into": None, "consent": {"post": True},
                             "created_at": T0, "updated_at": T0}),
        Change(2, "card", {"card_number": loyalty(2), "member_id": "x1", "source": "barcode", "status": "active",
                           "updated_at": T0}),
        Change(3, "entry", {"entry_id": "a" * 32, "member_id": "x1", "store_id": "S2", "till_id": "T1", "seq": 1,
                            "kind": "earn", "points": 12, "sale_id": None, "amount_cents": 1200, "created_at": T0,
                            "operator": None, "reason": None, "ref": None}),
        Change(4, "entry", {"entry_id": "b" * 32, "member_id": "x2", "store_id": "S2", "till_id": "T1", "seq": 2,
                            "kind": "earn", "points": 3, "sale_id": None, "amount_cents": 300, "created_at": T0,
                            "operator": None, "reason": None, "ref": None}),
    ], next_cursor=4, more=False)
    assert apply_page(t, page)["entries"] == 2
    assert apply_page(t, page)["entries"] == 0  # a page applied twice counts once
    assert t.conn.execute("SELECT COUNT(*) FROM sync_outbox").fetchone()[0] == 0
    assert state.get_int(t.conn, state.CURSOR) == 4
    assert t.conn.execute("SELECT points FROM balances WHERE member_id = 'x1'").fetchone()[0] == 12
    assert t.conn.execute("SELECT status FROM members WHERE member_id = 'x2'").fetchone()[0] == "active"
    assert_invariant(t)
    body, _, _ = collect(t)
    assert [e["store_id"] for e in body["entries"]] == ["S1"]  # only this till's own entries are pushed


def test_a_pending_local_change_wins_over_an_older_pulled_copy(make_till):
    t = make_till("S1", "T1")
    m = enrol(t, 1)
    t.conn.execute("UPDATE members SET name = 'New name' WHERE member_id = ?", (m.member_id,))
    stale = {"member_id": m.member_id, "store_id": "S1", "name": "Old name", "phone": None, "email": None,
             "status": "active", "merged_into": None, "consent": {}, "created_at": T0, "updated_at": T0}
    apply_page(t, PullPage([Change(1, "member", stale)], 1, False))
    assert t.conn.execute("SELECT name FROM members WHERE member_id = ?", (m.member_id,)).fetchone()[0] == "New name"


def test_offline_redemption_policy(make_till):
    standalone = make_till("S1", "T1", offline_redeem_cap=10)
    m = enrol(standalone, 1)
    sell(standalone, 1, 5000)
    assert not is_offline(standalone)
    assert check_offline_redeem(standalone, m.member_id, 50).offline is False  # no head office: no cap
    with pytest.raises(RefusedInput, match="only 50 points"):
        check_offline_redeem(standalone, m.member_id, 51)
    with pytest.raises(UsageError):
        check_offline_redeem(standalone, m.member_id, 0)
    state.put(standalone.conn, **{state.TOKEN: "t", state.STATE: "offline"})
    assert is_offline(standalone)
    redeem(standalone, m.member_id, 6)
    check = check_offline_redeem(standalone, m.member_id, 4)
    assert (check.offline, check.cap, check.cap_left) == (True, 10, 4)
    with pytest.raises(RefusedInput, match="at most 4"):
        redeem(standalone, m.member_id, 5)
    state.note_success(standalone.conn, None)
    assert check_offline_redeem(standalone, m.member_id, 44).offline is False


def test_status_line_for_the_status_bar(make_till):
    t = make_till("S1", "T1")
    assert state.read_status(t.conn, "S1", "T1").state == "unregistered"
    enrol(t, 1)
    sell(t, 1, 1000)
    state.put(t.conn, **{state.TOKEN: "t"})
    state.note_failure(t.conn, "head office unreachable (ConnectError)")
    status = state.read_status(t.conn, "S1", "T1")
    assert (status.state, status.entries_waiting) == ("offline", 1)
    assert status.line() == "offline · 1 entries waiting · last sync never · head office unreachable (ConnectError)"
    state.note_success(t.conn, None)
    assert state.read_status(t.conn, "S1", "T1").line() == "online · 1 entries waiting · last sync 0s ago"
    state.note_success(t.conn, "2000-01-01T00:00:00+00:00")  # head office's clock says this till is far ahead
    status = state.read_status(t.conn, "S1", "T1")
    assert status.clock_offset_s < -10**8 and "till clock off by" in status.line()


def test_the_push_sends_its_entries_as_rows_that_encode_like_the_dicts(make_till):
    """collect(as_rows=True) (what push_pending sends) encodes each entry as the same JSON object as the dict
    collect returns otherwise, from LedgerRow built positionally in LEDGER_COLUMNS order."""
    assert LedgerRow.__struct_fields__ == LEDGER_COLUMNS
    t = make_till("S1", "T1")
    enrol(t, 1)
    for amount in (1000, 250):
        sell(t, 1, amount)
    dicts, marks, top = collect(t)
    rows, row_marks, row_top = collect(t, as_rows=True)
    assert dicts["entries"] and all(isinstance(e, LedgerRow) for e in rows["entries"])
    assert msgspec.json.decode(encode(rows)) == msgspec.json.decode(encode(dicts))
    assert (row_marks, row_top) == (marks, top) == (marks, dicts["entries"][-1]["seq"])
