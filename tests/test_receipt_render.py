"""Receipt layout and ESC/POS bytes, decoded back by the simulator's decoder."""

from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.escpos_render import choose_code_page, encode_text, render_blocks
from drivers.receipt_blocks import QR, Barcode, Text
from hw_sim.escpos_decode import Decoder, code_page_table, decode
from pos_client.domain.errors import NotFound
from pos_client.services import checkout
from pos_client.services.receipt import build_receipt, loyalty_summary, render_receipt
from pos_client.store import ledger
from tests.printer_support import ACCENTED, make_till, member_sale


@pytest.fixture
def ctx(tmp_path):
    c = make_till(tmp_path / "till")
    yield c
    c.close()


def _page(data: bytes, profile: str = "TM-T88V"):
    pages = decode(data, code_page_table(profile))
    assert len(pages) == 1
    return pages[0]


def test_receipt_carries_lines_points_and_balance_of_the_ledger(ctx):
    sale = member_sale(ctx)
    page = _page(render_receipt(ctx, sale.sale_id))
    text = page.text(42)
    balance = ledger.balance(ctx.conn, sale.member_id)
    assert balance == sale.balance == 27
    assert f"Balance{' ' * (42 - len('Balance') - len(f'{balance} pts'))}{balance} pts" in text
    assert "Points this sale" in text and f"+{sale.points_earned}" in text
    assert "Crème brûlée" in text and "2 x 3.50" in text and "12.99" in text
    assert "TOTAL" in text and "€27.54" in text
    assert "Tier" in text and "Member" in text
    assert "Phone: *********671" in text  # masked: only the last three digits
    total = next(li for li in page.lines if li.text.startswith("TOTAL"))
    assert total.bold and total.width == 2
    balance_line = next(li for li in page.lines if li.text.startswith("Balance"))
    assert balance_line.bold
    assert page.cut == "partial"
    assert not page.unknown


@pytest.mark.parametrize("profile", ["TM-T88V", "TM-T20II", "POS-5890", "TM-P80", "default"])
def test_accents_round_trip_in_the_chosen_code_page(ctx, profile):
    sale = member_sale(ctx)
    data = render_receipt(ctx, sale.sale_id, profile)
    name, number, _ = choose_code_page(profile, "".join(ACCENTED) + "€Zoë")
    assert data.count(b"\x1bt") == 1 and b"\x1bt" + bytes([number]) in data  # one code page per receipt
    text = _page(data, profile).text()
    for word in [*ACCENTED, "Épicerie Zoë", "€27.54"]:
        assert word in text, (profile, name, word)


def test_a_profile_without_the_characters_degrades_readably(ctx):
    # "simple" knows only CP437: no ø and no €, but é ü ç ß are there
    sale = member_sale(ctx)
    text = _page(render_receipt(ctx, sale.sale_id, "simple"), "simple").text()
    assert "Crème brûlée" in text and "Façade ß" in text and "Müsli o" in text and "EUR27.54" in text
    assert encode_text("Łódź ő", "cp437").decode("cp437") == "Lódz o"  # ó exists in CP437, Ł ź ő do not


@pytest.mark.parametrize("profile,columns", [("TM-T88V", 42), ("TM-T20II", 48), ("POS-5890", 32)])
def test_lines_fit_the_paper_width(ctx, profile, columns):
    basket = checkout.Basket()
    name = "A very long product name that cannot fit on one receipt line at all"
    basket.add(checkout.Line(name, "general", 1, 123456))
    sale = checkout.commit_sale(ctx, basket)
    page = _page(render_receipt(ctx, sale.sale_id, profile), profile)
    assert max(len(li.text) * li.width for li in page.lines) <= columns
    assert any(li.text.rstrip().endswith("1234.56") for li in page.lines)
    assert "LOYALTY" not in page.text(columns)  # no member, no loyalty block


def test_coupon_blocks_print_as_native_code128_and_qr(ctx, monkeypatch):
    sale = member_sale(ctx)
    code = "CPN-7Q{X9"  # a '{' must be escaped as '{{' inside GS k Code 128 data

    def coupon(c, sale_id):
        assert sale_id == sale.sale_id
        return [Text("5 € off your next visit", bold=True, align="center"), Barcode(code),
                QR(f"https://shop.example/c/{code}")]

    monkeypatch.setattr(ctx.extensions, "receipt_blocks", [coupon])
    data = render_receipt(ctx, sale.sale_id)
    assert b"\x1dkI" in data and b"\x1d(k" in data  # GS k 73 (Code 128), GS ( k (QR)
    assert b"\x1dv0" not in data  # no raster image needed on this printer
    page = _page(data)
    assert [(b.symbology, b.data) for b in page.barcodes] == [("CODE128", code)]
    assert [q.data for q in page.qrcodes] == [f"https://shop.example/c/{code}"]
    assert f"[BARCODE CODE128: {code}]" in page.text()
    assert "5 € off your next visit" in page.text()


@pytest.mark.parametrize("profile,dots", [("POS-5890", 384), ("simple", 512)])
def test_coupon_falls_back_to_raster_on_a_printer_without_native_codes(ctx, monkeypatch, capsys, profile, dots):
    sale = member_sale(ctx)
    code = "Cpn-{20260123}"  # python-barcode switches to code set C for the digits
    monkeypatch.setattr(ctx.extensions, "receipt_blocks", [lambda c, s: [Barcode(code), QR(f"https://s.example/{code}")]])
    data = render_receipt(ctx, sale.sale_id, profile)
    assert b"\x1dk" not in data and b"\x1d(k" not in data  # no native commands this printer lacks
    assert data.count(b"\x1dv0") == 2  # GS v 0 raster images
    page = _page(data, profile)
    assert len(page.images) == 2
    assert all(0 < img.width <= dots for img in page.images)
    assert [b.data for b in page.barcodes] == [code]  # read back from the dots
    assert f"[BARCODE CODE128: {code}]" in page.text() and code in [li.text for li in page.lines]
    assert len(data) < 6000, len(data)
    assert capsys.readouterr().out == ""


def test_other_symbologies_native_or_as_text(ctx, monkeypatch, capsys):
    sale = member_sale(ctx)
    monkeypatch.setattr(ctx.extensions, "receipt_blocks", [lambda c, s: [Barcode("4006381333931", "EAN13")]])
    page = _page(render_receipt(ctx, sale.sale_id))
    assert [(b.symbology, b.data) for b in page.barcodes] == [("EAN13", "4006381333931")]
    page = _page(render_receipt(ctx, sale.sale_id, "POS-5890"), "POS-5890")
    assert page.barcodes == [] and "4006381333931" in [li.text for li in page.lines]
    assert capsys.readouterr().out == ""  # nothing printed on the terminal (the TUI owns it)


def test_a_failing_block_source_does_not_stop_the_receipt(ctx, monkeypatch):
    sale = member_sale(ctx)

    def broken(c, s):
        raise RuntimeError("marketing bug")

    monkeypatch.setattr(ctx.extensions, "receipt_blocks", [broken, lambda c, s: [Text("still here")]])
    assert "still here" in build_receipt(ctx, sale.sale_id).as_text()


def test_card_like_digit_runs_never_reach_paper(ctx):
    basket = checkout.Basket()
    basket.add(checkout.Line("Gift 4111111111111111", "general", 1, 100))
    sale = checkout.commit_sale(ctx, basket)
    data = render_receipt(ctx, sale.sale_id)
    assert b"4111111111111111" not in data
    assert "################" in _page(data).text()


def test_tier_progress_and_tier_bonus_on_the_receipt(ctx):
    sale = member_sale(ctx)  # 27.54 of spend: Member, 472.46 short of Silver (500.00)
    summary = loyalty_summary(ctx, sale.member_id)
    assert (summary.tier, summary.next_tier, summary.spend_needed_cents) == ("Member", "Silver", 50000 - 2754)
    text = _page(render_receipt(ctx, sale.sale_id)).text()
    assert "Spend €472.46 more to reach Silver" in text
    big = checkout.Basket(member_id=sale.member_id)
    big.add(checkout.Line("Huile d'olive 5L x40", "general", 40, 4000))  # 1,600.00: qualifies for Gold
    gold = checkout.commit_sale(ctx, big)
    assert loyalty_summary(ctx, sale.member_id).tier == "Gold"
    text = _page(render_receipt(ctx, gold.sale_id)).text()
    # 1,600 points earned, +50% Gold bonus = 800, shown together and as the bonus line
    assert "+2400" in text and "Gold bonus: +800 pts" in text and "Spend" not in text
    assert f"{27 + 2400} pts" in text


def test_unknown_sale_is_not_found(ctx):
    with pytest.raises(NotFound):
        render_receipt(ctx, "nope")


def test_reprint_is_marked(ctx):
    sale = member_sale(ctx)
    assert "*** REPRINT ***" in _page(render_receipt(ctx, sale.sale_id, reprint=True)).text()


def test_render_time_and_size(ctx, capsys):
    """Measured, not asserted: reported in the test output (-s) and the changelog."""
    sale = member_sale(ctx)
    render_receipt(ctx, sale.sale_id)  # warm imports
    for profile in ("TM-T88V", "POS-5890"):
        t0 = time.perf_counter()
        for _ in range(20):
            data = render_receipt(ctx, sale.sale_id, profile)
        ms = (time.perf_counter() - t0) / 20 * 1000
        with capsys.disabled():
            print(f"\nreceipt render {profile}: {ms:.2f} ms, {len(data)} bytes "
                  f"({len(data) * 10 / 9600:.2f} s at 9600 baud)")
        assert data.endswith(b"\x1dV\x01") or profile == "POS-5890"


@settings(max_examples=30, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=64), min_size=1, max_size=40))
def test_decoder_gives_the_same_pages_whatever_the_chunking(chunks):
    blocks = [Text("Crème brûlée", bold=True, size="double", align="center"), Barcode("CPN-1{2"), QR("hello é"),
              Text("Fin ß")]
    data = render_blocks(blocks, "TM-T88V")
    whole = decode(data, code_page_table("TM-T88V"))
    dec, pages, pos, i = Decoder(code_page_table("TM-T88V")), [], 0, 0
    while pos < len(data):
        step = chunks[i % len(chunks)]
        pages += dec.feed(data[pos:pos + step])
        pos, i = pos + step, i + 1
    assert [p.text() for p in pages] == [p.text() for p in whole]
    assert whole[0].barcodes[0].data == "CPN-1{2" and whole[0].qrcodes[0].data == "hello é"


def test_code128_code_set_c_is_decoded_as_digit_pairs():
    data = b"\x1b@\x1dkI\x05{C\x0c\x22\x38" + b"\x1dV\x00"
    assert decode(data)[0].barcodes[0].data == "123456"
