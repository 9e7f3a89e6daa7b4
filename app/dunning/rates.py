"""Reference interest rates staff keep up to date (Dunning → Reference rates)."""
from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy import select

from app.dunning.models import ReferenceRate
from app.extensions import db


def schedule(kind: str) -> list[tuple[date, Decimal]]:
    """Every known rate of a kind, oldest first: [(valid_from, rate in %)]."""
    rows = db.session.execute(select(ReferenceRate.valid_from, ReferenceRate.rate)
                              .where(ReferenceRate.kind == kind)
                              .order_by(ReferenceRate.valid_from)).all()
    return [(valid_from, Decimal(rate)) for valid_from, rate in rows]


def rate_for(kind: str, day: date) -> Decimal | None:
    """The rate of ``kind`` in force on ``day`` (None when no row covers that day)."""
    return db.session.scalar(select(ReferenceRate.rate)
                             .where(ReferenceRate.kind == kind, ReferenceRate.valid_from <= day)
                             .order_by(ReferenceRate.valid_from.desc()).limit(1))


def is_stale(kind: str, day: date) -> bool:
    """No rate row for the half-year ``day`` falls in: staff should add the new rate."""
    half_year_start = date(day.year, 1 if day.month <= 6 else 7, 1)
    latest = db.session.scalar(select(ReferenceRate.valid_from)
                               .where(ReferenceRate.kind == kind)
                               .order_by(ReferenceRate.valid_from.desc()).limit(1))
    return latest is None or latest < half_year_start
