"""Every message event and the variables its templates may use, with a sample of each.

One registry for three users: the template editor lists an event's variables beside the text,
the live preview renders with the samples (in the template's language and channel), and saving
refuses a template that uses a variable the event does not have (app.notifications.editing).
The code that sends each event (app.notifications.services, app.dunning.messages) passes
exactly these variables; tests/notifications/test_template_validation.py checks it.

A template key that is not one of these events is a reminder: dunning levels name their
template by key, and every reminder gets the dunning variables (``DUNNING``).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from app.core.i18n import language_locale
from app.core.time import business_today

# What every message gets (app.notifications.outbox.queue_message adds them).
COMMON = ("customer", "company", "portal_url")
# What an e-mail's HTML part gets besides: the rendered text and subject.
HTML_ONLY = ("text_body", "subject")

HELP = {
    "customer": _l("The customer: name, number, contact_name (whom we greet), email, language, "
                   "is_business, balance."),
    "company": _l("Your company: name, address, phone, email, iban, bic, vat_number, "
                  "enterprise_number."),
    "portal_url": _l("Link to the customer's portal (the page the message is about)."),
    "text_body": _l("HTML part only: the text part, rendered (use |paragraphs)."),
    "subject": _l("The subject (HTML part); in request comments, the request's subject."),
    "payment_amount": _l("Amount of the payment."),
    "payment_date": _l("Date of the payment."),
    "balance": _l("What the customer still owes in total."),
    "invoices": _l("List of invoices; each has number, amount, open_amount (reminders: also "
                   "due_date, days_late, fees, total, reference...)."),
    "is_direct_debit": _l("Yes when the payment was a direct debit."),
    "return_reason": _l("Why the bank sent the payment back: insufficient_funds, "
                        "account_closed, account_blocked, account_invalid, no_mandate, "
                        "refund_requested, refused, or empty."),
    "return_reason_code": _l("The bank's return code (e.g. AM04)."),
    "open_amount": _l("Amount still open."),
    "structured_reference": _l("Structured communication to pay with."),
    "settled_on": _l("Date the account was settled."),
    "mandate_reference": _l("Reference of the direct debit mandate."),
    "iban_masked": _l("Bank account, partly hidden (BE** **** **** 7931)."),
    "request_number": _l("Number of the customer's request."),
    "request_kind": _l("Kind of request (code, e.g. deferral)."),
    "request_kind_label": _l("Kind of request, in the customer's language."),
    "answer_by": _l("Date by which we answer."),
    "approved": _l("Yes when the request was approved."),
    "decision_note": _l("Note given with the decision (may be empty)."),
    "invoice_number": _l("Invoice number."),
    "original_due_date": _l("The invoice's original due date."),
    "new_due_date": _l("The new due date."),
    "plan_total": _l("Total of the payment plan."),
    "installment_count": _l("Number of instalments."),
    "installments": _l("List of instalments; each has sequence, due_date, amount, reference."),
    "first_due_date": _l("Due date of the first instalment."),
    "installment_sequence": _l("Which instalment this is (1, 2, ...)."),
    "installment_amount": _l("Amount of the instalment still to pay."),
    "installment_due_date": _l("Due date of the instalment."),
    "missed_amount": _l("Amount of the missed instalment."),
    "login_url": _l("The sign-in link."),
    "valid_minutes": _l("Minutes the link or code stays valid."),
    "new_email": _l("The new e-mail address."),
    "confirm_url": _l("Link that confirms the new address."),
    "valid_hours": _l("Hours the link stays valid."),
    "contract_reference": _l("Contract reference."),
    "contract_description": _l("What the contract is for."),
    "renewal_date": _l("Date the contract renews."),
    "notice_deadline": _l("Last day to give notice."),
    "comment_text": _l("What staff wrote to the customer."),
    "cooloff_ends_on": _l("Date the new account can be used for refunds."),
    "code": _l("The confirmation code."),
    "collection_date": _l("Date of the direct debit collection."),
    "amount": _l("Amount to be collected."),
    "invoice_numbers": _l("List of the invoice numbers collected."),
    "creditor_id": _l("Your SEPA creditor identifier."),
    "proposals": _l("List of what is offered: due_date, direct_debit, plan."),
    "propose_due_date": _l("Yes when a payment day of their choice is offered."),
    "propose_direct_debit": _l("Yes when direct debit is offered."),
    "propose_plan": _l("Yes when a payment plan is offered."),
    "deleted": _l("List of what was erased."),
    "kept": _l("List of what is kept; each has what, why, until."),
    # reminders (app.dunning.messages.message_context)
    "run_date": _l("Date of the dunning run."),
    "level": _l("The dunning level: name, sequence, tone."),
    "invoice_count": _l("Number of invoices in the reminder."),
    "total_due": _l("Total overdue, without fees."),
    "total_fees": _l("Total fees and interest claimed now."),
    "total_with_fees": _l("Total to pay, fees included."),
    "fixed_fee": _l("Fixed fee of this level."),
    "interest_rate": _l("Highest yearly interest rate charged (text, empty if none)."),
    "currency": _l("Currency code (EUR)."),
    "received_on": _l("Day the message counts as received."),
    "deadline": _l("Last day to pay before the next step."),
    "next_fees": _l("Fees the next step will claim if unpaid."),
    "next_rate": _l("Interest rate of the next step (text)."),
    "next_level": _l("Name of the next step."),
    "payment": _l("How to pay: iban, bic, beneficiary, reference (one invoice only)."),
    "pay_url": _l("Pay link: opens what this message asks to pay, without signing in (pay "
                    "online, bank details and QR code, more time, instalments)."),
    "plan_url": _l("Link to ask for a payment plan."),
    # answers to customers' e-mail replies (app.inbound.actions)
    "category": _l("What the reply is about: paid, dispute, more_time, details."),
    "action_url": _l("Link to the portal page that settles it."),
    "reply_subject": _l("Subject of the customer's reply."),
}


@dataclass(frozen=True)
class Event:
    key: str
    label: Any  # lazy string
    variables: tuple[str, ...]  # besides COMMON

    def names(self, html: bool = False) -> frozenset[str]:
        """Every variable a template of this event may use."""
        return frozenset(COMMON + self.variables + (HTML_ONLY if html else ()))

    def listed(self, html: bool = True) -> list[tuple[str, str]]:
        """(name, help) for the editor, the event's own first."""
        names = self.variables + COMMON + (HTML_ONLY if html else ())
        return [(name, str(HELP[name])) for name in dict.fromkeys(names)]


_REQUEST = ("request_number", "request_kind", "request_kind_label")
_DEFERRAL = ("invoice_number", "open_amount", "original_due_date", "new_due_date",
             "structured_reference")

EVENTS: dict[str, Event] = {e.key: e for e in (
    Event("payment_received", _l("Payment received"),
          ("payment_amount", "payment_date", "invoices", "balance")),
    Event("payment_returned", _l("Payment returned by the bank"),
          ("payment_amount", "payment_date", "is_direct_debit", "return_reason",
           "return_reason_code", "invoices", "open_amount", "structured_reference")),
    Event("account_settled", _l("Account settled"), ("settled_on",)),
    Event("mandate_active", _l("Direct debit mandate active"),
          ("mandate_reference", "iban_masked")),
    Event("request_received", _l("Request received"), (*_REQUEST, "answer_by")),
    Event("request_decided", _l("Request decided"), (*_REQUEST, "approved", "decision_note")),
    Event("request_comment", _l("Message on a request"), (*_REQUEST, "subject", "comment_text")),
    Event("deferral_approved", _l("Deferral approved"), _DEFERRAL),
    Event("promise_broken", _l("Promise to pay broken"), (*_DEFERRAL, "pay_url")),
    Event("plan_approved", _l("Payment plan approved"),
          ("plan_total", "installment_count", "installments", "first_due_date")),
    Event("instalment_due", _l("Instalment coming due"),
          ("installment_sequence", "installment_count", "installment_amount",
           "installment_due_date", "structured_reference", "pay_url")),
    Event("plan_broken", _l("Payment plan broken"),
          ("plan_total", "missed_amount", "open_amount", "pay_url")),
    Event("magic_link", _l("Sign-in link"), ("login_url", "valid_minutes")),
    Event("email_change_confirmation", _l("Confirm a new e-mail address"),
          ("new_email", "confirm_url", "valid_hours")),
    Event("email_changed_notice", _l("E-mail address changed"), ("new_email",)),
    Event("contract_renewal", _l("Contract renewal"),
          ("contract_reference", "contract_description", "renewal_date", "notice_deadline")),
    Event("refund_account_changed", _l("Refund account changed"),
          ("iban_masked", "cooloff_ends_on")),
    Event("refund_account_staff_alert", _l("Refund account changed (alert to staff)"),
          ("iban_masked", "cooloff_ends_on", "request_number")),
    Event("sms_confirmation_code", _l("SMS confirmation code"), ("code", "valid_minutes")),
    Event("direct_debit_notice", _l("Direct debit pre-notification"),
          ("mandate_reference", "iban_masked", "collection_date", "amount", "invoice_numbers",
           "creditor_id")),
    Event("risk_proposal", _l("Offer of help (payment risk)"),
          ("proposals", "propose_due_date", "propose_direct_debit", "propose_plan", "balance")),
    Event("erasure_done", _l("Personal data erased"), ("request_number", "deleted", "kept")),
    Event("reply_answer", _l("Answer to a customer's e-mail reply"),
          ("category", "action_url", "reply_subject")),
)}

DUNNING = Event("dunning", _l("Reminder (named by a dunning level)"), (
    "run_date", "level", "invoices", "invoice_count", "total_due", "total_fees",
    "total_with_fees", "fixed_fee", "interest_rate", "currency", "received_on", "deadline",
    "next_fees", "next_rate", "next_level", "payment", "pay_url", "plan_url"))


def event_for(key: str | None) -> Event:
    """The event a template key belongs to; any other key is a reminder's."""
    return EVENTS.get(key or "", DUNNING)


# --- samples -------------------------------------------------------------------------------------

# A reminder template's sample values come from the package that sends reminders, above this
# one: app.dunning.messages registers its provider (register_reminder_samples) when imported,
# and app.backoffice imports it at start. A provider gets the template key and its language and
# returns values for the DUNNING variables (the level that names the key, when there is one).
_REMINDER_SAMPLES: list = []


def register_reminder_samples(provider) -> None:
    """Add (once) a provider of sample values for reminder templates."""
    if provider not in _REMINDER_SAMPLES:
        _REMINDER_SAMPLES.append(provider)


def _link(path: str) -> str:
    from app.notifications.context import public_url

    return public_url(path)


def sample_customer(language: str) -> dict[str, Any]:
    """A made-up customer, for a preview without a real one."""
    return {"name": "Marie Dupont", "number": "C-000123", "language": language,
            "kind": "person", "is_business": False, "email": "marie.dupont@example.com",
            "contact_name": "Marie Dupont", "balance": Decimal("250.00")}


def _samples(key: str, language: str, channel: str, today: date) -> dict[str, Any]:
    """Believable values, in the template's language, for every variable any event has."""
    from app.core.settings import get_setting
    from app.requests.models import REQUEST_KINDS

    reference = "+++090/9337/55493+++"
    installments = [{"sequence": n, "due_date": today + timedelta(days=30 * n),
                     "amount": Decimal("50.00"), "reference": reference} for n in (1, 2, 3)]
    paid_invoices = [{"number": "INV-2026-0141", "amount": Decimal("125.00"),
                      "open_amount": Decimal("0.00")},
                     {"number": "INV-2026-0158", "amount": Decimal("75.00"),
                      "open_amount": Decimal("49.50")}]
    with force_locale(language_locale(language)):
        kind_label = str(REQUEST_KINDS["deferral"])
        # what an erasure typically removes (retention's data categories send the real list)
        deleted = [_("Portal access records (sessions, IP addresses)"),
                   _("Sign-in links and tokens")]
        kept = [{"what": _("Your invoices and payments, with the name and address printed "
                           "on them"), "why": _("Accounting law"),
                 "until": today + timedelta(days=7 * 365)}]
        request_subject = _("Question about invoice %(number)s", number="INV-2026-0158")
        comment_text = _("Please find a copy of the invoice attached.")
        contract_description = _("Maintenance contract")
    samples: dict[str, Any] = {
        "payment_amount": Decimal("125.00"), "payment_date": today - timedelta(days=1),
        "balance": Decimal("49.50"), "invoices": paid_invoices, "is_direct_debit": True,
        "return_reason": "insufficient_funds", "return_reason_code": "AM04",
        "open_amount": Decimal("125.00"), "structured_reference": reference,
        "settled_on": today, "mandate_reference": "CD-000042",
        "iban_masked": "BE** **** **** 7931", "request_number": "1042",
        "request_kind": "deferral", "request_kind_label": kind_label,
        "answer_by": today + timedelta(days=2), "approved": True,
        "decision_note": "", "invoice_number": "INV-2026-0158",
        "original_due_date": today - timedelta(days=5), "new_due_date": today + timedelta(days=25),
        "plan_total": Decimal("150.00"), "installment_count": 3, "installments": installments,
        "first_due_date": installments[0]["due_date"], "installment_sequence": 1,
        "installment_amount": Decimal("50.00"), "installment_due_date": installments[0]["due_date"],
        "missed_amount": Decimal("50.00"), "login_url": _link("/portal/go/SAMPLE-LINK"),
        "valid_minutes": 15, "new_email": "marie.new@example.com",
        "confirm_url": _link("/portal/confirm-email/SAMPLE-LINK"), "valid_hours": 24,
        "contract_reference": "CTR-2024-001", "contract_description": contract_description,
        "renewal_date": today + timedelta(days=45), "notice_deadline": today + timedelta(days=44),
        "subject": request_subject, "comment_text": comment_text,
        "cooloff_ends_on": today + timedelta(days=3), "code": "123456",
        "collection_date": today + timedelta(days=14), "amount": Decimal("125.00"),
        "invoice_numbers": ["INV-2026-0141", "INV-2026-0158"],
        "creditor_id": get_setting("company.creditor_id") or "BE69ZZZ0123456789",
        "proposals": ["due_date", "direct_debit", "plan"], "propose_due_date": True,
        "propose_direct_debit": True, "propose_plan": True,
        "deleted": deleted, "kept": kept, "pay_url": _link("/portal/p/SAMPLE-PAY"),
        "category": "paid", "action_url": _link("/portal/go/SAMPLE-LINK"),
        "reply_subject": request_subject,
    }
    if key == "payment_returned":
        samples["invoices"] = [{"number": "INV-2026-0158", "open_amount": Decimal("125.00")}]
    elif key not in EVENTS:
        for provider in _REMINDER_SAMPLES:
            samples.update(provider(key, language))
    return samples


def preview_context(key: str, customer: Any) -> dict[str, Any]:
    """The event's sample values on this customer's display values (staff previewing a template
    on a real customer): exactly the variables a template of ``key`` may use."""
    from app.notifications.context import customer_view

    return sample_context(key, customer.language or "en", customer=customer_view(customer))


def sample_context(key: str, language: str, channel: str = "email",
                   customer: dict[str, Any] | None = None) -> dict[str, Any]:
    """Exactly the variables of ``key``'s event, with sample values (the preview, and the
    render check when a template is saved). ``customer``: a real customer's display values."""
    from app.notifications.context import company_view

    event = event_for(key)
    samples = _samples(key, language, channel, business_today())
    context = {name: samples[name] for name in event.variables}
    context.update(customer=customer or sample_customer(language), company=company_view(),
                   portal_url=_link("/portal/"))
    return context
