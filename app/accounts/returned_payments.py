"""Payments the bank took back (mostly direct debits) while the invoices they paid are open again.

Shown on the portal's overview and on each invoice they had paid; filtered by customer like
every portal read model (see invoice_states.py).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from flask_babel import ngettext
from sqlalchemy import select

from app.core.i18n import day as _day
from app.core.i18n import money as _money
from app.extensions import db
from app.invoices.models import Invoice, invoice_is_open
from app.payments.models import Allocation


@dataclass
class ReturnedPayment:
    """A payment (mostly a direct debit) the bank returned, and the invoices open again."""

    payment_id: int
    method: str
    amount: Decimal
    paid_on: date
    invoices: list[tuple[int, str]]   # (id, number) of the re-opened invoices still open

    @property
    def text(self) -> str:
        amount, paid_on = _money(self.amount), _day(self.paid_on)
        if self.method == "direct_debit":
            return ngettext(
                "Your direct debit of %(amount)s on %(date)s was returned by your bank; the "
                "invoice is open again.",
                "Your direct debit of %(amount)s on %(date)s was returned by your bank; the "
                "invoices are open again.", len(self.invoices), amount=amount, date=paid_on)
        return ngettext(
            "Your payment of %(amount)s on %(date)s was returned by your bank; the invoice is "
            "open again.",
            "Your payment of %(amount)s on %(date)s was returned by your bank; the invoices are "
            "open again.", len(self.invoices), amount=amount, date=paid_on)


def returned_payment_notices(customer_id: int, invoice_id: int | None = None
                             ) -> list[ReturnedPayment]:
    """The customer's returned payments whose invoices are still open (most recent first);
    with ``invoice_id``, only those that had paid that invoice. Two queries when any exist."""
    from app.payments.services import returned_payments

    payments = returned_payments(customer_id)
    if not payments:
        return []
    reopened: dict[int, list[tuple[int, str]]] = {}
    where = [Allocation.payment_id.in_([p.id for p in payments]),
             Allocation.reversed_at.is_not(None), Invoice.customer_id == customer_id,
             invoice_is_open()]
    if invoice_id is not None:
        where.append(Invoice.id == invoice_id)
    for payment_id, inv_id, number in db.session.execute(
            select(Allocation.payment_id, Invoice.id, Invoice.number)
            .join(Invoice, Invoice.id == Allocation.invoice_id).where(*where)
            .distinct().order_by(Invoice.number)):
        reopened.setdefault(payment_id, []).append((inv_id, number))
    return [ReturnedPayment(p.id, p.method, p.amount, p.received_on, reopened[p.id])
            for p in payments if p.id in reopened]
