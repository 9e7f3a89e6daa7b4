"""Back office screens for bank statements: import a statement, the cash screen (a day's
statements at a glance) and the lists of statements and their lines.

Thin: a route reads its input, calls app.payments.incoming.importing or .cash, and renders.
The matching queue is app.payments.incoming.queue_views.
"""
from __future__ import annotations

from datetime import date, timedelta

from flask import current_app, flash, request
from flask_appbuilder import AppBuilder, BaseView, expose, has_access
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_appbuilder.security.decorators import permission_name
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from werkzeug.exceptions import RequestEntityTooLarge
from wtforms import BooleanField, StringField, ValidationError
from wtforms.validators import Length

from app.core.admin import ReadOnlyModelView, form_problem, may
from app.core.time import business_today
from app.payments.incoming.cash import cash_day
from app.payments.incoming.importing import import_statement, statement_max_bytes
from app.payments.incoming.models import (
    STATEMENT_LINE_KINDS,
    STATEMENT_LINE_STATUSES,
    BankStatement,
    StatementLine,
)
from app.payments.views import (
    CATEGORY,
    reference_text,
    rule_label,
    search_counterparty_iban_by_hash,
)

# --- importing a statement ---------------------------------------------------------------------

class StatementUploadForm(FlaskForm):
    file = FileField(_l("Statement file (camt.053 or CODA)"),
                     validators=[FileRequired(_l("Choose a statement file."))])
    # Balances that do not add up refuse a file; a person may import it deliberately, saying
    # why (recorded in the audit trail with who).
    import_anyway = BooleanField(_l("Import anyway, although the balances do not add up"))
    reason = StringField(_l("Why"), validators=[Length(max=500)],
                         description=_l("Required to import anyway; kept in the audit trail."))

    def validate_reason(self, field) -> None:
        if self.import_anyway.data and not (field.data or "").strip():
            raise ValidationError(_("Say why the file is imported anyway."))


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
            return self._page(form_problem(form), 400)
        limit = statement_max_bytes()
        upload = form.file.data
        data = upload.read(limit + 1)
        if len(data) > limit:
            return self._page(_too_large(), 413)
        report = import_statement(
            data, _safe_name(upload.filename), current_user,
            force_reason=form.reason.data if form.import_anyway.data else None)
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
        found = cash_day(day)
        return self.render_template(
            "payments/cash.html", the_day=day, statements=found.statements,
            figures=found.figures, totals=found.totals, waiting=found.waiting,
            credits=found.credits, returns=found.returns,
            previous=day - timedelta(days=1), following=day + timedelta(days=1),
            today=business_today(), may_import=may("can_index", "ImportStatementView"))


def _day_argument(raw: str | None) -> date:
    if raw:
        try:
            return date.fromisoformat(raw)
        except ValueError:
            flash(_("Not a date: %(value)s; showing today.", value=raw[:20]), "warning")
    return business_today()


# --- the statement lists ---------------------------------------------------------------------

class BankStatementView(ReadOnlyModelView):
    datamodel = SQLAInterface(BankStatement)
    list_title = _l("Bank statements")
    show_title = _l("Bank statement")
    label_columns = {
        "format": _l("Format"), "account_iban": _l("Account"), "statement_ref": _l("Statement"),
        "from_date": _l("From"), "to_date": _l("To"), "opening_balance": _l("Opening balance"),
        "closing_balance": _l("Closing balance"), "file_name": _l("File"),
        "file_sha256": _l("File fingerprint (SHA-256)"), "imported_at": _l("Imported at"),
        "line_count": _l("Lines"), "duplicate_count": _l("Already imported"),
        "skipped_count": _l("Not booked (pending)"), "currency": _l("Currency"),
        "sequence_number": _l("Sequence number"),
    }
    list_columns = ["imported_at", "account_iban", "statement_ref", "from_date", "to_date",
                    "closing_balance", "line_count", "format"]
    search_columns = ["account_iban", "statement_ref", "from_date", "to_date", "format",
                      "file_name"]
    show_columns = ["format", "account_iban", "statement_ref", "sequence_number", "from_date",
                    "to_date", "currency", "opening_balance", "closing_balance", "line_count",
                    "duplicate_count", "skipped_count", "file_name", "file_sha256",
                    "imported_at"]
    base_order = ("imported_at", "desc")
    money_columns = ("opening_balance", "closing_balance")
    related_view_names = ("StatementLineView",)


class StatementLineView(ReadOnlyModelView):
    datamodel = SQLAInterface(StatementLine)
    list_title = _l("Statement lines")
    show_title = _l("Statement line")
    label_columns = {
        "statement": _l("Statement"), "booking_date": _l("Booking date"),
        "value_date": _l("Value date"), "amount": _l("Amount"), "currency": _l("Currency"),
        "counterparty_name": _l("Counterparty"), "counterparty_iban": _l("Counterparty IBAN"),
        "counterparty_bic": _l("Counterparty BIC"),
        "structured_reference": _l("Structured communication"), "free_text": _l("Free text"),
        "bank_reference": _l("Bank reference"), "end_to_end_id": _l("End-to-end id"),
        "mandate_reference": _l("Mandate reference"), "is_reversal": _l("Reversal"),
        "return_reason": _l("Return reason"), "status": _l("Status"),
        "match_rule": _l("Matched by"), "match_confidence": _l("Confidence"),
        "kind": _l("Kind"), "customer": _l("Customer"), "note": _l("Note"),
        "transaction_code": _l("Bank transaction code"), "reviewed_at": _l("Reviewed at"),
    }
    list_columns = ["booking_date", "amount", "counterparty_name", "structured_reference",
                    "free_text", "kind", "status"]
    search_columns = ["booking_date", "amount", "counterparty_name", "counterparty_iban",
                      "structured_reference", "free_text", "status", "is_reversal", "kind"]
    show_columns = ["statement", "booking_date", "value_date", "amount", "currency", "kind",
                    "counterparty_name", "counterparty_iban", "counterparty_bic",
                    "structured_reference", "free_text", "bank_reference", "end_to_end_id",
                    "mandate_reference", "transaction_code", "is_reversal", "return_reason",
                    "status", "customer", "match_rule", "match_confidence", "note",
                    "reviewed_at"]
    base_order = ("booking_date", "desc")
    choice_columns = {"status": STATEMENT_LINE_STATUSES, "kind": STATEMENT_LINE_KINDS}
    money_columns = ("amount",)
    formatters_columns = {"structured_reference": reference_text, "match_rule": rule_label}

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        search_counterparty_iban_by_hash(self)


def register(appbuilder: AppBuilder) -> None:
    from app.payments.incoming.queue_views import MatchingQueueView

    appbuilder.add_view(CashView, "Cash", label=_l("Cash"), icon="fa-eur", category=CATEGORY)
    appbuilder.add_view(MatchingQueueView, "Payments to match", label=_l("Payments to match"),
                        icon="fa-random", category=CATEGORY)
    appbuilder.add_view(ImportStatementView, "ImportStatement",
                        label=_l("Import a bank statement"), icon="fa-upload",
                        category=CATEGORY)
    appbuilder.add_view(BankStatementView, "Bank statements", label=_l("Bank statements"),
                        icon="fa-bank", category=CATEGORY)
    appbuilder.add_view(StatementLineView, "Statement lines", label=_l("Statement lines"),
                        icon="fa-list", category=CATEGORY)
