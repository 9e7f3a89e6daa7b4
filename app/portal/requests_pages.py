"""My requests: list, detail (history, conversation), question to the AR team, satisfaction survey.

Every request is looked up with the signed-in customer's id (app.requests.services.request_of):
another customer's request is a 404, before any form is read. Changes go through
app.requests.services; a refusal is shown on the page and changes nothing.
"""
from __future__ import annotations

from typing import Any

from flask import abort, redirect, render_template, request, url_for
from flask_babel import format_date, format_time
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from app.core.time import BUSINESS_TZ
from app.extensions import db
from app.invoices.models import Invoice
from app.portal import bp
from app.portal.auth import current_customer, login_required
from app.portal.forms import submit_form
from app.requests import questions, reasons
from app.requests import services as rs
from app.requests.models import REQUEST_KINDS, REQUEST_STATUSES, CustomerRequest

INVOICE_CHOICES = 100  # the newest invoices offered in the question form
STATUS_BADGES = {"received": "info", "in_review": "info", "approved": "paid", "rejected": "overdue",
                 "closed": "open", "cancelled": "open", "withdrawn": "open"}


class QuestionForm(FlaskForm):
    # The checks are app.requests.questions.ask_question's (the customer API's too); the form
    # only tells the browser the limits.
    subject = StringField(_l("Subject"), render_kw={"required": True,
                                                    "maxlength": questions.SUBJECT_MAX_CHARS})
    text = TextAreaField(_l("Your question"), render_kw={"required": True,
                                                         "maxlength": rs.COMMENT_MAX_CHARS})
    invoice = SelectField(_l("About an invoice (optional)"), choices=[], validate_choice=False,
                          validators=[Optional()])


class ReplyForm(FlaskForm):
    text = TextAreaField(_l("Your message"), validators=[
        DataRequired(_l("Please write a message.")),
        Length(max=rs.COMMENT_MAX_CHARS, message=_l("At most %(max)d characters."))])


class WithdrawForm(FlaskForm):
    """The "withdraw this request" button: a POST with its CSRF token."""


class SurveyForm(FlaskForm):
    # A plain field: the service checks 0-10 and says so in the customer's language.
    score = StringField(_l("How likely are you to recommend us to a friend or colleague?"))
    comment = TextAreaField(_l("Anything you would like to tell us? (optional)"), validators=[
        Length(max=rs.SURVEY_COMMENT_MAX_CHARS, message=_l("At most %(max)d characters."))])


def answer_by(req: CustomerRequest) -> str:
    """The SLA as the customer reads it: a date and an hour, Brussels time, in their locale."""
    if req.sla_due_at is None:
        return ""
    local = req.sla_due_at.astimezone(BUSINESS_TZ)
    return _("%(date)s at %(time)s", date=format_date(local.date(), "long"),
             time=format_time(req.sla_due_at, "short"))


def _labels() -> dict[str, Any]:
    return {"kind_label": lambda r: str(REQUEST_KINDS.get(r.kind, r.kind)),
            "status_label": lambda r: str(REQUEST_STATUSES.get(r.status, r.status)),
            "status_badge": lambda r: STATUS_BADGES.get(r.status, "open"),
            "answer_by": answer_by}


# App-wide (portal and staff pages): a request's subject and why it needs a person, rendered
# in the reader's current language from the stored codes (app/requests/reasons.py).
@bp.app_template_filter("request_subject")
def request_subject(req: CustomerRequest) -> str:
    return reasons.subject_text(req)


@bp.app_template_filter("request_reasons")
def request_reasons(req: CustomerRequest) -> list[str]:
    return reasons.reasons_text(req)


def _own_request(request_id: int) -> CustomerRequest:
    found = rs.request_of(current_customer().id, request_id)
    if found is None:
        abort(404)
    return found


@bp.route("/requests")
@login_required
def requests():
    rows = rs.requests_of(current_customer().id)
    open_rows = [r for r in rows if r.status in rs.OPEN_STATUSES]
    done_rows = [r for r in rows if r.status not in rs.OPEN_STATUSES]
    return render_template("portal/requests.html", open_rows=open_rows, done_rows=done_rows,
                           **_labels())


def _invoice_choices(customer_id: int) -> list[tuple[str, str]]:
    invoices = db.session.execute(
        select(Invoice.id, Invoice.number).where(Invoice.customer_id == customer_id)
        .order_by(Invoice.issue_date.desc(), Invoice.id.desc()).limit(INVOICE_CHOICES)).all()
    return [("", _("No particular invoice"))] + [(str(i), number) for i, number in invoices]


@bp.route("/requests/new", methods=["GET", "POST"])
@login_required
def ask_question():
    customer = current_customer()
    form = QuestionForm()
    form.invoice.choices = _invoice_choices(customer.id)
    if request.method == "GET" and request.args.get("invoice", "").isdigit():
        form.invoice.data = request.args["invoice"]

    def save():
        req = questions.ask_question(customer, form.subject.data, form.text.data,
                                     form.invoice.data, channel="portal",
                                     invoice_field="invoice")
        return redirect(url_for("portal.request_detail", request_id=req.id, sent="1"))

    done, general, status = submit_form(form, save)
    if done is not None:
        return done
    form.subject.errors = list(form.subject.errors) + general  # none expected: shown anyway
    return render_template("portal/requests_new.html", form=form), status


def _detail(req: CustomerRequest, *, reply_form: ReplyForm | None = None,
            survey_form: SurveyForm | None = None, withdraw_form: WithdrawForm | None = None,
            status: int = 200):
    return render_template(
        "portal/requests_detail.html", req=req,
        reply_form=reply_form or ReplyForm(formdata=None),
        survey_form=survey_form or SurveyForm(formdata=None),
        withdraw_form=withdraw_form or WithdrawForm(formdata=None),
        may_withdraw=req.status in rs.OPEN_STATUSES,
        withdrawn=request.args.get("withdrawn") == "1",
        may_reply=req.status not in ("closed", "cancelled", "withdrawn"),
        may_rate=rs.may_rate(req), sent=request.args.get("sent") == "1",
        thanks=request.args.get("thanks") == "1", replied=request.args.get("replied") == "1",
        **_labels()), status


@bp.route("/requests/<int(max=2147483647):request_id>")
@login_required
def request_detail(request_id: int):
    return _detail(_own_request(request_id))


@bp.route("/requests/<int(max=2147483647):request_id>/reply", methods=["POST"])
@login_required
def request_reply(request_id: int):
    req = _own_request(request_id)
    form = ReplyForm()

    def save():
        rs.add_comment(req, form.text.data, author="customer")
        return redirect(url_for("portal.request_detail", request_id=req.id, replied="1"))

    done, general, status = submit_form(form, save)
    if done is not None:
        return done
    form.text.errors = list(form.text.errors) + general  # e.g. "this request is closed"
    return _detail(req, reply_form=form, status=status)


@bp.route("/requests/<int(max=2147483647):request_id>/survey", methods=["POST"])
@login_required
def request_survey(request_id: int):
    req = _own_request(request_id)
    form = SurveyForm()

    def save():
        rs.record_satisfaction(req, form.score.data, form.comment.data)
        return redirect(url_for("portal.request_detail", request_id=req.id, thanks="1"))

    done, general, status = submit_form(form, save)
    if done is not None:
        return done
    form.score.errors = list(form.score.errors) + general  # e.g. "already rated"
    return _detail(req, survey_form=form, status=status)


@bp.route("/requests/<int(max=2147483647):request_id>/withdraw", methods=["POST"])
@login_required
def request_withdraw(request_id: int):
    """The customer changed their mind: a request nobody has decided yet is withdrawn."""
    req = _own_request(request_id)
    form = WithdrawForm()

    def save():
        rs.withdraw_request(req)
        return redirect(url_for("portal.request_detail", request_id=req.id, withdrawn="1"))

    done, general, status = submit_form(form, save)
    if done is not None:
        return done
    form.errors_shown = general  # e.g. "already answered": shown above the page
    db.session.expire_all()
    return _detail(rs.request_of(current_customer().id, request_id), withdraw_form=form,
                   status=status)
