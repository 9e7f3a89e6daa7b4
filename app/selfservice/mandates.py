"""SEPA direct-debit mandates signed in the portal: text, reference, evidence, confirmation.

The customer reads the mandate text in their language (creditor name and SEPA creditor
identifier from the settings ``company.name`` / ``company.creditor_id``), types their name and
ticks the consent box. We keep as evidence: the exact text shown, the typed name, the consent,
the time (UTC), the IP address and the browser. The mandate is *pending* (a "mandate" request in
the staff queue) until staff confirm it; then it is active and the customer pays by direct debit.
Revoking switches the customer back to bank transfer.
"""
from __future__ import annotations

import re
import secrets
from datetime import datetime

from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import select

from app.core.i18n import language_locale
from app.core.locking import lock, lock_rows
from app.core.models import utcnow
from app.core.settings import get_setting
from app.core.time import business_today
from app.core.validation import ValidationError
from app.customers.bank_accounts import clean_account
from app.customers.models import BankAccount, Customer, Mandate
from app.extensions import db
from app.requests.reasons import subject_code
from app.requests.services import register_decision_handler

UMR_ALLOWED = re.compile(r"[^A-Z0-9]")


def new_reference(customer: Customer, now: datetime | None = None) -> str:
    """A unique mandate reference (UMR): CD-<customer number>-<YYMMDD>-<random>, ≤ 35 chars,
    only letters, digits and hyphens (what every bank accepts)."""
    now = now or utcnow()
    number = UMR_ALLOWED.sub("", (customer.number or "").upper())[:14] or str(customer.id)
    for _attempt in range(10):
        reference = f"CD-{number}-{now:%y%m%d}-{secrets.token_hex(3).upper()}"
        exists = db.session.scalar(select(Mandate.id).where(Mandate.reference == reference))
        if exists is None:
            return reference
    raise RuntimeError("could not find a free mandate reference")  # pragma: no cover


def mandate_text(customer: Customer, language: str | None = None, *, reference: str | None = None,
                 iban: str | None = None, debtor_name: str | None = None) -> str:
    """The mandate as the customer reads and signs it, in ``language`` (default: theirs)."""
    creditor = str(get_setting("company.name"))
    creditor_id = str(get_setting("company.creditor_id") or "")
    address = " ".join(str(get_setting("company.address") or "").split())
    with force_locale(language_locale(language or customer.language or "en")):
        lines = [
            _("SEPA Direct Debit Mandate (recurrent payments, CORE scheme)"),
            _("Creditor: %(creditor)s, %(address)s", creditor=creditor, address=address),
            _("Creditor identifier: %(creditor_id)s", creditor_id=creditor_id),
        ]
        if reference:
            lines.append(_("Mandate reference: %(reference)s", reference=reference))
        lines.append(_("Debtor: %(name)s (customer %(number)s)",
                       name=debtor_name or customer.name, number=customer.number))
        if iban:
            lines.append(_("Account (IBAN): %(iban)s", iban=iban))
        lines.append("")
        lines.append(_(
            "By signing this mandate form, you authorise (A) %(creditor)s to send instructions "
            "to your bank to debit your account and (B) your bank to debit your account in "
            "accordance with the instructions from %(creditor)s. As part of your rights, you "
            "are entitled to a refund from your bank under the terms and conditions of your "
            "agreement with your bank. A refund must be claimed within 8 weeks starting from "
            "the date on which your account was debited. Your rights are explained in a "
            "statement that you can obtain from your bank.", creditor=creditor))
    return "\n".join(lines)


def current_mandate(customer: Customer) -> Mandate | None:
    """The customer's pending or active mandate (the newest), else None."""
    found = [m for m in customer.mandates if m.status in ("pending", "active")]
    return max(found, key=lambda m: m.id) if found else None


def sign_mandate(customer: Customer, *, iban: str | None, bic: str | None = None,
                 signature_name: str | None, consent: bool, ip: str | None = None,
                 user_agent: str | None = None, language: str | None = None,
                 channel: str = "portal", now: datetime | None = None) -> Mandate:
    """Record a signed mandate, pending staff confirmation; ValidationError changes nothing.

    The customer is locked first: the form sent twice at once leaves one pending mandate.
    The caller commits."""
    lock(customer)
    errors: dict[str, list[str]] = {}
    compact = bic_clean = None
    try:
        compact, bic_clean, _holder = clean_account(iban, bic, None)
    except ValidationError as exc:
        errors.update(exc.errors)
    name = " ".join((signature_name or "").split())
    if len(name) < 2:
        errors["signature_name"] = [_("Type your full name to sign.")]
    elif len(name) > 200:
        errors["signature_name"] = [_("At most %(n)s characters.", n=200)]
    if not consent:
        errors["consent"] = [_("Please tick the box to agree to the mandate.")]
    pending = current_mandate(customer)
    if pending is not None and pending.status == "pending":
        errors["iban"] = [_("You already signed a mandate that is waiting for our "
                            "confirmation.")]
    if errors:
        raise ValidationError(errors)
    now = now or utcnow()
    language = language or customer.language
    reference = new_reference(customer, now)
    # Read settings before creating rows (a query would flush half-built objects).
    creditor_id = str(get_setting("company.creditor_id") or "") or None
    text = mandate_text(customer, language, reference=reference, iban=compact, debtor_name=name)
    account = BankAccount(customer=customer, iban=compact, bic=bic_clean, holder=customer.name,
                          purpose="direct_debit", status="pending")
    mandate = Mandate(
        customer=customer, bank_account=account, reference=reference,
        creditor_id=creditor_id, scheme="CORE",
        sequence="recurrent", status="pending", signed_on=business_today(),
        signature_name=name, signature_ip=(ip or "")[:45] or None, signed_at=now,
        signature_consent=True, signature_user_agent=(user_agent or "")[:300] or None,
        language=language, mandate_text=text)
    db.session.add_all([account, mandate])
    db.session.flush()
    from app.requests.services import open_request

    open_request(customer, "mandate", channel=channel, now=now,
                 subject=_("Direct debit mandate %(reference)s", reference=reference),
                 subject_code=subject_code("mandate", reference=reference),
                 payload={"mandate_id": mandate.id, "action": "sign"})
    return mandate


def confirm_mandate(mandate: Mandate, now: datetime | None = None, *,
                    notify: bool = True) -> None:
    """Staff confirm a pending mandate: it becomes active, the customer pays by direct debit
    (an earlier active mandate is replaced) and is told (unless ``notify`` is off: the answer
    to the customer's request tells them instead, with staff's note).

    The customer is locked first, and the status checked after: a mandate revoked or
    confirmed meanwhile is refused."""
    lock(mandate.customer)
    if mandate.status != "pending":
        raise ValidationError({"status": _("Only a pending mandate can be confirmed.")})
    now = now or utcnow()
    customer = mandate.customer
    for other in customer.mandates:
        if other.id != mandate.id and other.status == "active":
            _revoke(other, now)
    mandate.status = "active"
    if mandate.bank_account is not None:
        mandate.bank_account.status = "active"
        mandate.bank_account.active_from = now
    customer.payment_method = "direct_debit"
    if notify:
        from app.notifications.services import notify_mandate_active

        notify_mandate_active(mandate)


def reject_mandate(mandate: Mandate, now: datetime | None = None) -> None:
    lock(mandate.customer)
    if mandate.status != "pending":
        raise ValidationError({"status": _("Only a pending mandate can be refused.")})
    _revoke(mandate, now or utcnow())


def _revoke(mandate: Mandate, now: datetime) -> None:
    mandate.status = "revoked"
    mandate.revoked_at = now
    if mandate.bank_account is not None and mandate.bank_account.status != "retired":
        mandate.bank_account.status = "retired"
        mandate.bank_account.retired_at = now


def revoke_mandate(customer: Customer, *, channel: str = "portal",
                   now: datetime | None = None) -> Mandate:
    """The customer (or staff for them) stops direct debit: back to bank transfer.

    A pending mandate is withdrawn (its open request cancelled). The caller commits.

    Locks the open mandate requests, then the customer (the order a staff decision takes them
    in): revoking while staff confirm ends one way or the other, and twice at once revokes once.
    """
    from app.requests.models import CustomerRequest
    from app.requests.services import OPEN_STATUSES, auto_approve

    open_requests = select(CustomerRequest.id).where(
        CustomerRequest.customer_id == customer.id, CustomerRequest.kind == "mandate",
        CustomerRequest.status.in_(OPEN_STATUSES))
    lock_rows(CustomerRequest, db.session.scalars(open_requests).all())
    lock(customer)
    mandate = current_mandate(customer)
    if mandate is None:
        raise ValidationError({"mandate": _("There is no direct debit mandate to revoke.")})
    now = now or utcnow()
    was_pending = mandate.status == "pending"
    _revoke(mandate, now)
    if not any(m.status == "active" for m in customer.mandates):
        customer.payment_method = "transfer"
    if was_pending:
        for req in db.session.scalars(select(CustomerRequest).where(
                CustomerRequest.customer_id == customer.id, CustomerRequest.kind == "mandate",
                CustomerRequest.status.in_(OPEN_STATUSES))):
            if (req.payload or {}).get("mandate_id") == mandate.id:
                req.status, req.decided_at = "cancelled", now
    auto_approve(customer, "mandate", channel=channel,
                 subject=_("Direct debit mandate %(reference)s revoked",
                           reference=mandate.reference),
                 subject_code=subject_code("mandate_revoked", reference=mandate.reference),
                 payload={"mandate_id": mandate.id, "action": "revoke"})
    return mandate


def on_mandate_decision(req, approved: bool, user) -> bool:
    """Staff decision on a "mandate" request: approve = confirm the mandate, reject = refuse.

    One decision, one message: approved without a note, the "mandate active" message (its
    reference, the account, the first collection) is the answer (returns True); with a note,
    or refused, the request's answer carries it."""
    payload = req.payload or {}
    if payload.get("action", "sign") != "sign":
        return False
    mandate = db.session.get(Mandate, payload.get("mandate_id") or 0)
    if mandate is None or mandate.customer_id != req.customer_id:
        raise ValidationError({"status": _("The mandate of this request no longer exists.")})
    if not approved:
        reject_mandate(mandate)
        return False
    told_by_mandate = not req.decision_note
    confirm_mandate(mandate, notify=told_by_mandate)
    return told_by_mandate


register_decision_handler("mandate", on_mandate_decision)


def staff_decide(mandate: Mandate, user, approve: bool, note: str | None = None) -> None:
    """Confirm or refuse a pending mandate from the back office. Through its request when there
    is one (so the customer's request is answered too), else directly. The caller commits."""
    from app.requests.models import CustomerRequest
    from app.requests.services import OPEN_STATUSES, decide_request

    if mandate.status != "pending":
        raise ValidationError({"status": _("Only a pending mandate can be confirmed.")})
    for req in db.session.scalars(select(CustomerRequest).where(
            CustomerRequest.customer_id == mandate.customer_id,
            CustomerRequest.kind == "mandate", CustomerRequest.status.in_(OPEN_STATUSES))):
        if (req.payload or {}).get("mandate_id") == mandate.id:
            decide_request(req, user, approve, note)
            return
    if approve:
        confirm_mandate(mandate)
    else:
        reject_mandate(mandate)


def record_mandate(customer: Customer, bank_account: BankAccount | None, *,
                   reference: str | None = None, creditor_id: str | None = None,
                   scheme: str | None = "CORE", sequence: str | None = "recurrent",
                   signed_on=None, signed_place: str | None = None,
                   signature_name: str | None = None) -> Mandate:
    """A mandate signed on paper, recorded by staff (the back office form): pending, like one
    signed in the portal, until it is confirmed (``staff_decide``), which activates its account
    and switches the customer to direct debit. The caller commits."""
    errors: dict[str, list[str]] = {}
    if bank_account is None or bank_account.customer_id != customer.id \
            or bank_account.purpose != "direct_debit" or bank_account.status == "retired":
        errors["bank_account"] = [_("Choose one of this customer's direct-debit accounts.")]
    reference = (reference or "").strip() or None
    if reference and db.session.scalar(select(Mandate.id).where(Mandate.reference == reference)):
        errors["reference"] = [_("This mandate reference is already used.")]
    if errors:
        raise ValidationError(errors)
    mandate = Mandate(customer=customer, bank_account=bank_account,
                      reference=reference or new_reference(customer),
                      creditor_id=creditor_id or str(get_setting("company.creditor_id") or "")
                      or None, scheme=scheme or "CORE", sequence=sequence or "recurrent",
                      status="pending", signed_on=signed_on, signed_place=signed_place,
                      signature_name=signature_name)
    db.session.add(mandate)
    db.session.flush()
    return mandate
