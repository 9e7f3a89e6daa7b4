"""The names of the rules that place money (stored on statement lines and allocations) and how
people read them: the statement matching rules (app.payments.incoming.matching), matching by
hand, picking, credits applied and our own direct-debit collections.

Shared by every room of payments, so that a list of allocations can say how each was made.
"""
from flask_babel import lazy_gettext as _l

STRUCTURED = "structured_reference"
TEXT_REFERENCE = "reference_in_text"
INVOICE_NUMBER = "invoice_number"
BETALINGSKENMERK = "betalingskenmerk"
END_TO_END = "end_to_end_id"
MANDATE = "mandate"
IBAN_AMOUNT = "iban_and_amount"
IBAN = "known_iban"
AMOUNT = "amount_only"
NAME = "counterparty_name"
RETURN_END_TO_END = "return_end_to_end"
RETURN_MANDATE = "return_mandate"
RULE_LABELS = {
    STRUCTURED: _l("Structured communication or RF reference"),
    TEXT_REFERENCE: _l("Reference typed in the free text"),
    INVOICE_NUMBER: _l("Invoice number in the free text"),
    BETALINGSKENMERK: _l("Dutch payment reference (betalingskenmerk)"),
    END_TO_END: _l("Direct debit: end-to-end id"),
    MANDATE: _l("Direct debit: mandate"),
    IBAN_AMOUNT: _l("Known account and amount"),
    IBAN: _l("Known account"),
    AMOUNT: _l("Same amount"),
    NAME: _l("Similar name"),
    RETURN_END_TO_END: _l("Return: end-to-end id"),
    RETURN_MANDATE: _l("Return: mandate and amount"),
    "manual": _l("Matched by hand"),
    "picked": _l("Invoices ticked by hand"),
    "reference": _l("Reference given"),
    "oldest_first": _l("Oldest invoice first"),
    "credit_applied": _l("Credit applied"),
    "collection_end_to_end": _l("Our direct debit collection"),
    "collection_batch": _l("Our direct debit collection (batch booking)"),
}
