"""Dates the rules count with: working days, receipt of a reminder, payment day, quiet hours."""
from __future__ import annotations

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from app.dunning.calendar import (
    add_working_days,
    after_quiet_hours,
    belgian_public_holidays,
    easter_sunday,
    effective_on,
    parse_quiet_hours,
    salary_day_wait,
)

BRUSSELS = ZoneInfo("Europe/Brussels")


def test_belgian_public_holidays():
    assert easter_sunday(2024) == date(2024, 3, 31)
    assert easter_sunday(2025) == date(2025, 4, 20)
    holidays = belgian_public_holidays(2025)
    assert len(holidays) == 10
    assert {date(2025, 4, 21), date(2025, 5, 29), date(2025, 6, 9), date(2025, 7, 21),
            date(2025, 11, 11)} <= holidays


def test_a_letter_counts_from_the_third_working_day_an_email_from_the_next_day():
    friday = date(2025, 1, 10)
    assert effective_on(friday, ["email"]) == date(2025, 1, 11)
    assert effective_on(friday, ["letter"]) == date(2025, 1, 15)  # Mon, Tue, Wed
    assert effective_on(friday, ["email", "letter"]) == date(2025, 1, 15)  # the later one
    # Easter Monday 21 April 2025 is not a working day.
    assert add_working_days(date(2025, 4, 17), 3) == date(2025, 4, 23)


def test_reminders_wait_until_just_after_the_preferred_payment_day():
    assert salary_day_wait(date(2025, 3, 22), 25, window=5, delay=1) == date(2025, 3, 26)
    assert salary_day_wait(date(2025, 3, 25), 25, window=5, delay=1) == date(2025, 3, 26)
    assert salary_day_wait(date(2025, 3, 26), 25, window=5, delay=1) is None  # just after it
    assert salary_day_wait(date(2025, 3, 10), 25, window=5, delay=1) is None  # far away
    assert salary_day_wait(date(2025, 3, 30), 1, window=5, delay=1) == date(2025, 4, 2)
    # The 31st is the last day of a shorter month.
    assert salary_day_wait(date(2025, 2, 26), 31, window=5, delay=1) == date(2025, 3, 1)
    assert salary_day_wait(date(2025, 3, 22), None, window=5, delay=1) is None


def test_sms_quiet_hours():
    quiet = parse_quiet_hours("21:00-08:00")
    assert quiet == (time(21, 0), time(8, 0))
    evening = datetime(2025, 3, 3, 22, 30, tzinfo=BRUSSELS)
    assert after_quiet_hours(evening, quiet) == datetime(2025, 3, 4, 8, 0, tzinfo=BRUSSELS)
    early = datetime(2025, 3, 3, 6, 0, tzinfo=BRUSSELS)
    assert after_quiet_hours(early, quiet) == datetime(2025, 3, 3, 8, 0, tzinfo=BRUSSELS)
    noon = datetime(2025, 3, 3, 12, 0, tzinfo=BRUSSELS)
    assert after_quiet_hours(noon, quiet) == noon
    lunch = parse_quiet_hours("12:00-14:00")
    assert after_quiet_hours(noon, lunch) == datetime(2025, 3, 3, 14, 0, tzinfo=BRUSSELS)
    assert parse_quiet_hours("nonsense") is None and parse_quiet_hours("") is None
    assert after_quiet_hours(evening, None) == evening
