"""Ask for a refund of my credit (money paid twice, a credit note) to my refund bank account.

Thin: the rules are app.requests.refund_requests' (the credit that may be asked for, the usable
refund account only), shared with the back office. Without a usable account (none, or a new one
still in its cool-off) the page says why and points to the bank-account page. The confirmation
page takes a request id: another customer's request (or not a refund request) is a 404.
"""
from __future__ import annotations

from flask import abort, redirect, render_template, request, url_for
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import StringField, TextAreaField
from wtforms.validators import Length, Optional

from app.core.validation import ValidationError
from app.portal import bp
from app.portal.account import masked_iban
from app.portal.auth import current_customer, login_required
from app.portal.forms import submit_form
from app.requests import refund_requests
from app.requests import services as rs
from app.requests.services import COMMENT_MAX_CHARS


class RefundRequestForm(FlaskForm):
    # Plain fields: the service parses the amount (1 234,50 or 1234.50) and says what is wrong.
    amount = StringField(_l("Amount to refund"), render_kw={"inputmode": "decimal"})
    message = TextAreaField(_l("Message to our accounts team (optional)"), validators=[
        Optional(), Length(max=COMMENT_MAX_CHARS, message=_l("At most %(max)d characters."))])


@bp.route("/refund-request", methods=["GET", "POST"])
@login_required
def refund_request():
    customer = current_customer()
    form = RefundRequestForm()

    def save():
        req = refund_requests.request_refund(customer, form.amount.data, form.message.data)
        return redirect(url_for("portal.refund_request_sent", request_id=req.id))

    done, general, status = submit_form(form, save)
    if done is not None:
        return done
    state = refund_requests.refund_state(customer)
    if request.method == "GET" and state.may_ask:
        form.amount.data = f"{state.available:.2f}"
    reason = None if state.account is not None else refund_requests.no_account_reason(customer)
    return render_template("portal/refund_request.html", form=form, state=state,
                           general=general, reason=reason, masked=masked_iban,
                           sent_req=None), status


@bp.route("/refund-request/<int(max=2147483647):request_id>")
@login_required
def refund_request_sent(request_id: int):
    req = rs.request_of(current_customer().id, request_id)
    if req is None or req.kind != refund_requests.KIND:
        abort(404)
    try:
        amount = refund_requests.requested_amount(req)
    except ValidationError:
        amount = None
    return render_template("portal/refund_request.html", sent_req=req, amount=amount,
                           last4=(req.payload or {}).get("iban_last4") or "",
                           answer_by=_answer_by(req))


def _answer_by(req) -> str:
    from app.portal.requests_pages import answer_by

    return answer_by(req)
