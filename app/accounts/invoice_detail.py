"""One invoice as the portal shows it: its lines, what paid it, and returned payments.

Filtered by customer like every portal read model (see invoice_states.py): another customer's
invoice id gives None and the route answers 404.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from flask_babel import gettext as _
from sqlalchemy import select

from app.accounts.invoice_states import InvoiceState, invoice_state
from app.accounts.returned_payments import ReturnedPayment, returned_payment_notices
from app.core.models import ZERO
from app.extensions import db
from app.invoices.models import CreditNote, Invoice, InvoiceLine
from app.payments.models import Allocation, Payment


@dataclass
class PaymentEvent:
    on: date
    amount: Decimal
    text: str


@dataclass
class InvoiceDetail:
    state: InvoiceState
    lines: list[InvoiceLine]
    history: list[PaymentEvent]
    paid_amount: Decimal
    returned: list[ReturnedPayment] = field(default_factory=list)


def get_invoice(customer_id: int, invoice_id: int) -> Invoice | None:
    """The invoice if it belongs to this customer; None otherwise (the route answers 404)."""
    return db.session.scalar(select(Invoice).where(Invoice.id == invoice_id,
                                                   Invoice.customer_id == customer_id,
                                                   Invoice.status != "cancelled"))


def invoice_detail(customer_id: int, invoice_id: int, today: date | None = None
                   ) -> InvoiceDetail | None:
    state = invoice_state(customer_id, invoice_id, today)
    if state is None:
        return None
    from app.payments.models import PAYMENT_METHODS

    history = []
    rows = db.session.execute(
        select(Allocation.amount, Payment.received_on, Payment.method, CreditNote.number,
               CreditNote.issue_date, Allocation.created_at)
        .join(Invoice, Invoice.id == Allocation.invoice_id)
        .outerjoin(Payment, Payment.id == Allocation.payment_id)
        .outerjoin(CreditNote, CreditNote.id == Allocation.credit_note_id)
        .where(Allocation.invoice_id == invoice_id, Invoice.customer_id == customer_id,
               Allocation.reversed_at.is_(None))
        .order_by(Allocation.created_at, Allocation.id))
    for amount, received_on, method, note_number, note_date, created_at in rows:
        if note_number:
            history.append(PaymentEvent(note_date or created_at.date(), amount,
                                        _("Credit note %(number)s", number=note_number)))
        else:
            history.append(PaymentEvent(received_on or created_at.date(), amount,
                                        str(PAYMENT_METHODS.get(method, method or ""))))
    paid = sum((e.amount for e in history), ZERO)
    return InvoiceDetail(state, list(state.invoice.lines), history, paid,
                         returned_payment_notices(customer_id, invoice_id))
