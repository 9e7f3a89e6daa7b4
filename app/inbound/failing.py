"""Failing e-mail addresses: a bounce marks one (app.inbound.actions.mark_failing); staff clear
the mark (the 360° page's button), and it clears itself when the customer changes that address
or confirms their details.

Clearing by the customer is seen wherever it happens (the portal's e-mail change link, the
customer API, a staff edit, an import): the attribute events beside the model
(app/inbound/models.py, loaded with every model) clear the marks in the same transaction. A
staff clear is an ORM update of the row, so the audit trail records who.
"""
from __future__ import annotations

from sqlalchemy import select

from app.core.models import utcnow
from app.core.validation import ValidationError
from app.extensions import db
from app.inbound.models import FailingAddress


def _who(user) -> str:
    return f"staff:{getattr(user, 'username', None) or getattr(user, 'id', '?')}"[:100]


def clear_failing(failing_id: int, user, *, customer_id: int | None = None) -> FailingAddress:
    """Staff say the address works again (the customer confirmed it by phone, the mailbox was
    full...). ``customer_id``: the 360° page it was cleared from must be the row's customer.
    ValidationError (translated) when there is nothing to clear; the caller commits."""
    from flask_babel import gettext as _

    row = db.session.get(FailingAddress, failing_id)
    if row is None or (customer_id is not None and row.customer_id != customer_id):
        raise ValidationError({"failing": [_("This failing address does not exist.")]})
    if row.cleared_at is not None:
        raise ValidationError({"failing": [_("This address is no longer marked as failing.")]})
    row.cleared_at, row.cleared_by = utcnow(), _who(user)
    return row


def clear_for_customer(customer_id: int, addresses: set[str], by: str) -> int:
    """Clear the customer's marks on ``addresses`` (lower-case); returns how many."""
    addresses = {a.strip().lower() for a in addresses if a and "@" in a}
    if not addresses or customer_id is None:
        return 0
    rows = list(db.session.scalars(select(FailingAddress).where(
        FailingAddress.customer_id == customer_id, FailingAddress.cleared_at.is_(None),
        FailingAddress.address.in_(sorted(addresses)))))
    now = utcnow()
    for row in rows:
        row.cleared_at, row.cleared_by = now, by[:100]
    return len(rows)
