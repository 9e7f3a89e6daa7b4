"""Staff screens for customers' e-mail replies (thin: each action is one review.py call).

GET  /replies/?status=open|to_review|to_read|read|ignored|all   the list and the mailbox state
GET  /replies/<id>                       one reply: text, category, customer, answer, hold
POST /replies/<id>/category|customer|read|release
GET  /replies/<id>/attachments/<aid>     a kept file, as a download
POST /replies/simulate/<customer_id>     the embedded default's demonstration reply (360° page)
POST /replies/failing/<customer_id>/<id>/clear   a failing address works again (360° page)
"""
from __future__ import annotations

from flask import abort, current_app, flash, redirect, request, url_for
from flask_appbuilder import AppBuilder, BaseView, expose, has_access
from flask_appbuilder.security.decorators import permission_name
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm

from app.core.validation import ValidationError
from app.customers.models import Customer
from app.extensions import db
from app.inbound import failing, review
from app.inbound.models import (
    CATEGORIES,
    KINDS,
    STATUSES,
    TIED_BY,
    InboundAttachment,
    InboundMessage,
    MailboxState,
)

FILTERS = ("open", "to_review", "to_read", "read", "ignored", "all")


class ActionForm(FlaskForm):
    """Only the CSRF token: the fields are checked by app.inbound.review."""


class InboundReplyView(BaseView):
    route_base = "/replies"
    default_view = "index"

    @expose("/")
    @has_access
    @permission_name("list")
    def index(self):
        status = request.args.get("status", "open")
        if status not in FILTERS:
            status = "open"
        page = max(request.args.get("page", 1, type=int) or 1, 1)
        rows, total = review.replies(None if status == "all" else status, 100, (page - 1) * 100)
        mailboxes = db.session.scalars(db.select(MailboxState).order_by(MailboxState.name))
        return self.render_template("inbound/list.html", rows=rows, total=total, page=page,
                                    status=status, filters=FILTERS, labels=_labels(),
                                    mailboxes=list(mailboxes), title=_("Customer replies"))

    @expose("/<int:pk>")
    @has_access
    @permission_name("show")
    def show(self, pk: int):
        return self._page(self._row(pk))

    @expose("/<int:pk>/category", methods=["POST"])
    @has_access
    @permission_name("write")
    def category(self, pk: int):
        return self._act(pk, lambda row: review.change_category(
            row, request.form.get("category", ""), current_user,
            send_answer=request.form.get("send_answer") == "y"),
            _("The category is saved."))

    @expose("/<int:pk>/customer", methods=["POST"])
    @has_access
    @permission_name("write")
    def customer(self, pk: int):
        return self._act(pk, lambda row: review.assign_customer(
            row, request.form.get("customer_number", ""), current_user),
            _("The reply is tied to the customer."))

    @expose("/<int:pk>/read", methods=["POST"])
    @has_access
    @permission_name("write")
    def read(self, pk: int):
        return self._act(pk, lambda row: review.mark_read(row, current_user),
                         _("The reply is marked as read."))

    @expose("/<int:pk>/release", methods=["POST"])
    @has_access
    @permission_name("write")
    def release(self, pk: int):
        return self._act(pk, lambda row: review.release(row, current_user),
                         _("Reminders may go out again."))

    @expose("/failing/<int:customer_id>/<int:fid>/clear", methods=["POST"])
    @has_access
    @permission_name("write")
    def clear_failing(self, customer_id: int, fid: int):
        """The 360° page's button: staff say a failing address works again."""
        back = redirect(url_for("Customer360View.show", pk=customer_id))
        if not ActionForm().validate_on_submit():
            flash(_("The form expired; please try again."), "danger")
            return back
        try:
            cleared = failing.clear_failing(fid, current_user, customer_id=customer_id)
            db.session.commit()
        except ValidationError as exc:
            db.session.rollback()
            for messages in exc.errors.values():
                for message in messages if isinstance(messages, list) else [messages]:
                    flash(message, "danger")
            return back
        flash(_("%(address)s is no longer marked as failing.", address=cleared.address),
              "success")
        return back

    @expose("/<int:pk>/attachments/<int:aid>")
    @has_access
    @permission_name("show")
    def attachment(self, pk: int, aid: int):
        from app.requests.attachments import download

        found = db.session.get(InboundAttachment, aid)
        if found is None or found.inbound_id != pk or not found.storage_path:
            abort(404)
        response = download(found)
        if response is None:
            abort(404)
        return response

    @expose("/simulate/<int:customer_id>", methods=["POST"])
    @has_access
    @permission_name("write")
    def simulate(self, customer_id: int):
        customer = db.session.get(Customer, customer_id)
        if customer is None:
            abort(404)
        if not review.may_simulate() or not ActionForm().validate_on_submit():
            flash(_("The form expired; please try again."), "danger")
            return redirect(url_for("Customer360View.show", pk=customer_id))
        try:
            received = review.simulate_reply(customer, request.form.get("reply_text", ""))
            db.session.commit()
        except ValidationError as exc:
            db.session.rollback()
            for messages in exc.errors.values():
                for message in messages if isinstance(messages, list) else [messages]:
                    flash(message, "danger")
            return redirect(url_for("Customer360View.show", pk=customer_id))
        flash(_("The reply was received as if it came from the mailbox."), "success")
        return redirect(url_for(".show", pk=received.message.id))

    # -- helpers -----------------------------------------------------------------------------
    def _row(self, pk: int) -> InboundMessage:
        row = db.session.get(InboundMessage, pk)
        if row is None:
            abort(404)
        return row

    def _act(self, pk: int, action, done: str):
        row = self._row(pk)
        if not ActionForm().validate_on_submit():
            return self._page(row, {"form": [_("The form expired; please try again.")]}, 400)
        try:
            action(row)
            db.session.commit()
        except ValidationError as exc:
            db.session.rollback()
            return self._page(self._row(pk), exc.errors, 400)
        flash(done, "success")
        return redirect(url_for(".show", pk=pk))

    def _page(self, row: InboundMessage, errors: dict | None = None, status: int = 200):
        from app.dunning.holds import ReminderHold

        hold = db.session.get(ReminderHold, row.hold_id) if row.hold_id else None
        page = self.render_template("inbound/show.html", row=row, hold=hold,
                                    errors=errors or {}, form=ActionForm(), labels=_labels(),
                                    title=_("Customer reply"))
        return page, status


def _labels() -> dict:
    return {"category": CATEGORIES, "kind": KINDS, "status": STATUSES, "tied_by": TIED_BY,
            "filters": {"open": _l("To deal with"), "to_review": STATUSES["to_review"],
                        "to_read": STATUSES["to_read"], "read": STATUSES["read"],
                        "ignored": STATUSES["ignored"], "all": _l("All")}}


def register(appbuilder: AppBuilder) -> None:
    from app.inbound.timeline import customer_panel

    appbuilder.add_view(InboundReplyView, "Customer replies", label=_l("Customer replies"),
                        icon="fa-reply", category="Receivables")
    current_app.jinja_env.globals["inbound_panel"] = customer_panel
