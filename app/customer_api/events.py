"""Webhook events that no customer message announces, read from the ORM's own changes:
an invoice inserted (issued), a deferral marked "kept" (promise kept), a payment plan marked
"completed" (plan kept). The domains that make these changes know nothing about webhooks.

Changes are collected after each flush and turned into outbox rows after it
(``after_flush_postexec`` may add to the session); only customers with an enabled endpoint
cost a query per flush, so an import of 100,000 invoices adds one small SELECT per flush.
"""
from __future__ import annotations

from typing import Any

from sqlalchemy import event, inspect, select
from sqlalchemy.orm import Session

_FOUND = "custapi_webhook_events"


def _status_changed_to(obj: Any, value: str) -> bool:
    history = inspect(obj).attrs.status.history
    return bool(history.added) and history.added[0] == value and value not in (
        history.deleted or ())


def _collect(session: Session, _context) -> None:
    from app.invoices.models import Invoice
    from app.requests.models import Deferral, PaymentPlan

    found = []
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
                WebhookEndpoint.customer_id.in_({f[0] for f in found}),
                WebhookEndpoint.enabled.is_(True))) for ev in (evs or [])}
        for customer_id, name, key, data in found:
            if (customer_id, name) in wanted:
                fan_out(session.get(Customer, customer_id), event=name,
                        data=_plain(data), idempotency_key=key)


def install() -> None:
    """Listen on the app's session class (idempotent)."""
    if not event.contains(Session, "after_flush", _collect):
        event.listen(Session, "after_flush", _collect)
        event.listen(Session, "after_flush_postexec", _queue)
