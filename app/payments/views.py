"""Back office lists of payments and their allocations to invoices (FAB model views), and the
formatting the payment screens share (references, matching rules, payer IBAN search).

Bank statements, the cash screen and the matching queue are app.payments.incoming.views and
queue_views. Every change goes through app.payments.services.
"""
from __future__ import annotations

from flask import url_for
from flask_appbuilder import AppBuilder
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from markupsafe import Markup

from app.core.admin import (
    FilterCustomerText,
    FilterIbanHash,
    ReadOnlyModelView,
    StaffModelView,
    customer_search_field,
    may,
)
from app.invoices.references import format_ogm, is_valid_ogm, normalise_ogm
from app.payments.models import PAYMENT_METHODS, PAYMENT_STATUSES, Allocation, Payment
from app.payments.rules import RULE_LABELS
from app.payments.services import (
    clean_payment,
    post_payment,
)

CATEGORY = "Receivables"


def reference_text(value) -> str:
    return format_ogm(normalise_ogm(value)) if value and is_valid_ogm(value) else (value or "")


def rule_label(value) -> str:
    return str(RULE_LABELS.get(value, value or ""))


def search_counterparty_iban_by_hash(view) -> None:
    """FAB's text filters would compare ciphertext: the counterparty IBAN is searched by its
    keyed hash only (as BankAccountView's IBAN)."""
    for registry in (view._filters._search_filters, view._filters._all_filters):
        registry["counterparty_iban"] = [FilterIbanHash("counterparty_iban",
                                                                view.datamodel)]


class PaymentView(StaffModelView):
    """Money received. Booked through the payment rules; a booked payment is not edited or
    deleted here (a bank return or a reversal is how money goes back)."""

    datamodel = SQLAInterface(Payment)
    base_permissions = ["can_list", "can_show", "can_add"]
    list_title = _l("Payments")
    show_title = _l("Payment")
    add_title = _l("Book a payment")
    label_columns = {
        "customer": _l("Customer"), "received_on": _l("Received on"), "amount": _l("Amount"),
        "currency": _l("Currency"), "unallocated_amount": _l("Not allocated"),
        "method": _l("Method"), "status": _l("Status"), "communication": _l("Communication"),
        "counterparty_name": _l("Paid by"), "counterparty_iban": _l("Payer's IBAN"),
        "external_id": _l("External id"), "created_at": _l("Created at"),
        "updated_at": _l("Updated at"), "returned_at": _l("Returned on"),
        "return_reason": _l("Return reason"), "statement_line": _l("Statement line"),
    }
    list_columns = ["received_on", "customer", "amount", "unallocated_amount", "method", "status",
                    "communication"]
    search_columns = ["received_on", "customer", "amount", "unallocated_amount", "method",
                      "status", "communication", "counterparty_name", "counterparty_iban",
                      "external_id"]
    show_columns = ["received_on", "customer", "amount", "currency", "unallocated_amount",
                    "method", "status", "communication", "counterparty_name",
                    "counterparty_iban", "external_id", "returned_at", "return_reason",
                    "created_at"]
    add_columns = ["customer", "received_on", "amount", "method", "communication",
                   "counterparty_name", "counterparty_iban", "external_id"]
    base_order = ("received_on", "desc")
    choice_columns = {"method": PAYMENT_METHODS, "status": PAYMENT_STATUSES}
    money_columns = ("amount", "unallocated_amount")
    formatters_columns = {"communication": reference_text}
    extra_filters = {"customer": [FilterCustomerText]}
    search_form_extra_fields = {"customer": customer_search_field()}
    description_columns = {
        "communication": _l("The invoice number, structured communication or RF reference the "
                            "customer gave: the payment goes to that invoice first, then to the "
                            "oldest open ones."),
    }
    related_view_names = ("AllocationView",)
    service_field_map = {"customer_number": "customer", "invoice_number": "communication",
                         "reference": "communication"}

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        search_counterparty_iban_by_hash(self)

    def create_from_form(self, form) -> Payment:
        customer = form.customer.data
        payment, _created = post_payment(clean_payment({
            "customer_number": customer.number if customer else None,
            "reference": form.communication.data,
            "amount": form.amount.data,
            "received_on": form.received_on.data,
            "method": form.method.data,
            "external_id": form.external_id.data,
            "counterparty_name": form.counterparty_name.data,
            "counterparty_iban": form.counterparty_iban.data,
        }))
        return payment


def _reversed_or_undo(allocation) -> str | Markup:
    if allocation.reversed_at is not None:
        from app.core.admin import timestamp

        return timestamp(allocation.reversed_at)
    if may("can_match", "MatchingQueueView"):
        return Markup('<a class="btn btn-xs btn-default" href="%s">%s</a>') % (
            url_for("MatchingQueueView.undo", allocation_id=allocation.id), _("Undo…"))
    return ""


class AllocationView(ReadOnlyModelView):
    datamodel = SQLAInterface(Allocation)
    list_title = _l("Allocations")
    show_title = _l("Allocation")
    label_columns = {
        "payment": _l("Payment"), "credit_note": _l("Credit note"), "invoice": _l("Invoice"),
        "amount": _l("Amount"), "rule": _l("Matched by"), "confidence": _l("Confidence"),
        "created_at": _l("Allocated at"), "reversed_at": _l("Reversed at"),
        "reversal_reason": _l("Why reversed"), "undo_state": _l("Reversed at"),
    }
    list_columns = ["created_at", "invoice", "payment", "credit_note", "amount", "rule",
                    "undo_state"]
    search_columns = ["amount", "rule", "created_at", "reversed_at"]
    show_columns = ["invoice", "payment", "credit_note", "amount", "rule", "confidence",
                    "created_at", "reversed_at", "reversal_reason"]
    base_order = ("created_at", "desc")
    money_columns = ("amount",)
    # undo_state is the allocation itself: shown as when it was undone, or an Undo button.
    formatters_columns = {"rule": rule_label, "undo_state": _reversed_or_undo}


def register(appbuilder: AppBuilder) -> None:
    appbuilder.add_view(PaymentView, "Payments", label=_l("Payments"), icon="fa-money",
                        category=CATEGORY, category_label=_l("Receivables"))
    appbuilder.add_view(AllocationView, "Allocations", label=_l("Allocations"),
                        icon="fa-link", category=CATEGORY)
