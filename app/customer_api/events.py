"""Webhook events that no customer message announces, read from the ORM's own changes:
an invoice inserted (issued), a deferral marked "kept" (promise kept), a payment plan marked
"completed" (plan kept); and, for the company's own endpoints, every credit note, write-off,
refund, mandate, payment plan and dispute made or changing status inside CreditDesk
("<kind>.created", "<kind>.status_changed"). The domains that make these changes know nothing
about webhooks.

Changes are collected after each flush and turned into outbox rows after it
(``after_flush_postexec`` may add to the session); only customers with an enabled endpoint
cost a query per flush, so an import of 100,000 invoices adds one small SELECT per flush.
"""
from __future__ import annotations

import uuid
from functools import cache
from typing import Any

from sqlalchemy import event, inspect, or_, select
from sqlalchemy.orm import Session

_FOUND = "custapi_webhook_events"
# What a record event carries (those of these attributes the record has): ids, codes, amounts
# and dates; no free text about a person, no bank account numbers.
_RECORD_FIELDS = ("id", "number", "reference", "invoice_id", "request_id", "status", "amount",
                  "open_amount", "total_amount", "currency", "issue_date", "installment_count",
                  "start_date", "broken_on", "signed_on", "scheme", "source", "approved_at",
                  "paid_at", "closed_at", "revoked_at")


@cache
def _record_models() -> tuple[tuple[type, str], ...]:
    """(model, kind) of the records whose changes flow back to the company's endpoints."""
    from app.customers.models import Mandate
    from app.invoices.models import CreditNote
    from app.payments.outgoing.models import Refund, WriteOff
    from app.requests.models import Dispute, PaymentPlan

    return ((CreditNote, "credit_note"), (WriteOff, "write_off"), (Refund, "refund"),
            (Mandate, "mandate"), (PaymentPlan, "plan"), (Dispute, "dispute"))


def _record_kind(obj: Any) -> str | None:
    for model, kind in _record_models():
        if isinstance(obj, model):
            return kind
    return None


def _record_data(obj: Any) -> dict[str, Any]:
    state = inspect(obj).dict
    return {name: state[name] for name in _RECORD_FIELDS if name in state}


def _record_events(session: Session) -> list[tuple]:
    found = []
    for obj in session.new:
        kind = _record_kind(obj)
        if kind is not None and getattr(obj, "customer_id", None) is not None:
            found.append((obj.customer_id, f"{kind}.created", f"{kind}-created:{obj.id}",
                          _record_data(obj)))
    for obj in session.dirty:
        kind = _record_kind(obj)
        if kind is None or getattr(obj, "customer_id", None) is None:
            continue
        history = inspect(obj).attrs.status.history
        if history.added and history.added[0] not in (history.deleted or ()):
            data = _record_data(obj)
            if history.deleted:  # known when the record was loaded before the change
                data["previous_status"] = history.deleted[0]
            # A status may come back (suspended, active again): each change is its own event.
            found.append((obj.customer_id, f"{kind}.status_changed",
                          f"{kind}-status:{obj.id}:{uuid.uuid4().hex[:16]}", data))
    return found


def _status_changed_to(obj: Any, value: str) -> bool:
    history = inspect(obj).attrs.status.history
    return bool(history.added) and history.added[0] == value and value not in (
        history.deleted or ())


def _collect(session: Session, _context) -> None:
    from app.customer_api.webhooks import _any_endpoint
    from app.invoices.models import Invoice
    from app.requests.models import Deferral, PaymentPlan

    if not _any_endpoint(session):  # nobody subscribes: an import pays nothing here
        return
    found = _record_events(session)
    for obj in session.new:
        if isinstance(obj, Invoice) and obj.customer_id is not None:
            found.append((obj.customer_id, "invoice.issued", f"invoice-issued:{obj.id}", {
                "invoice_number": obj.number, "issue_date": obj.issue_date,
                "due_date": obj.due_date, "total_amount": obj.total_amount,
                "currency": obj.currency, "structured_reference": obj.structured_reference}))
    for obj in session.dirty:
        if isinstance(obj, Deferral) and _status_changed_to(obj, "kept"):
            found.append((obj.customer_id, "promise.kept", f"promise-kept:{obj.id}", {
                "invoice_id": obj.invoice_id, "new_due_date": obj.new_due_date}))
        elif isinstance(obj, PaymentPlan) and _status_changed_to(obj, "completed"):
            found.append((obj.customer_id, "plan.completed", f"plan-completed:{obj.id}", {
                "plan_id": obj.id, "total_amount": obj.total_amount}))
    if found:
        session.info.setdefault(_FOUND, []).extend(found)


def _queue(session: Session, _context) -> None:
    found = session.info.pop(_FOUND, None)
    if not found:
        return
    from app.customer_api.models import WebhookEndpoint
    from app.customer_api.webhooks import _plain, fan_out
    from app.customers.models import Customer

    with session.no_autoflush:
        wanted = {(cid, ev) for cid, evs in session.execute(
            select(WebhookEndpoint.customer_id, WebhookEndpoint.events).where(
                or_(WebhookEndpoint.customer_id.in_({f[0] for f in found}),
                    WebhookEndpoint.customer_id.is_(None)),
                WebhookEndpoint.enabled.is_(True))) for ev in (evs or [])}
        for customer_id, name, key, data in found:
            if (customer_id, name) in wanted or (None, name) in wanted:
                fan_out(session.get(Customer, customer_id), event=name,
                        data=_plain(data), idempotency_key=key)


def install() -> None:
    """Listen on the app's session class (idempotent)."""
    if not event.contains(Session, "after_flush", _collect):
        event.listen(Session, "after_flush", _collect)
        event.listen(Session, "after_flush_postexec", _queue)
