"""Fee rules as pure functions, at the boundaries the laws set."""
from __future__ import annotations

from datetime import date
from decimal import Decimal as D

import pytest

from app.dunning import fees
from app.dunning.fees import (
    FeeItem,
    FeeParameters,
    allocate,
    be_consumer_lump_sum,
    fees_for,
    fr_penalty_schedule,
    interest,
    nl_collection_costs,
    plus_margin,
)


@pytest.mark.parametrize("balance,expected", [
    ("0.00", "0.00"),
    ("10.00", "20.00"),
    ("150.00", "20.00"),        # up to €150: €20
    ("150.01", "30.00"),        # €30 + 10 % of €0.01 (rounded down)
    ("300.00", "45.00"),        # €30 + 10 % of €150
    ("500.00", "65.00"),        # €30 + 10 % of €350
    ("500.01", "65.00"),        # €65 + 5 % of €0.01
    ("1000.00", "90.00"),       # €65 + 5 % of €500
    ("39199.99", "1999.99"),    # just under the cap: never rounded up onto it
    ("39200.00", "2000.00"),    # €65 + 5 % of €38,700 = the €2,000 cap
    ("100000.00", "2000.00"),   # capped
])
def test_belgian_consumer_lump_sum_follows_book_xix(balance, expected):
    assert be_consumer_lump_sum(D(balance)) == D(expected)


def test_belgian_figures_are_named_constants():
    assert fees.BE_CONSUMER_LOW_FEE == D("20.00") and fees.BE_CONSUMER_CAP == D("2000.00")
    assert fees.BE_CONSUMER_WAIT_DAYS == 14 and fees.BE_CONSUMER_LETTER_WORKING_DAYS == 3


@pytest.mark.parametrize("principal,expected", [
    ("0.00", "0.00"),
    ("100.00", "40.00"),          # the €40 minimum
    ("266.67", "40.00"),          # 15 % = 40.0005: still the minimum
    ("300.00", "45.00"),          # 15 %
    ("2500.00", "375.00"),        # 15 % of the first €2,500
    ("5000.00", "625.00"),        # + 10 % of the next €2,500
    ("10000.00", "875.00"),       # + 5 % of the next €5,000
    ("200000.00", "2775.00"),     # + 1 % of the next €190,000
    ("1000000.00", "6775.00"),    # + 0.5 % of the rest = exactly the maximum
    ("2000000.00", "6775.00"),    # capped at €6,775
])
def test_dutch_statutory_collection_cost_scale(principal, expected):
    assert nl_collection_costs(D(principal)) == D(expected)


def test_interest_is_simple_actual_over_365_and_follows_rate_changes():
    one_rate = [(date(2024, 1, 1), D(10))]
    assert interest(D(1000), date(2024, 1, 1), date(2024, 12, 31), one_rate) == D("100.00")
    two_rates = [(date(2024, 1, 1), D(10)), (date(2024, 7, 1), D(5))]
    # 10 days at 10 % then 10 days at 5 %: 1000 * (0.10 * 10 + 0.05 * 10) / 365 = 4.109...
    assert interest(D(1000), date(2024, 6, 21), date(2024, 7, 11), two_rates) == D("4.10")
    # Days before the first known rate earn nothing (we claim less rather than guess).
    assert interest(D(1000), date(2023, 12, 22), date(2024, 1, 1), one_rate) == D("0.00")
    assert interest(D(1000), date(2024, 2, 1), date(2024, 2, 1), one_rate) == D("0.00")


def test_business_rule_is_40_euros_per_invoice_and_reference_rate_plus_8():
    params = FeeParameters(ecb=[(date(2025, 7, 1), D("2.15"))])
    run = date(2025, 12, 31)
    items = [FeeItem(1, D("1000.00"), date(2025, 12, 1)), FeeItem(2, D("50.00"), run)]
    result = fees_for("b2b_late_payment", items, run, params)
    assert result[1].lump_sum == D("40.00") and result[2].lump_sum == D("40.00")
    assert result[1].rate == D("10.15")
    # 30 days (2 Dec to 31 Dec included) at 10.15 %: 1000 * 0.1015 * 30 / 365 = 8.342...
    assert result[1].interest == D("8.34")
    assert result[2].interest == D("0.00")  # due today: not late yet


def test_french_penalty_rate_is_at_least_three_times_the_legal_rate():
    ecb = [(date(2025, 1, 1), D("2.15"))]
    assert fr_penalty_schedule(ecb, [(date(2025, 1, 1), D("2.76"))]) == [
        (date(2025, 1, 1), D("12.15"))]  # ECB + 10 > 3 x 2.76 = 8.28
    assert fr_penalty_schedule(ecb, [(date(2025, 1, 1), D("5.00"))]) == [
        (date(2025, 1, 1), D("15.00"))]  # 3 x 5 = 15 > ECB + 10
    params = FeeParameters(ecb=ecb, fr_legal=[(date(2025, 1, 1), D("5.00"))])
    result = fees_for("fr_business", [FeeItem(1, D("365.00"), date(2025, 3, 1))],
                      date(2025, 3, 11), params)
    assert result[1].lump_sum == D("40.00")
    assert result[1].interest == D("1.50")  # 365 * 15 % * 10 / 365


def test_consumer_lump_sums_are_computed_once_on_the_total_and_split():
    items = [FeeItem(1, D("100.00"), date(2025, 1, 1)), FeeItem(2, D("200.00"), date(2025, 1, 1))]
    params = FeeParameters()
    be = fees_for("be_consumer", items, date(2025, 3, 1), params)
    assert be[1].lump_sum + be[2].lump_sum == be_consumer_lump_sum(D("300.00")) == D("45.00")
    nl = fees_for("nl_consumer", items, date(2025, 3, 1), params)
    assert nl[1].lump_sum + nl[2].lump_sum == D("45.00")  # not 2 x the €40 minimum
    assert fees_for("none", items, date(2025, 3, 1), params)[1].total == D("0.00")


def test_belgian_consumer_interest_runs_only_from_the_day_after_fees_are_first_claimed():
    params = FeeParameters(ecb=[(date(2025, 1, 1), D("2.00"))])
    item = FeeItem(1, D("3650.00"), date(2025, 1, 1), fees_from=date(2025, 3, 1))
    assert fees_for("be_consumer", [item], date(2025, 3, 1), params)[1].interest == D("0.00")
    # 10 days (2 to 11 March) at 2 + 8 = 10 %: 3650 * 0.10 * 10 / 365 = 10.00
    assert fees_for("be_consumer", [item], date(2025, 3, 11), params)[1].interest == D("10.00")


def test_allocate_splits_exactly():
    shares = allocate(D("10.00"), [D(1), D(1), D(1)])
    assert sum(shares) == D("10.00") and max(shares) - min(shares) <= D("0.01")
    assert allocate(D("5.00"), []) == []


def test_margins_come_from_parameters():
    assert plus_margin([(date(2025, 1, 1), D("2.15"))], D(8)) == [(date(2025, 1, 1), D("10.15"))]
