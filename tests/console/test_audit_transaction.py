"""A console change and its audit record are one transaction: when the audit write fails (here a real SQLite
error raised by a trigger on `audit`, standing in for a crash between the two), the change is rolled back with
it, and the same action succeeds once the audit table takes writes again, with exactly one audit record."""

from __future__ import annotations

import pytest

from tests.console.conftest import csrf_of
from tests.console.test_members import CARD_1, audit_rows, post, seed

BREAK = "CREATE TRIGGER audit_broken BEFORE INSERT ON audit BEGIN SELECT RAISE(ABORT, 'disk gone'); END"


def _state(store) -> dict:
    """Everything the actions below may change."""
    return {"ledger": store._execute("SELECT entry_id, member_id, points FROM ledger ORDER BY entry_id"),
            "cards": store._execute("SELECT card_number, status FROM cards ORDER BY card_number"),
            "tills": store._execute("SELECT store_id, till_id, revoked_at FROM till_reports ORDER BY 1, 2"),
            "token": store._execute("SELECT store_id, till_id, token_hash FROM tills ORDER BY 1, 2"),
            "users": store._execute("SELECT name FROM console_users ORDER BY name"),
            "audit": audit_rows(store)}


def _adjust(client):
    return post(client, "/members/m1/adjust", points="+40", reason="goodwill")


def _block(client):
    return post(client, "/members/m1/block", card_number=CARD_1, reason="card reported stolen")


def _revoke(client):
    return client.post("/tills/S1/T1/revoke", data={"csrf_token": csrf_of(client, "/stores"), "reason": "stolen"},
                       follow_redirects=False)


def _add_user(client):
    return client.post("/users", data={"csrf_token": csrf_of(client, "/users"), "action": "add", "name": "mia",
                                       "role": "manager", "store_id": "S1", "reason": "new manager"})


@pytest.mark.parametrize(("act", "action"), [(_adjust, "member.adjust"), (_block, "member.block"),
                                             (_revoke, "till.revoke"), (_add_user, "user.add")])
def test_a_failed_audit_write_takes_the_change_back_with_it(ho_store, owner_client, act, action):
    seed(ho_store)
    before = _state(ho_store)
    ho_store._execute(BREAK)
    failed = act(owner_client)
    assert failed.status_code == 500 and "disk gone" not in failed.text
    assert _state(ho_store) == before  # no change without its audit record
    ho_store._execute("DROP TRIGGER audit_broken")
    done = act(owner_client)
    assert done.status_code in (200, 303), done.text
    after = _state(ho_store)
    assert after != {**before, "audit": after["audit"]}  # the change happened this time
    assert [a for a, *_ in after["audit"]].count(action) == 1
