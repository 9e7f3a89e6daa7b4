"""How the copy of a customer's data (app/retention/subject.py) names things, in their language.

One place for every field the export can hold: ``FIELD_LABELS`` (column name -> label),
``TABLE_FIELD_LABELS`` where one name means different things in different tables, and
``code_labels`` for the columns holding a code whose words the models already define (statuses,
kinds, channels...). ``INTERNAL_FIELDS`` are row numbers pointing at other rows or at staff
accounts: kept in the JSON file, left out of the readable PDF where they mean nothing to a
customer. tests/retention/test_subject.py checks that every exported column has a label.
"""
from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l

from app.core.audit_models import ACTOR_TYPES, AUDIT_ACTIONS
from app.customers.models import (
    ADDRESS_KINDS,
    BANK_ACCOUNT_PURPOSES,
    BANK_ACCOUNT_STATUSES,
    CALL_DIRECTIONS,
    CALL_OUTCOMES,
    CONTACT_ROLES,
    COUNTRIES,
    CUSTOMER_KINDS,
    DELIVERY_CHANNELS,
    LANGUAGES,
    LEGAL_STATUSES,
    MANDATE_SEQUENCES,
    MANDATE_STATUSES,
    NOTE_KINDS,
)
from app.customers.models import PAYMENT_METHODS as CUSTOMER_PAYMENT_METHODS
from app.dunning.models import HANDOVER_STATUSES
from app.invoices.models import CREDIT_NOTE_STATUSES, INVOICE_STATUSES
from app.notifications.models import CHANNELS, MESSAGE_STATUSES
from app.payments.incoming.models import STATEMENT_LINE_KINDS, STATEMENT_LINE_STATUSES
from app.payments.models import PAYMENT_METHODS, PAYMENT_STATUSES
from app.payments.online.models import CHECKOUT_STATUSES
from app.payments.outgoing.models import REFUND_SOURCES, REFUND_STATUSES, WRITE_OFF_STATUSES
from app.requests.models import (
    COMMENT_AUTHORS,
    DEFERRAL_STATUSES,
    DISPUTE_REASONS,
    DISPUTE_STATUSES,
    INSTALLMENT_STATUSES,
    PLAN_STATUSES,
    REQUEST_CHANNELS,
    REQUEST_KINDS,
    REQUEST_STATUSES,
)

# The title of each table's section.
SECTION_TITLES = {
    "customer": _l("Your details"), "contact": _l("Contact persons"),
    "address": _l("Addresses"), "bank_account": _l("Bank accounts"),
    "mandate": _l("Direct debit mandates"), "contract": _l("Contracts"),
    "invoice": _l("Invoices"), "invoice_line": _l("Invoice lines"),
    "credit_note": _l("Credit notes"), "payment": _l("Payments"),
    "allocation": _l("Payments applied to invoices"),
    "customer_request": _l("Requests"), "attachment": _l("Attachments"),
    "request_comment": _l("Messages about your requests"),
    "payment_plan": _l("Payment plans"), "installment": _l("Instalments"),
    "deferral": _l("Deferrals"), "dispute": _l("Disputes"),
    "message": _l("Messages we sent you"), "dunning_action": _l("Reminders"),
    "dunning_action_invoice": _l("Invoices in reminders"),
    "portal_access": _l("Sign-ins to the customer area"), "legal_hold": _l("Legal holds"),
    "audit_event": _l("Changes to your data (audit trail)"),
    "statement_line": _l("Bank statement lines"), "customer_note": _l("Notes and calls"),
    "email_change": _l("E-mail address changes"), "sms_code": _l("SMS confirmation codes"),
    "online_checkout": _l("Online payments"),
    "refund": _l("Refunds"), "write_off": _l("Amounts written off"),
    "collection_item": _l("Direct debit collections"),
    "installment_payment": _l("Payments of instalments"),
    "plan_invoice": _l("Invoices in payment plans"), "request_invoice": _l("Invoices in requests"),
    "custapi_key": _l("API keys for your software"), "custapi_webhook": _l("Webhook addresses"),
    "custapi_webhook_attempt": _l("Webhook deliveries"), "custapi_calendar": _l("Calendar feed"),
    "custapi_idempotency": _l("Repeated API requests"), "customer_peppol": _l("Peppol address"),
    "e_document": _l("E-invoices"), "inbound_message": _l("Your e-mail replies"),
    "inbound_attachment": _l("Files in your e-mail replies"),
    "failing_email_address": _l("E-mail addresses that failed"),
    "pay_link": _l("Pay links"), "pay_link_event": _l("Uses of pay links"),
    "reminder_hold": _l("Reminders on hold"),
}

# Row numbers of other rows and of staff accounts; the customer's own id is on the first page.
INTERNAL_FIELDS = frozenset({
    "customer_id", "action_id", "approved_by_id", "assignee_id", "bank_account_id", "batch_id",
    "contact_id", "created_by_id", "credit_note_id", "decided_by_id", "dunning_policy_id",
    "installment_id", "invoice_id", "level_id", "mandate_id", "message_id", "message_ids",
    "payment_id", "plan_id", "print_batch_id", "proposed_by_id", "request_id",
    "return_line_id", "reviewed_by_id", "run_id", "statement_id", "statement_line_id",
    "template_id", "user_id", "entity_id", "dedup_key", "sha256", "pdf_path",
    # customer API, replies, pay links, holds: row numbers, hashes, secrets and mail plumbing
    "key_id", "inbound_id", "pay_link_id", "ref_id", "hold_id", "answer_id",
    "answers_message_id", "dedupe_key", "uid", "uid_validity", "request_hash", "key_hash",
    "secret", "body", "message_id_header", "matched_words", "notes", "xml", "findings",
    "failed_rules", "read_by", "revoked_by", "released_by", "category_by", "tied_by",
    "token_refused", "mailbox", "duration_ms",
})

FIELD_LABELS: dict[str, Any] = {
    "id": _l("Number"),
    # customer API keys and webhooks, Peppol, e-mail replies, pay links
    "last_used_at": _l("Last used"), "last_used_ip": _l("Last used from"),
    "prefix": _l("Key starts with"), "scope": _l("Access"), "use_count": _l("Times used"),
    "consecutive_failures": _l("Failed deliveries in a row"),
    "disabled_at": _l("Switched off on"), "disabled_reason": _l("Why it was switched off"),
    "enabled": _l("Switched on"), "events": _l("Events"), "url": _l("Address"),
    "attempted_at": _l("Sent at"), "ok": _l("Delivered"), "status_code": _l("Answer code"),
    "buyer_reference": _l("Buyer reference"), "endpoint_scheme": _l("Peppol address scheme"),
    "reachable": _l("Reachable on Peppol"), "reachable_checked_at": _l("Reachability checked on"),
    "ap_message_id": _l("Access point message id"), "ap_status": _l("Access point status"),
    "direction": _l("Direction"), "doc_type": _l("Document type"), "sender": _l("From"),
    "address": _l("E-mail address"), "bounces": _l("Bounces"), "cleared_at": _l("Cleared on"),
    "cleared_by": _l("Cleared by"), "awaits": _l("Waiting for"),
    "first_failed_at": _l("First failed on"), "last_failed_at": _l("Last failed on"),
    "refusal": _l("Why the file was refused"), "category": _l("What it is about"),
    "full_text": _l("Full text"), "read_at": _l("Read on"), "received_at": _l("Received on"),
    "sender_name": _l("Sender name"),
    "action": _l("Action"),
    "active_from": _l("Active from"),
    "actor": _l("Who"),
    "actor_type": _l("Who (kind)"),
    "advanced": _l("Moved to the next level"),
    "amount": _l("Amount"),
    "amount_due": _l("Amount due"),
    "anonymised_at": _l("Anonymised at"),
    "approved_at": _l("Approved at"),
    "at": _l("When"),
    "attachments": _l("Attachments"),
    "attempts": _l("Attempts"),
    "author": _l("Written by"),
    "balance": _l("Balance"),
    "bank_reference": _l("Bank reference"),
    "bic": _l("BIC"),
    "body_text": _l("Text"),
    "booking_date": _l("Booking date"),
    "broken_on": _l("Broken on"),
    "call_direction": _l("Call"),
    "call_outcome": _l("Call outcome"),
    "changed_fields": _l("Changed fields"),
    "channel": _l("Channel"),
    "channels": _l("Channels"),
    "checkout_url": _l("Payment page"),
    "city": _l("City"),
    "closed_at": _l("Closed at"),
    "communication": _l("Communication"),
    "confidence": _l("Match confidence"),
    "consumed": _l("Credits used"),
    "content_type": _l("Type"),
    "counterparty_bic": _l("Payer's BIC"),
    "counterparty_iban": _l("Payer's IBAN"),
    "counterparty_name": _l("Paid by"),
    "country": _l("Country"),
    "created_at": _l("Created at"),
    "creditor_id": _l("Creditor identifier"),
    "currency": _l("Currency"),
    "day_of_month": _l("Day of the month"),
    "days_late": _l("Days late"),
    "decided_at": _l("Decided at"),
    "decision_note": _l("Decision note"),
    "delivery_channel": _l("Delivery channel"),
    "description": _l("Description"),
    "detail": _l("Detail"),
    "disputed": _l("Disputed"),
    "disputed_amount": _l("Disputed amount"),
    "due_date": _l("Due date"),
    "dunning_block_reason": _l("Why reminders are blocked"),
    "dunning_blocked": _l("Reminders blocked"),
    "dunning_blocked_by": _l("Reminders blocked by"),
    "dunning_blocked_on": _l("Reminders blocked on"),
    "dunning_fees": _l("Reminder fees"),
    "dunning_fees_from": _l("Reminder fees from"),
    "dunning_level": _l("Reminder level"),
    "dunning_pause_reason": _l("Why reminders are paused"),
    "dunning_paused_until": _l("Reminders paused until"),
    "effective_on": _l("Effective on"),
    "email": _l("E-mail"),
    "end_to_end_id": _l("Transaction reference"),
    "entity": _l("Record"),
    "error": _l("Last error"),
    "event": _l("Event"),
    "expires_at": _l("Expires at"),
    "explanation": _l("Explanation"),
    "exported_at": _l("Exported at"),
    "external_id": _l("External id"),
    "fee_amount": _l("Fee"),
    "fees": _l("Fees"),
    "file_name": _l("File name"),
    "free_text": _l("Free text"),
    "handed_over_at": _l("Handed over at"),
    "handover_error": _l("Hand-over problem"),
    "handover_plugin": _l("Handed over to"),
    "handover_reference": _l("Hand-over reference"),
    "handover_status": _l("Hand-over status"),
    "holder": _l("Account holder"),
    "iban": _l("IBAN"),
    "installment_count": _l("Number of instalments"),
    "invoice_ids": _l("Invoices"),
    "invoices": _l("Invoices"),
    "ip": _l("From (IP)"),
    "is_reversal": _l("Reversal"),
    "issue_date": _l("Issue date"),
    "kind": _l("Kind"),
    "language": _l("Language"),
    "last_collection_on": _l("Last collection"),
    "last_reminded_on": _l("Last reminded on"),
    "last_reminder_effective_on": _l("Last reminder effective on"),
    "legal_status": _l("Legal status"),
    "level_sequence": _l("Reminder level"),
    "line1": _l("Street"),
    "line2": _l("Address line 2"),
    "mandate_reference": _l("Mandate reference"),
    "mandate_text": _l("Mandate text"),
    "match_confidence": _l("Match confidence"),
    "match_rule": _l("Matched by"),
    "message": _l("Message"),
    "method": _l("Payment method"),
    "name": _l("Name"),
    "national_number": _l("National register number"),
    "new_due_date": _l("New due date"),
    "new_email": _l("New e-mail address"),
    "next_attempt_at": _l("Next attempt at"),
    "note": _l("Note"),
    "notified_at": _l("Notified at"),
    "number": _l("Number"),
    "old_email": _l("Previous e-mail address"),
    "open_amount": _l("Open amount"),
    "original_due_date": _l("Original due date"),
    "paid_amount": _l("Paid amount"),
    "paid_at": _l("Paid at"),
    "paid_on": _l("Paid on"),
    "paused_until": _l("Reminders paused until"),
    "payload": _l("Details"),
    "payment_method": _l("Payment method"),
    "phone": _l("Phone"),
    "portal_access": _l("Access to the customer area"),
    "position": _l("Line"),
    "postal_code": _l("Postal code"),
    "preferred_payment_day": _l("Preferred payment day"),
    "provider": _l("Provider"),
    "provider_id": _l("Provider's id"),
    "provider_message_id": _l("Provider's id"),
    "provider_status": _l("Status at the provider"),
    "purpose": _l("Purpose"),
    "quantity": _l("Quantity"),
    "reason": _l("Reason"),
    "received_on": _l("Received on"),
    "recipient": _l("Recipient"),
    "reference": _l("Reference"),
    "referral_reason": _l("Why it needs a person"),
    "referral_codes": _l("Why it needs a person (codes)"),
    "subject_code": _l("Subject (code)"),
    "relationship_ended_on": _l("Relationship ended on"),
    "released_at": _l("Released at"),
    "renewal_date": _l("Renewal date"),
    "renewal_notice_sent_at": _l("Renewal notice sent at"),
    "retired_at": _l("No longer used since"),
    "return_reason": _l("Return reason"),
    "returned_at": _l("Returned at"),
    "reversal_reason": _l("Why it was reversed"),
    "reversed_at": _l("Reversed at"),
    "reviewed_at": _l("Reviewed at"),
    "revoked_at": _l("Revoked at"),
    "rf_reference": _l("RF reference"),
    "risk_flags": _l("Risk flags"),
    "role": _l("Role"),
    "rule": _l("Rule"),
    "run_date": _l("Run date"),
    "satisfaction_at": _l("Rated at"),
    "satisfaction_comment": _l("Satisfaction comment"),
    "satisfaction_score": _l("Satisfaction (0-10)"),
    "scheme": _l("Scheme"),
    "sending_started_at": _l("Sending started at"),
    "sent_at": _l("Sent at"),
    "sequence": _l("Sequence"),
    "signature_consent": _l("Signature consent"),
    "signature_ip": _l("Signed from (IP)"),
    "signature_name": _l("Signed by"),
    "signature_user_agent": _l("Signed with browser"),
    "signed_at": _l("Signature time"),
    "signed_on": _l("Signed on"),
    "signed_place": _l("Signed at (place)"),
    "size": _l("Size (bytes)"),
    "sla_due_at": _l("Answer due by"),
    "sms_reminders": _l("SMS reminders"),
    "source": _l("Source"),
    "start_date": _l("Start date"),
    "status": _l("Status"),
    "structured_reference": _l("Structured communication"),
    "subject": _l("Subject"),
    "suggestion": _l("Suggestion"),
    "target": _l("Page"),
    "text": _l("Text"),
    "total_amount": _l("Total amount"),
    "transaction_code": _l("Transaction code"),
    "unallocated_amount": _l("Amount not yet applied"),
    "unit_price": _l("Unit price"),
    "until": _l("Until"),
    "updated_at": _l("Updated at"),
    "used_at": _l("Used at"),
    "user_name": _l("Written by"),
    "value_date": _l("Value date"),
    "vat_number": _l("VAT number"),
    "vat_rate": _l("VAT rate (%)"),
    "verified_at": _l("Verified at"),
}

# Where one column name means something else in one table.
TABLE_FIELD_LABELS: dict[tuple[str, str], Any] = {
    ("customer_peppol", "endpoint_id"): _l("Peppol address"),
    ("custapi_webhook_attempt", "endpoint_id"): _l("Webhook address number"),
    ("customer", "number"): _l("Customer number"),
    ("invoice", "number"): _l("Invoice number"),
    ("credit_note", "number"): _l("Credit note number"),
    ("contract", "reference"): _l("Contract reference"),
    ("mandate", "reference"): _l("Mandate reference"),
    ("mandate", "sequence"): _l("Type of mandate"),
    ("installment", "sequence"): _l("Instalment"),
    ("audit_event", "action"): _l("Did"),
    ("audit_event", "entity"): _l("Record type"),
}


# What a reminder hold waits for (app.dunning.holds.AWAITED), in words.
HOLD_AWAITS = {"paid": _l("A payment"), "more_time": _l("A deferral or a payment plan"),
               "dispute": _l("A dispute"), "details": _l("A change of details")}


def code_labels() -> dict[tuple[str | None, str], dict]:
    """(table, column) -> {code: label}; table None: that column in every table."""
    return {
        (None, "language"): LANGUAGES,
        (None, "country"): COUNTRIES,
        ("customer", "kind"): CUSTOMER_KINDS,
        ("customer", "delivery_channel"): DELIVERY_CHANNELS,
        ("customer", "payment_method"): CUSTOMER_PAYMENT_METHODS,
        ("customer", "legal_status"): LEGAL_STATUSES,
        ("contact", "role"): CONTACT_ROLES,
        ("address", "kind"): ADDRESS_KINDS,
        ("bank_account", "purpose"): BANK_ACCOUNT_PURPOSES,
        ("bank_account", "status"): BANK_ACCOUNT_STATUSES,
        ("mandate", "status"): MANDATE_STATUSES,
        ("mandate", "sequence"): MANDATE_SEQUENCES,
        ("customer_note", "kind"): NOTE_KINDS,
        ("customer_note", "call_direction"): CALL_DIRECTIONS,
        ("customer_note", "call_outcome"): CALL_OUTCOMES,
        ("invoice", "status"): INVOICE_STATUSES,
        ("credit_note", "status"): CREDIT_NOTE_STATUSES,
        ("payment", "method"): PAYMENT_METHODS,
        ("payment", "status"): PAYMENT_STATUSES,
        ("statement_line", "status"): STATEMENT_LINE_STATUSES,
        ("statement_line", "kind"): STATEMENT_LINE_KINDS,
        ("customer_request", "kind"): REQUEST_KINDS,
        ("customer_request", "status"): REQUEST_STATUSES,
        ("customer_request", "channel"): REQUEST_CHANNELS,
        ("request_comment", "author"): COMMENT_AUTHORS,
        ("payment_plan", "status"): PLAN_STATUSES,
        ("installment", "status"): INSTALLMENT_STATUSES,
        ("deferral", "status"): DEFERRAL_STATUSES,
        ("dispute", "status"): DISPUTE_STATUSES,
        ("dispute", "reason"): DISPUTE_REASONS,
        ("message", "channel"): CHANNELS,
        ("message", "status"): MESSAGE_STATUSES,
        ("dunning_action", "handover_status"): HANDOVER_STATUSES,
        ("online_checkout", "status"): CHECKOUT_STATUSES,
        ("refund", "status"): REFUND_STATUSES,
        ("refund", "source"): REFUND_SOURCES,
        ("write_off", "status"): WRITE_OFF_STATUSES,
        ("audit_event", "actor_type"): ACTOR_TYPES,
        ("audit_event", "action"): AUDIT_ACTIONS,
        ("audit_event", "entity"): SECTION_TITLES,
        ("reminder_hold", "awaits"): HOLD_AWAITS,
    }


def field_label(table: str, field: str) -> Any:
    """The label of a column (lazy); the column name itself only for a column added later
    without one (the test on every exported column catches that)."""
    return TABLE_FIELD_LABELS.get((table, field)) or FIELD_LABELS.get(field) \
        or field.replace("_", " ")


def value_label(table: str, field: str, value: Any, codes: dict | None = None) -> Any:
    """A code in words where the models name it; yes/no for booleans; else the value."""
    if isinstance(value, bool):
        return _l("Yes") if value else _l("No")
    codes = codes if codes is not None else code_labels()
    names = codes.get((table, field)) or codes.get((None, field))
    if names and isinstance(value, str) and value in names:
        return names[value]
    return value


def row_cells(table: str, row: dict, codes: dict | None = None) -> list[tuple[Any, Any]]:
    """[(label, value in words)] of one exported row: empty values and internal fields left
    out; an audit event's changed fields named by their labels in the table it changed."""
    codes = codes if codes is not None else code_labels()
    cells = []
    for key, value in row.items():
        if key in INTERNAL_FIELDS or value in (None, "", [], {}):
            continue
        if table == "audit_event" and key == "changed_fields" and isinstance(value, list):
            entity = str(row.get("entity") or "")
            value = ", ".join(str(field_label(entity, str(name))) for name in value
                              if name not in INTERNAL_FIELDS)
        else:
            value = value_label(table, key, value, codes)
        cells.append((field_label(table, key), value))
    return cells
