"""Business dates are dates in Europe/Brussels; timestamps are UTC."""
from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

BUSINESS_TZ = ZoneInfo("Europe/Brussels")


def business_today() -> date:
    return datetime.now(BUSINESS_TZ).date()
