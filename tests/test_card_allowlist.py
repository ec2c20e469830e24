"""Cards by allow-list: only the program's own card formats are stored, at the till and at head office."""

from __future__ import annotations

import sqlite3

import httpx
import pytest

from cardread import parse_card
from cardread.allowlist import CardFormats
from cardread.barcode import with_check_digit
from headoffice.server import ServerThread
from pos_client.domain.errors import RefusedInput, UsageError
from pos_client.services import demo_seed
from pos_client.services.card_formats import card_formats
from pos_client.services.importer import import_sales
from pos_client.services.members import enroll, replace_card
from pos_client.store.config import write_config
from pos_client.store.token_file import read_token, token_path
from pos_client.till import open_till
from sync.engine import sync_once
from tests.sync.tillkit import register

CARD = with_check_digit("290000000001")
OTHER_EAN = "2100000012343"  # a valid EAN-13 outside the default 29 prefix


def test_defaults_accept_the_programs_formats_only():
    f = CardFormats()
    assert all(f.matches(c) for c in demo_seed.CARDS.values())  # `make demo` keeps working
    assert f.why(CARD) is None and f.why("NFC:04A1B2C3D4E5F6") is None and f.why("LOY-12345") is None
    for number in (OTHER_EAN, "12345678", "ABC-123", "NFC:0102", CARD[:-1] + str((int(CARD[-1]) + 1) % 10)):
        why = f.why(number)
        assert why is not None and why.startswith("not one of this program's cards (accepted:")
        assert "starting 29" in why and number not in why


def test_a_payment_card_in_the_programs_prefix_is_still_refused():
    f = CardFormats(loyalty_prefixes=("4",))
    assert f.why("4111111111111111") == "this is a payment card, not a loyalty card"
    assert f.why("4000000012") is None  # a short number with the prefix is not a card number of any network


def test_configured_ranges_and_prefixes():
    f = CardFormats.from_mapping({"loyalty_prefixes": ["29", "27"], "card_ranges": ["2100000000000-2100000999999"],
                                  "code128_prefixes": ["club"], "nfc_cards": False})
    assert f.matches(OTHER_EAN) and f.matches(with_check_digit("270000000001")) and f.matches("CLUB-77")
    assert not f.matches("2100001000005") and not f.matches("NFC:04A1B2C3") and not f.matches("LOY-12345")
    with pytest.raises(ValueError, match=r"card_ranges\[0\]"):
        CardFormats.from_mapping({"card_ranges": ["21-2199"]})
    with pytest.raises(ValueError, match="loyalty_prefixes"):
        CardFormats.from_mapping({"loyalty_prefixes": ["2x"]})


def test_enrol_and_replace_refuse_other_formats_before_the_database(till):
    with pytest.raises(RefusedInput, match=r"accepted: a barcode number starting 29"):
        enroll(till, card=parse_card(OTHER_EAN), name="Ana")
    member = enroll(till, card=parse_card(CARD), name="Ana")
    with pytest.raises(RefusedInput, match="not one of this program's cards"):
        replace_card(till, parse_card(CARD), parse_card("ABC-123"))
    assert [r[0] for r in till.conn.execute("SELECT card_number FROM cards")] == [CARD]
    assert till.conn.execute("SELECT COUNT(*) FROM members").fetchone()[0] == 1
    assert member.member_id


def test_configured_range_is_stored(tmp_path):
    home = tmp_path / "till"
    home.mkdir()
    write_config(home, {"program": {"card_ranges": ["2100000000000-2100000999999"]}})
    ctx = open_till(home)
    try:
        enroll(ctx, card=parse_card(OTHER_EAN), name="Grace")
        assert ctx.conn.execute("SELECT card_number FROM cards").fetchone()[0] == OTHER_EAN
    finally:
        ctx.close()


def test_a_bad_setting_is_a_usage_error(tmp_path):
    home = tmp_path / "till"
    home.mkdir()
    write_config(home, {"program": {"code128_prefixes": ["!"]}})
    ctx = open_till(home)
    try:
        with pytest.raises(UsageError, match=r"program\.code128_prefixes"):
            card_formats(ctx)
    finally:
        ctx.close()


def test_cli_enrol_refused_with_exit_3_naming_the_formats(cli):
    assert cli("init", "--store", "S1", "--till", "T1")[0] == 0
    code, out, _ = cli("member", "enroll", "--card", OTHER_EAN, "--name", "Ana", "--json")
    assert code == 3 and "accepted: a barcode number starting 29" in out["error"]
    with sqlite3.connect(cli.home / "till.db") as conn:
        assert conn.execute("SELECT COUNT(*) FROM cards").fetchone()[0] == 0
        assert conn.execute("SELECT COUNT(*) FROM members").fetchone()[0] == 0


def test_import_enrols_only_the_programs_cards(till, tmp_path):
    path = tmp_path / "history.csv"
    path.write_text(f"card,date,amount\n{CARD},2026-01-05,10.00\n{OTHER_EAN},2026-01-06,12.00\n", encoding="utf-8")
    result = import_sales(till, path, enroll_unknown=True)
    assert result["enrolled"] == 1 and result["imported"] == 1
    assert result["errors"] == [{"line": 3, "reason": result["errors"][0]["reason"]}]
    assert "not one of this program's cards" in result["errors"][0]["reason"]
    assert [r[0] for r in till.conn.execute("SELECT card_number FROM cards")] == [CARD]


def _push_card(url: str, token: str, number: str) -> httpx.Response:
    card = {"card_number": number, "member_id": "m-allow-1", "source": "keyed", "status": "active",
            "updated_at": "2026-01-05T10:00:00+00:00"}
    member = {"member_id": "m-allow-1", "store_id": "S1", "status": "active", "updated_at": card["updated_at"],
              "created_at": card["updated_at"]}
    return httpx.post(f"{url}/v1/push", json={"store_id": "S1", "till_id": "T1", "members": [member],
                                              "cards": [card]}, headers={"Authorization": f"Bearer {token}"})


@pytest.fixture
def headoffice(ho_store):
    """The real head-office server on a loopback port."""
    server = ServerThread(ho_store).start()
    yield server
    server.stop()


def test_head_office_quarantines_cards_outside_its_rule_and_tills_pull_the_rule(ho_store, headoffice, till):
    url = headoffice.url
    ctx = till
    register(ctx, ho_store, url)
    token = read_token(token_path(ctx.conn))
    assert token
    refused = _push_card(url, token, OTHER_EAN)
    assert refused.status_code in (200, 422), refused.text
    reasons = [r["reasons"] for r in refused.json().get("rejected", [])]
    assert any("not one of this program's cards" in x for rs in reasons for x in rs)
    assert ho_store.member("m-allow-1") is None or OTHER_EAN not in ho_store.member("m-allow-1").get("cards", [])
    rejects = ho_store.rejects() if hasattr(ho_store, "rejects") else []
    assert all(OTHER_EAN not in str(r) for r in rejects)

    ho_store.set_rule("card_formats", {"loyalty_prefixes": ["29"], "card_ranges": ["2100000000000-2100000999999"]})
    assert _push_card(url, token, OTHER_EAN).json()["cards"] == 1
    sync_once(ctx)  # the till pulls the rule with the card: the same formats on both sides
    assert card_formats(ctx).matches(OTHER_EAN)
    assert ctx.conn.execute("SELECT 1 FROM cards WHERE card_number = ?", (OTHER_EAN,)).fetchone() is not None

