"""Payments on the customer's timeline: money received (with the invoices it paid) and money
the bank sent back. Registered with app.customers.timeline (register_source), which sits below
payments and never imports it; app.backoffice imports this module at start (TIMELINE_SOURCES)."""
from __future__ import annotations

from flask_babel import gettext as _
from sqlalchemy import select

from app.core.i18n import money
from app.customers.timeline import Event, label, moment, register_source, show_link
from app.extensions import db
from app.invoices.models import Invoice
from app.payments.models import PAYMENT_METHODS, Allocation, Payment


def payment_events(cid: int, n: int) -> list[Event]:
    payments = list(db.session.execute(
        select(Payment.id, Payment.received_on, Payment.amount, Payment.method, Payment.status,
               Payment.returned_at, Payment.return_reason, Payment.created_at)
        .where(Payment.customer_id == cid)
        .order_by(Payment.received_on.desc(), Payment.id.desc()).limit(n)))
    allocated: dict[int, list[str]] = {}
    if payments:
        for pid, number, amount in db.session.execute(
                select(Allocation.payment_id, Invoice.number, Allocation.amount)
                .join(Invoice, Invoice.id == Allocation.invoice_id)
                .where(Allocation.payment_id.in_([p.id for p in payments]),
                       Allocation.reversed_at.is_(None))):
            allocated.setdefault(pid, []).append(f"{number} ({money(amount)})")
    events = []
    for p in payments:
        detail = label(PAYMENT_METHODS, p.method)
        if allocated.get(p.id):
            detail += " · " + _("applied to %(invoices)s", invoices=", ".join(allocated[p.id]))
        events.append(Event("payment", moment(p.received_on),
                            _("Payment of %(amount)s received", amount=money(p.amount)), detail,
                            show_link("PaymentView", p.id), None, "success"))
        if p.returned_at is not None:
            events.append(Event("payment", p.returned_at,
                                _("Payment of %(amount)s returned by the bank",
                                  amount=money(p.amount)),
                                _("Reason code: %(code)s", code=p.return_reason or "?"),
                                show_link("PaymentView", p.id), _("Returned"), "danger",
                                {"returned": True}))
    return events


register_source(payment_events, rank=20)
