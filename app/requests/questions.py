"""A customer's question to the AR team ("Ask a question"): the one set of checks the portal
form and the customer API's POST /questions both go through, so their answers and refusals are
the same words."""
from __future__ import annotations

from typing import Any

from flask_babel import gettext as _
from sqlalchemy import select

from app.core.validation import ValidationError
from app.customers.models import Customer
from app.extensions import db
from app.invoices.models import Invoice
from app.requests.models import CustomerRequest
from app.requests.services import COMMENT_MAX_CHARS, open_request

SUBJECT_MAX_CHARS = 200
_MAX_ID = 2**31 - 1


def _invoice_of(customer_id: int, value: Any) -> Invoice | None:
    """The customer's invoice named by ``value`` (an int, or digits from a form), else None."""
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) < 11:
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= _MAX_ID:
        return None
    return db.session.scalar(select(Invoice).where(Invoice.id == value,
                                                   Invoice.customer_id == customer_id))


def ask_question(customer: Customer, subject: Any, text: Any, invoice_id: Any = None, *,
                 channel: str, invoice_field: str = "invoice_id") -> CustomerRequest:
    """Open a "question" request (the caller commits). ValidationError keyed by field
    (``invoice_field`` names the invoice's field for the caller): nothing changed."""
    subject = str(subject or "").strip()
    text = str(text or "").strip()
    errors: dict[str, list[str]] = {}
    if not subject:
        errors["subject"] = [_("Please give your question a subject.")]
    elif len(subject) > SUBJECT_MAX_CHARS:
        errors["subject"] = [_("At most %(max)d characters.", max=SUBJECT_MAX_CHARS)]
    if not text:
        errors["text"] = [_("Please write a message.")]
    elif len(text) > COMMENT_MAX_CHARS:
        errors["text"] = [_("At most %(max)d characters.", max=COMMENT_MAX_CHARS)]
    invoices = []
    if invoice_id not in (None, ""):
        invoice = _invoice_of(customer.id, invoice_id)
        if invoice is None:
            errors[invoice_field] = [_("Choose one of your invoices.")]
        invoices = [invoice]
    if errors:
        raise ValidationError(errors)
    return open_request(customer, "question", channel=channel, subject=subject, message=text,
                        invoices=invoices)
