"""Dunning actions people take by hand: excluding an invoice from reminders, and back."""
from __future__ import annotations

from datetime import date

from flask_babel import gettext as _

from app.core.time import business_today
from app.core.validation import ValidationError
from app.invoices.models import Invoice

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
