"""Customer requests ("cases"): opening one, its SLA, the staff decision and the survey.

Every self-service action that needs a record (deferral, plan, dispute, change of details, refund
account, mandate, erasure, question) opens a ``CustomerRequest`` here, whether it came from the
portal, from staff on the customer's behalf or from the API. What happens when staff approve or
reject a request of a given kind is registered by the domain that owns that kind:

    register_decision_handler("payment_plan", plans.on_decision)

``decide_request`` then calls the handler in the same transaction, records the decision (it is on
the customer's timeline through the request row) and tells the customer in their language.
Auto-approved requests (within the self-service rules) are recorded with ``auto_approve``.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from app.core.models import utcnow
from app.core.settings import get_setting, register_setting
from app.core.validation import ValidationError
from app.customers.models import Customer
from app.extensions import db
from app.invoices.models import Invoice
from app.requests.models import REQUEST_KINDS, CustomerRequest

# SLA in hours per request kind: rows staff edit in the admin (Settings, category "requests").
# Access and erasure requests have the GDPR's one month (720 h).
_DEFAULT_SLA_HOURS = {"deferral": 24, "payment_plan": 48, "dispute": 120, "data_change": 48,
                      "bank_account": 48, "mandate": 48, "preferences": 24, "access": 720,
                      "erasure": 720, "question": 48}
for _kind, _hours in _DEFAULT_SLA_HOURS.items():
    register_setting(f"requests.sla_hours.{_kind}", _hours, "int",
                     _l("Answer within (hours): %(kind)s", kind=REQUEST_KINDS[_kind]),
                     "requests")
register_setting("requests.sla_due_soon_hours", 8, "int",
                 _l("A request is \"due soon\" this many hours before its SLA"), "requests")

OPEN_STATUSES = ("received", "in_review")
DECIDED_STATUSES = ("approved", "rejected")
FINAL_STATUSES = ("approved", "rejected", "closed", "cancelled")

# kind -> handler(request, approved: bool, user) called before the decision is recorded. A
# handler raises ValidationError to refuse the decision (nothing is changed then).
DecisionHandler = Callable[[CustomerRequest, bool, Any], None]
_DECISION_HANDLERS: dict[str, DecisionHandler] = {}


def register_decision_handler(kind: str, handler: DecisionHandler) -> None:
    if kind not in REQUEST_KINDS:
        raise ValueError(f"unknown request kind {kind!r}")
    _DECISION_HANDLERS[kind] = handler


def sla_hours(kind: str) -> int:
    return int(get_setting(f"requests.sla_hours.{kind}"))


def open_request(customer: Customer, kind: str, *, channel: str = "portal",
                 subject: str | None = None, message: str | None = None,
                 payload: dict | None = None, invoices: Iterable[Invoice] = (),
                 referral_reason: str | None = None, notify: bool = True,
                 now: datetime | None = None) -> CustomerRequest:
    """Add a received request to the session (the caller commits) and acknowledge it.

    ``referral_reason`` is the self-service rule that sent it to staff, in words the customer
    reads (already translated into their language by the caller)."""
    if kind not in REQUEST_KINDS:
        raise ValueError(f"unknown request kind {kind!r}")
    now = now or utcnow()
    req = CustomerRequest(customer=customer, customer_id=customer.id, kind=kind,
                          status="received", channel=channel, subject=subject, message=message,
                          payload=dict(payload or {}), referral_reason=referral_reason,
                          sla_due_at=now + timedelta(hours=sla_hours(kind)))
    req.invoices = list(invoices)
    db.session.add(req)
    db.session.flush()
    if notify:
        from app.notifications.services import notify_request_received

        notify_request_received(req)
    return req


def auto_approve(customer: Customer, kind: str, *, note: str | None = None,
                 **fields: Any) -> CustomerRequest:
    """A request the self-service rules approved at once: recorded as approved, no staff."""
    req = open_request(customer, kind, notify=False, **fields)
    req.status = "approved"
    req.decided_at = req.created_at or utcnow()
    req.decision_note = note
    return req


def decide_request(req: CustomerRequest, user: Any, approve: bool, note: str | None) -> None:
    """Staff approve or reject an open request; the customer sees ``note``.

    Refused (ValidationError, nothing changed) when the request is already decided."""
    if req.status not in OPEN_STATUSES:
        raise ValidationError({"status": _("This request has already been decided.")})
    handler = _DECISION_HANDLERS.get(req.kind)
    if handler is not None:
        handler(req, approve, user)
    req.status = "approved" if approve else "rejected"
    req.decision_note = (note or "").strip() or None
    req.decided_at = utcnow()
    req.decided_by_id = getattr(user, "id", None)
    from app.notifications.services import notify_request_decided

    notify_request_decided(req)


def sla_state(req: CustomerRequest, now: datetime | None = None) -> str:
    """"done", "breached", "due_soon" or "on_time"."""
    if req.status not in OPEN_STATUSES or req.sla_due_at is None:
        return "done"
    now = now or utcnow()
    if req.sla_due_at <= now:
        return "breached"
    if req.sla_due_at <= now + timedelta(hours=int(get_setting("requests.sla_due_soon_hours"))):
        return "due_soon"
    return "on_time"
