"""The coupon slip: its ESC/POS bytes read back by the printer simulator's decoder."""

from __future__ import annotations

from hw_sim.escpos_decode import code_page_table, decode
from pos_client.services.marketing import coupons
from pos_client.services.marketing.coupon_receipt import coupon_blocks, print_coupon, render_coupon
from tests.ports import refusing_port


def test_coupon_slip_decodes_to_its_text_qr_token_and_code128(ctx):
    coupon = coupons.issue(ctx, "percent_off", 10, expires="2099-01-31")
    for profile, columns in (("TM-T88V", 42), ("TM-T20II", 48)):
        pages = decode(render_coupon(ctx, coupon, "10% off your basket", profile), code_page_table(profile))
        assert len(pages) == 1 and pages[0].cut
        page = pages[0]
        text = page.text(columns)
        assert "Corner Store" in text and "COUPON" in text and "10% off your basket" in text
        assert "Valid until 2099-01-31" in text and "One use only" in text
        assert [q.data for q in page.qrcodes] == [coupon.token]
        assert [b.data for b in page.barcodes] == [coupon.code]
        assert coupons.check(ctx, page.qrcodes[0].data, as_of="2026-11-23")["valid"]
        assert coupons.check(ctx, page.barcodes[0].data, as_of="2026-11-23")["valid"]


def test_coupon_slip_without_a_printer_says_so_and_raises_nothing(ctx):
    coupon = coupons.issue(ctx, "amount_off", 500, expires="2099-01-31")
    assert print_coupon(ctx, coupon) == {"printed": False, "reason": "no printer configured"}
    assert len(coupon_blocks(ctx, coupon)) == 11


def test_coupon_slip_to_an_unreachable_printer_is_queued_with_the_reason(make_ctx):
    with refusing_port() as port:  # a port nobody listens on, held so that nobody else can
        ctx = make_ctx(printer={"url": f"tcp://127.0.0.1:{port}", "timeout": 1, "status_timeout": 1})
        coupon = coupons.issue(ctx, "amount_off", 500, expires="2099-01-31")
        out = print_coupon(ctx, coupon, "5.00 off")
    assert out["printed"] is False and "refused" in out["reason"]
    row = ctx.conn.execute("SELECT sale_id, kind, status, last_error FROM print_jobs").fetchone()
    assert (row["sale_id"], row["kind"], row["status"]) == (f"coupon:{coupon.code}", "coupon", "pending")
    assert row["last_error"] == out["reason"]


def test_points_preview_with_a_coupon_is_what_the_sale_earns(ctx):
    """The checkout's preview spreads a coupon over the earning lines exactly as commit_sale does."""
    from pos_client.services.checkout import Basket, Line, commit_sale
    from pos_client.services.checkout_view import preview_points
    from pos_client.services.marketing.coupons import apply_coupon
    from tests.marketing.helpers import new_member

    member_id, _ = new_member(ctx, name="Preview")

    cases = [("amount_off", 250, [(1999, "grocery"), (1000, "tobacco")]),
             ("percent_off", 10, [(1999, "grocery"), (501, "pet")]),
             ("amount_off", 5000, [(1234, "grocery")])]
    for n, (kind, value, lines) in enumerate(cases):
        coupon = coupons.issue(ctx, kind, value, expires="2099-01-31")
        basket = Basket(member_id=member_id)
        for cents, category in lines:
            basket.add(Line.keyed(cents, category))
        before = preview_points(ctx, basket)
        apply_coupon(ctx, basket, coupon.token)
        preview = preview_points(ctx, basket)
        result = commit_sale(ctx, basket, sale_id=f"preview-{n}")
        assert preview == result.points_earned < before
    # by hand: 19.99 - 2.50 = 17.49 -> 17 (tobacco earns nothing); 24.99 - 2.49 (10% of both) -> 22; 0
    assert [r[0] for r in ctx.conn.execute(
        "SELECT points_earned FROM sales WHERE sale_id LIKE 'preview-%' ORDER BY sale_id")] == [17, 22, 0]
