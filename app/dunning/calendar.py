"""Dates the dunning rules count with: working days, when a reminder counts as received, the
customer's payment day, and SMS quiet hours. Pure functions of their arguments.
"""
from __future__ import annotations

import calendar
from datetime import date, datetime, time, timedelta
from functools import lru_cache

from app.dunning.fees import BE_CONSUMER_LETTER_WORKING_DAYS

# Channels whose message counts as received the next day (the law names e-mail; SMS and a
# webhook reach the customer at least as fast).
NEXT_DAY_CHANNELS = ("email", "sms", "webhook")


def easter_sunday(year: int) -> date:
    """Gregorian Easter (anonymous Gregorian algorithm)."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = divmod(b, 4)
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    l_ = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * l_) // 451
    month, day_ = divmod(h + l_ - 7 * m + 114, 31)
    return date(year, month, day_ + 1)


@lru_cache(maxsize=64)
def belgian_public_holidays(year: int) -> frozenset[date]:
    """The ten Belgian legal public holidays (Royal Decree of 18 April 1974)."""
    easter = easter_sunday(year)
    return frozenset({
        date(year, 1, 1), easter + timedelta(days=1), date(year, 5, 1),
        easter + timedelta(days=39), easter + timedelta(days=50), date(year, 7, 21),
        date(year, 8, 15), date(year, 11, 1), date(year, 11, 11), date(year, 12, 25),
    })


def is_working_day(day: date) -> bool:
    return day.weekday() < 5 and day not in belgian_public_holidays(day.year)


def add_working_days(day: date, count: int) -> date:
    """The ``count``-th working day after ``day`` (``day`` itself not counted)."""
    current = day
    while count > 0:
        current += timedelta(days=1)
        if is_working_day(current):
            count -= 1
    return current


def effective_on(sent_on: date, channels: list[str] | tuple[str, ...]) -> date:
    """The day a reminder sent on ``sent_on`` counts as received: waits count from here.

    A letter: the 3rd working day after posting (Book XIX); e-mail, SMS: the next day. Sent on
    several channels, the latest wins, so no wait is ever shortened.
    """
    days = [sent_on + timedelta(days=1)]
    if "letter" in channels:
        days.append(add_working_days(sent_on, BE_CONSUMER_LETTER_WORKING_DAYS))
    return max(days)


def payment_day_in(year: int, month: int, preferred: int) -> date:
    """The preferred day in that month (the 31st is the month's last day in shorter months)."""
    last = calendar.monthrange(year, month)[1]
    return date(year, month, min(max(preferred, 1), last))


def salary_day_wait(today: date, preferred: int | None, window: int, delay: int) -> date | None:
    """When a reminder due today should wait for the customer's payment day: the new date.

    If the next preferred payment day is today or within ``window`` days, the reminder goes out
    ``delay`` days after it (the customer is about to be paid, and probably to pay us); else
    None (no wait).
    """
    if not preferred or window < 0:
        return None
    payday = payment_day_in(today.year, today.month, preferred)
    if payday < today:
        year, month = (today.year + 1, 1) if today.month == 12 else (today.year, today.month + 1)
        payday = payment_day_in(year, month, preferred)
    if (payday - today).days <= window:
        return payday + timedelta(days=max(delay, 1))
    return None


def parse_quiet_hours(value: str | None) -> tuple[time, time] | None:
    """'21:00-08:00' -> (21:00, 08:00); empty or malformed -> None (no quiet hours)."""
    try:
        start, end = (part.strip() for part in str(value or "").split("-"))
        return time.fromisoformat(start), time.fromisoformat(end)
    except ValueError:
        return None


def after_quiet_hours(now: datetime, quiet: tuple[time, time] | None) -> datetime:
    """``now`` if it is outside the quiet hours, else the moment they end (same time zone)."""
    if quiet is None:
        return now
    start, end = quiet
    clock = now.timetz().replace(tzinfo=None)
    if start == end:
        return now
    overnight = start > end
    inside = (clock >= start or clock < end) if overnight else (start <= clock < end)
    if not inside:
        return now
    end_day = now.date()
    if overnight and clock >= start:
        end_day += timedelta(days=1)
    return datetime.combine(end_day, end, tzinfo=now.tzinfo)
