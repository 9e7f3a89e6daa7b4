"""Deferral (promise to pay): move the due date of one or more invoices to a chosen date.

Within the rules (app/requests/self_service.py) it is approved at once and reminders wait until
the new date (app/dunning/engine.py reads active deferrals). If the invoice is still open after
that date the promise is broken: by the dunning run, or by ``check_promises`` (daily job), and
the customer is told; reminders then resume by themselves. A payment that settles the invoice
keeps the promise (app/payments/consequences.py).

The caller commits.
"""
from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import select, update

from app.core import validation as v
from app.core.i18n import day
from app.core.locking import lock
from app.core.time import business_today
from app.core.validation import ValidationError
from app.customers.models import Customer
from app.extensions import db
from app.invoices.models import Invoice, invoice_is_open
from app.requests import self_service as ss
from app.requests.models import CustomerRequest, Deferral
from app.requests.reasons import Reason
from app.requests.services import auto_approve, open_request, register_decision_handler

log = logging.getLogger(__name__)
# Beyond a year a "deferral" is something else (a plan, a settlement): never accepted here.
HARD_MAX_DAYS = 366


def _clean_date(value: Any) -> date:
    errors = v.Errors()
    parsed = value if isinstance(value, date) else v.a_date({"new_due_date": value},
                                                            "new_due_date", errors,
                                                            required=True)
    errors.raise_if_any()
    return parsed


def _check(customer: Customer, invoices: Iterable[Invoice | int], new_due_date: Any,
           today: date) -> tuple[list[Invoice], date, Decimal]:
    """The invoices and the date, or ValidationError (what no rule can approve)."""
    found = ss.customer_open_invoices(customer, invoices)
    new_due = _clean_date(new_due_date)
    if new_due <= today:
        raise ValidationError({"new_due_date": _("Choose a date after today.")})
    if new_due > today + timedelta(days=HARD_MAX_DAYS):
        raise ValidationError({"new_due_date": _(
            "Choose a date within a year. For a longer period, ask for a payment plan.")})
    ids = [i.id for i in found]
    if ss.in_active_plan(ids):
        raise ValidationError({"invoices": _(
            "One of the chosen invoices is in a payment plan: pay its instalments instead.")})
    later = [i for i in found if i.due_date >= new_due]
    if later:
        raise ValidationError({"new_due_date": _(
            "Invoice %(number)s is due on %(date)s already: choose a later date.",
            number=later[0].number, date=day(later[0].due_date))})
    disputed = ss.open_disputed(ids)
    total = sum((ss.payable(i, disputed) for i in found), Decimal("0.00"))
    if total <= 0:
        raise ValidationError({"invoices": _(
            "The chosen invoices are disputed in full: nothing to defer while the dispute is "
            "open.")})
    waiting = db.session.scalar(select(CustomerRequest.id).join(CustomerRequest.invoices).where(
        CustomerRequest.customer_id == customer.id, CustomerRequest.kind == "deferral",
        CustomerRequest.status.in_(("received", "in_review")), Invoice.id.in_(ids)).limit(1))
    if waiting is not None:
        raise ValidationError({"invoices": _(
            "A deferral request for one of these invoices is already waiting for our answer.")})
    return found, new_due, total


# The date proposed before the customer chooses one: two weeks, unless the rules allow less.
PROPOSED_DAYS = 14


def proposed_date(invoices: Iterable[Invoice], today: date | None = None) -> date:
    """The date "I need more time" proposes (the customer may change it): ``PROPOSED_DAYS``
    from today, after the latest due date of ``invoices``, and no later than the rules
    approve at once (``self_service.deferral.max_days`` after each invoice's due date or
    today) when that still leaves a date after them."""
    today = today or business_today()
    invoices = list(invoices)
    max_days = int(ss.rules(ss.DEFERRAL_MAX_DAYS)[ss.DEFERRAL_MAX_DAYS])
    latest_due = max((i.due_date for i in invoices), default=today)
    wanted = max(today + timedelta(days=min(PROPOSED_DAYS, max(max_days, 1))),
                 latest_due + timedelta(days=1))
    allowed = min((max(i.due_date, today) + timedelta(days=max_days) for i in invoices),
                  default=wanted)
    return min(wanted, allowed) if allowed > max(today, latest_due) else wanted


def refused_rules(customer: Customer, invoices: list[Invoice], new_due: date, total: Decimal,
                  today: date) -> list[ss.RuleText]:
    """The self-service rules this deferral breaks (empty: approved at once)."""
    settings = ss.rules(ss.DEFERRAL_MAX_DAYS, ss.DEFERRAL_MAX_AMOUNT)
    max_days, max_amount = settings[ss.DEFERRAL_MAX_DAYS], settings[ss.DEFERRAL_MAX_AMOUNT]
    found: list[ss.RuleText] = []
    legal = ss.legal_status_rule(customer)
    if legal is not None:
        found.append(legal)
    if total > max_amount:
        found.append(Reason("amount_above_limit", amount=total, limit=max_amount))
    too_far = [i for i in invoices if new_due > max(i.due_date, today) + timedelta(days=max_days)]
    if too_far:
        found.append(Reason("deferral_too_long", days=max_days))
    before = list(db.session.scalars(select(Invoice.number).join(
        Deferral, Deferral.invoice_id == Invoice.id).where(
        Deferral.invoice_id.in_([i.id for i in invoices]), Deferral.status != "cancelled")
        .distinct()))
    if before:
        found.append(Reason("already_deferred", numbers=", ".join(sorted(before))))
    return found


def request_deferral(customer: Customer, invoices: Iterable[Invoice | int], new_due_date: Any,
                     *, channel: str = "portal", user: Any = None,
                     override_reason: str | None = None,
                     today: date | None = None) -> ss.Outcome:
    """Ask to pay ``invoices`` by ``new_due_date``. ValidationError: nothing changed.

    With ``user`` and ``override_reason`` (staff for the customer) the rules are bypassed.
    The customer is locked first: the same request sent twice at once is decided once."""
    today = today or business_today()
    lock(customer)
    found, new_due, total = _check(customer, invoices, new_due_date, today)
    override = (override_reason or "").strip() if user is not None else ""
    if user is not None and override_reason is not None and not override:
        raise ValidationError({"override_reason": _("Say why the rules are bypassed.")})
    refused = [] if override else refused_rules(customer, found, new_due, total, today)
    payload = {"new_due_date": new_due.isoformat(), "invoice_ids": [i.id for i in found],
               "total": str(total)}
    subject = ", ".join(i.number for i in found)[:200]
    if refused:
        payload["refused_rules"] = ss.in_language(customer.language, refused)
        req = open_request(customer, "deferral", channel=channel, subject=subject,
                           payload=payload, invoices=found,
                           referral_reason="\n".join(payload["refused_rules"]),
                           referral_codes=ss.reason_codes(refused))
        return ss.Outcome(False, req, refused_rules=[str(t()) for t in refused])
    req = auto_approve(customer, "deferral", channel=channel, subject=subject, payload=payload,
                       invoices=found, note=None)
    if override:
        ss.record_override(req, user, override)
    return ss.Outcome(True, req, deferrals=_create(req, customer, found, new_due))


def _create(req: CustomerRequest, customer: Customer, invoices: list[Invoice],
            new_due: date, notify: bool = True) -> list[Deferral]:
    from app.notifications.services import notify_deferral_approved

    made = [Deferral(customer=customer, customer_id=customer.id, invoice=invoice,
                     invoice_id=invoice.id, request_id=req.id,
                     original_due_date=invoice.due_date, new_due_date=new_due, status="active")
            for invoice in invoices]
    db.session.add_all(made)
    db.session.flush()
    for deferral in made if notify else ():
        _safely(notify_deferral_approved, deferral)
    return made


def on_decision(req: CustomerRequest, approved: bool, user: Any) -> bool:
    """Staff approved a deferral the rules sent them: the deferrals are made now.

    One decision, one message: the deferral's own message (new date, pay link) when it is
    about one invoice and staff wrote no note; otherwise the request's answer (False)."""
    if not approved:
        return False
    lock(req.customer)
    payload = req.payload or {}
    try:
        new_due = date.fromisoformat(payload["new_due_date"])
    except (KeyError, TypeError, ValueError):
        raise ValidationError({"payload": _("This request does not say which date was asked "
                                            "for.")}) from None
    ids = payload.get("invoice_ids") or [i.id for i in req.invoices]
    invoices = list(db.session.scalars(select(Invoice).where(
        Invoice.id.in_(ids), Invoice.customer_id == req.customer_id,
        invoice_is_open(), Invoice.open_amount > 0)))
    if not invoices:
        raise ValidationError({"status": _("None of the invoices of this request is still "
                                           "open: nothing to defer.")})
    planned = ss.in_active_plan([i.id for i in invoices])
    if planned:
        # Not stacked: a plan already says when these invoices are paid.
        numbers = ", ".join(sorted(i.number for i in invoices if i.id in planned))
        raise ValidationError({"invoices": _(
            "Invoice %(numbers)s is in an active payment plan: a deferral cannot be approved on "
            "top of it. Reject this request and point the customer to the plan's instalments, "
            "or cancel the plan (Requests > Payment plans) first and then approve.",
            numbers=numbers)})
    tell = len(invoices) == 1 and not req.decision_note
    _create(req, req.customer, invoices, new_due, notify=tell)
    return tell


register_decision_handler("deferral", on_decision)


def _safely(notify, record) -> None:
    """A missing message template never undoes the deferral (it is logged)."""
    try:
        notify(record)
    except LookupError as exc:
        log.warning("no message for %s %s: %s", type(record).__name__, record.id, exc)


def break_overdue_deferrals(today: date | None = None) -> int:
    """Promises whose date passed while the invoice is still open are broken; the customer is
    told once. Idempotent (only active deferrals change). The caller commits."""
    from app.notifications.services import notify_promise_broken

    today = today or business_today()
    ids = list(db.session.scalars(select(Deferral.id).join(
        Invoice, Invoice.id == Deferral.invoice_id).where(
        Deferral.status == "active", Deferral.new_due_date < today,
        invoice_is_open(), Invoice.open_amount > 0)))
    if not ids:
        return 0
    broken = list(db.session.scalars(update(Deferral).where(
        Deferral.id.in_(ids), Deferral.status == "active").values(status="broken")
        .returning(Deferral.id)))
    for deferral in db.session.scalars(select(Deferral).where(Deferral.id.in_(broken))):
        db.session.refresh(deferral)
        _safely(notify_promise_broken, deferral)
    return len(broken)
