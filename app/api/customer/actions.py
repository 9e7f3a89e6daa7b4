"""POST routes of the customer API: promise to pay (deferral), payment plan (preview and
request), dispute (with attachments), question. Each calls the very service the portal's
form calls (app/requests/deferrals.py, plans.py, disputes.py, services.open_request), with
channel "api": the same rules, the same approvals and the same refusals, word for word.

Bodies are JSON, except a dispute with files (multipart/form-data, files in "files").
"""
from __future__ import annotations

from typing import Any

from flask import jsonify, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from app.api.customer import bp, customer, idempotent
from app.api.customer import serialise as out
from app.api.customer.problems import Problem
from app.core.validation import ValidationError
from app.extensions import db
from app.invoices.models import Invoice
from app.requests import deferrals, disputes, plans
from app.requests import services as rs

ID = "<int(max=2147483647):invoice_id>"


def _body() -> dict[str, Any]:
    if request.mimetype == "multipart/form-data" or request.mimetype == \
            "application/x-www-form-urlencoded":
        return {k: request.form.get(k) for k in request.form}
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise ValidationError({"body": _("Send a JSON object.")})
    return data


def _ids(value: Any) -> list[int]:
    if not isinstance(value, list) or not value or not all(isinstance(i, int) and not isinstance(i, bool)
                                              and 0 < i <= 2147483647 for i in value):
        raise ValidationError({"invoice_ids": _("Give a list of invoice ids.")})
    return value


def _outcome(outcome) -> tuple[Any, int]:
    """An approved request (201) or one sent to staff with the rules it did not meet (202)."""
    body = {"approved": outcome.approved, "request": out.request(outcome.request),
            "refused_rules": list(outcome.refused_rules)}
    if outcome.deferrals:
        body["deferrals"] = [{"invoice_id": d.invoice_id,
                              "new_due_date": d.new_due_date.isoformat()}
                             for d in outcome.deferrals]
    if outcome.plan is not None:
        body["plan"] = _plan(outcome.plan)
    return jsonify(body), 201 if outcome.approved else 202


def _plan(plan) -> dict[str, Any]:
    return {"id": plan.id, "status": plan.status, "total_amount": out.money(plan.total_amount),
            "installments": [{"sequence": i.sequence, "due_date": i.due_date.isoformat(),
                              "amount": out.money(i.amount), "status": i.status,
                              "structured_reference": i.structured_reference}
                             for i in plan.installments]}


@bp.post("/deferrals")
@idempotent
def deferral():
    """Promise to pay the invoices by new_due_date (a deferral, as on the portal)."""
    data = _body()
    outcome = deferrals.request_deferral(customer(), _ids(data.get("invoice_ids")),
                                         str(data.get("new_due_date") or "")[:20], channel="api")
    db.session.commit()
    return _outcome(outcome)


def _plan_args(data: dict[str, Any]) -> tuple[list[int], str, str]:
    return (_ids(data.get("invoice_ids")), str(data.get("installment_count") or "")[:3],
            str(data.get("day_of_month") or "")[:2])


@bp.post("/payment-plans/preview")
@idempotent
def plan_preview():
    """The plan table's answer before asking: instalments, and approved at once or not."""
    preview = plans.preview_plan(customer(), *_plan_args(_body()))
    db.session.rollback()
    return jsonify({"approved_at_once": preview.approved_at_once,
                    "refused_rules": list(preview.refused_rules),
                    "total_amount": out.money(preview.total),
                    "installments": [{"sequence": i.sequence, "due_date": i.due_date.isoformat(),
                                      "amount": out.money(i.amount)}
                                     for i in preview.schedule]})


@bp.post("/payment-plans")
@idempotent
def plan():
    outcome = plans.request_plan(customer(), *_plan_args(_body()), channel="api")
    db.session.commit()
    return _outcome(outcome)


@bp.get("/payment-plans/<int(max=2147483647):plan_id>")
def plan_detail(plan_id: int):
    found = plans.customer_plan(customer().id, plan_id)
    if found is None:
        raise Problem(404)
    return jsonify(_plan(found))


@bp.post(f"/invoices/{ID}/disputes")
@idempotent
def dispute(invoice_id: int):
    """Dispute all or part of an invoice, with files (multipart) if any."""
    found = db.session.scalar(select(Invoice.id).where(Invoice.id == invoice_id,
                                                       Invoice.customer_id == customer().id))
    if found is None:
        raise Problem(404)
    data = _body()
    files = request.files.getlist("files") if request.files else []
    made = disputes.open_dispute(customer(), invoice_id, data.get("amount") or None,
                                 data.get("reason"), data.get("text"), files, channel="api")
    db.session.commit()
    return jsonify({"id": made.id, "invoice_id": made.invoice_id, "status": made.status,
                    "amount": out.money(made.amount), "reason": made.reason,
                    "request": out.request(db.session.get(rs.CustomerRequest,
                                                          made.request_id))}), 201


@bp.post("/questions")
@idempotent
def question():
    """A question to the AR team, about an invoice or not (the portal's "Ask a question")."""
    from app.requests.questions import ask_question

    data = _body()
    req = ask_question(customer(), data.get("subject"), data.get("text"),
                       data.get("invoice_id"), channel="api")
    db.session.commit()
    response = jsonify(out.request(req))
    response.status_code = 201
    response.headers["Location"] = url_for("customer_api.request_detail", request_id=req.id)
    return response
