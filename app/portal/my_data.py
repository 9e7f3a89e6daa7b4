"""GDPR self-service: download everything held about me, ask for erasure.

Downloads are POSTed (CSRF) because each one is recorded as an "access" request, approved at
once; erasure opens an "erasure" request that staff decide in the queue (GDPR: one month).
"""
from __future__ import annotations

import io

from flask import redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import BooleanField, SubmitField, TextAreaField
from wtforms.validators import DataRequired, Length

from app.core.i18n import current_language
from app.extensions import db
from app.portal import bp
from app.portal.auth import current_customer, login_required
from app.portal.forms import csrf_failed
from app.requests import reasons
from app.requests.models import CustomerRequest
from app.requests.services import OPEN_STATUSES, auto_approve, open_request
from app.retention import subject
from app.retention.rules import CATEGORIES, active_rules

FORMATS = {"json": ("application/json", "json"), "pdf": ("application/pdf", "pdf")}


class DownloadForm(FlaskForm):
    submit = SubmitField(_l("Download"))


class ErasureForm(FlaskForm):
    confirm = BooleanField(_l("I understand that my access to the customer area ends and that "
                              "data the law requires will be kept until its legal end."),
                           validators=[DataRequired(message=_l("Tick the box to confirm."))])
    message = TextAreaField(_l("Anything you want to add (optional)"),
                            validators=[Length(max=2000, message=_l("At most %(max)d "
                                                                    "characters."))])
    submit = SubmitField(_l("Ask for erasure of my data"))


def _open_erasure(customer_id: int) -> CustomerRequest | None:
    return db.session.scalar(select(CustomerRequest).where(
        CustomerRequest.customer_id == customer_id, CustomerRequest.kind == "erasure",
        CustomerRequest.status.in_(OPEN_STATUSES)).order_by(CustomerRequest.id.desc()).limit(1))


def _page(erasure_form: ErasureForm, status: int = 200):
    customer = current_customer()
    language = current_language()
    rules = [(CATEGORIES[c].label, r.period_months, r.counts_from, r.basis_in(language))
             for c, r in active_rules().items()]
    return render_template("portal/my_data.html", download_form=DownloadForm(),
                           erasure_form=erasure_form, open_erasure=_open_erasure(customer.id),
                           rules=rules, asked=request.args.get("asked") == "1"), status


@bp.route("/my-data")
@login_required
def my_data():
    return _page(ErasureForm(formdata=None))


@bp.route("/my-data/download/<fmt>", methods=["POST"])
@login_required
def my_data_download(fmt: str):
    if fmt not in FORMATS:
        return render_template("portal/error.html", status=404, message=_(
            "This page does not exist, or it is not part of your account.")), 404
    form = DownloadForm()
    if not form.validate_on_submit():
        return render_template("portal/error.html", status=400, message=_(
            "This form has expired or did not come from this site. Reload the page and try "
            "again.")), 400
    customer = current_customer()
    auto_approve(customer, "access", subject=_("Copy of my data (%(format)s)",
                                                format=fmt.upper()),
                 subject_code=reasons.subject_code("data_copy", format=fmt.upper()),
                 payload={"format": fmt})
    db.session.commit()
    data = subject.export_json(customer) if fmt == "json" else subject.export_pdf(customer)
    mimetype, extension = FORMATS[fmt]
    return send_file(io.BytesIO(data), mimetype=mimetype, as_attachment=True,
                     download_name=f"my-data-{customer.number}.{extension}")


@bp.route("/my-data/erasure", methods=["POST"])
@login_required
def my_data_erasure():
    customer = current_customer()
    form = ErasureForm()
    if not form.validate_on_submit():
        if csrf_failed(form):
            return render_template("portal/error.html", status=400, message=_(
                "This form has expired or did not come from this site. Reload the page and "
                "try again.")), 400
        return _page(form, 400)
    if _open_erasure(customer.id) is not None:
        return redirect(url_for("portal.my_data"))
    open_request(customer, "erasure", subject=_("Erasure of my data"),
                 subject_code=reasons.subject_code("erasure"),
                 message=(form.message.data or "").strip() or None)
    db.session.commit()
    return redirect(url_for("portal.my_data", asked="1"))
