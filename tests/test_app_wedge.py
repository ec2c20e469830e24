"""The keyboard-wedge detector: synthetic timings, no terminal."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from pos_client.domain.wedge import WedgeDetector, stays_typed


def _play(det: WedgeDetector, text: str, start: float, gap: float, enter_gap: float | None = None) -> str | None:
    t = start
    for ch in text:
        det.feed(ch, t)
        t += gap
    return det.enter(t - gap + (gap if enter_gap is None else enter_gap))


def test_fast_burst_ended_by_enter_is_a_scan():
    assert _play(WedgeDetector(), "2900000000017", 10.0, 0.004) == "2900000000017"


def test_control_characters_are_stripped():
    assert _play(WedgeDetector(), "\x02;1234567890=1234?\x03", 5.0, 0.003) == ";1234567890=1234?"


def test_short_burst_and_slow_enter_are_not_scans():
    assert _play(WedgeDetector(), "123", 1.0, 0.003) is None  # below min_length
    assert _play(WedgeDetector(), "12345", 1.0, 0.003, enter_gap=0.5) is None  # Enter pressed by a person


def test_only_the_burst_is_returned_after_human_typing():
    det = WedgeDetector()
    t = 0.0
    for ch in "12.5":
        det.feed(ch, t)
        t += 0.18
    t += 1.0
    assert _play(det, "2900000000017", t, 0.005) == "2900000000017"


def test_a_slow_key_inside_breaks_the_run():
    det = WedgeDetector()
    for i, ch in enumerate("1234"):
        det.feed(ch, i * 0.005)
    det.feed("5", 0.5)
    assert det.run_length == 1
    assert det.enter(0.505) is None


def test_configurable_thresholds():
    det = WedgeDetector.from_config({"max_gap_ms": 80, "min_length": 6})
    assert (det.max_gap, det.min_length) == (0.08, 6)
    assert _play(det, "12345", 0.0, 0.06) is None
    assert _play(det, "123456", 0.0, 0.06) == "123456"


@given(st.lists(st.tuples(st.text(min_size=1, max_size=1), st.floats(allow_nan=False, allow_infinity=False),
                          st.booleans())))
def test_never_crashes(steps):
    det = WedgeDetector()
    for char, t, is_enter in steps:
        out = det.enter(t) if is_enter else det.feed(char, t)
        assert out is None or (isinstance(out, str) and out and not any(ord(c) < 32 or ord(c) == 127 for c in out))


@given(st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), min_size=1, max_size=40),
       st.lists(st.floats(min_value=0.06, max_value=2.0), min_size=40, max_size=40))
def test_human_speed_typing_is_never_a_burst(text, gaps):
    det = WedgeDetector()
    t = 100.0
    for ch, gap in zip(text, gaps, strict=False):
        det.feed(ch, t)
        t += gap
    assert det.enter(t) is None


# --- issue 13: a fast typist's amount stays typed input in the field that expects it ------------------

def test_amount_forms_stay_typed_in_the_item_slot_only():
    for typed in ("12.50", "12,5", "0.99", "12.50 grocery", "12 grocery", "3*4006381333931", " 4.5 bakery "):
        assert stays_typed(typed, "amount"), typed
    for scanned in ("4006381333931", "2900000000017", ";1234567890=1234?", "%B4111^X/Y^25?", "S1-T1-7-ABCD",
                    "LOYAL-0042", "1250"):
        assert not stays_typed(scanned, "amount"), scanned
    assert not stays_typed("12.50", None)  # the card slot: every burst is a scan
    assert stays_typed("+50 goodwill", "adjustment") and not stays_typed("2900000000017", "adjustment")
    assert stays_typed("Grace Hopper", "text") and stays_typed("ada@example.org", "text")
    assert not stays_typed("2900000000017", "text")


@given(st.one_of(st.from_regex(r"\A\d{8,14}\Z"), st.from_regex(r"\A[%;][0-9A-Z^=/ ]{4,40}\?\Z"),
                 st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9\-_]{3,31}\Z")))
def test_what_a_scanner_sends_never_stays_typed_as_an_amount(scanned):
    assert not stays_typed(scanned, "amount")
