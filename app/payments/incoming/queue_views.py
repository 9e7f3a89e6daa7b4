"""The matching queue's screens: statement lines waiting for a person with ranked
suggestions, matching by hand, picking, undoing an allocation, credits.

Thin: each route reads the form, calls app.payments.incoming.queue / picking or
app.payments.services, commits, and renders.
"""
from __future__ import annotations

from flask import abort, flash, redirect, request, url_for
from flask_appbuilder import BaseView, expose, has_access
from flask_appbuilder.security.decorators import permission_name
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import HiddenField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from app.core import validation as v
from app.core.admin import error_text, form_problem, may
from app.extensions import db
from app.payments.incoming import queue
from app.payments.incoming.matching import NOTES
from app.payments.incoming.models import (
    STATEMENT_LINE_KINDS,
    STATEMENT_LINE_STATUSES,
    StatementLine,
)
from app.payments.incoming.picking import (
    REASONS,
    accept_suggestion,
    confirm_pick,
    match_typed,
    picks_from_form,
)
from app.payments.models import Allocation, Payment
from app.payments.services import apply_credit, undo_allocation
from app.payments.views import reference_text, rule_label


class ActionForm(FlaskForm):
    """A button: only the CSRF token."""


class AcceptForm(FlaskForm):
    choice = HiddenField(validators=[Optional()])


class ManualMatchForm(FlaskForm):
    customer_number = StringField(_l("Customer number"),
                                  validators=[DataRequired(), Length(max=40)])
    invoices = TextAreaField(
        _l("Invoices"), validators=[Optional(), Length(max=4000)],
        description=_l("One invoice per line: its number, then the amount (without an amount, "
                       "what is open, as far as the payment goes). Leave empty to pay the "
                       "customer's open invoices, oldest first."))
    note = StringField(_l("Note"), validators=[Optional(), Length(max=200)])


class UndoForm(FlaskForm):
    reason = TextAreaField(_l("Why"), validators=[DataRequired(), Length(max=1000)])


class MatchingQueueView(BaseView):
    """Statement lines waiting for a person, with ranked suggestions; matching by hand."""

    route_base = "/matching"
    default_view = "index"

    @expose("/")
    @has_access
    @permission_name("list")
    def index(self):
        statement_id = request.args.get("statement", type=int)
        status = request.args.get("status")
        found = queue.queue_page(statement_id=statement_id, status=status,
                                 page=request.args.get("page", 1, type=int))
        return self.render_template(
            "payments/queue.html", lines=found.lines, customers=found.customers,
            total=found.total, page=found.page, pages=found.pages,
            statement_id=statement_id, status=status, form=ActionForm(),
            may_match=may("can_match", "MatchingQueueView"), rule=rule_label, notes=NOTES,
            kinds=STATEMENT_LINE_KINDS, statuses=STATEMENT_LINE_STATUSES)

    @expose("/line/<int:line_id>")
    @has_access
    @permission_name("show")
    def line(self, line_id: int):
        return self._line_page(self._get_line(line_id))

    @expose("/line/<int:line_id>/accept", methods=["POST"])
    @has_access
    @permission_name("match")
    def accept(self, line_id: int):
        line = self._get_line(line_id)
        form = AcceptForm()
        if not form.validate_on_submit():
            return self._line_page(line, form_problem(form), 400)
        try:
            proposal = queue.chosen_suggestion(line, form.choice.data)
            accept_suggestion(line, proposal, current_user)
            db.session.commit()
        except v.ValidationError as exc:
            db.session.rollback()
            return self._line_page(line, error_text(exc), 400)
        flash(_("The payment is matched."), "success")
        return redirect(request.form.get("next") or url_for(".line", line_id=line.id))

    @expose("/line/<int:line_id>/match", methods=["POST"])
    @has_access
    @permission_name("match")
    def match(self, line_id: int):
        line = self._get_line(line_id)
        form = ManualMatchForm()
        if not form.validate_on_submit():
            return self._line_page(line, form_problem(form), 400, form)
        try:
            match_typed(line, form.customer_number.data, form.invoices.data or "",
                        current_user, note=form.note.data or None)
            db.session.commit()
        except v.ValidationError as exc:
            db.session.rollback()
            return self._line_page(self._get_line(line_id), error_text(exc), 400, form)
        flash(_("The payment is matched."), "success")
        return redirect(url_for(".line", line_id=line_id))

    @expose("/line/<int:line_id>/ignore", methods=["POST"])
    @has_access
    @permission_name("match")
    def ignore(self, line_id: int):
        """Not a customer's payment (e.g. an internal transfer): out of the queue."""
        line = self._get_line(line_id)
        if not ActionForm().validate_on_submit():
            return self._line_page(line, form_problem(ActionForm()), 400)
        try:
            queue.ignore_line(line, current_user)
        except v.ValidationError as exc:
            return self._line_page(line, error_text(exc), 400)
        db.session.commit()
        flash(_("The line was set aside."), "success")
        return redirect(url_for(".index"))

    @expose("/line/<int:line_id>/reviewed", methods=["POST"])
    @has_access
    @permission_name("match")
    def reviewed(self, line_id: int):
        """A return or reversal was looked at (the customer contacted, a new collection...)."""
        line = self._get_line(line_id)
        if not ActionForm().validate_on_submit():
            return self._line_page(line, form_problem(ActionForm()), 400)
        queue.mark_reviewed(line, current_user)
        db.session.commit()
        flash(_("Marked as reviewed."), "success")
        return redirect(url_for(".index"))

    @expose("/allocation/<int:allocation_id>/undo", methods=["GET", "POST"])
    @has_access
    @permission_name("match")
    def undo(self, allocation_id: int):
        allocation = db.session.get(Allocation, allocation_id)
        if allocation is None:
            abort(404)
        form = UndoForm()
        status = 200
        if request.method == "POST":
            if form.validate_on_submit():
                try:
                    undo_allocation(allocation, current_user, form.reason.data)
                    db.session.commit()
                    flash(_("The allocation was undone; invoice %(invoice)s is open again.",
                            invoice=allocation.invoice.number), "success")
                    line = allocation.payment.statement_line if allocation.payment else None
                    return redirect(url_for(".line", line_id=line.id) if line is not None
                                    else url_for("AllocationView.list"))
                except v.ValidationError as exc:
                    db.session.rollback()
                    flash(error_text(exc), "danger")
            else:
                flash(form_problem(form), "danger")
            status = 400
        return self.render_template("payments/undo.html", allocation=allocation,
                                    form=form), status

    @expose("/payment/<int:payment_id>/apply-credit", methods=["POST"])
    @has_access
    @permission_name("match")
    def apply_credit(self, payment_id: int):
        payment = db.session.get(Payment, payment_id)
        if payment is None:
            abort(404)
        line = payment.statement_line
        back = url_for(".line", line_id=line.id) if line is not None else url_for(".credits")
        if not ActionForm().validate_on_submit():
            flash(form_problem(ActionForm()), "danger")
            return redirect(back)
        try:
            apply_credit(payment, current_user)
            db.session.commit()
            flash(_("The credit was applied to the open invoices."), "success")
        except v.ValidationError as exc:
            db.session.rollback()
            flash(error_text(exc), "danger")
        return redirect(back)

    @expose("/credits")
    @has_access
    @permission_name("list")
    def credits(self):
        """Money on customers' accounts not allocated: refund it or keep it for the next
        invoice."""
        found = queue.credits_waiting()
        return self.render_template("payments/credits.html", payments=found.payments,
                                    unplaced=found.unplaced,
                                    open_counts=found.open_counts, form=ActionForm(),
                                    may_match=may("can_match", "MatchingQueueView"))

    @expose("/line/<int:line_id>/pick", methods=["POST"])
    @has_access
    @permission_name("match")
    def pick(self, line_id: int):
        """Book the line to the invoices ticked among the candidates (the rest as credit)."""
        line = self._get_line(line_id)
        if not ActionForm().validate_on_submit():
            return self._line_page(line, form_problem(ActionForm()), 400)
        try:
            customer_id, picks = picks_from_form(request.form)
            confirm_pick(line=line, customer_id=customer_id, picks=picks, user=current_user)
            db.session.commit()
        except v.ValidationError as exc:
            db.session.rollback()
            return self._line_page(self._get_line(line_id), error_text(exc), 400)
        flash(_("The payment is matched."), "success")
        return redirect(url_for(".line", line_id=line_id))

    @expose("/payment/<int:payment_id>")
    @has_access
    @permission_name("show")
    def payment(self, payment_id: int):
        """Picking for money received without a statement line (online, API)."""
        return self._payment_page(self._get_payment(payment_id))

    @expose("/payment/<int:payment_id>/pick", methods=["POST"])
    @has_access
    @permission_name("match")
    def pick_payment(self, payment_id: int):
        payment = self._get_payment(payment_id)
        if payment.statement_line_id is not None:
            return redirect(url_for(".line", line_id=payment.statement_line_id))
        if not ActionForm().validate_on_submit():
            return self._payment_page(payment, form_problem(ActionForm()), 400)
        try:
            customer_id, picks = picks_from_form(request.form)
            confirm_pick(payment=payment, customer_id=customer_id, picks=picks,
                         user=current_user)
            db.session.commit()
        except v.ValidationError as exc:
            db.session.rollback()
            return self._payment_page(self._get_payment(payment_id), error_text(exc), 400)
        flash(_("The payment is matched."), "success")
        return redirect(url_for(".payment", payment_id=payment_id))

    # -- helpers --
    @staticmethod
    def _get_payment(payment_id: int) -> Payment:
        payment = db.session.get(Payment, payment_id)
        if payment is None:
            abort(404)
        return payment

    def _payment_page(self, payment: Payment, problem: str | None = None, status: int = 200):
        if payment.statement_line_id is not None:
            return redirect(url_for(".line", line_id=payment.statement_line_id))
        if problem:
            flash(problem, "danger")
        return self.render_template(
            "payments/payment_pick.html", payment=payment, form=ActionForm(),
            candidates=queue.payment_candidates(payment),
            amount=payment.unallocated_amount, rule=rule_label,
            pick_url=url_for(".pick_payment", payment_id=payment.id), reasons=REASONS,
            may_match=may("can_match", "MatchingQueueView")), status

    @staticmethod
    def _get_line(line_id: int) -> StatementLine:
        line = db.session.get(StatementLine, line_id)
        if line is None:
            abort(404)
        return line

    def _line_page(self, line: StatementLine, problem: str | None = None, status: int = 200,
                   match_form: ManualMatchForm | None = None):
        if problem:
            flash(problem, "danger")
        found = queue.line_context(line)
        if match_form is None:
            match_form = ManualMatchForm(formdata=None)
            match_form.customer_number.data = found.best_customer_number
        return self.render_template(
            "payments/line.html", line=line, payment=found.payment,
            suggestions=found.suggestions, candidates=found.candidates, amount=found.amount,
            pick_url=url_for(".pick", line_id=line.id), reasons=REASONS,
            customers=found.customers, match_form=match_form, form=ActionForm(),
            may_match=may("can_match", "MatchingQueueView"), rule=rule_label, notes=NOTES,
            returned=found.returned, kinds=STATEMENT_LINE_KINDS,
            statuses=STATEMENT_LINE_STATUSES, reference=reference_text), status
