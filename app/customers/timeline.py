"""One timeline of everything that happened with a customer, newest first.

``customer_timeline(customer_id, limit, offset)`` reads each source table (invoices, payments and
their allocations, messages with their delivery status, requests and decisions and their
comments, disputes, plans, deferrals, staff notes / calls / pauses, portal log-ins) for at most
``offset + limit`` rows, newest first, merges them by date and returns one page. Each source is
one indexed query on ``customer_id``, so a page costs the same for a customer with 20 events or
20,000.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any

from flask import has_request_context, url_for
from flask_babel import gettext as _
from sqlalchemy import select
from werkzeug.routing import BuildError

from app.core.i18n import day, money
from app.core.portal_access import PortalAccess
from app.core.time import BUSINESS_TZ
from app.customers.models import CALL_DIRECTIONS, CALL_OUTCOMES, CustomerNote
from app.extensions import db
from app.invoices.models import INVOICE_STATUSES, Invoice
from app.notifications.models import CHANNELS, MESSAGE_STATUSES, Message
from app.payments.models import PAYMENT_METHODS, Allocation, Payment
from app.requests.models import (
    DEFERRAL_STATUSES,
    DISPUTE_REASONS,
    DISPUTE_STATUSES,
    PLAN_STATUSES,
    REQUEST_KINDS,
    REQUEST_STATUSES,
    CustomerRequest,
    Deferral,
    Dispute,
    PaymentPlan,
)

try:  # the request conversation (added with the requests work; optional here)
    from app.requests.models import RequestComment
except ImportError:  # pragma: no cover
    RequestComment = None

KINDS = ("invoice", "payment", "message", "request", "decision", "comment", "dispute", "plan",
         "deferral", "note", "call", "pause", "login", "pay_link", "reply", "e_invoice")


@dataclass
class Event:
    kind: str
    at: datetime
    title: str
    detail: str = ""
    link: str | None = None
    status: str | None = None  # a short state shown as a badge (e.g. a message's "failed")
    tone: str = "default"  # default / success / warning / danger: the badge colour
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class TimelinePage:
    events: list[Event]
    offset: int
    limit: int
    has_more: bool


def _at(value: date | datetime | None) -> datetime:
    """Dates (business days) sort as the start of that day in Brussels."""
    if isinstance(value, datetime):
        return value
    return datetime.combine(value or date.min, time(0), tzinfo=BUSINESS_TZ)


def _link(view: str, pk: int) -> str | None:
    if not has_request_context():
        return None
    try:
        return url_for(f"{view}.show", pk=pk)
    except BuildError:
        return None


def _label(choices: dict, value: str | None) -> str:
    return str(choices.get(value, value or ""))


# --- sources: each returns at most n events, newest first -------------------------------------

def _invoices(cid: int, n: int) -> list[Event]:
    rows = db.session.execute(
        select(Invoice.id, Invoice.number, Invoice.issue_date, Invoice.due_date,
               Invoice.total_amount, Invoice.open_amount, Invoice.status, Invoice.dunning_level)
        .where(Invoice.customer_id == cid)
        .order_by(Invoice.issue_date.desc(), Invoice.id.desc()).limit(n))
    events = []
    for r in rows:
        events.append(Event(
            "invoice", _at(r.issue_date), _("Invoice %(number)s issued", number=r.number),
            _("%(amount)s, due on %(date)s; open: %(open)s", amount=money(r.total_amount),
              date=day(r.due_date), open=money(r.open_amount)),
            _link("InvoiceView", r.id), _label(INVOICE_STATUSES, r.status),
            "success" if r.status == "paid" else "default"))
    return events


def _payments(cid: int, n: int) -> list[Event]:
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
        detail = _label(PAYMENT_METHODS, p.method)
        if allocated.get(p.id):
            detail += " · " + _("applied to %(invoices)s", invoices=", ".join(allocated[p.id]))
        events.append(Event("payment", _at(p.received_on),
                            _("Payment of %(amount)s received", amount=money(p.amount)), detail,
                            _link("PaymentView", p.id), None, "success"))
        if p.returned_at is not None:
            events.append(Event("payment", p.returned_at,
                                _("Payment of %(amount)s returned by the bank",
                                  amount=money(p.amount)),
                                _("Reason code: %(code)s", code=p.return_reason or "?"),
                                _link("PaymentView", p.id), _("Returned"), "danger",
                                {"returned": True}))
    return events


def _messages(cid: int, n: int) -> list[Event]:
    rows = db.session.execute(
        select(Message.id, Message.created_at, Message.sent_at, Message.channel, Message.event,
               Message.subject, Message.status, Message.error, Message.recipient)
        .where(Message.customer_id == cid)
        .order_by(Message.created_at.desc(), Message.id.desc()).limit(n))
    events = []
    tones = {"sent": "success", "failed": "danger", "queued": "default", "sending": "default"}
    for m in rows:
        detail = m.subject or ""
        if m.status == "failed" and m.error:
            detail = f"{detail} · {m.error[:200]}" if detail else m.error[:200]
        events.append(Event(
            "message", m.created_at,
            _("%(channel)s sent: %(event)s", channel=_label(CHANNELS, m.channel),
              event=m.event.replace("_", " ")),
            detail, _link("MessageView", m.id), _label(MESSAGE_STATUSES, m.status),
            tones.get(m.status, "default"), {"recipient": m.recipient}))
    return events


def _requests(cid: int, n: int) -> list[Event]:
    rows = list(db.session.execute(
        select(CustomerRequest.id, CustomerRequest.created_at, CustomerRequest.kind,
               CustomerRequest.status, CustomerRequest.channel, CustomerRequest.subject,
               CustomerRequest.decided_at, CustomerRequest.decision_note)
        .where(CustomerRequest.customer_id == cid)
        .order_by(CustomerRequest.created_at.desc(), CustomerRequest.id.desc()).limit(n)))
    events = []
    for r in rows:
        kind = _label(REQUEST_KINDS, r.kind)
        events.append(Event("request", r.created_at,
                            _("Request #%(id)s: %(kind)s", id=r.id, kind=kind),
                            r.subject or "", _link("CustomerRequestView", r.id),
                            _label(REQUEST_STATUSES, r.status)))
        if r.decided_at is not None and r.status in ("approved", "rejected"):
            events.append(Event("decision", r.decided_at,
                                _("Request #%(id)s %(status)s", id=r.id,
                                  status=_label(REQUEST_STATUSES, r.status).lower()),
                                r.decision_note or "", _link("CustomerRequestView", r.id),
                                _label(REQUEST_STATUSES, r.status),
                                "success" if r.status == "approved" else "warning"))
    if RequestComment is not None:
        for c in db.session.execute(
                select(RequestComment.id, RequestComment.request_id, RequestComment.author,
                       RequestComment.text, RequestComment.created_at)
                .join(CustomerRequest, CustomerRequest.id == RequestComment.request_id)
                .where(CustomerRequest.customer_id == cid)
                .order_by(RequestComment.created_at.desc()).limit(n)):
            who = _("the customer") if c.author == "customer" else _("staff")
            events.append(Event("comment", c.created_at,
                                _("Comment by %(who)s on request #%(id)s", who=who,
                                  id=c.request_id),
                                (c.text or "")[:300], _link("CustomerRequestView", c.request_id)))
    return events


def _disputes(cid: int, n: int) -> list[Event]:
    rows = db.session.execute(
        select(Dispute.id, Dispute.created_at, Dispute.closed_at, Dispute.amount, Dispute.reason,
               Dispute.status, Invoice.number)
        .join(Invoice, Invoice.id == Dispute.invoice_id)
        .where(Dispute.customer_id == cid).order_by(Dispute.created_at.desc()).limit(n))
    events = []
    for d in rows:
        events.append(Event("dispute", d.created_at,
                            _("Invoice %(number)s disputed (%(amount)s)", number=d.number,
                              amount=money(d.amount)),
                            _label(DISPUTE_REASONS, d.reason), _link("DisputeView", d.id),
                            _label(DISPUTE_STATUSES, d.status),
                            "warning" if d.status == "open" else "default"))
        if d.closed_at is not None:
            events.append(Event("dispute", d.closed_at,
                                _("Dispute on invoice %(number)s closed", number=d.number),
                                _label(DISPUTE_STATUSES, d.status), _link("DisputeView", d.id),
                                _label(DISPUTE_STATUSES, d.status)))
    return events


def _plans(cid: int, n: int) -> list[Event]:
    rows = db.session.execute(
        select(PaymentPlan.id, PaymentPlan.created_at, PaymentPlan.status,
               PaymentPlan.total_amount, PaymentPlan.installment_count, PaymentPlan.broken_on,
               PaymentPlan.updated_at)
        .where(PaymentPlan.customer_id == cid).order_by(PaymentPlan.created_at.desc()).limit(n))
    tones = {"broken": "danger", "completed": "success", "active": "default"}
    events = []
    for p in rows:
        events.append(Event("plan", p.created_at,
                            _("Payment plan of %(amount)s in %(count)s instalments",
                              amount=money(p.total_amount), count=p.installment_count),
                            "", _link("PaymentPlanView", p.id), _label(PLAN_STATUSES, p.status),
                            tones.get(p.status, "default")))
        if p.status == "broken":
            events.append(Event("plan", _at(p.broken_on or p.updated_at),
                                _("Payment plan broken"), money(p.total_amount),
                                _link("PaymentPlanView", p.id), _label(PLAN_STATUSES, p.status),
                                "danger", {"broken": True}))
        elif p.status == "completed":
            events.append(Event("plan", p.updated_at, _("Payment plan kept to the end"), "",
                                _link("PaymentPlanView", p.id), _label(PLAN_STATUSES, p.status),
                                "success"))
    return events


def _deferrals(cid: int, n: int) -> list[Event]:
    rows = db.session.execute(
        select(Deferral.id, Deferral.created_at, Deferral.updated_at, Deferral.status,
               Deferral.original_due_date, Deferral.new_due_date, Invoice.number)
        .join(Invoice, Invoice.id == Deferral.invoice_id)
        .where(Deferral.customer_id == cid).order_by(Deferral.created_at.desc()).limit(n))
    events = []
    for d in rows:
        events.append(Event("deferral", d.created_at,
                            _("Promise to pay invoice %(number)s by %(date)s", number=d.number,
                              date=day(d.new_due_date)),
                            _("was due on %(date)s", date=day(d.original_due_date)),
                            _link("DeferralView", d.id), _label(DEFERRAL_STATUSES, d.status)))
        if d.status in ("kept", "broken"):
            events.append(Event("deferral", d.updated_at,
                                _("Promise kept") if d.status == "kept" else _("Promise broken"),
                                _("Invoice %(number)s", number=d.number),
                                _link("DeferralView", d.id), _label(DEFERRAL_STATUSES, d.status),
                                "success" if d.status == "kept" else "danger",
                                {"broken": d.status == "broken"}))
    return events


def _notes(cid: int, n: int) -> list[Event]:
    rows = db.session.scalars(select(CustomerNote).where(CustomerNote.customer_id == cid)
                              .order_by(CustomerNote.created_at.desc(), CustomerNote.id.desc())
                              .limit(n))
    events = []
    for note in rows:
        by = note.user_name or ""
        if note.kind == "call":
            title = _label(CALL_DIRECTIONS, note.call_direction) or _("Phone call")
            status = _label(CALL_OUTCOMES, note.call_outcome) or None
        elif note.kind == "pause":
            title = _("Reminders paused until %(date)s", date=day(note.paused_until))
            status = None
        else:
            title, status = _("Note"), None
        events.append(Event(note.kind, note.created_at, title, note.text, None, status,
                            "warning" if note.kind == "pause" else "default", {"by": by}))
    return events


def _logins(cid: int, n: int) -> list[Event]:
    rows = db.session.execute(
        select(PortalAccess.used_at, PortalAccess.ip)
        .where(PortalAccess.customer_id == cid, PortalAccess.kind == "magic_link",
               PortalAccess.used_at.is_not(None))
        .order_by(PortalAccess.used_at.desc()).limit(n))
    return [Event("login", r.used_at, _("Signed in to the portal"), r.ip or "") for r in rows]


# Each source gives (customer id, how many) -> its newest events. Packages above customers add
# theirs with register_source when they are imported (pay links, e-mail replies, e-invoice
# responses: app.backoffice imports them at start), so this module never imports them.
SOURCES = [_invoices, _payments, _messages, _requests, _disputes, _plans, _deferrals, _notes,
           _logins]


def register_source(source) -> None:
    """Add a higher package's events to every customer's timeline (once)."""
    if source not in SOURCES:
        SOURCES.append(source)


def customer_timeline(customer_id: int, limit: int = 50, offset: int = 0,
                      kinds: set[str] | None = None) -> TimelinePage:
    """One page of the merged timeline, newest first (``kinds`` narrows it)."""
    limit = max(1, min(int(limit), 500))
    offset = max(0, int(offset))
    want = offset + limit + 1
    events: list[Event] = []
    for source in SOURCES:
        events.extend(e for e in source(customer_id, want) if not kinds or e.kind in kinds)
    events.sort(key=lambda e: e.at, reverse=True)
    return TimelinePage(events[offset:offset + limit], offset, limit, len(events) > offset + limit)

