"""The last check before a reminder leaves: is anything it asks for still open?

Excluding an invoice from reminders by hand (and back) is a rule of the invoice's own columns:
app.invoices.services (exclude_from_reminders, resume_reminders), used by the dunning screens."""
from __future__ import annotations

from datetime import date

from flask_babel import ngettext
from sqlalchemy import func, select

from app.core.validation import ValidationError
from app.customers.models import Customer
from app.dunning.models import DunningPolicy
from app.extensions import db
from app.invoices.models import Invoice, invoice_is_open
from app.notifications.withdrawal import register_withdrawal_check


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
        Invoice.id.in_(invoice_ids), invoice_is_open()))
    return not still_open


# The delivery job and the print batches ask it before a message leaves
# (app.notifications.withdrawal).
register_withdrawal_check(reminder_is_moot)


def check_policy_deletable(policy: DunningPolicy) -> None:
    """A policy customers follow is not deleted (they would be reminded by no policy): give them
    another one first, or make it inactive. ValidationError({"policy": ...}) otherwise."""
    used = db.session.scalar(select(func.count()).select_from(Customer)
                             .where(Customer.dunning_policy_id == policy.id))
    if used:
        raise ValidationError({"policy": [ngettext(
            "%(num)s customer follows this policy: give them another one first, or make this "
            "one inactive.",
            "%(num)s customers follow this policy: give them another one first, or make this "
            "one inactive.", used)]})
