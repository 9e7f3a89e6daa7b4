"""Counters that never hand out the same number twice, even across processes."""
from __future__ import annotations

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.core.models import NumberSequence

# Invoices and plan instalments draw from one counter, so their OGMs never collide.
PAYMENT_REFERENCE = "payment_reference"


def allocate(session: Session, name: str, count: int = 1) -> range:
    """Reserve ``count`` consecutive numbers; the UPDATE row lock serialises concurrent callers."""
    if count < 1:
        raise ValueError("count must be positive")
    for _ in range(2):
        end = session.execute(
            update(NumberSequence)
            .where(NumberSequence.name == name)
            .values(next_value=NumberSequence.next_value + count)
            .returning(NumberSequence.next_value)
        ).scalar()
        if end is not None:
            return range(end - count, end)
        try:
            with session.begin_nested():
                session.execute(insert(NumberSequence).values(name=name, next_value=1))
        except IntegrityError:
            pass  # another process created it first; the UPDATE now finds it
    raise RuntimeError(f"could not allocate from sequence {name}")


def peek(session: Session, name: str) -> int:
    return session.scalar(select(NumberSequence.next_value).where(NumberSequence.name == name)) or 1
