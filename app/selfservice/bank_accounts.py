"""A customer changes the account refunds are paid to (portal, pay link, staff form): the
self-service use case over app.customers.bank_accounts' rules.

The new account is pending for the cool-off (``customers.refund_cooloff_hours``); a
"bank_account" request goes to the staff queue, the known contact is told and staff get an
e-mail; rejecting the request retires the pending account (the fraud stop). Which account a
refund may use is still decided only by app.customers.bank_accounts.usable_refund_account.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from flask_babel import gettext as _

from app.core.locking import lock
from app.core.models import utcnow
from app.core.validation import ValidationError
from app.customers.bank_accounts import (
    clean_account,
    cooloff_hours,
    pending_refund_account,
    retire,
    usable_refund_account,
)
from app.customers.models import BankAccount, Customer
from app.extensions import db
from app.notifications.services import notify_refund_account_changed, notify_staff_refund_account
from app.requests.reasons import subject_code
from app.requests.services import open_request, register_decision_handler


def set_refund_account(customer: Customer, iban: str | None, bic: str | None = None,
                       holder: str | None = None, *, channel: str = "portal",
                       now: datetime | None = None) -> BankAccount:
    """Record a new refund account for ``customer``: pending until the cool-off has passed.

    Giving the account that is already the active refund account changes nothing. Giving a new
    one while another is pending replaces that one and restarts the cool-off. The caller
    commits. Bad input: ValidationError, nothing changed. The customer is locked first: two
    accounts given at once leave one pending (the later one).
    """
    compact, bic_clean, holder = clean_account(iban, bic, holder)
    lock(customer)
    now = now or utcnow()
    current = usable_refund_account(customer, now)
    if current is not None and current.iban == compact:
        pending = pending_refund_account(customer)
        if pending is not None:  # back to the account in use: the pending change is dropped
            retire(pending, now)
        return current
    for account in customer.bank_accounts:
        if account.purpose == "refund" and account.status == "pending":
            retire(account, now)
    account = BankAccount(customer=customer, iban=compact, bic=bic_clean,
                          holder=holder or customer.name, purpose="refund", status="pending",
                          active_from=now + timedelta(hours=cooloff_hours()))
    db.session.add(account)
    db.session.flush()
    req = _open_request(customer, account, channel, now)
    notify_refund_account_changed(account)
    notify_staff_refund_account(account, str(req.id))
    return account


def _open_request(customer: Customer, account: BankAccount, channel: str, now: datetime):
    return open_request(customer, "bank_account", channel=channel, now=now,
                 subject=_("New refund bank account ending in %(last4)s",
                           last4=account.iban[-4:]),
                 subject_code=subject_code("refund_account", last4=account.iban[-4:]),
                 payload={"bank_account_id": account.id,
                          "cooloff_ends_at": account.active_from.isoformat()})


def on_bank_account_decision(req, approved: bool, user) -> None:
    """Staff decision on a "bank_account" request: rejecting it retires the pending account
    (the fraud stop). Approving does not shorten the cool-off."""
    lock(req.customer)
    account = db.session.get(BankAccount, (req.payload or {}).get("bank_account_id") or 0)
    if account is None or account.customer_id != req.customer_id:
        return
    if not approved and account.status == "pending":
        retire(account, utcnow())


register_decision_handler("bank_account", on_bank_account_decision)


def record_account(customer: Customer, iban: str | None, bic: str | None = None,
                   holder: str | None = None, purpose: str | None = "refund", *,
                   channel: str = "staff", now: datetime | None = None) -> BankAccount:
    """An account staff record for ``customer`` (the back office form); never active by hand.

    A refund account goes through the cool-off like one given in the portal
    (``set_refund_account``); a direct-debit account waits, pending, for its mandate to be
    confirmed (``app.selfservice.mandates``); a known payer account only helps recognise the
    customer's payments and is active at once. The caller commits. Bad input: ValidationError,
    nothing changed.
    """
    from app.customers.models import BANK_ACCOUNT_PURPOSES

    if purpose not in BANK_ACCOUNT_PURPOSES:
        raise ValidationError({"purpose": [_("Choose what the account is used for.")]})
    if purpose == "refund":
        return set_refund_account(customer, iban, bic, holder, channel=channel, now=now)
    compact, bic_clean, holder = clean_account(iban, bic, holder)
    now = now or utcnow()
    account = BankAccount(customer=customer, iban=compact, bic=bic_clean,
                          holder=holder or customer.name, purpose=purpose,
                          status="pending" if purpose == "direct_debit" else "active",
                          active_from=None if purpose == "direct_debit" else now)
    db.session.add(account)
    db.session.flush()
    return account
