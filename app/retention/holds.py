"""Legal holds: whose data no purge may touch, today.

A hold is either set by hand (LegalHold: a reason and an optional end date) or automatic, while
 * a dispute is open (the customer's own claim: GDPR art. 17(3)(e)),
 * a debt is unpaid (an open invoice with something left to pay),
 * the customer is in legal proceedings, with a collection agency, or insolvent.

Everything here is a query over all customers at once (``held_customer_ids`` is a SELECT the
purge uses as ``NOT IN``), never a loop in Python; ``hold_reasons`` explains one customer.
"""
from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import Select, and_, or_, select, union

from app.core import validation as v
from app.core.sets import one_of
from app.core.time import business_today
from app.customers.models import Customer
from app.extensions import db
from app.invoices.models import Invoice, invoice_is_open
from app.requests.models import Dispute
from app.retention.models import LegalHold

HOLDING_LEGAL_STATUSES = ("legal_proceedings", "collection_agency", "insolvent")
HOLD_KINDS = {"manual": _l("Legal hold set by staff"), "dispute": _l("Open dispute"),
              "unpaid": _l("Unpaid debt"), "legal_status": _l("Legal proceedings or insolvency")}


def _manual(today: date) -> Select:
    return select(LegalHold.customer_id).where(
        LegalHold.released_at.is_(None),
        or_(LegalHold.until.is_(None), LegalHold.until >= today))


def _dispute() -> Select:
    return select(Dispute.customer_id).where(Dispute.status == "open")


def _disputed_invoice() -> Select:
    return select(Invoice.customer_id).where(Invoice.disputed.is_(True),
                                             invoice_is_open())


def _unpaid() -> Select:
    return select(Invoice.customer_id).where(invoice_is_open(),
                                             Invoice.open_amount > 0)


def _legal_status() -> Select:
    return select(Customer.id).where(Customer.legal_status.in_(HOLDING_LEGAL_STATUSES))


def held_customer_ids(today: date | None = None):
    """A SELECT of the ids of every customer on hold (use with ``not_in``)."""
    today = today or business_today()
    return union(_manual(today), _dispute(), _disputed_invoice(), _unpaid(), _legal_status())


def held_customer_queries(today: date | None = None) -> list[Select]:
    """The same customers as ``held_customer_ids``, one SELECT per kind of hold (the purge's
    planning reads them one by one, each its own short transaction)."""
    today = today or business_today()
    return [_manual(today), _dispute(), _disputed_invoice(), _unpaid(), _legal_status()]


def not_held(today: date | None = None):
    """A condition for a query over ``customer``: the customer is on no hold.

    Written as NOT EXISTS per kind of hold (not NOT IN over a union), so that PostgreSQL turns
    each into an anti-join instead of probing a large subquery for every row."""
    today = today or business_today()
    return and_(
        ~_manual(today).where(LegalHold.customer_id == Customer.id).exists(),
        ~_dispute().where(Dispute.customer_id == Customer.id).exists(),
        ~_disputed_invoice().where(Invoice.customer_id == Customer.id).exists(),
        ~_unpaid().where(Invoice.customer_id == Customer.id).exists(),
        Customer.legal_status.not_in(HOLDING_LEGAL_STATUSES))


def held_among(customer_ids: list[int], today: date | None = None) -> set[int]:
    """Which of these customers are on hold (re-checked inside each purge transaction)."""
    if not customer_ids:
        return set()
    return set(db.session.scalars(held_among_query(customer_ids, today)))


def held_among_query(customer_ids: list[int], today: date | None = None):
    """A SELECT of the ids among these customers that are on hold: one statement (a UNION of
    each kind of hold among them), not one per kind; the purge embeds it in its batch's
    first read."""
    today = today or business_today()
    return union(*[query.where(one_of(column, customer_ids)) for query, column in (
        (_manual(today), LegalHold.customer_id), (_dispute(), Dispute.customer_id),
        (_disputed_invoice(), Invoice.customer_id), (_unpaid(), Invoice.customer_id),
        (_legal_status(), Customer.id))])


def hold_reasons(customer: Customer, today: date | None = None) -> list[tuple[str, str, date | None]]:
    """[(kind, text in the current language, until)] for one customer; empty when not held."""
    today = today or business_today()
    reasons: list[tuple[str, str, date | None]] = []
    for hold in db.session.scalars(_manual_rows(customer.id, today)):
        reasons.append(("manual", hold.reason, hold.until))
    if db.session.scalar(_dispute().where(Dispute.customer_id == customer.id).limit(1)) \
            or db.session.scalar(_disputed_invoice().where(
                Invoice.customer_id == customer.id).limit(1)):
        reasons.append(("dispute", _("A dispute is open."), None))
    if db.session.scalar(_unpaid().where(Invoice.customer_id == customer.id).limit(1)):
        reasons.append(("unpaid", _("An amount is still due."), None))
    if customer.legal_status in HOLDING_LEGAL_STATUSES:
        reasons.append(("legal_status", _("Legal proceedings, collection or insolvency are "
                                          "under way."), None))
    return reasons


def _manual_rows(customer_id: int, today: date):
    return select(LegalHold).where(LegalHold.customer_id == customer_id,
                                   LegalHold.released_at.is_(None),
                                   or_(LegalHold.until.is_(None), LegalHold.until >= today))


# --- setting and releasing a hold by hand (Compliance -> Legal holds) ---------------------------
MAX_HOLD_REASON = 2000


def _hold_reason(reason: Any) -> str:
    errors = v.Errors()
    text = v.text({"reason": reason}, "reason", errors, required=True,
                  max_length=MAX_HOLD_REASON)
    errors.raise_if_any()
    return text or ""


def place_hold(customer: Customer, reason: Any, until: date | None, by: Any) -> LegalHold:
    """Put a customer's data on hold: no purge or erasure touches it until ``until`` (None:
    until released). The reason is required; who set the hold is recorded with it.
    ValidationError (per field) when refused, nothing added. The caller commits."""
    if customer is None:
        raise v.ValidationError({"customer": [_("Choose a customer.")]})
    hold = LegalHold(customer=customer, customer_id=customer.id, reason=_hold_reason(reason),
                     until=until, created_by_id=getattr(by, "id", None))
    db.session.add(hold)
    return hold


def change_hold(hold: LegalHold, reason: Any, until: date | None,
                released_at: datetime | None) -> None:
    """Change a hold's reason or end, release it (``released_at``) or put it back (None). Who
    set it and when stay as recorded. The caller commits."""
    hold.reason = _hold_reason(reason)
    hold.until = until
    if released_at is not None and released_at.tzinfo is None:
        released_at = released_at.replace(tzinfo=UTC)
    hold.released_at = released_at
