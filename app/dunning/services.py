"""Dunning actions people take by hand (excluding an invoice from reminders, and back), and
the last check before a reminder leaves: is anything it asks for still open?"""
from __future__ import annotations

from datetime import date

from flask_babel import gettext as _

from app.core.time import business_today
from app.core.validation import ValidationError
from app.invoices.models import OPEN_STATUSES, Invoice

MAX_REASON = 1000


def exclude_invoice(invoice: Invoice, reason: str | None, by: str | None,
                    on: date | None = None) -> None:
    """Stop reminders for this invoice; the reason is shown in every dry run. Caller commits."""
    text = " ".join((reason or "").split())
    if not text:
        raise ValidationError({"reason": _("Say why reminders stop for this invoice.")})
    if len(text) > MAX_REASON:
        raise ValidationError({"reason": _("At most %(n)s characters.", n=MAX_REASON)})
    invoice.dunning_blocked = True
    invoice.dunning_block_reason = text
    invoice.dunning_blocked_by = (by or "")[:100] or None
    invoice.dunning_blocked_on = on or business_today()


def include_invoice(invoice: Invoice) -> None:
    """Reminders resume for this invoice at the next run. Caller commits."""
    invoice.dunning_blocked = False
    invoice.dunning_block_reason = None
    invoice.dunning_blocked_by = None
    invoice.dunning_blocked_on = None


def reminder_is_moot(event: str, idempotency_key: str, customer_id: int | None) -> bool:
    """A reminder queued by a run (key ``dunning:<run date>:<customer>:<channel>``) whose
    invoices were all settled before it could be sent (an SMS held by quiet hours, a retry, a
    letter waiting for its batch): sending it would ask for money already paid."""
    from sqlalchemy import func, select

    from app.dunning.models import DunningAction
    from app.extensions import db

    parts = idempotency_key.split(":")
    if not event.startswith("dunning.") or parts[0] != "dunning" or customer_id is None:
        return False
    try:
        run_date = date.fromisoformat(parts[1])
    except (IndexError, ValueError):
        return False
    invoice_ids = db.session.scalar(select(DunningAction.invoice_ids).where(
        DunningAction.customer_id == customer_id, DunningAction.run_date == run_date))
    if not invoice_ids:
        return False
    still_open = db.session.scalar(select(func.count()).select_from(Invoice).where(
        Invoice.id.in_(invoice_ids), Invoice.status.in_(OPEN_STATUSES)))
    return not still_open
