"""Invoice actions: deferral (promise to pay), payment plan, dispute.

Thin: read the form, call the request services (app/requests/deferrals.py, plans.py,
disputes.py: the same rules the admin and the API apply), show the result. Every id in a URL is
looked up with the signed-in customer's id; another customer's id answers 404.
"""
from __future__ import annotations

from typing import Any

from flask import abort, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_wtf import FlaskForm
from sqlalchemy import select
from werkzeug.exceptions import RequestEntityTooLarge

from app.accounts import invoice_states
from app.accounts.bank_transfer import installment_qr
from app.core import bank_identifiers
from app.core.settings import company_details, get_setting
from app.core.validation import ValidationError
from app.extensions import db
from app.invoices.references import format_ogm
from app.portal import bp
from app.portal.auth import current_customer, login_required
from app.portal.forms import csrf_refused
from app.requests import attachments, deferrals, disputes, plans
from app.requests import self_service as ss
from app.requests.models import DISPUTE_REASONS, Attachment, CustomerRequest


class ActionForm(FlaskForm):
    """Only the CSRF token: the fields are read from request.form and checked by the services,
    which give the same translated messages to the portal, the admin and the API."""


def _eligible(customer_id: int) -> list[invoice_states.InvoiceState]:
    """Open invoices a deferral or plan can be about: not in a plan, something to pay."""
    return [s for s in invoice_states.open_invoice_states(customer_id)
            if not s.in_plan and s.payable > 0]


def _chosen_ids(values: list[str]) -> list[int]:
    ids = []
    for value in values:
        try:
            ids.append(int(value))
        except (TypeError, ValueError):
            continue
    return [i for i in ids if 0 < i <= 2147483647]


def _my_invoice_state(invoice_id: int) -> invoice_states.InvoiceState:
    state = invoice_states.invoice_state(current_customer().id, invoice_id)
    if state is None or not state.is_open:
        abort(404)
    return state


# --- deferral ---------------------------------------------------------------------------------

def _deferral_page(states: list[invoice_states.InvoiceState], single: invoice_states.InvoiceState | None):
    form = ActionForm()
    errors: dict[str, list[str]] = {}
    chosen = [single.invoice.id] if single else _chosen_ids(request.args.getlist("invoice"))
    new_due = ""
    if request.method == "POST":
        if not form.validate_on_submit():
            return csrf_refused()
        chosen = [single.invoice.id] if single else _chosen_ids(request.form.getlist("invoices"))
        new_due = (request.form.get("new_due_date") or "").strip()[:20]
        try:
            outcome = deferrals.request_deferral(current_customer(), chosen, new_due)
        except ValidationError as exc:
            db.session.rollback()
            errors = exc.errors
        else:
            db.session.commit()
            return redirect(url_for("portal.invoice_action_result",
                                    request_id=outcome.request.id))
    max_days = get_setting(ss.DEFERRAL_MAX_DAYS)
    return render_template("portal/deferral.html", form=form, states=states, single=single,
                           chosen=chosen, new_due=new_due, errors=errors, max_days=max_days,
                           max_amount=get_setting(ss.DEFERRAL_MAX_AMOUNT)), \
        400 if errors else 200


@bp.route("/invoices/<int(max=2147483647):invoice_id>/deferral", methods=["GET", "POST"])
@login_required
def invoice_deferral(invoice_id: int):
    state = _my_invoice_state(invoice_id)
    return _deferral_page([state], state)


@bp.route("/deferral", methods=["GET", "POST"])
@login_required
def deferral():
    return _deferral_page(_eligible(current_customer().id), None)


@bp.route("/invoice-actions/<int(max=2147483647):request_id>")
@login_required
def invoice_action_result(request_id: int):
    """What became of a deferral or plan request: approved at once, or with our team and why."""
    req = db.session.scalar(select(CustomerRequest).where(
        CustomerRequest.id == request_id, CustomerRequest.customer_id == current_customer().id,
        CustomerRequest.kind.in_(("deferral", "payment_plan"))))
    if req is None:
        abort(404)
    from app.requests.models import Deferral, PaymentPlan

    made = list(db.session.scalars(select(Deferral).where(Deferral.request_id == req.id)
                                   .order_by(Deferral.id)))
    plan = db.session.scalar(select(PaymentPlan).where(PaymentPlan.request_id == req.id))
    if plan is not None:
        return redirect(url_for("portal.plan", plan_id=plan.id))
    rules = [line for line in (req.referral_reason or "").splitlines() if line.strip()]
    return render_template("portal/deferral_result.html", req=req, deferrals=made, rules=rules)


# --- payment plan -----------------------------------------------------------------------------

@bp.route("/plan", methods=["GET", "POST"])
@login_required
def plan_wizard():
    """Choose invoices, number of instalments and a day -> preview -> confirm."""
    customer = current_customer()
    form = ActionForm()
    states = _eligible(customer.id)
    errors: dict[str, list[str]] = {}
    values = {"invoices": _chosen_ids(request.args.getlist("invoice")) or
              [s.invoice.id for s in states],
              "installment_count": request.args.get("installment_count", "3")[:3],
              "day_of_month": (request.args.get("day_of_month") or str(min(
                  customer.preferred_payment_day or 5, plans.MAX_DAY_OF_MONTH)))[:2]}
    preview = None
    if request.method == "POST":
        if not form.validate_on_submit():
            return csrf_refused()
        values = {"invoices": _chosen_ids(request.form.getlist("invoices")),
                  "installment_count": (request.form.get("installment_count") or "")[:3],
                  "day_of_month": (request.form.get("day_of_month") or "")[:2]}
        try:
            if request.form.get("action") == "confirm":
                outcome = plans.request_plan(customer, values["invoices"],
                                             values["installment_count"],
                                             values["day_of_month"])
                db.session.commit()
                if outcome.approved:
                    return redirect(url_for("portal.plan", plan_id=outcome.plan.id))
                return redirect(url_for("portal.invoice_action_result",
                                        request_id=outcome.request.id))
            preview = plans.preview_plan(customer, values["invoices"],
                                         values["installment_count"], values["day_of_month"])
        except ValidationError as exc:
            db.session.rollback()
            errors = exc.errors
    template = "portal/plan_preview.html" if preview is not None else "portal/plan.html"
    return render_template(template, form=form, states=states, values=values, errors=errors,
                           preview=preview, max_installments=get_setting(ss.PLAN_MAX_INSTALLMENTS),
                           tiers=ss.plan_tiers(), days=range(1, plans.MAX_DAY_OF_MONTH + 1)), \
        400 if errors else 200


@bp.route("/plans/<int(max=2147483647):plan_id>")
@login_required
def plan(plan_id: int):
    found = plans.customer_plan(current_customer().id, plan_id)
    if found is None:
        abort(404)
    company = company_details()
    try:
        iban = bank_identifiers.format_iban(bank_identifiers.clean_iban(company["iban"]))
    except ValidationError:
        iban = str(company["iban"] or "")
    rows = [{"installment": i, "reference": format_ogm(i.structured_reference),
             "left": i.amount - (i.paid_amount or 0),
             "qr": installment_qr(i) if found.status == "active" and i.status != "paid" else None}
            for i in found.installments]
    return render_template("portal/plan_detail.html", plan=found, rows=rows, iban=iban,
                           company=company, statuses=_plan_labels())


def _plan_labels() -> dict[str, str]:
    from app.requests.models import INSTALLMENT_STATUSES, PLAN_STATUSES

    return {**{f"plan:{k}": str(v) for k, v in PLAN_STATUSES.items()},
            **{f"installment:{k}": str(v) for k, v in INSTALLMENT_STATUSES.items()}}


# --- dispute ----------------------------------------------------------------------------------

@bp.route("/invoices/<int(max=2147483647):invoice_id>/dispute", methods=["GET", "POST"])
@login_required
def invoice_dispute(invoice_id: int):
    state = _my_invoice_state(invoice_id)
    form = ActionForm()
    errors: dict[str, list[str]] = {}
    values = {"amount": "", "reason": "", "text": ""}
    status = 200
    if request.method == "POST":
        try:
            files = request.files.getlist("files")
            valid = form.validate_on_submit()
        except RequestEntityTooLarge:
            errors = {"files": [_("The files are too large together. Send smaller files.")]}
            status, valid = 413, None
        if valid is False:
            return csrf_refused()
        if valid:
            values = {k: (request.form.get(k) or "")[:disputes.MAX_TEXT + 1] for k in values}
            try:
                found = disputes.open_dispute(current_customer(), state.invoice,
                                              values["amount"] or None, values["reason"],
                                              values["text"], files)
            except ValidationError as exc:
                db.session.rollback()
                errors, status = exc.errors, 400
            else:
                db.session.commit()
                return redirect(url_for("portal.dispute", dispute_id=found.id))
    settings = ss.rules(ss.DISPUTE_MAX_FILE_MB, ss.DISPUTE_MAX_FILES)
    return render_template("portal/dispute.html", form=form, state=state, invoice=state.invoice,
                           errors=errors, values=values, reasons=DISPUTE_REASONS,
                           max_mb=settings[ss.DISPUTE_MAX_FILE_MB],
                           max_files=settings[ss.DISPUTE_MAX_FILES]), status


@bp.route("/disputes/<int(max=2147483647):dispute_id>")
@login_required
def dispute(dispute_id: int):
    found = disputes.customer_dispute(current_customer().id, dispute_id)
    if found is None:
        abort(404)
    req = db.session.get(CustomerRequest, found.request_id) if found.request_id else None
    from app.requests.models import DISPUTE_STATUSES

    return render_template("portal/dispute_detail.html", dispute=found, req=req,
                           reasons=DISPUTE_REASONS, statuses=DISPUTE_STATUSES)


@bp.route("/attachments/<int(max=2147483647):attachment_id>")
@login_required
def attachment(attachment_id: int):
    """A file the customer sent us, back to the same customer only."""
    found = db.session.scalar(select(Attachment).join(CustomerRequest).where(
        Attachment.id == attachment_id, CustomerRequest.customer_id == current_customer().id))
    response = attachments.download(found) if found is not None else None
    if response is None:
        abort(404)
    return response


@bp.app_template_global("invoice_actions_for")
def invoice_actions_for(state: Any) -> list[tuple[str, str]]:
    """(url, label) of the actions an invoice page offers for an open invoice."""
    if not state.is_open:
        return []
    found = []
    invoice_id = state.invoice.id
    if not state.in_plan and state.payable > 0:
        found.append((url_for("portal.invoice_deferral", invoice_id=invoice_id),
                      _("Ask for more time")))
        found.append((url_for("portal.plan_wizard", invoice=invoice_id),
                      _("Pay in instalments")))
    if state.invoice.open_amount > state.disputed_amount:
        found.append((url_for("portal.invoice_dispute", invoice_id=invoice_id),
                      _("Dispute this invoice")))
    return found
