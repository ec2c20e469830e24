"""Issue 11, finding 2: payment card numbers slipped in with `.`/`_` separators, a trailing letter, Mir, Troy,
UATP, or a track 2 whose PAN fails Luhn. Each is refused at the CLI, by the card parser behind every reader,
by the wire schema head office decodes with, and numbers stored by older versions are purged (members kept).

PANs are built here from each network's published IIN and the Luhn rule, independently of `cardread.payment`.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cardread import parse_card, payment, route_scan
from cardread.barcode import with_check_digit
from cardread.payment import in_payment_iin_range, looks_like_payment_card, luhn_valid
from wire.errors import Invalid
from wire.records import CardRecord

LOYALTY = with_check_digit("290000000001")


def luhn_complete(body: str) -> str:
    """`body` + the check digit that makes it pass Luhn (written from the ISO/IEC 7812 definition)."""
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:  # doubled: every second digit from the right once the check digit is appended
            d = d * 2 - 9 if d * 2 > 9 else d * 2
        total += d
    return body + str((10 - total % 10) % 10)


def pan(prefix: str, length: int) -> str:
    return luhn_complete(prefix + "1" * (length - len(prefix) - 1))


NETWORKS = {
    "visa": pan("4", 16), "mastercard": pan("51", 16), "mastercard-2": pan("2221", 16), "amex": pan("37", 15),
    "discover": pan("6011", 16), "jcb": pan("3530", 16), "unionpay": pan("62", 19), "maestro": pan("6759", 13),
    "mir": pan("2200", 16), "mir-2204": pan("2204", 19), "troy": pan("9792", 16), "uatp": pan("1", 15),
    "diners": pan("36", 14), "rupay": pan("60", 16),
}


def spaced(number: str, sep: str) -> str:
    return sep.join(number[i:i + 4] for i in range(0, len(number), 4))


@pytest.mark.parametrize("name", sorted(NETWORKS))
@pytest.mark.parametrize("sep", ["", " ", "-", ".", "_", "/"])
def test_parser_refuses_every_network_with_every_separator(name, sep):
    number = NETWORKS[name]
    for text in (spaced(number, sep), spaced(number, sep) + "X", "A" + spaced(number, sep)):
        read = parse_card(text)
        assert read.payment_card, (name, text)
        assert number not in repr(read) and read.raw == ""


def test_track2_failing_luhn_by_one_digit_is_still_a_bank_card():
    good = NETWORKS["visa"]
    off_by_one = good[:-1] + str((int(good[-1]) + 1) % 10)
    for track in (f";{off_by_one}=25121010000000000000?", f";{off_by_one}=2512?"):
        read = parse_card(track)
        assert read.payment_card and off_by_one not in repr(read)
        assert route_scan(track).card is not None and route_scan(track).card.payment_card


def test_loyalty_cards_still_pass():
    assert parse_card(LOYALTY).ok and parse_card(f";{LOYALTY}=0000?").ok
    assert parse_card("NFC:04A224B2C35A80").ok and parse_card("MEMBER-0042").ok


@pytest.mark.parametrize("name", ["visa", "mir", "troy", "uatp"])
def test_wire_schema_refuses_a_payment_number_in_any_form(name):
    for text in (NETWORKS[name], spaced(NETWORKS[name], "."), NETWORKS[name] + "Z"):
        with pytest.raises(Invalid) as err:
            CardRecord.parse({"card_number": text, "member_id": "m1", "source": "keyed", "status": "active",
                              "updated_at": "2026-11-30T10:00:00+00:00"})
        assert NETWORKS[name] not in str(err.value)


@pytest.mark.parametrize("text", [spaced(NETWORKS["visa"], "."), spaced(NETWORKS["visa"], "_"),
                                  NETWORKS["visa"] + "A", NETWORKS["mir"], NETWORKS["troy"], NETWORKS["uatp"]])
def test_cli_enroll_refuses_and_stores_nothing(cli, text):
    assert cli("init", "--store", "S1", "--till", "T1")[0] == 0
    code, out, err = cli("member", "enroll", "--card", text, "--phone", "0612345678")
    assert code == 3, (code, out, err)
    assert "payment" in (out + err).lower()
    with sqlite3.connect(cli.home / "till.db") as db:
        assert db.execute("SELECT COUNT(*) FROM cards").fetchone()[0] == 0
        assert db.execute("SELECT COUNT(*) FROM members").fetchone()[0] == 0
        digits = "".join(c for c in NETWORKS["visa"])
        dump = "\n".join(db.iterdump())
    assert digits not in dump and text not in dump


def test_migration_purges_numbers_older_versions_stored(tmp_path):
    """A v0.1.0-style database holding payment numbers as cards: after opening with today's code the numbers
    are gone from cards and the outbox, the members and their points are kept, and the count is recorded."""
    from pos_client.store.db import connect
    from pos_client.till import open_till

    home = tmp_path / "home"
    ctx = open_till(home)
    ctx.close()
    db_file = home / "till.db"
    bad = [spaced(NETWORKS["visa"], "."), NETWORKS["mir"], NETWORKS["troy"] + "X"]
    with sqlite3.connect(db_file) as db:
        db.execute("DELETE FROM schema_migrations WHERE name = 'm0050_purge_payment_cards'")
        for i, number in enumerate([*bad, LOYALTY]):
            db.execute("INSERT INTO members (member_id, store_id, created_at, updated_at, phone)"
                       " VALUES (?, 'S1', '2026-01-01', '2026-01-01', ?)", (f"m{i}", f"06000000{i}"))
            db.execute("INSERT INTO cards (card_number, member_id, source, status, created_at, updated_at)"
                       " VALUES (?, ?, 'keyed', 'active', '2026-01-01', '2026-01-01')", (number, f"m{i}"))
    conn = connect(db_file)
    try:
        cards = [r[0] for r in conn.execute("SELECT card_number FROM cards")]
        assert cards == [LOYALTY]
        assert conn.execute("SELECT COUNT(*) FROM members").fetchone()[0] == 4
        outbox = [r[0] for r in conn.execute("SELECT key FROM sync_outbox WHERE type = 'card'")]
        assert all(b not in outbox for b in bad) and LOYALTY in outbox
        events = [tuple(r) for r in conn.execute("SELECT kind, count FROM security_events")]
        assert events == [("payment_cards_removed", 3)]
    finally:
        conn.close()


def test_head_office_purges_stored_numbers_once(tmp_path):
    from headoffice.store import open_store

    url = f"sqlite:///{tmp_path / 'ho.db'}"
    open_store(url).close()
    with sqlite3.connect(tmp_path / "ho.db") as db:
        db.execute("DELETE FROM meta WHERE key = 'payment_cards_purged_v1'")
        for number in (NETWORKS["uatp"], spaced(NETWORKS["amex"], "_"), LOYALTY):
            db.execute("INSERT INTO cards (card_number, member_id, source, status, updated_at)"
                       " VALUES (?, 'm1', 'keyed', 'active', '2026-01-01')", (number,))
            db.execute("INSERT INTO feed (server_seq, entity, key) VALUES ((SELECT COUNT(*) + 1 FROM feed),"
                       " 'card', ?)", (number,))
    open_store(url).close()
    with sqlite3.connect(tmp_path / "ho.db") as db:
        assert [r[0] for r in db.execute("SELECT card_number FROM cards")] == [LOYALTY]
        assert [r[0] for r in db.execute("SELECT key FROM feed WHERE entity = 'card'")] == [LOYALTY]
        assert db.execute("SELECT value FROM meta WHERE key = 'payment_cards_removed'").fetchone()[0] == 2


SEPARATORS = st.sampled_from(["", " ", "-", ".", "_", "/", "  ", " - "])


@settings(max_examples=300, deadline=None)
@given(name=st.sampled_from(sorted(NETWORKS)), sep=SEPARATORS, lead=st.sampled_from(["", "A", "#", "x "]),
       tail=st.sampled_from(["", "X", "?", "\r", "\t"]), group=st.integers(min_value=1, max_value=6))
def test_property_no_payment_number_survives_the_parser_or_the_schema(name, sep, lead, tail, group):
    number = NETWORKS[name]
    text = lead + sep.join(number[i:i + group] for i in range(0, len(number), group)) + tail
    for read in (parse_card(text), parse_card(text, "barcode"), parse_card(text, "keyed")):
        assert not read.ok or number not in "".join(ch for ch in read.card_number if ch.isdigit())
        assert number not in repr(read)
    routed = route_scan(text)
    assert routed.product_ean is None or number not in routed.product_ean
    with pytest.raises(Invalid):
        CardRecord.parse({"card_number": text, "member_id": "m1", "source": "keyed", "status": "active",
                          "updated_at": "2026-11-30T10:00:00+00:00"})


def test_import_refuses_payment_numbers(tmp_path):
    """History import goes through the same parser: a row whose card is a payment number is refused, never stored."""
    home = tmp_path / "h"
    env_run = [sys.executable, "-m", "pos_client", "--home", str(home)]
    assert subprocess.run([*env_run, "init", "--store", "S1", "--till", "T1"], capture_output=True).returncode == 0
    csv = tmp_path / "sales.csv"
    csv.write_text("sale_id,date,card,amount\nI1,2026-10-01," + spaced(NETWORKS["visa"], ".") + ",10.00\n"
                   f"I2,2026-10-02,{LOYALTY},12.00\n")
    proc = subprocess.run([*env_run, "import", "sales", str(csv), "--enroll-unknown", "--json"],
                          capture_output=True, text=True)
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["imported"] == 1 and [e["line"] for e in result["errors"]] == [2], result
    assert "payment" in result["errors"][0]["reason"]
    with sqlite3.connect(home / "till.db") as db:
        dump = "\n".join(db.iterdump())
        assert [r[0] for r in db.execute("SELECT card_number FROM cards")] == [LOYALTY]
    assert NETWORKS["visa"] not in dump.replace(".", "")
    assert NETWORKS["visa"] not in proc.stdout.replace(".", "") + proc.stderr.replace(".", "")


def _looks_like_payment_card_as_first_written(digits: str) -> bool:
    """The check before the IIN range was tried first: the reference the faster order must equal."""
    return 13 <= len(digits) <= 19 and digits.isdigit() and luhn_valid(digits) and in_payment_iin_range(digits)


IIN_PREFIXES = ["4", "51", "2221", "2720", "34", "37", "6011", "3528", "62", "1", "29", "81"]


@settings(max_examples=3000, deadline=None)
@given(st.one_of(st.text(alphabet="0123456789", min_size=11, max_size=21),
                 st.sampled_from(IIN_PREFIXES).flatmap(
                     lambda p: st.integers(13, 19).map(lambda n: luhn_complete(p + "0" * (n - len(p) - 1)))),
                 st.text(alphabet="0123456789\u0664\u0661", min_size=13, max_size=19)))
def test_payment_check_order_changes_no_answer(digits):
    assert looks_like_payment_card(digits) == _looks_like_payment_card_as_first_written(digits)


def test_iin_prefix_set_answers_as_the_ranges_for_every_prefix():
    """The set of 4-digit prefixes says what walking the ranges says, for all 10,000 of them and every length."""
    ranges = [(low * 10 ** (4 - n), (high + 1) * 10 ** (4 - n) - 1) for low, high, n in payment._IIN_RANGES]
    for p4 in range(10_000):
        for tail in ("", "00000000000", "000000000000000"):
            digits = f"{p4:04d}{tail}"
            want = len(digits) == 15 if digits[0] == "1" else any(lo <= p4 <= hi for lo, hi in ranges)
            assert payment.in_payment_iin_range(digits) == want, digits
