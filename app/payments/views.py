"""Back office screens for payments, their allocation to invoices, and bank statements.

The lists here (FAB model views); the statement work (import, cash screen, queue, matching by
hand, undo) is in app.payments.incoming.views. Every change goes through
app.payments.services.
"""
from __future__ import annotations

from flask import current_app, url_for
from flask_appbuilder import AppBuilder
from flask_appbuilder.models.filters import BaseFilter
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from markupsafe import Markup

from app.core.admin import (
    FilterCustomerText,
    ReadOnlyModelView,
    StaffModelView,
    customer_search_field,
)
from app.core.crypto import iban_hash
from app.payments.incoming.matching import RULE_LABELS
from app.payments.incoming.models import (
    STATEMENT_LINE_KINDS,
    STATEMENT_LINE_STATUSES,
    BankStatement,
    StatementLine,
)
from app.payments.models import PAYMENT_METHODS, PAYMENT_STATUSES, Allocation, Payment
from app.payments.references import format_ogm, is_valid_ogm, normalise_ogm
from app.payments.services import (
    clean_payment,
    post_payment,
)

CATEGORY = "Receivables"


def _reference(value) -> str:
    return format_ogm(normalise_ogm(value)) if value and is_valid_ogm(value) else (value or "")


def _rule(value) -> str:
    return str(RULE_LABELS.get(value, value or ""))


def _may(permission: str, view: str) -> bool:
    return current_app.appbuilder.sm.has_access(permission, view)


class FilterCounterpartyIban(BaseFilter):
    """Rows paid from this IBAN, typed any way: the IBAN is encrypted, its hash is compared."""

    name = _l("Is (spaces and case do not matter)")
    arg_name = "iban_is"

    def apply(self, query, value):
        digest = iban_hash(value)
        if digest is None:
            return query
        return query.filter(self.model.iban_hash == digest)


def _search_counterparty_iban_by_hash(view) -> None:
    """FAB's text filters would compare ciphertext: the counterparty IBAN is searched by its
    keyed hash only (as BankAccountView's IBAN)."""
    for registry in (view._filters._search_filters, view._filters._all_filters):
        registry["counterparty_iban"] = [FilterCounterpartyIban("counterparty_iban",
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
    formatters_columns = {"communication": _reference}
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
        _search_counterparty_iban_by_hash(self)

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
    if _may("can_match", "MatchingQueueView"):
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
    formatters_columns = {"rule": _rule, "undo_state": _reversed_or_undo}


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
    formatters_columns = {"structured_reference": _reference, "match_rule": _rule}

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        _search_counterparty_iban_by_hash(self)


def register(appbuilder: AppBuilder) -> None:
    from app.payments.incoming.views import CashView, ImportStatementView, MatchingQueueView

    appbuilder.add_view(PaymentView, "Payments", label=_l("Payments"), icon="fa-money",
                        category=CATEGORY, category_label=_l("Receivables"))
    appbuilder.add_view(CashView, "Cash", label=_l("Cash"), icon="fa-eur", category=CATEGORY)
    appbuilder.add_view(MatchingQueueView, "Payments to match", label=_l("Payments to match"),
                        icon="fa-random", category=CATEGORY)
    appbuilder.add_view(ImportStatementView, "ImportStatement",
                        label=_l("Import a bank statement"), icon="fa-upload",
                        category=CATEGORY)
    appbuilder.add_view(AllocationView, "Allocations", label=_l("Allocations"),
                        icon="fa-link", category=CATEGORY)
    appbuilder.add_view(BankStatementView, "Bank statements", label=_l("Bank statements"),
                        icon="fa-bank", category=CATEGORY)
    appbuilder.add_view(StatementLineView, "Statement lines", label=_l("Statement lines"),
                        icon="fa-list", category=CATEGORY)
