"""Requests on the customer's timeline: each request, its decision and its comments; disputes,
payment plans and promises to pay (deferrals) with how they ended. Registered with
app.customers.timeline (register_source), which sits below requests and never imports it;
app.backoffice imports this module at start (TIMELINE_SOURCES)."""
from __future__ import annotations

from flask_babel import gettext as _
from sqlalchemy import select

from app.core.i18n import day, money
from app.customers.timeline import Event, label, moment, register_source, show_link
from app.extensions import db
from app.invoices.models import Invoice
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
    RequestComment,
)


def request_events(cid: int, n: int) -> list[Event]:
    rows = list(db.session.execute(
        select(CustomerRequest.id, CustomerRequest.created_at, CustomerRequest.kind,
               CustomerRequest.status, CustomerRequest.channel, CustomerRequest.subject,
               CustomerRequest.decided_at, CustomerRequest.decision_note)
        .where(CustomerRequest.customer_id == cid)
        .order_by(CustomerRequest.created_at.desc(), CustomerRequest.id.desc()).limit(n)))
    events = []
    for r in rows:
        kind = label(REQUEST_KINDS, r.kind)
        events.append(Event("request", r.created_at,
                            _("Request #%(id)s: %(kind)s", id=r.id, kind=kind),
                            r.subject or "", show_link("CustomerRequestView", r.id),
                            label(REQUEST_STATUSES, r.status)))
        if r.decided_at is not None and r.status in ("approved", "rejected"):
            events.append(Event("decision", r.decided_at,
                                _("Request #%(id)s %(status)s", id=r.id,
                                  status=label(REQUEST_STATUSES, r.status).lower()),
                                r.decision_note or "", show_link("CustomerRequestView", r.id),
                                label(REQUEST_STATUSES, r.status),
                                "success" if r.status == "approved" else "warning"))
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
                            (c.text or "")[:300], show_link("CustomerRequestView", c.request_id)))
    return events


def dispute_events(cid: int, n: int) -> list[Event]:
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
                            label(DISPUTE_REASONS, d.reason), show_link("DisputeView", d.id),
                            label(DISPUTE_STATUSES, d.status),
                            "warning" if d.status == "open" else "default"))
        if d.closed_at is not None:
            events.append(Event("dispute", d.closed_at,
                                _("Dispute on invoice %(number)s closed", number=d.number),
                                label(DISPUTE_STATUSES, d.status), show_link("DisputeView", d.id),
                                label(DISPUTE_STATUSES, d.status)))
    return events


def plan_events(cid: int, n: int) -> list[Event]:
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
                            "", show_link("PaymentPlanView", p.id), label(PLAN_STATUSES, p.status),
                            tones.get(p.status, "default")))
        if p.status == "broken":
            events.append(Event("plan", moment(p.broken_on or p.updated_at),
                                _("Payment plan broken"), money(p.total_amount),
                                show_link("PaymentPlanView", p.id), label(PLAN_STATUSES, p.status),
                                "danger", {"broken": True}))
        elif p.status == "completed":
            events.append(Event("plan", p.updated_at, _("Payment plan kept to the end"), "",
                                show_link("PaymentPlanView", p.id), label(PLAN_STATUSES, p.status),
                                "success"))
    return events


def deferral_events(cid: int, n: int) -> list[Event]:
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
                            show_link("DeferralView", d.id), label(DEFERRAL_STATUSES, d.status)))
        if d.status in ("kept", "broken"):
            events.append(Event("deferral", d.updated_at,
                                _("Promise kept") if d.status == "kept" else _("Promise broken"),
                                _("Invoice %(number)s", number=d.number),
                                show_link("DeferralView", d.id), label(DEFERRAL_STATUSES, d.status),
                                "success" if d.status == "kept" else "danger",
                                {"broken": d.status == "broken"}))
    return events


register_source(request_events, rank=40)
register_source(dispute_events, rank=50)
register_source(plan_events, rank=60)
register_source(deferral_events, rank=70)
