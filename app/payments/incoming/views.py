"""Back office screens for the statement work: import a statement, the cash screen (a day's
statements at a glance), the queue of lines waiting for a person with ranked suggestions,
matching by hand, undoing an allocation, credits. Every change goes through
app.payments.services; app.payments.views registers these screens.
"""
from __future__ import annotations

from datetime import date, datetime, time, timedelta
from decimal import Decimal

from flask import abort, current_app, flash, redirect, request, url_for
from flask_appbuilder import BaseView, expose, has_access
from flask_appbuilder.security.decorators import permission_name
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from sqlalchemy import func, or_, select
from werkzeug.exceptions import RequestEntityTooLarge
from wtforms import HiddenField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from app.core import validation as v
from app.core.models import ZERO, utcnow
from app.core.time import BUSINESS_TZ, business_today
from app.customers.models import Customer
from app.extensions import db
from app.invoices.models import OPEN_STATUSES, Invoice
from app.payments.incoming.importing import import_statement, statement_max_bytes
from app.payments.incoming.matching import NOTES, RULE_LABELS, Proposal, suggestions_for
from app.payments.incoming.models import (
    STATEMENT_LINE_KINDS,
    STATEMENT_LINE_STATUSES,
    BankStatement,
    StatementLine,
)
from app.payments.incoming.picking import (
    REASONS,
    accept_suggestion,
    candidates_for_line,
    candidates_for_payment,
    confirm_pick,
    match_typed,
    payment_of_line,
    picks_from_form,
)
from app.payments.models import Allocation, Payment
from app.payments.outgoing.returns import unreviewed_returns
from app.payments.references import format_ogm, is_valid_ogm, normalise_ogm
from app.payments.services import apply_credit, undo_allocation

QUEUE_PAGE_SIZE = 50
WAITING = ("unmatched", "suggested")


def _reference(value) -> str:
    return format_ogm(normalise_ogm(value)) if value and is_valid_ogm(value) else (value or "")


def _rule(value) -> str:
    return str(RULE_LABELS.get(value, value or ""))


def _may(permission: str, view: str) -> bool:
    return current_app.appbuilder.sm.has_access(permission, view)


# --- importing a statement ---------------------------------------------------------------------

class StatementUploadForm(FlaskForm):
    file = FileField(_l("Statement file (camt.053 or CODA)"),
                     validators=[FileRequired(_l("Choose a statement file."))])


class ImportStatementView(BaseView):
    """Upload a camt.053 or CODA file: it is imported at once and the result shown."""

    route_base = "/statements"
    default_view = "index"

    @expose("/import")
    @has_access
    def index(self):
        return self._page()

    @expose("/import", methods=["POST"])
    @has_access
    def upload(self):
        try:
            form = StatementUploadForm()
            valid = form.validate_on_submit()
        except RequestEntityTooLarge:
            return self._page(_too_large(), 413)
        if not valid:
            return self._page(_form_problem(form), 400)
        limit = statement_max_bytes()
        upload = form.file.data
        data = upload.read(limit + 1)
        if len(data) > limit:
            return self._page(_too_large(), 413)
        report = import_statement(data, _safe_name(upload.filename), current_user)
        if not report.ok:
            return self._page(report.error, 422 if report.error_code != "already_imported"
                              else 409)
        return self.render_template("payments/import_result.html", report=report,
                                    form=StatementUploadForm(formdata=None))

    def _page(self, problem: str | None = None, status: int = 200):
        if problem:
            flash(problem, "danger")
        return self.render_template("payments/import.html", form=StatementUploadForm(
            formdata=None), max_mb=_max_mb()), status


def _max_mb() -> int:
    limits = [statement_max_bytes()]
    if current_app.config.get("MAX_CONTENT_LENGTH"):
        limits.append(int(current_app.config["MAX_CONTENT_LENGTH"]))
    return min(limits) // (1024 * 1024)


def _too_large() -> str:
    return _("The file is too large; the limit is %(limit)s MB.", limit=_max_mb())


def _safe_name(name: str | None) -> str:
    """Only the last part of what the browser calls the file, for display."""
    return (name or "").replace("\\", "/").rsplit("/", 1)[-1][:200]


def _form_problem(form: FlaskForm) -> str:
    if "csrf_token" in form.errors:
        return _("The form has expired or was not sent from this page. Please try again.")
    return " ".join(str(message) for messages in form.errors.values() for message in messages)


# --- the cash screen -------------------------------------------------------------------------

class CashView(BaseView):
    """Today's statements: what came in, what was matched, what waits for a person."""

    route_base = "/cash"
    default_view = "index"

    @expose("/")
    @has_access
    @permission_name("list")
    def index(self):
        day = _day_argument(request.args.get("day"))
        start, end = _utc_day(day)
        statements = db.session.scalars(
            select(BankStatement).where(BankStatement.imported_at >= start,
                                        BankStatement.imported_at < end)
            .order_by(BankStatement.imported_at.desc())).all()
        figures = _line_figures([s.id for s in statements])
        totals = _totals(figures.values())
        waiting = db.session.execute(
            select(func.count(), func.coalesce(func.sum(StatementLine.amount), 0))
            .where(StatementLine.status.in_(WAITING))).one()
        credits = db.session.execute(
            select(func.count(), func.coalesce(func.sum(Payment.unallocated_amount), 0))
            .where(Payment.customer_id.is_not(None), Payment.unallocated_amount > 0,
                   Payment.status != "returned")).one()
        returns = unreviewed_returns()
        return self.render_template(
            "payments/cash.html", the_day=day, statements=statements, figures=figures,
            totals=totals, waiting=waiting, credits=credits, returns=returns,
            previous=day - timedelta(days=1), following=day + timedelta(days=1),
            today=business_today(), may_import=_may("can_index", "ImportStatementView"))


def _day_argument(raw: str | None) -> date:
    if raw:
        try:
            return date.fromisoformat(raw)
        except ValueError:
            flash(_("Not a date: %(value)s; showing today.", value=raw[:20]), "warning")
    return business_today()


def _utc_day(day: date) -> tuple[datetime, datetime]:
    """The business day (Europe/Brussels) as a UTC range: imported_at is stored in UTC."""
    start = datetime.combine(day, time.min, BUSINESS_TZ)
    return start, start + timedelta(days=1)


def _line_figures(statement_ids: list[int]) -> dict[int, dict[str, list]]:
    """{statement id: {bucket: [count, amount]}}; buckets: matched, suggested, unmatched,
    returns, returns_open, ignored."""
    figures: dict[int, dict[str, list]] = {
        i: {name: [0, ZERO] for name in ("matched", "suggested", "unmatched", "returns",
                                         "returns_open", "ignored")} for i in statement_ids}
    if not statement_ids:
        return figures
    rows = db.session.execute(
        select(StatementLine.statement_id, StatementLine.kind, StatementLine.status,
               func.count(), func.coalesce(func.sum(StatementLine.amount), 0))
        .where(StatementLine.statement_id.in_(statement_ids))
        .group_by(StatementLine.statement_id, StatementLine.kind, StatementLine.status)).all()
    for statement_id, kind, status, count, amount in rows:
        if kind == "return":
            bucket = "returns" if status == "matched" else "returns_open"
        elif kind == "debit" or status == "ignored":
            bucket = "ignored"
        else:
            bucket = status if status in ("matched", "suggested", "unmatched") else "unmatched"
        figures[statement_id][bucket][0] += count
        figures[statement_id][bucket][1] += Decimal(amount)
    return figures


def _totals(per_statement) -> dict[str, list]:
    totals: dict[str, list] = {}
    for buckets in per_statement:
        for name, (count, amount) in buckets.items():
            total = totals.setdefault(name, [0, ZERO])
            total[0] += count
            total[1] += amount
    return totals


# --- the queue and matching by hand --------------------------------------------------------

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
        query = select(StatementLine).where(or_(
            StatementLine.status.in_(WAITING),
            (StatementLine.kind == "return") & StatementLine.reviewed_at.is_(None)))
        statement_id = request.args.get("statement", type=int)
        if statement_id:
            query = query.where(StatementLine.statement_id == statement_id)
        status = request.args.get("status")
        if status in WAITING:
            query = query.where(StatementLine.status == status)
        page = max(request.args.get("page", 1, type=int), 1)
        total = db.session.scalar(select(func.count()).select_from(query.subquery()))
        lines = db.session.scalars(query.order_by(StatementLine.booking_date.desc(),
                                                  StatementLine.id)
                                   .limit(QUEUE_PAGE_SIZE)
                                   .offset((page - 1) * QUEUE_PAGE_SIZE)).all()
        customers = _customers({line.customer_id for line in lines})
        return self.render_template(
            "payments/queue.html", lines=lines, customers=customers, total=total, page=page,
            pages=max((total + QUEUE_PAGE_SIZE - 1) // QUEUE_PAGE_SIZE, 1),
            statement_id=statement_id, status=status, form=ActionForm(),
            may_match=_may("can_match", "MatchingQueueView"), rule=_rule, notes=NOTES,
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
            return self._line_page(line, _form_problem(form), 400)
        suggestions = _ranked(line)
        try:
            index = int(form.choice.data) if form.choice.data else 0
            proposal = suggestions[index]
        except (ValueError, IndexError):
            return self._line_page(line, _("This suggestion is no longer there; choose again."),
                                   400)
        try:
            accept_suggestion(line, proposal, current_user)
            db.session.commit()
        except v.ValidationError as exc:
            db.session.rollback()
            return self._line_page(line, _errors(exc), 400)
        flash(_("The payment is matched."), "success")
        return redirect(request.form.get("next") or url_for(".line", line_id=line.id))

    @expose("/line/<int:line_id>/match", methods=["POST"])
    @has_access
    @permission_name("match")
    def match(self, line_id: int):
        line = self._get_line(line_id)
        form = ManualMatchForm()
        if not form.validate_on_submit():
            return self._line_page(line, _form_problem(form), 400, form)
        try:
            match_typed(line, form.customer_number.data, form.invoices.data or "",
                        current_user, note=form.note.data or None)
            db.session.commit()
        except v.ValidationError as exc:
            db.session.rollback()
            return self._line_page(self._get_line(line_id), _errors(exc), 400, form)
        flash(_("The payment is matched."), "success")
        return redirect(url_for(".line", line_id=line_id))

    @expose("/line/<int:line_id>/ignore", methods=["POST"])
    @has_access
    @permission_name("match")
    def ignore(self, line_id: int):
        """Not a customer's payment (e.g. an internal transfer): out of the queue."""
        line = self._get_line(line_id)
        if not ActionForm().validate_on_submit():
            return self._line_page(line, _form_problem(ActionForm()), 400)
        if line.status not in WAITING:
            return self._line_page(line, _("Only a line waiting in the queue can be set "
                                           "aside."), 400)
        payment = payment_of_line(line, create=False)
        if payment is not None and any(a.reversed_at is None for a in payment.allocations):
            return self._line_page(line, _("Undo its allocations first."), 400)
        line.status = "ignored"
        line.reviewed_at, line.reviewed_by_id = utcnow(), current_user.id
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
            return self._line_page(line, _form_problem(ActionForm()), 400)
        line.reviewed_at, line.reviewed_by_id = utcnow(), current_user.id
        if line.kind == "return" and line.status in WAITING:
            line.status = "ignored"
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
                    flash(_errors(exc), "danger")
            else:
                flash(_form_problem(form), "danger")
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
            flash(_form_problem(ActionForm()), "danger")
            return redirect(back)
        try:
            apply_credit(payment, current_user)
            db.session.commit()
            flash(_("The credit was applied to the open invoices."), "success")
        except v.ValidationError as exc:
            db.session.rollback()
            flash(_errors(exc), "danger")
        return redirect(back)

    @expose("/credits")
    @has_access
    @permission_name("list")
    def credits(self):
        """Money on customers' accounts not allocated: refund it or keep it for the next
        invoice."""
        payments = db.session.scalars(
            select(Payment).where(Payment.customer_id.is_not(None),
                                  Payment.unallocated_amount > 0,
                                  Payment.status != "returned")
            .order_by(Payment.received_on.desc()).limit(200)).all()
        open_counts = dict(db.session.execute(
            select(Invoice.customer_id, func.count()).where(
                Invoice.customer_id.in_({p.customer_id for p in payments}),
                Invoice.status.in_(OPEN_STATUSES)).group_by(Invoice.customer_id)).all())
        # Money received online or through the API that named no customer: picked by hand.
        unplaced = db.session.scalars(
            select(Payment).where(Payment.customer_id.is_(None), Payment.unallocated_amount > 0,
                                  Payment.statement_line_id.is_(None),
                                  Payment.status != "returned")
            .order_by(Payment.received_on.desc()).limit(200)).all()
        return self.render_template("payments/credits.html", payments=payments,
                                    unplaced=unplaced,
                                    open_counts=open_counts, form=ActionForm(),
                                    may_match=_may("can_match", "MatchingQueueView"))

    @expose("/line/<int:line_id>/pick", methods=["POST"])
    @has_access
    @permission_name("match")
    def pick(self, line_id: int):
        """Book the line to the invoices ticked among the candidates (the rest as credit)."""
        line = self._get_line(line_id)
        if not ActionForm().validate_on_submit():
            return self._line_page(line, _form_problem(ActionForm()), 400)
        try:
            customer_id, picks = picks_from_form(request.form)
            confirm_pick(line=line, customer_id=customer_id, picks=picks, user=current_user)
            db.session.commit()
        except v.ValidationError as exc:
            db.session.rollback()
            return self._line_page(self._get_line(line_id), _errors(exc), 400)
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
            return self._payment_page(payment, _form_problem(ActionForm()), 400)
        try:
            customer_id, picks = picks_from_form(request.form)
            confirm_pick(payment=payment, customer_id=customer_id, picks=picks,
                         user=current_user)
            db.session.commit()
        except v.ValidationError as exc:
            db.session.rollback()
            return self._payment_page(self._get_payment(payment_id), _errors(exc), 400)
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
        waiting = payment.status != "returned" and payment.unallocated_amount > 0
        return self.render_template(
            "payments/payment_pick.html", payment=payment, form=ActionForm(),
            candidates=candidates_for_payment(payment) if waiting else [],
            amount=payment.unallocated_amount, rule=_rule,
            pick_url=url_for(".pick_payment", payment_id=payment.id), reasons=REASONS,
            may_match=_may("can_match", "MatchingQueueView")), status

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
        payment = payment_of_line(line, create=False)
        suggestions = _ranked(line) if line.status in WAITING else []
        customers = _customers({p.customer_id for p in suggestions} | {line.customer_id})
        if match_form is None:
            match_form = ManualMatchForm(formdata=None)
            best = next((p for p in suggestions if p.customer_id), None)
            if best is not None and best.customer_id in customers:
                match_form.customer_number.data = customers[best.customer_id].number
        returned = db.session.scalars(select(Payment).where(Payment.return_line_id == line.id)
                                      ).all()
        picking = line.kind == "payment" and line.status in WAITING and line.amount > 0 and (
            payment is None or payment.unallocated_amount > 0)
        return self.render_template(
            "payments/line.html", line=line, payment=payment, suggestions=suggestions,
            candidates=candidates_for_line(line) if picking else [],
            amount=payment.unallocated_amount if payment is not None else line.amount,
            pick_url=url_for(".pick", line_id=line.id), reasons=REASONS,
            customers=customers, match_form=match_form, form=ActionForm(),
            may_match=_may("can_match", "MatchingQueueView"), rule=_rule, notes=NOTES,
            returned=returned, kinds=STATEMENT_LINE_KINDS, statuses=STATEMENT_LINE_STATUSES,
            reference=_reference), status


def _ranked(line: StatementLine) -> list[Proposal]:
    """The rules run again on this line (the data may have changed since the import), then
    invoices of the same amount and customers of a similar name; best first."""
    return suggestions_for(line)


def _customers(ids) -> dict[int, Customer]:
    ids = {i for i in ids if i}
    if not ids:
        return {}
    return {c.id: c for c in db.session.scalars(select(Customer).where(Customer.id.in_(ids)))}


def _errors(exc: v.ValidationError) -> str:
    return " ".join(message for messages in exc.errors.values() for message in messages)
