"""Disputes (complaints) on an invoice or part of its amount.

Opening one stops reminders for the disputed amount at once: the dunning engine reminds only
the open amount less the open disputes (an invoice of 100 with 30 disputed is reminded for 70,
if that is above the minimum). The invoice's ``disputed`` flag and ``disputed_amount`` follow
the open disputes, so every screen agrees. Staff decide through the request queue: approved =
resolved in the customer's favour (staff then credit what is due), rejected = the amount is due
again and reminders resume.

The caller commits.
"""
from __future__ import annotations

from decimal import Decimal
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import func, select

from app.core import validation as v
from app.core.i18n import money
from app.core.locking import lock_rows
from app.core.models import utcnow
from app.core.validation import ValidationError
from app.customers.models import Customer
from app.extensions import db
from app.invoices.models import Invoice, invoice_is_open
from app.requests import attachments
from app.requests.models import DISPUTE_REASONS, DISPUTE_STATUSES, CustomerRequest, Dispute
from app.requests.services import (
    open_request,
    register_decision_handler,
    register_withdraw_handler,
)

MAX_TEXT = 5000
ZERO = Decimal("0.00")


def open_disputed_amount(invoice_id: int) -> Decimal:
    return Decimal(db.session.scalar(select(func.coalesce(func.sum(Dispute.amount), 0)).where(
        Dispute.invoice_id == invoice_id, Dispute.status == "open")) or 0)


def sync_invoice(invoice: Invoice) -> None:
    """The invoice's dispute flag and amount = its open disputes."""
    db.session.flush()
    amount = min(open_disputed_amount(invoice.id), invoice.open_amount or ZERO)
    invoice.disputed = amount > 0
    invoice.disputed_amount = amount


def open_dispute(customer: Customer, invoice: Invoice | int, amount: Any, reason: Any,
                 text: Any, files: list[Any] | None = None, *,
                 channel: str = "portal") -> Dispute:
    """Dispute ``amount`` of ``invoice`` (None or empty: all that is not disputed yet).

    ValidationError (translated, per field) when something is wrong: nothing is stored then,
    not even the files. The invoice is locked first: two disputes sent at once cannot both
    take the same open amount."""
    invoice_id = invoice if isinstance(invoice, int) else invoice.id
    lock_rows(Invoice, [invoice_id])
    found = db.session.scalar(select(Invoice).where(
        Invoice.id == invoice_id, Invoice.customer_id == customer.id,
        invoice_is_open()))
    if found is None:
        raise ValidationError({"invoice": _("This invoice is not open on your account.")})
    errors = v.Errors()
    left = max((found.open_amount or ZERO) - open_disputed_amount(found.id), ZERO)
    cleaned = v.amount({"amount": amount}, "amount", errors)
    if cleaned is None and "amount" not in errors:
        cleaned = left
    if cleaned is not None and cleaned > left:
        errors.add("amount", _("You can dispute at most %(amount)s of this invoice.",
                               amount=money(left)))
    if left <= 0:
        errors.add("amount", _("The whole open amount of this invoice is already disputed."))
    chosen = v.choice({"reason": reason}, "reason", errors, DISPUTE_REASONS)
    if chosen is None and "reason" not in errors:
        errors.add("reason", _("Choose a reason."))
    words = v.text({"text": text}, "text", errors, required=True, max_length=MAX_TEXT)
    try:
        uploads = attachments.check_uploads(list(files or []))
    except ValidationError as exc:
        for message in exc.errors.get(attachments.FIELD, []):
            errors.add(attachments.FIELD, message)
        uploads = []
    errors.raise_if_any()
    req = open_request(customer, "dispute", channel=channel, subject=found.number,
                       message=words, invoices=[found],
                       payload={"invoice_id": found.id, "invoice_number": found.number,
                                "amount": str(cleaned), "reason": chosen})
    dispute = Dispute(customer=customer, customer_id=customer.id, invoice=found,
                      invoice_id=found.id, request_id=req.id, amount=cleaned, reason=chosen,
                      text=words, status="open")
    db.session.add(dispute)
    if uploads:
        attachments.store(req, uploads)
    sync_invoice(found)
    return dispute


def close_dispute(dispute: Dispute, status: str) -> None:
    if status not in ("upheld", "rejected", "withdrawn"):
        raise ValueError(status)
    dispute.status = status
    dispute.closed_at = utcnow()
    sync_invoice(dispute.invoice)


def set_dispute_status(dispute: Dispute, status: str) -> None:
    """Staff follow a dispute up by hand (Requests -> Disputes): closed with the time it closed,
    or opened again; either way the invoice's dispute flag and amount follow at once, so the
    dunning engine reminds what is no longer disputed. ValidationError for an unknown status."""
    if status not in DISPUTE_STATUSES:
        raise ValidationError({"status": _("Choose a status.")})
    if status == dispute.status:
        return
    if status == "open" or dispute.status != "open":
        # Opened again, or closed one way rather than another (it closed when it first did).
        dispute.status = status
        dispute.closed_at = None if status == "open" else (dispute.closed_at or utcnow())
        sync_invoice(dispute.invoice)
        return
    close_dispute(dispute, status)


def on_decision(req: CustomerRequest, approved: bool, user: Any) -> None:
    """Staff decided: the request's open disputes are upheld or rejected."""
    for dispute in db.session.scalars(select(Dispute).where(Dispute.request_id == req.id,
                                                            Dispute.status == "open")):
        close_dispute(dispute, "upheld" if approved else "rejected")


register_decision_handler("dispute", on_decision)


def on_withdraw(req: CustomerRequest) -> None:
    """The customer withdrew the dispute: reminders resume on the amount it held back."""
    for dispute in db.session.scalars(select(Dispute).where(Dispute.request_id == req.id,
                                                            Dispute.status == "open")):
        close_dispute(dispute, "withdrawn")


register_withdraw_handler("dispute", on_withdraw)


def customer_dispute(customer_id: int, dispute_id: int) -> Dispute | None:
    return db.session.scalar(select(Dispute).where(Dispute.id == dispute_id,
                                                   Dispute.customer_id == customer_id))
