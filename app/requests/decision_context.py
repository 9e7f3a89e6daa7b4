"""Everything staff need to decide a request, on one page: the invoices concerned, the
customer's other open requests, plans and deferrals, the details as labelled fields, and for a
mandate the signer next to the customer (with a warning when the names differ)."""
from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field

from sqlalchemy import select

from app.core.i18n import day, money
from app.extensions import db
from app.invoices.models import INVOICE_STATUSES
from app.requests.models import (
    DISPUTE_REASONS,
    REQUEST_KINDS,
    REQUEST_STATUSES,
    CustomerRequest,
    Deferral,
    PaymentPlan,
)
from app.requests.payload_details import details

OPEN_REQUEST_STATUSES = ("received", "in_review")

@dataclass
class DecisionContext:
    invoices: list[dict] = field(default_factory=list)
    other_requests: list[CustomerRequest] = field(default_factory=list)
    plans: list[PaymentPlan] = field(default_factory=list)
    deferrals: list[Deferral] = field(default_factory=list)
    details: list[tuple[str, str]] = field(default_factory=list)
    mandate: dict | None = None


def _same_name(a: str | None, b: str | None) -> bool:
    def norm(text: str | None) -> str:
        text = unicodedata.normalize("NFKD", text or "")
        text = "".join(c for c in text if not unicodedata.combining(c))
        return " ".join(text.casefold().replace("-", " ").split())

    return norm(a) == norm(b)


def _mandate(req: CustomerRequest) -> dict | None:
    from app.customers.models import Mandate

    mandate_id = (req.payload or {}).get("mandate_id")
    if req.kind != "mandate" or not mandate_id:
        return None
    found = db.session.get(Mandate, mandate_id)
    if found is None or found.customer_id != req.customer_id:
        return None
    return {"mandate": found, "signer": found.signature_name or "",
            "differs": bool(found.signature_name)
            and not _same_name(found.signature_name, req.customer.name)}


def build(req: CustomerRequest) -> DecisionContext:
    from app.requests.self_service import in_active_deferral, in_active_plan, open_disputed

    ctx = DecisionContext()
    ids = [i.id for i in req.invoices]
    planned, deferred, disputed = in_active_plan(ids), in_active_deferral(ids), open_disputed(ids)
    for invoice in sorted(req.invoices, key=lambda i: (i.due_date, i.id)):
        ctx.invoices.append({
            "invoice": invoice, "open_amount": money(invoice.open_amount, invoice.currency),
            "due_date": day(invoice.due_date), "level": invoice.dunning_level or 0,
            "status": str(INVOICE_STATUSES.get(invoice.status, invoice.status)),
            "in_plan": invoice.id in planned,
            "deferred_to": day(deferred[invoice.id].new_due_date) if invoice.id in deferred
            else "",
            "disputed": money(disputed[invoice.id], invoice.currency)
            if disputed.get(invoice.id) else "",
        })
    ctx.other_requests = list(db.session.scalars(select(CustomerRequest).where(
        CustomerRequest.customer_id == req.customer_id, CustomerRequest.id != req.id,
        CustomerRequest.status.in_(OPEN_REQUEST_STATUSES))
        .order_by(CustomerRequest.sla_due_at, CustomerRequest.id)))
    # The customer's *other* plans and deferrals: not the ones this request itself created.
    ctx.plans = list(db.session.scalars(select(PaymentPlan).where(
        PaymentPlan.customer_id == req.customer_id,
        PaymentPlan.request_id.is_distinct_from(req.id),
        PaymentPlan.status.in_(("proposed", "active"))).order_by(PaymentPlan.start_date)))
    ctx.deferrals = list(db.session.scalars(select(Deferral).where(
        Deferral.customer_id == req.customer_id, Deferral.request_id.is_distinct_from(req.id),
        Deferral.status == "active")
        .order_by(Deferral.new_due_date)))
    ctx.details = details(req.payload, DISPUTE_REASONS)
    ctx.mandate = _mandate(req)
    return ctx


LABELS = {"kinds": REQUEST_KINDS, "statuses": REQUEST_STATUSES}
