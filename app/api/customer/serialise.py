"""The JSON shapes of the customer API (one place, so the OpenAPI document can name them)."""
from __future__ import annotations

from decimal import Decimal
from typing import Any

from flask import url_for

from app.invoices.references import format_ogm


def money(value: Decimal | None) -> str:
    return str((value or Decimal(0)).quantize(Decimal("0.01")))


def invoice(state: Any, ubl: bool = False) -> dict[str, Any]:
    """An invoice; ``ubl``: an e-invoice (Peppol UBL) exists for it, so its link is given."""
    inv = state.invoice
    links = {"self": url_for("customer_api.invoice", invoice_id=inv.id),
             "pdf": url_for("customer_api.invoice_pdf", invoice_id=inv.id)}
    if state.is_open:
        links["payment_instructions"] = url_for("customer_api.payment_instructions",
                                                invoice_id=inv.id)
    if ubl:
        links["ubl"] = url_for("customer_api.invoice_ubl", invoice_id=inv.id)
    return {
        "id": inv.id, "number": inv.number, "issue_date": inv.issue_date.isoformat(),
        "due_date": inv.due_date.isoformat(),
        "effective_due_date": state.effective_due.isoformat(),
        "currency": inv.currency, "total_amount": money(inv.total_amount),
        "open_amount": money(inv.open_amount), "payable_now": money(state.payable),
        "status": state.status_key, "days_overdue": state.days_overdue,
        "reminder_level": state.reminder_level,
        "deferral": {"deferred_until": state.deferred_until.isoformat()}
        if state.deferred_until else None,
        "in_payment_plan": state.in_plan,
        "dispute": {"disputed_amount": money(state.disputed_amount)}
        if state.is_disputed and state.is_open else None,
        "structured_reference": format_ogm(inv.structured_reference),
        "description": inv.description, "links": links,
    }


def request(req: Any) -> dict[str, Any]:
    from app.requests import reasons

    return {
        "id": req.id, "kind": req.kind, "status": req.status, "channel": req.channel,
        "subject": reasons.subject_text(req), "created_at": req.created_at.isoformat()
        if req.created_at else None,
        "answer_due_at": req.sla_due_at.isoformat() if req.sla_due_at else None,
        "decided_at": req.decided_at.isoformat() if req.decided_at else None,
        "decision_note": req.decision_note if req.decided_at else None,
        "refused_rules": reasons.reasons_text(req),
        "invoice_ids": [i.id for i in req.invoices],
        "links": {"self": url_for("customer_api.request_detail", request_id=req.id)},
    }
