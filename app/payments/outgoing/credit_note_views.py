"""The credit-note list of the back office (Receivables → Credit notes). A credit note is issued
through the approval rules of app.payments.outgoing.adjustments, like the proposals on
"Credit notes and write-offs": the screen reads the form and calls them. It sits with the
adjustments (a credit note books money back through payments), not in app.invoices, which is
below payments (docs/architecture.md).
"""
from __future__ import annotations

from flask import flash
from flask_appbuilder import AppBuilder
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from app.core import validation as v
from app.core.admin import StaffModelView
from app.core.i18n import money
from app.invoices.models import CREDIT_NOTE_STATUSES, CreditNote
from app.payments.outgoing.adjustments import edit_credit_note, issue_credit_note

CATEGORY = "Receivables"


class CreditNoteView(StaffModelView):
    datamodel = SQLAInterface(CreditNote)
    list_title = _l("Credit notes")
    show_title = _l("Credit note")
    add_title = _l("Add a credit note")
    edit_title = _l("Edit credit note")
    label_columns = {"customer": _l("Customer"), "invoice": _l("Invoice"),
                     "number": _l("Credit note number"), "issue_date": _l("Issue date"),
                     "amount": _l("Amount"), "open_amount": _l("Not yet used"),
                     "reason": _l("Reason"), "status": _l("Status"),
                     "approved_by": _l("Approved by"), "approved_at": _l("Approved at"),
                     "created_at": _l("Created at"), "updated_at": _l("Updated at")}
    list_columns = ["number", "customer", "invoice", "issue_date", "amount", "open_amount",
                    "status"]
    search_columns = ["number", "customer", "status", "issue_date", "amount"]
    show_columns = ["number", "customer", "invoice", "issue_date", "amount", "open_amount",
                    "status", "reason", "approved_at", "created_at", "updated_at"]
    # A credit note is issued through the approval rules (adjustments): proposed,
    # then approved at once when the amount is within the user's limit, else waiting for someone
    # whose limit covers it ("Credit notes and write-offs"). Its number, amount and status are
    # never typed in; it is never deleted (a proposed one is rejected there).
    base_permissions = ["can_list", "can_show", "can_add", "can_edit"]
    add_columns = ["customer", "invoice", "issue_date", "amount", "reason"]
    edit_columns = ["issue_date", "reason"]
    base_order = ("issue_date", "desc")
    choice_columns = {"status": CREDIT_NOTE_STATUSES}
    money_columns = ("amount", "open_amount")
    service_field_map = {"customer_number": "customer", "invoice_number": "invoice"}

    def create_from_form(self, form) -> CreditNote:
        if form.customer.data is None:
            raise v.ValidationError({"customer": [_("Choose a customer.")]})
        note, approved = issue_credit_note(form.customer.data, form.amount.data,
                                           form.reason.data, current_user,
                                           invoice=form.invoice.data,
                                           issue_date=form.issue_date.data)
        if not approved:  # within the user's limit it was approved at once
            flash(_("Credit note %(number)s of %(amount)s is above your approval limit: it waits "
                    "for approval by someone whose limit covers it.", number=note.number,
                    amount=money(note.amount)), "warning")
        return note

    def update_from_form(self, note: CreditNote, form) -> CreditNote:
        edit_credit_note(note, form.issue_date.data, form.reason.data)
        return note


def register(appbuilder: AppBuilder) -> None:
    appbuilder.add_view(CreditNoteView, "Credit notes", label=_l("Credit notes"),
                        icon="fa-undo", category=CATEGORY)
