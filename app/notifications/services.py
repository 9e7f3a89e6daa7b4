"""One function per event a customer expects a message for; other domains call these.

Each builds the template's values and calls ``queue_message`` with a deterministic idempotency
key, so calling it twice for the same event (a retried job, a double click) queues one message.
The caller commits, in the transaction of the event itself. Reminders are the dunning domain's
(it calls queue_message with its own keys); the daily jobs at the end find instalments coming
due and contracts coming up for renewal.

Channels: paper customers get a letter instead of an e-mail (outbox.channels_for); events about
money owed also go by SMS to customers who opted in.

Deep links: every message carries, as ``portal_url``, a link that opens the page it is about
(the invoice, the pay page, the request, the plan) after the customer verifies their address
with a fresh magic link (app.core.links.portal_link, the one helper all messages use).

Why one module of about 530 lines: one function per event that writes to a customer, the one
place to read "what does the customer receive when ...".
"""
from __future__ import annotations

import hashlib
import logging
from datetime import date, datetime, timedelta
from decimal import Decimal

from flask_babel import force_locale
from sqlalchemy import select

from app.core.i18n import language_locale
from app.core.links import portal_link, portal_path
from app.core.models import ZERO, utcnow
from app.core.settings import get_setting
from app.core.time import BUSINESS_TZ, business_today
from app.customers.models import Contact, Contract, Customer, Mandate
from app.extensions import db
from app.invoices.references import format_ogm
from app.notifications.message_links import PAY_LINK, LinkRequest
from app.notifications.models import Message
from app.notifications.outbox import HIDDEN, already_queued, hidden_link, queue_message

log = logging.getLogger(__name__)

MAIL = ["email"]  # e-mail, or a letter for paper customers
MAIL_AND_SMS = ["email", "sms"]


def _business_date(value: datetime | date | None) -> date | None:
    if isinstance(value, datetime):
        return value.astimezone(BUSINESS_TZ).date()
    return value


def _ogm(digits: str | None) -> str | None:
    return format_ogm(digits) if digits and len(digits) == 12 else digits


def _deep_link(customer: Customer, idempotency_key: str, endpoint: str,
               **values) -> dict[str, str]:
    """``{"portal_url": ...}``: the link that opens the portal page ``endpoint`` after the
    customer verifies their address (app.core.links.portal_link).

    Empty, so that the templates get the portal's home address, while no portal is mounted, or
    when the event's message was queued already (it is not rendered again: no unused link).
    """
    if already_queued(idempotency_key):
        return {}
    try:
        return {"portal_url": portal_link(customer, portal_path(endpoint, **values))}
    except (LookupError, RuntimeError):
        return {}


# --- payments --------------------------------------------------------------------------------

def notify_payment_received(payment) -> list[Message]:
    """Thank the customer for a payment, with what it paid and what is left."""
    customer = payment.customer
    if customer is None:
        return []
    live = [a for a in payment.allocations if a.reversed_at is None and a.invoice is not None]
    invoices = [{"number": a.invoice.number, "amount": a.amount,
                 "open_amount": a.invoice.open_amount} for a in live]
    paid_ids = {a.invoice.id for a in live}
    key = f"payment-received:{payment.id}"
    # One invoice: its page (what is paid, what is left); else the account statement.
    link = (_deep_link(customer, key, "invoice", invoice_id=paid_ids.pop())
            if len(paid_ids) == 1 else _deep_link(customer, key, "statement"))
    return queue_message(customer, event="payment_received", template_key="payment_received",
                         context={"payment_amount": payment.amount,
                                  "payment_date": payment.received_on, "invoices": invoices,
                                  "balance": customer.balance or ZERO, **link},
                         idempotency_key=key, channels=MAIL)


# The bank's SEPA return reason codes, grouped into what the templates explain in plain words.
# A code not listed (or none) is "": the message then says only that the bank sent it back.
RETURN_REASONS = {
    "AM04": "insufficient_funds",
    "AC04": "account_closed",
    "AC06": "account_blocked", "AG01": "account_blocked", "SL01": "account_blocked",
    "AC01": "account_invalid", "AC13": "account_invalid", "BE05": "account_invalid",
    "RC01": "account_invalid",
    "MD01": "no_mandate", "MD02": "no_mandate",
    "MD06": "refund_requested",
    "MS02": "refused",
}


def notify_payment_returned(payment) -> list[Message]:
    """The bank sent a payment back (a returned direct debit, a reversed transfer): what it
    was, why in plain words when the bank said, what is open again, and a link to pay it.
    Once per returned payment."""
    customer = payment.customer
    if customer is None:
        return []
    from app.payments.models import InstallmentPayment
    from app.requests.models import Installment

    invoices = {a.invoice.id: a.invoice for a in payment.allocations
                if a.reversed_at is not None and a.invoice is not None}
    open_invoices = [i for i in invoices.values() if i.open_amount > ZERO]
    plan_ids = set(db.session.scalars(
        select(Installment.plan_id)
        .join(InstallmentPayment, InstallmentPayment.installment_id == Installment.id)
        .where(InstallmentPayment.payment_id == payment.id)))
    key = f"payment-returned:{payment.id}"
    if len(open_invoices) == 1:
        link = _deep_link(customer, key, "pay_invoice", invoice_id=open_invoices[0].id)
    elif not invoices and len(plan_ids) == 1:  # it paid a plan instalment: the plan's page
        link = _deep_link(customer, key, "plan", plan_id=plan_ids.pop())
    else:
        link = _deep_link(customer, key, "pay_overdue")
    code = (payment.return_reason or "").strip().upper()
    single = open_invoices[0] if len(open_invoices) == 1 else None
    return queue_message(customer, event="payment_returned", template_key="payment_returned",
                         context={"payment_amount": payment.amount,
                                  "payment_date": payment.received_on,
                                  "is_direct_debit": payment.method == "direct_debit",
                                  "return_reason": RETURN_REASONS.get(code, ""),
                                  "return_reason_code": code,
                                  "invoices": [{"number": i.number, "open_amount": i.open_amount}
                                               for i in open_invoices],
                                  "open_amount": sum((i.open_amount for i in open_invoices),
                                                     ZERO),
                                  "structured_reference": _ogm(single.structured_reference)
                                  if single is not None else None, **link},
                         idempotency_key=key, channels=MAIL_AND_SMS)


def notify_account_settled(customer: Customer, settled_on: date | None = None) -> list[Message]:
    """Everything is paid: tell the customer (once per day it happens)."""
    settled_on = settled_on or business_today()
    key = f"account-settled:{customer.id}:{settled_on}"
    return queue_message(customer, event="account_settled", template_key="account_settled",
                         context={"settled_on": settled_on,
                                  **_deep_link(customer, key, "statement")},
                         idempotency_key=key, channels=MAIL)


def notify_mandate_active(mandate: Mandate) -> list[Message]:
    iban = mandate.bank_account.iban if mandate.bank_account else ""
    masked = (iban[:2] + "** **** **** " + iban[-4:]) if len(iban) > 8 else iban
    return queue_message(mandate.customer, event="mandate_active", template_key="mandate_active",
                         context={"mandate_reference": mandate.reference, "iban_masked": masked},
                         idempotency_key=f"mandate-active:{mandate.id}", channels=MAIL)


# --- customer requests -----------------------------------------------------------------------

def _kind_label(request, language: str) -> str:
    from app.requests.models import REQUEST_KINDS

    with force_locale(language_locale(language)):
        return str(REQUEST_KINDS.get(request.kind, request.kind))


def notify_request_received(request) -> list[Message]:
    customer = request.customer
    key = f"request-received:{request.id}"
    return queue_message(customer, event="request_received", template_key="request_received",
                         context={"request_number": str(request.id),
                                  "request_kind": request.kind,
                                  "request_kind_label": _kind_label(request, customer.language),
                                  "answer_by": _business_date(request.sla_due_at),
                                  **_deep_link(customer, key, "request_detail",
                                               request_id=request.id)},
                         idempotency_key=key, channels=MAIL)


def notify_request_decided(request) -> list[Message]:
    customer = request.customer
    approved = request.status == "approved"
    key = f"request-decided:{request.id}:{request.status}"
    return queue_message(customer, event="request_decided", template_key="request_decided",
                         context={"request_number": str(request.id),
                                  "request_kind": request.kind,
                                  "request_kind_label": _kind_label(request, customer.language),
                                  "approved": approved,
                                  "decision_note": request.decision_note or "",
                                  **_deep_link(customer, key, "request_detail",
                                               request_id=request.id)},
                         idempotency_key=key, channels=MAIL_AND_SMS)


def notify_deferral_approved(deferral) -> list[Message]:
    invoice = deferral.invoice
    key = f"deferral-approved:{deferral.id}"
    return queue_message(deferral.customer, event="deferral_approved",
                         template_key="deferral_approved",
                         context=_deferral_context(deferral, key),
                         idempotency_key=key,
                         channels=MAIL_AND_SMS, attachments=[{"invoice_id": invoice.id}])


def notify_promise_broken(deferral) -> list[Message]:
    """The customer did not pay by the date they promised (a broken deferral)."""
    key = f"promise-broken:{deferral.id}"
    context = _deferral_context(deferral, key)
    return queue_message(deferral.customer, event="promise_broken",
                         template_key="promise_broken", context=context,
                         idempotency_key=key, channels=MAIL_AND_SMS,
                         links=_pay_link([deferral.invoice_id], "promise_broken",
                                         context.get("portal_url")))


def _pay_link(invoice_ids: list[int], purpose: str, fallback: str | None) -> dict:
    """queue_message's ``links`` for a message that asks for money: its ``pay_url`` is a pay
    link made for that message (app.notifications.message_links: app.paylinks registers the
    maker), which opens what the message asks to pay without signing in, its token sealed and
    never stored readable. ``fallback`` (the message's deep link, else the portal's pay page)
    when no link can be made."""
    from app.notifications.context import public_url

    return {"pay_url": LinkRequest(PAY_LINK, {"invoice_ids": list(invoice_ids),
                                              "purpose": purpose},
                                   fallback or public_url("/portal/pay"))}


def _deferral_context(deferral, key: str) -> dict:
    """The deferred invoice, and a link to its pay page (amount, account, QR code)."""
    invoice = deferral.invoice
    return {"invoice_number": invoice.number, "open_amount": invoice.open_amount,
            "original_due_date": deferral.original_due_date,
            "new_due_date": deferral.new_due_date,
            "structured_reference": _ogm(invoice.structured_reference),
            **_deep_link(deferral.customer, key, "pay_invoice", invoice_id=invoice.id)}


# --- payment plans ---------------------------------------------------------------------------

def _installments(plan) -> list[dict]:
    return [{"sequence": i.sequence, "due_date": i.due_date, "amount": i.amount,
             "reference": _ogm(i.structured_reference)} for i in plan.installments]


def notify_plan_approved(plan) -> list[Message]:
    installments = _installments(plan)
    key = f"plan-approved:{plan.id}"
    return queue_message(plan.customer, event="plan_approved", template_key="plan_approved",
                         context={"plan_total": plan.total_amount,
                                  "installment_count": len(installments),
                                  "installments": installments,
                                  "first_due_date": installments[0]["due_date"]
                                  if installments else None,
                                  **_deep_link(plan.customer, key, "plan", plan_id=plan.id)},
                         idempotency_key=key, channels=MAIL_AND_SMS)


def notify_instalment_due(installment) -> list[Message]:
    plan = installment.plan
    key = f"instalment-due:{installment.id}:{installment.due_date}"
    deep = _deep_link(plan.customer, key, "plan", plan_id=plan.id)
    pay = _pay_link([i.id for i in plan.invoices], "instalment", deep.get("portal_url"))
    # The plan's page is where an instalment is paid: its reference and QR code.
    return queue_message(plan.customer, event="instalment_due", template_key="instalment_due",
                         context={"installment_sequence": installment.sequence,
                                  "installment_count": len(plan.installments),
                                  "installment_amount": installment.amount - (
                                      installment.paid_amount or ZERO),
                                  "installment_due_date": installment.due_date,
                                  "structured_reference": _ogm(installment.structured_reference),
                                  **deep},
                         idempotency_key=key, channels=MAIL_AND_SMS, links=pay)


def notify_plan_broken(plan, missed_amount: Decimal | None = None) -> list[Message]:
    late = [i for i in plan.installments if i.status != "paid"]
    if missed_amount is None:
        missed_amount = late[0].amount - (late[0].paid_amount or ZERO) if late else ZERO
    open_amount = sum((i.amount - (i.paid_amount or ZERO) for i in late), ZERO)
    key = f"plan-broken:{plan.id}"
    deep = _deep_link(plan.customer, key, "plan", plan_id=plan.id)
    pay = _pay_link([i.id for i in plan.invoices], "plan_broken", deep.get("portal_url"))
    return queue_message(plan.customer, event="plan_broken", template_key="plan_broken",
                         context={"plan_total": plan.total_amount, "missed_amount": missed_amount,
                                  "open_amount": open_amount, **deep},
                         idempotency_key=key, channels=MAIL_AND_SMS, links=pay)


# --- portal and account ----------------------------------------------------------------------

def notify_magic_link(customer: Customer, contact: Contact | None, url: str,
                      valid_minutes: int = 15, email: str | None = None) -> list[Message]:
    """A log-in link, by e-mail to the person who asked, even for a paper customer."""
    email = email or (contact.email if contact and contact.email else customer.email)
    language = (contact.language if contact and contact.language else customer.language)
    digest = hashlib.sha256(url.encode()).hexdigest()[:40]
    return queue_message(customer, event="magic_link", template_key="magic_link",
                         context={"login_url": url, "valid_minutes": valid_minutes},
                         idempotency_key=f"magic-link:{digest}", channels=["email"],
                         language=language, recipient=email,
                         secrets={"login_url": hidden_link(url)},
                         secret_valid_until=utcnow() + timedelta(minutes=valid_minutes))


def notify_email_change(customer: Customer, new_email: str, confirm_url: str,
                        valid_hours: int = 24, contact: Contact | None = None) -> list[Message]:
    """Ask the new address to confirm itself (the old one stays in use until then)."""
    language = (contact.language if contact and contact.language else customer.language)
    digest = hashlib.sha256(confirm_url.encode()).hexdigest()[:40]
    return queue_message(customer, event="email_change_confirmation",
                         template_key="email_change_confirmation",
                         context={"new_email": new_email, "confirm_url": confirm_url,
                                  "valid_hours": valid_hours},
                         idempotency_key=f"email-change:{digest}", channels=["email"],
                         language=language, recipient=new_email,
                         secrets={"confirm_url": hidden_link(confirm_url)},
                         secret_valid_until=utcnow() + timedelta(hours=valid_hours))


# --- contracts -------------------------------------------------------------------------------

def notify_contract_renewal(contract: Contract) -> list[Message]:
    """The renewal notice; records on the contract that it went out for this renewal date."""
    messages = queue_message(
        contract.customer, event="contract_renewal", template_key="contract_renewal",
        context={"contract_reference": contract.reference,
                 "contract_description": contract.description or "",
                 "renewal_date": contract.renewal_date,
                 "notice_deadline": contract.renewal_date - timedelta(days=1)},
        idempotency_key=f"contract-renewal:{contract.id}:{contract.renewal_date}",
        channels=MAIL)
    contract.renewal_notice_sent_at = utcnow()
    return messages


def _noticed_for_this_renewal(contract: Contract, notice_days: int) -> bool:
    """A notice sent within this renewal's notice window (not the previous year's)."""
    sent = _business_date(contract.renewal_notice_sent_at)
    return sent is not None and sent >= contract.renewal_date - timedelta(days=notice_days + 60)


# --- daily jobs ------------------------------------------------------------------------------

def send_contract_renewal_notices(today: date | None = None) -> int:
    """Daily: every contract renewing within the notice period (45 days) gets its notice once.

    A day the job did not run is caught up the next day (the window is "within 45 days", not
    "exactly 45 days"); the idempotency key makes a second run queue nothing.
    """
    today = today or business_today()
    notice_days = int(get_setting("notifications.renewal_notice_days"))
    contracts = db.session.scalars(
        select(Contract).where(Contract.renewal_date > today,
                               Contract.renewal_date <= today + timedelta(days=notice_days))
        .order_by(Contract.id)).all()
    sent = 0
    for contract in contracts:
        if _noticed_for_this_renewal(contract, notice_days):
            continue
        try:
            notify_contract_renewal(contract)
            db.session.commit()
            sent += 1
        except Exception:  # one customer's problem (no address, broken template) stops nothing
            db.session.rollback()
            log.exception("renewal notice for contract %s not queued", contract.id)
    return sent


def send_instalment_notices(today: date | None = None) -> int:
    """Daily: a friendly note a few days before each instalment of an active plan is due."""
    from app.requests.models import Installment, PaymentPlan

    today = today or business_today()
    days = int(get_setting("notifications.instalment_notice_days"))
    installments = db.session.scalars(
        select(Installment).join(PaymentPlan)
        .where(PaymentPlan.status == "active", Installment.status == "due",
               Installment.due_date >= today,
               Installment.due_date <= today + timedelta(days=days))
        .order_by(Installment.id)).all()
    queued = 0
    for installment in installments:
        try:
            if notify_instalment_due(installment):
                queued += 1
            db.session.commit()
        except Exception:
            db.session.rollback()
            log.exception("instalment notice %s not queued", installment.id)
    return queued


# --- request conversation (app/requests: staff replied on a request) --------------------------

def notify_request_comment(comment) -> list[Message]:
    """Staff wrote to the customer on a request: the text, and a link to answer in the portal."""
    request = comment.request
    customer = request.customer
    key = f"request-comment:{comment.id}"
    context = {"request_number": str(request.id), "request_kind": request.kind,
               "request_kind_label": _kind_label(request, customer.language),
               "subject": request.subject or "", "comment_text": comment.text,
               **_deep_link(customer, key, "request_detail", request_id=request.id)}
    return queue_message(customer, event="request_comment", template_key="request_comment",
                         context=context, idempotency_key=key, channels=MAIL)


# --- account self-service (app/customers: refund account, e-mail change, SMS code) -----------

def _mask_iban(iban: str | None) -> str:
    iban = iban or ""
    return (iban[:2] + "** **** **** " + iban[-4:]) if len(iban) > 8 else iban


def notify_refund_account_changed(account) -> list[Message]:
    """Tell the known contact that a new refund account was given (it could be a fraudster):
    by the usual channel, so a paper customer gets a letter at the known address."""
    key = f"refund-account-changed:{account.id}"
    return queue_message(account.customer, event="refund_account_changed",
                         template_key="refund_account_changed",
                         context={"iban_masked": _mask_iban(account.iban),
                                  "cooloff_ends_on": _business_date(account.active_from),
                                  **_deep_link(account.customer, key, "bank_account")},
                         idempotency_key=key, channels=MAIL_AND_SMS)


def notify_staff_refund_account(account, request_number: str = "") -> list[Message]:
    """Alert the finance team (setting company.email) to a new refund account."""
    from flask import current_app

    staff_email = str(get_setting("company.email") or "").strip()
    if not staff_email:
        return []
    return queue_message(account.customer, event="refund_account_staff_alert",
                         template_key="refund_account_staff_alert",
                         context={"iban_masked": _mask_iban(account.iban),
                                  "cooloff_ends_on": _business_date(account.active_from),
                                  "request_number": request_number},
                         idempotency_key=f"refund-account-staff:{account.id}",
                         channels=["email"], recipient=staff_email,
                         language=current_app.config.get("BABEL_DEFAULT_LOCALE") or "en")


def notify_email_changed(change) -> list[Message]:
    """After a new address was confirmed, tell the old one (a takeover would show here)."""
    if not change.old_email:
        return []
    language = change.contact.language if change.contact and change.contact.language else None
    return queue_message(change.customer, event="email_changed_notice",
                         template_key="email_changed_notice",
                         context={"new_email": change.new_email},
                         idempotency_key=f"email-changed:{change.id}", channels=["email"],
                         recipient=change.old_email, language=language)


def notify_sms_code(customer: Customer, phone: str, code: str, valid_minutes: int,
                    code_id: int, purpose: str = "sms-code") -> list[Message]:
    """The 6-digit code that proves a phone number, by SMS to that number only. ``purpose``
    names the table ``code_id`` is from ("sms-sign-in": a portal sign-in code)."""
    return queue_message(customer, event="sms_confirmation_code",
                         template_key="sms_confirmation_code",
                         context={"code": code, "valid_minutes": valid_minutes},
                         idempotency_key=f"{purpose}:{code_id}", channels=["sms"],
                         recipient=phone, secrets={"code": HIDDEN},
                         secret_valid_until=utcnow() + timedelta(minutes=valid_minutes))


# --- direct debit (app.payments.outgoing.direct_debit) --------------------------------------------------

def notify_direct_debit_notice(mandate: Mandate, collection_date: date, amount: Decimal,
                               invoices: list, creditor_id: str, key: str) -> list[Message]:
    """SEPA pre-notification: what will be collected from which account, and when. Once per
    collection transaction (``key``: its end-to-end id)."""
    iban = mandate.bank_account.iban if mandate.bank_account else ""
    masked = (iban[:2] + "** **** **** " + iban[-4:]) if len(iban) > 8 else iban
    return queue_message(mandate.customer, event="direct_debit_notice",
                         template_key="direct_debit_notice",
                         context={"mandate_reference": mandate.reference, "iban_masked": masked,
                                  "collection_date": collection_date, "amount": amount,
                                  "invoice_numbers": [i.number for i in invoices],
                                  "creditor_id": creditor_id},
                         idempotency_key=f"direct-debit-notice:{key}", channels=MAIL_AND_SMS)


# --- risk signals (app.selfservice.risk) ---------------------------------------------------------

def notify_risk_proposal(customer: Customer, proposals: list[str],
                         today: date | None = None) -> list[Message]:
    """A friendly offer of help to a customer whose payments got harder: a payment day after
    their salary, direct debit, or a plan (``proposals``). Once per customer and month."""
    today = today or business_today()
    return queue_message(customer, event="risk_proposal", template_key="risk_proposal",
                         context={"proposals": list(proposals),
                                  "propose_due_date": "due_date" in proposals,
                                  "propose_direct_debit": "direct_debit" in proposals,
                                  "propose_plan": "plan" in proposals,
                                  "balance": customer.balance or ZERO},
                         idempotency_key=f"risk-proposal:{customer.id}:{today:%Y-%m}",
                         channels=MAIL_AND_SMS)


# --- GDPR erasure (retention domain) ---------------------------------------------------------

def notify_erasure_done(customer: Customer, request, deleted: list[str], kept: list) -> list[Message]:
    """The erasure request is carried out: what was deleted, what is kept, why, until when.

    ``deleted`` are category names and ``kept`` items (what, why, until) already in the
    customer's language (app.retention.subject.erasure_outcome). Queued before the e-mail
    address itself is erased, so it still reaches the customer."""
    return queue_message(customer, event="erasure_done", template_key="erasure_done",
                         context={"request_number": str(request.id), "deleted": list(deleted),
                                  "kept": [{"what": k.what, "why": k.why, "until": k.until}
                                           for k in kept]},
                         idempotency_key=f"erasure-done:{request.id}", channels=MAIL)
