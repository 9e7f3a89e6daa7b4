"""The staff request queue (what waits for a person, by answer-due time), one request's page where
staff decide, reply, take or close it, and the satisfaction report.

Every change goes through app.requests.services; a refusal (ValidationError, e.g. from the
kind's decision handler) is flashed, rolled back, and the page is shown again.
Permissions: list/show for everyone who reads requests, "handle" for who may act on them
(app/core/roles.py: Admin, Credit manager, AR clerk). Data-subject requests (access, erasure)
are handled by the Compliance officer and the Admin only: for them "handle" is asked on
roles.SUBJECT_REQUESTS instead of on this view (``_may_handle``).
"""
from __future__ import annotations

import functools
from datetime import timedelta
from decimal import Decimal

from flask import abort, current_app, flash, redirect, request, url_for
from flask_appbuilder import BaseView, expose, has_access
from flask_appbuilder._compat import as_unicode
from flask_appbuilder.const import FLAMSG_ERR_SEC_ACCESS_DENIED
from flask_appbuilder.security.decorators import permission_name
from flask_babel import format_decimal
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload
from wtforms import HiddenField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from app.core import validation as v
from app.core.i18n import day, money
from app.core.models import utcnow
from app.core.roles import SUBJECT_REQUEST_KINDS, SUBJECT_REQUESTS
from app.core.settings import get_setting
from app.core.validation import ValidationError
from app.extensions import db
from app.requests import attachments, decision_context, services
from app.requests.models import (
    COMMENT_AUTHORS,
    PLAN_STATUSES,
    REQUEST_CHANNELS,
    REQUEST_KINDS,
    REQUEST_STATUSES,
    Attachment,
    CustomerRequest,
)
from app.requests.satisfaction import satisfaction_report

QUEUE_PAGE_SIZE = 50
SLA_STATES = {"breached": _l("Late"), "due_soon": _l("Due soon"), "on_time": _l("On time"),
              "done": _l("Answered")}
SLA_FILTERS = {"due_soon": _l("Due soon"), "breached": _l("Late")}


def file_size(size: int) -> str:
    """An attachment's size in the reader's number format ("12,5 ko"); never "0 kB"."""
    kilobytes = max(Decimal(size) / 1024, Decimal("0.1"))
    return _("%(size)s kB", size=format_decimal(kilobytes, format="#,##0.0"))


class DecideForm(FlaskForm):
    decision = HiddenField()  # "approve" or "reject": the button pressed
    note = TextAreaField(_l("Note to the customer"),
                         validators=[Optional(), Length(max=services.COMMENT_MAX_CHARS)])


class ReplyForm(FlaskForm):
    text = TextAreaField(_l("Message to the customer"), validators=[
        DataRequired(_l("Please write a message.")), Length(max=services.COMMENT_MAX_CHARS)])


class ActionForm(FlaskForm):
    """Take or close: a button with a CSRF token."""


def _may_handle(req: CustomerRequest) -> bool:
    """Whether the current user may decide, answer, take or close this request."""
    view = SUBJECT_REQUESTS if req.kind in SUBJECT_REQUEST_KINDS else "RequestQueueView"
    return current_app.appbuilder.sm.has_access("can_handle", view)


def _handles(action):
    """FAB's ``has_access`` for an action on one request, whose kind says who may act: loads
    the request (404) and refuses (403) a user who may not handle it. The wrapped action keeps
    its ``permission_name`` so that FAB still lists "can_handle" among the view's permissions."""

    @functools.wraps(action)
    def wrapped(self, request_id: int):
        if not (current_user.is_authenticated and current_user.is_active):
            flash(as_unicode(FLAMSG_ERR_SEC_ACCESS_DENIED), "danger")
            return redirect(url_for(f"{self.appbuilder.sm.auth_view.__class__.__name__}.login",
                                    next=request.url))
        req = self._request(request_id)
        if not _may_handle(req):
            abort(403)
        return action(self, req)

    return wrapped


def _form_refused(form: FlaskForm) -> None:
    if "csrf_token" in form.errors:
        flash(_("The form has expired or was not sent from this page. Please try again."),
              "danger")
        return
    for messages in form.errors.values():
        for message in messages:
            flash(str(message), "danger")


def _refused(exc: ValidationError) -> None:
    db.session.rollback()
    for messages in exc.errors.values():
        for message in messages:
            flash(str(message), "danger")


class RequestQueueView(BaseView):
    """Open requests first by the time their answer is due; filters by kind, status and SLA."""

    route_base = "/requests/queue"
    default_view = "index"

    @expose("/")
    @has_access
    @permission_name("list")
    def index(self):
        kind = request.args.get("kind") or ""
        kind = kind if kind in REQUEST_KINDS else ""
        status = request.args.get("status") or "open"
        status = status if status in REQUEST_STATUSES or status in ("open", "all") else "open"
        sla = request.args.get("sla") or ""
        sla = sla if sla in SLA_FILTERS else ""
        mine = request.args.get("mine") == "1"
        page = max(request.args.get("page", 1, type=int) or 1, 1)

        now = utcnow()
        soon = now + timedelta(hours=int(get_setting("requests.sla_due_soon_hours")))
        conditions = []
        if kind:
            conditions.append(CustomerRequest.kind == kind)
        if status == "open" or sla:
            conditions.append(CustomerRequest.status.in_(services.OPEN_STATUSES))
        elif status != "all":
            conditions.append(CustomerRequest.status == status)
        if sla == "breached":
            conditions.append(CustomerRequest.sla_due_at <= now)
        elif sla == "due_soon":
            conditions += [CustomerRequest.sla_due_at > now, CustomerRequest.sla_due_at <= soon]
        if mine:
            conditions.append(CustomerRequest.assignee_id == current_user.id)

        total = db.session.scalar(select(func.count(CustomerRequest.id)).where(*conditions))
        rows = db.session.scalars(
            select(CustomerRequest).where(*conditions)
            .options(selectinload(CustomerRequest.customer),
                     selectinload(CustomerRequest.assignee))
            .order_by(CustomerRequest.sla_due_at.is_(None), CustomerRequest.sla_due_at.asc(),
                      CustomerRequest.id.asc())
            .limit(QUEUE_PAGE_SIZE).offset((page - 1) * QUEUE_PAGE_SIZE)).all()
        open_ = CustomerRequest.status.in_(services.OPEN_STATUSES)
        counts = {
            "breached": db.session.scalar(select(func.count(CustomerRequest.id)).where(
                open_, CustomerRequest.sla_due_at <= now)),
            "due_soon": db.session.scalar(select(func.count(CustomerRequest.id)).where(
                open_, CustomerRequest.sla_due_at > now, CustomerRequest.sla_due_at <= soon)),
        }
        return self.render_template(
            "requests/queue.html", rows=rows, total=total, counts=counts,
            pages=max((total + QUEUE_PAGE_SIZE - 1) // QUEUE_PAGE_SIZE, 1), page=page,
            filters={"kind": kind, "status": status, "sla": sla, "mine": "1" if mine else ""},
            kinds=REQUEST_KINDS, statuses=REQUEST_STATUSES, sla_filters=SLA_FILTERS,
            sla_states=SLA_STATES, sla_state=lambda r: services.sla_state(r, now))

    def _request(self, request_id: int) -> CustomerRequest:
        found = db.session.get(CustomerRequest, request_id)
        if found is None:
            abort(404)
        return found

    @expose("/<int(max=2147483647):request_id>")
    @has_access
    @permission_name("show")
    def detail(self, request_id: int):
        req = self._request(request_id)
        return self.render_template(
            "requests/request_detail.html", req=req, may_handle=_may_handle(req),
            ctx=decision_context.build(req), previewable=attachments.previewable,
            file_size=file_size, money=money, day=day, plan_statuses=PLAN_STATUSES,
            decide_form=DecideForm(formdata=None), reply_form=ReplyForm(formdata=None),
            action_form=ActionForm(formdata=None), kinds=REQUEST_KINDS,
            statuses=REQUEST_STATUSES, channels=REQUEST_CHANNELS, authors=COMMENT_AUTHORS,
            sla_states=SLA_STATES, sla=services.sla_state(req),
            is_open=req.status in services.OPEN_STATUSES,
            may_close=req.status in services.OPEN_STATUSES + services.DECIDED_STATUSES)

    @expose("/<int(max=2147483647):request_id>/attachments/<int(max=2147483647):attachment_id>")
    @has_access
    @permission_name("show")
    def attachment(self, request_id: int, attachment_id: int):
        """A file the customer sent with this request: a download, or with ``?inline=1`` shown
        in the browser when it is a PNG, JPEG or PDF (anything else is still a download)."""
        found = db.session.get(Attachment, attachment_id)
        if found is None or found.request_id != request_id:
            abort(404)
        response = attachments.download(found, inline=request.args.get("inline") == "1")
        if response is None:
            abort(404)
        return response

    def _back(self, request_id: int):
        return redirect(url_for("RequestQueueView.detail", request_id=request_id))

    @expose("/<int(max=2147483647):request_id>/decide", methods=["POST"])
    @_handles
    @permission_name("handle")
    def decide(self, req: CustomerRequest):
        request_id = req.id
        form = DecideForm()
        if not form.validate_on_submit() or form.decision.data not in ("approve", "reject"):
            _form_refused(form)
            return self._back(request_id)
        approve = form.decision.data == "approve"
        try:
            services.decide_request(req, current_user, approve, form.note.data)
            db.session.commit()
        except ValidationError as exc:
            _refused(exc)
            return self._back(request_id)
        flash(_("The request is approved; the customer has been told.") if approve
              else _("The request is rejected; the customer has been told."), "success")
        return self._back(request_id)

    @expose("/<int(max=2147483647):request_id>/reply", methods=["POST"])
    @_handles
    @permission_name("handle")
    def reply(self, req: CustomerRequest):
        request_id = req.id
        form = ReplyForm()
        if not form.validate_on_submit():
            _form_refused(form)
            return self._back(request_id)
        try:
            services.add_comment(req, form.text.data, author="staff", user=current_user)
            db.session.commit()
        except ValidationError as exc:
            _refused(exc)
            return self._back(request_id)
        flash(_("Your message has been sent to the customer."), "success")
        return self._back(request_id)

    @expose("/<int(max=2147483647):request_id>/assign", methods=["POST"])
    @_handles
    @permission_name("handle")
    def assign(self, req: CustomerRequest):
        return self._action(req, lambda req: services.assign_request(req, current_user),
                            _("The request is assigned to you."))

    @expose("/<int(max=2147483647):request_id>/close", methods=["POST"])
    @_handles
    @permission_name("handle")
    def close(self, req: CustomerRequest):
        return self._action(req, lambda req: services.close_request(req, current_user),
                            _("The request is closed."))

    def _action(self, req: CustomerRequest, change, done: str):
        request_id = req.id
        form = ActionForm()
        if not form.validate_on_submit():
            _form_refused(form)
            return self._back(request_id)
        try:
            change(req)
            db.session.commit()
        except ValidationError as exc:
            _refused(exc)
            return self._back(request_id)
        flash(done, "success")
        return self._back(request_id)


class SatisfactionReportView(BaseView):
    """Survey answers per month and per request kind: NPS, average, count, and the comments."""

    route_base = "/requests/satisfaction"
    default_view = "index"

    @expose("/")
    @has_access
    @permission_name("list")
    def index(self):
        errors = v.Errors()
        date_from = v.a_date(request.args, "from", errors)
        date_to = v.a_date(request.args, "to", errors)
        if date_from and date_to and date_to < date_from:
            errors.add("to", _("The end date cannot be before the start date."))
            date_to = None
        for messages in errors.errors.values():
            for message in messages:
                flash(message, "warning")
        kind = request.args.get("kind") or None
        kind = kind if kind in REQUEST_KINDS else None
        report = satisfaction_report(date_from, date_to, kind)
        return self.render_template("requests/satisfaction.html", report=report,
                                    kinds=REQUEST_KINDS)
