"""Back office screens for invoices, their lines and credit notes."""
from __future__ import annotations

from flask import redirect, url_for
from flask_appbuilder import AppBuilder
from flask_appbuilder.actions import action
from flask_appbuilder.fieldwidgets import BS3TextFieldWidget
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import select
from wtforms import StringField
from wtforms.validators import Optional

from app.core import validation as v
from app.core.admin import (
    FilterCustomerText,
    StaffModelView,
    customer_search_field,
    form_validator,
    text_search_field,
)
from app.extensions import db
from app.invoices.filters import FilterDueWithin, FilterOverdueAtMost, FilterOverdueMoreThan
from app.invoices.models import (
    INVOICE_STATUSES,
    Invoice,
    InvoiceLine,
)
from app.invoices.references import InvalidReference, format_ogm, format_rf, normalise_ogm
from app.invoices.services import clean_invoice, edit_invoice, upsert_invoice

CATEGORY = "Receivables"

INVOICE_LABELS = {
    "customer": _l("Customer"), "number": _l("Invoice number"), "issue_date": _l("Issue date"),
    "due_date": _l("Due date"), "currency": _l("Currency"), "total_amount": _l("Total"),
    "open_amount": _l("Open amount"), "structured_reference": _l("Structured communication"),
    "rf_reference": _l("RF reference"), "description": _l("Description"), "status": _l("Status"),
    "disputed": _l("Disputed"), "disputed_amount": _l("Disputed amount"),
    "dunning_blocked": _l("Reminders blocked"),
    "dunning_block_reason": _l("Why reminders are blocked"), "dunning_level": _l("Reminder level"),
    "last_reminded_on": _l("Last reminded on"), "paid_on": _l("Paid on"),
    "dunning_fees": _l("Fees claimed in the last reminder"),
    "dunning_blocked_by": _l("Excluded from reminders by"),
    "dunning_blocked_on": _l("Excluded from reminders on"),
    "pdf_path": _l("PDF file"), "created_at": _l("Created at"), "updated_at": _l("Updated at"),
}


def _ogm(value) -> str:
    return format_ogm(value) if value and len(value) == 12 else (value or "")


def _normalise_if_valid(value):
    try:
        return normalise_ogm(value) if value else value
    except InvalidReference:
        return value


def _check_ogm(value: str) -> None:
    try:
        normalise_ogm(value)
    except InvalidReference as exc:
        raise ValueError(_(
            "Not a valid structured communication: %(value)s (12 digits, the last two being "
            "the remainder of the first ten divided by 97).", value=value)) from exc


class OgmField(StringField):
    """Typed as +++123/4567/89002+++ or as 12 digits; shown formatted; stored as 12 digits."""

    def _value(self) -> str:
        if self.raw_data:
            return self.raw_data[0]
        return _ogm(self.data)


def ogm_field(description="") -> OgmField:
    return OgmField(INVOICE_LABELS["structured_reference"], description=description,
                    filters=[_normalise_if_valid], validators=[Optional(), form_validator(_check_ogm)],
                    widget=BS3TextFieldWidget())


class InvoiceView(StaffModelView):
    datamodel = SQLAInterface(Invoice)
    list_title = _l("Invoices")
    show_title = _l("Invoice")
    add_title = _l("Add an invoice")
    edit_title = _l("Edit invoice")
    show_template = "admin/invoice_show.html"
    label_columns = INVOICE_LABELS
    list_columns = ["number", "customer", "issue_date", "due_date", "total_amount", "open_amount",
                    "status", "structured_reference"]
    search_columns = ["number", "customer", "status", "due_date", "issue_date", "total_amount",
                      "open_amount", "disputed", "dunning_blocked", "structured_reference",
                      "rf_reference"]
    show_fieldsets = [
        (_l("Invoice"), {"fields": ["number", "customer", "issue_date", "due_date", "currency",
                                    "total_amount", "open_amount", "status", "paid_on",
                                    "description"]}),
        (_l("Payment references"), {"fields": ["structured_reference", "rf_reference"]}),
        (_l("Reminders and disputes"), {"fields": ["dunning_level", "last_reminded_on",
                                                   "dunning_fees", "dunning_blocked",
                                                   "dunning_block_reason", "dunning_blocked_by",
                                                   "dunning_blocked_on", "disputed",
                                                   "disputed_amount"]}),
        (_l("History"), {"fields": ["created_at", "updated_at"], "expanded": False}),
    ]
    # Status, open amount and total move money (app.core.money_guard): shown, never typed in
    # here. They follow from payments, credit notes and approved write-offs ("Credit notes and
    # write-offs", under the approval limits); the total of an existing invoice comes from the
    # ERP (import, API), a reduction is a credit note.
    add_columns = ["customer", "number", "issue_date", "due_date", "total_amount",
                   "description", "structured_reference"]
    edit_columns = ["customer", "issue_date", "due_date", "description",
                    "structured_reference", "disputed", "dunning_blocked",
                    "dunning_block_reason"]
    base_order = ("due_date", "asc")
    # Not deleted by people: a receivable given up is a write-off or a credit note.
    base_permissions = ["can_list", "can_show", "can_add", "can_edit"]
    choice_columns = {"status": INVOICE_STATUSES}
    money_columns = ("total_amount", "open_amount", "disputed_amount", "dunning_fees")
    formatters_columns = {"structured_reference": _ogm, "rf_reference": format_rf}
    extra_filters = {"due_date": [FilterOverdueMoreThan, FilterOverdueAtMost, FilterDueWithin],
                     "customer": [FilterCustomerText]}
    # Text boxes: the "days" filters are typed into (dates as YYYY-MM-DD), and a customer is
    # found by number or name without loading every customer into a drop-down.
    search_form_extra_fields = {
        "due_date": text_search_field(INVOICE_LABELS["due_date"],
                                      _l("YYYY-MM-DD, or a number of days")),
        "customer": customer_search_field(),
    }
    add_form_extra_fields = {"structured_reference": ogm_field(
        _l("Leave empty: CreditDesk gives the invoice its own. Fill in only to keep the ERP's."))}
    edit_form_extra_fields = {"structured_reference": ogm_field()}
    related_view_names = ("InvoiceLineView", "AllocationView", "DunningActionInvoiceView")
    # "reason": the reminder block's (exclude_from_reminders), next to its field here.
    service_field_map = {"customer_number": "customer", "reason": "dunning_block_reason"}

    @action("exclude_from_dunning", _l("Exclude from reminders"), icon="fa-bell-slash",
            multiple=False, single=True)
    def exclude_from_dunning(self, item: Invoice):
        """The dunning domain's form: the exclusion needs a reason (app/dunning/views.py)."""
        return redirect(url_for("DunningExclusionView.exclude", invoice_id=item.id))

    def create_from_form(self, form) -> Invoice:
        # upsert_invoice updates an existing number: here only a new invoice is created.
        number = (form.number.data or "").strip()
        if number and db.session.scalar(select(Invoice.id).where(Invoice.number == number)):
            raise v.ValidationError({"number": _(
                "An invoice with number %(number)s already exists.", number=number)})
        invoice, _created = upsert_invoice(clean_invoice(self._service_data(form, number,
                                                                            form.total_amount.data)))
        return invoice

    def update_from_form(self, invoice: Invoice, form) -> Invoice:
        """The invoice rules (app.invoices.services.edit_invoice) apply the edit: the total
        stays, a reminder block needs its reason and records who set it."""
        return edit_invoice(invoice, self._service_data(form, invoice.number,
                                                        invoice.total_amount),
                            disputed=bool(form.disputed.data),
                            reminders_blocked=bool(form.dunning_blocked.data),
                            block_reason=form.dunning_block_reason.data,
                            by=getattr(current_user, "username", None))

    @staticmethod
    def _service_data(form, number: str, total) -> dict:
        customer = form.customer.data
        return {"number": number, "customer_number": customer.number if customer else None,
                "issue_date": form.issue_date.data, "due_date": form.due_date.data,
                "total_amount": total, "description": form.description.data,
                "structured_reference": form.structured_reference.data}


class InvoiceLineView(StaffModelView):
    datamodel = SQLAInterface(InvoiceLine)
    list_title = _l("Invoice lines")
    show_title = _l("Invoice line")
    add_title = _l("Add an invoice line")
    edit_title = _l("Edit invoice line")
    label_columns = {"invoice": _l("Invoice"), "position": _l("Line"),
                     "description": _l("Description"), "quantity": _l("Quantity"),
                     "unit_price": _l("Unit price"), "vat_rate": _l("VAT rate (%)"),
                     "amount": _l("Amount incl. VAT")}
    list_columns = ["position", "description", "quantity", "unit_price", "vat_rate", "amount"]
    search_columns = ["description", "amount"]
    show_columns = ["invoice", "position", "description", "quantity", "unit_price", "vat_rate",
                    "amount"]
    add_columns = edit_columns = ["invoice", "position", "description", "quantity", "unit_price",
                                  "vat_rate", "amount"]
    base_order = ("position", "asc")
    money_columns = ("unit_price", "amount")


def register(appbuilder: AppBuilder) -> None:
    appbuilder.add_view(InvoiceView, "Invoices", label=_l("Invoices"), icon="fa-file-text",
                        category=CATEGORY, category_label=_l("Receivables"))
    appbuilder.add_view_no_menu(InvoiceLineView)
