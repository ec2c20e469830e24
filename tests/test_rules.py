"""Earning rules are pure integer functions."""

from __future__ import annotations

from datetime import date

from hypothesis import given
from hypothesis import strategies as st

from pos_client.domain.rules import LineInput, ProgramRules, earn_points

DAY = date(2026, 5, 4)


def test_one_point_per_unit_rounded_down_per_sale():
    rules = ProgramRules()
    assert earn_points(rules, [LineInput("food", 1299), LineInput("food", 99)], DAY)[0] == 13
    assert earn_points(rules, [LineInput("food", 99)], DAY)[0] == 0


def test_excluded_categories_and_multipliers():
    rules = ProgramRules.from_config({"category_multipliers": {"oil": 2}, "excluded_categories": ["tobacco"]})
    total, split = earn_points(rules, [LineInput("oil", 1000), LineInput("tobacco", 5000), LineInput("x", 500)], DAY)
    assert total == 25 and split[1] == 0 and sum(split) == 25


def test_promotion_applies_only_in_its_dates_and_categories():
    rules = ProgramRules.from_config({"promotions": [
        {"name": "double", "start": "2026-05-01", "end": "2026-05-07", "multiplier_pct": 200, "categories": ["oil"]}]})
    assert earn_points(rules, [LineInput("oil", 1000)], DAY)[0] == 20
    assert earn_points(rules, [LineInput("soap", 1000)], DAY)[0] == 10
    assert earn_points(rules, [LineInput("oil", 1000)], date(2026, 5, 8))[0] == 10


def test_points_per_unit_and_unit():
    rules = ProgramRules.from_config({"points_per_unit": 5, "unit_cents": 1000})
    assert earn_points(rules, [LineInput("a", 2999)], DAY)[0] == 14  # 29.99 x 5 / 10.00, rounded down


@given(st.lists(st.tuples(st.sampled_from(["food", "oil", "tobacco", "gift_card"]),
                          st.integers(min_value=0, max_value=10**7)), min_size=1, max_size=20))
def test_line_split_always_adds_up_to_the_sale(lines):
    rules = ProgramRules.from_config({"category_multipliers": {"oil": 150}})
    total, split = earn_points(rules, [LineInput(c, a) for c, a in lines], DAY)
    assert sum(split) == total and all(p >= 0 for p in split)
    assert all(isinstance(p, int) for p in split)
