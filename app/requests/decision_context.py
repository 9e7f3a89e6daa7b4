"""Everything staff need to decide a request, on one page: the invoices concerned, the
customer's other open requests, plans and deferrals, the details as labelled fields, and for a
mandate the signer next to the customer (with a warning when the names differ)."""
from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
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

OPEN_REQUEST_STATUSES = ("received", "in_review")

# Payload keys shown elsewhere on the page (invoices table, reasons, mandate block).
_SHOWN_ELSEWHERE = {"invoice_ids", "invoice_id", "invoice_number", "refused_rules", "mandate_id"}
DETAIL_LABELS = {
    "new_due_date": _l("New due date asked for"),
    "total": _l("Total concerned"),
    "amount": _l("Amount"),
    "installment_count": _l("Instalments"),
    "day_of_month": _l("Day of the month"),
    "reason": _l("Reason"),
    "action": _l("Action"),
    "fields": _l("Fields changed"),
    "format": _l("Format"),
    "bank_account_id": _l("Bank account"),
    "iban_last4": _l("Account ending in"),
    "override": _l("Rules bypassed by staff"),
}
_MONEY_KEYS = {"total", "amount"}
_DATE_KEYS = {"new_due_date"}
_ACTIONS = {"sign": _l("Sign"), "revoke": _l("Revoke")}


@dataclass
class DecisionContext:
    invoices: list[dict] = field(default_factory=list)
    other_requests: list[CustomerRequest] = field(default_factory=list)
    plans: list[PaymentPlan] = field(default_factory=list)
    deferrals: list[Deferral] = field(default_factory=list)
    details: list[tuple[str, str]] = field(default_factory=list)
    mandate: dict | None = None


def _value(key: str, value: Any) -> str:
    if value is None or value == "":
        return ""
    if key in _MONEY_KEYS:
        try:
            return money(Decimal(str(value)))
        except (InvalidOperation, ValueError):
            return str(value)
    if key in _DATE_KEYS:
        try:
            return day(date.fromisoformat(str(value)))
        except ValueError:
            return str(value)
    if key == "reason":
        return str(DISPUTE_REASONS.get(value, value))
    if key == "action":
        return str(_ACTIONS.get(value, value))
    if key == "override" and isinstance(value, dict):
        return _("%(user)s: %(reason)s", user=value.get("user") or "?",
                 reason=value.get("reason") or "")
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k}: {v}" for k, v in value.items())
    return str(value)


def details(payload: dict | None) -> list[tuple[str, str]]:
    """The request's details as (label, value) in the reader's language, known fields first."""
    payload = payload or {}
    rows = [(str(DETAIL_LABELS[k]), _value(k, payload[k])) for k in DETAIL_LABELS
            if k in payload and k not in _SHOWN_ELSEWHERE]
    rows += [(k.replace("_", " ").capitalize(), _value(k, v)) for k, v in sorted(payload.items())
             if k not in DETAIL_LABELS and k not in _SHOWN_ELSEWHERE]
    return [(label, value) for label, value in rows if value]


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
    ctx.details = details(req.payload)
    ctx.mandate = _mandate(req)
    return ctx


LABELS = {"kinds": REQUEST_KINDS, "statuses": REQUEST_STATUSES}
