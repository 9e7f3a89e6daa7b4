"""The matching queue: statement lines waiting for a person, what the page about one line
shows, and the two decisions that are not a booking (set a line aside, mark a return reviewed).

Bookings themselves (accept a suggestion, match by hand, pick) are app.payments.incoming.picking;
undo and credits are app.payments.services. The caller commits.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from flask_babel import gettext as _
from sqlalchemy import func, or_, select

from app.core.models import utcnow
from app.core.validation import ValidationError
from app.customers.models import Customer
from app.extensions import db
from app.invoices.models import Invoice, invoice_is_open
from app.payments.incoming.matching import Proposal, suggestions_for
from app.payments.incoming.models import StatementLine
from app.payments.incoming.picking import (
    Candidate,
    candidates_for_line,
    candidates_for_payment,
    payment_of_line,
)
from app.payments.models import Payment

PAGE_SIZE = 50
# A line waits for a person while no rule could book it: with a suggestion, or without.
WAITING = ("unmatched", "suggested")


@dataclass
class QueuePage:
    lines: list[StatementLine]
    customers: dict[int, Customer]
    total: int
    page: int
    pages: int


def queue_page(*, statement_id: int | None = None, status: str | None = None,
               page: int = 1) -> QueuePage:
    """Waiting lines and returns nobody reviewed, newest first, one page of PAGE_SIZE."""
    query = select(StatementLine).where(or_(
        StatementLine.status.in_(WAITING),
        (StatementLine.kind == "return") & StatementLine.reviewed_at.is_(None)))
    if statement_id:
        query = query.where(StatementLine.statement_id == statement_id)
    if status in WAITING:
        query = query.where(StatementLine.status == status)
    page = max(page, 1)
    total = db.session.scalar(select(func.count()).select_from(query.subquery()))
    lines = list(db.session.scalars(
        query.order_by(StatementLine.booking_date.desc(), StatementLine.id)
        .limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE)))
    return QueuePage(lines=lines, customers=customers_by_id({line.customer_id for line in lines}),
                     total=total, page=page, pages=max((total + PAGE_SIZE - 1) // PAGE_SIZE, 1))


@dataclass
class LineContext:
    """What a person needs to decide about one line."""

    line: StatementLine
    payment: Payment | None
    suggestions: list[Proposal]
    candidates: list[Candidate]
    customers: dict[int, Customer]
    returned: list[Payment]             # payments this line (a return) took back
    amount: Decimal                     # what is left to place
    best_customer_number: str | None = None


def line_context(line: StatementLine) -> LineContext:
    payment = payment_of_line(line, create=False)
    # The rules run again (the data may have changed since the import), best first.
    suggestions = suggestions_for(line) if line.status in WAITING else []
    customers = customers_by_id({p.customer_id for p in suggestions} | {line.customer_id})
    best = next((p for p in suggestions if p.customer_id in customers), None)
    returned = list(db.session.scalars(select(Payment).where(Payment.return_line_id == line.id)))
    picking = line.kind == "payment" and line.status in WAITING and line.amount > 0 and (
        payment is None or payment.unallocated_amount > 0)
    return LineContext(
        line=line, payment=payment, suggestions=suggestions,
        candidates=candidates_for_line(line) if picking else [], customers=customers,
        returned=returned,
        amount=payment.unallocated_amount if payment is not None else line.amount,
        best_customer_number=customers[best.customer_id].number if best else None)


def chosen_suggestion(line: StatementLine, choice: str | None) -> Proposal:
    """The suggestion a person clicked (by its position on the page), still there now."""
    try:
        return suggestions_for(line)[int(choice) if choice else 0]
    except (ValueError, IndexError):
        raise ValidationError({"choice": [_("This suggestion is no longer there; choose "
                                            "again.")]}) from None


def ignore_line(line: StatementLine, user) -> None:
    """Not a customer's payment (e.g. an internal transfer): out of the queue, reviewed."""
    if line.status not in WAITING:
        raise ValidationError({"line": [_("Only a line waiting in the queue can be set aside.")]})
    payment = payment_of_line(line, create=False)
    if payment is not None and any(a.reversed_at is None for a in payment.allocations):
        raise ValidationError({"line": [_("Undo its allocations first.")]})
    line.status = "ignored"
    line.reviewed_at, line.reviewed_by_id = utcnow(), _user_id(user)


def mark_reviewed(line: StatementLine, user) -> None:
    """A return or reversal was looked at (the customer contacted, a new collection...)."""
    line.reviewed_at, line.reviewed_by_id = utcnow(), _user_id(user)
    if line.kind == "return" and line.status in WAITING:
        line.status = "ignored"


@dataclass
class Credits:
    payments: list[Payment]             # customers' money not allocated
    open_counts: dict[int, int]         # customer id -> open invoices it could pay
    unplaced: list[Payment]             # money received online/API that named no customer


def credits_waiting(limit: int = 200) -> Credits:
    payments = list(db.session.scalars(
        select(Payment).where(Payment.customer_id.is_not(None), Payment.unallocated_amount > 0,
                              Payment.status != "returned")
        .order_by(Payment.received_on.desc()).limit(limit)))
    open_counts = dict(db.session.execute(
        select(Invoice.customer_id, func.count()).where(
            Invoice.customer_id.in_({p.customer_id for p in payments}),
            invoice_is_open()).group_by(Invoice.customer_id)).all())
    unplaced = list(db.session.scalars(
        select(Payment).where(Payment.customer_id.is_(None), Payment.unallocated_amount > 0,
                              Payment.statement_line_id.is_(None),
                              Payment.status != "returned")
        .order_by(Payment.received_on.desc()).limit(limit)))
    return Credits(payments=payments, open_counts=open_counts, unplaced=unplaced)


def payment_candidates(payment: Payment) -> list[Candidate]:
    """Picking for money received without a statement line, while some of it is unplaced."""
    waiting = payment.status != "returned" and payment.unallocated_amount > 0
    return candidates_for_payment(payment) if waiting else []


def customers_by_id(ids) -> dict[int, Customer]:
    ids = {i for i in ids if i}
    if not ids:
        return {}
    return {c.id: c for c in db.session.scalars(select(Customer).where(Customer.id.in_(ids)))}


def _user_id(user) -> int | None:
    return getattr(user, "id", None)
