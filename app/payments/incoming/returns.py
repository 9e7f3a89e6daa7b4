"""Returns and reversals not reviewed yet: money that came back out of our account (a
direct-debit collection returned, a payment reversed) and that a person has not looked at.

One definition for every screen that counts them: the cash screen ("Returns and reversals not
reviewed") and the staff work queue ("Returned payments to review"). A line leaves this list
when someone marks it reviewed in the matching queue.
"""
from __future__ import annotations

from decimal import Decimal

from sqlalchemy import Select, func, select

from app.extensions import db
from app.payments.incoming.models import StatementLine


def unreviewed_returns_query() -> Select:
    """Statement lines of returns and reversals that nobody has reviewed yet."""
    return select(StatementLine).where(StatementLine.kind == "return",
                                       StatementLine.reviewed_at.is_(None))


def unreviewed_returns() -> tuple[int, Decimal]:
    """(how many, total amount) of the returns and reversals not reviewed."""
    lines = unreviewed_returns_query().subquery()
    count, amount = db.session.execute(
        select(func.count(), func.coalesce(func.sum(lines.c.amount), 0))).one()
    return int(count or 0), Decimal(amount or 0)


def unreviewed_return_lines(limit: int) -> list[StatementLine]:
    """The newest returns and reversals not reviewed, for a short list."""
    return list(db.session.scalars(unreviewed_returns_query().order_by(
        StatementLine.booking_date.desc(), StatementLine.id.desc()).limit(limit)))
