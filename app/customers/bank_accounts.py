"""The customer's refund bank account, and the cool-off that protects it.

Changing the account refunds are paid to is the classic fraud path (a stolen portal session, a
phished e-mail): so a new refund account is *pending* for a cool-off period (setting
``customers.refund_cooloff_hours``, 72 h by default). Meanwhile the known contact is told (so a
real customer can react), staff see a "bank_account" request in their queue and get an e-mail,
and refunds keep going to the previous active account, or nowhere. Only
``usable_refund_account`` decides where a refund may go; whoever pays refunds asks it, nothing
else.

IBANs are stored compact and upper case. They are compared in Python over the customer's own
accounts, never with ``BankAccount.iban == ...`` in SQL (the column is to be encrypted at rest).
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from app.core.locking import lock
from app.core.models import utcnow
from app.core.settings import get_setting, register_setting
from app.core.validation import ValidationError
from app.customers.models import BankAccount, Customer
from app.extensions import db
from app.requests.services import register_decision_handler

log = logging.getLogger(__name__)

COOLOFF_SETTING = register_setting(
    "customers.refund_cooloff_hours", 72, "hours",
    _l("Cool-off before a new refund bank account is used (hours)"), "customers").key


def cooloff_hours() -> int:
    return max(0, int(get_setting(COOLOFF_SETTING)))


def usable_refund_account(customer: Customer, now: datetime | None = None) -> BankAccount | None:
    """The account a refund to ``customer`` may be paid to, or None.

    Only an ACTIVE refund account whose cool-off has passed and that was not retired; never a
    pending one, whatever its dates say. When there are several (should not happen), the one
    that became active last.
    """
    now = now or utcnow()
    usable = [a for a in customer.bank_accounts
              if a.purpose == "refund" and a.status == "active" and a.retired_at is None
              and a.active_from is not None and a.active_from <= now]
    return max(usable, key=lambda a: (a.active_from, a.id)) if usable else None


def pending_refund_account(customer: Customer) -> BankAccount | None:
    pending = [a for a in customer.bank_accounts
               if a.purpose == "refund" and a.status == "pending" and a.retired_at is None]
    return max(pending, key=lambda a: a.id) if pending else None


def clean_account(iban: str | None, bic: str | None, holder: str | None
                  ) -> tuple[str, str | None, str | None]:
    """(compact IBAN, BIC or None, holder or None); ValidationError naming the wrong fields."""
    from app.core.bank_identifiers import clean_bic, clean_iban

    errors: dict[str, list[str]] = {}
    compact = bic_clean = None
    if not (iban or "").strip():
        errors["iban"] = [_("This field is required.")]
    else:
        try:
            compact = clean_iban(iban, field="iban").upper()
        except ValidationError as exc:
            errors.update(exc.errors)
    try:
        bic_clean = clean_bic(bic, field="bic") or None
    except ValidationError as exc:
        errors.update(exc.errors)
    holder = (holder or "").strip() or None
    if holder and len(holder) > 200:
        errors["holder"] = [_("At most %(n)s characters.", n=200)]
    if errors:
        raise ValidationError(errors)
    return compact, bic_clean, holder


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
            _retire(pending, now)
        return current
    for account in customer.bank_accounts:
        if account.purpose == "refund" and account.status == "pending":
            _retire(account, now)
    account = BankAccount(customer=customer, iban=compact, bic=bic_clean,
                          holder=holder or customer.name, purpose="refund", status="pending",
                          active_from=now + timedelta(hours=cooloff_hours()))
    db.session.add(account)
    db.session.flush()
    req = _open_request(customer, account, channel, now)
    from app.notifications.services import (
        notify_refund_account_changed,
        notify_staff_refund_account,
    )

    notify_refund_account_changed(account)
    notify_staff_refund_account(account, str(req.id))
    return account


def _retire(account: BankAccount, now: datetime) -> None:
    account.status = "retired"
    account.retired_at = now


def _open_request(customer: Customer, account: BankAccount, channel: str, now: datetime):
    from app.requests.reasons import subject_code
    from app.requests.services import open_request

    return open_request(customer, "bank_account", channel=channel, now=now,
                 subject=_("New refund bank account ending in %(last4)s",
                           last4=account.iban[-4:]),
                 subject_code=subject_code("refund_account", last4=account.iban[-4:]),
                 payload={"bank_account_id": account.id,
                          "cooloff_ends_at": account.active_from.isoformat()})


def activate_cooled_off_accounts(now: datetime | None = None) -> int:
    """Job (every scheduler tick): pending refund accounts whose cool-off has passed become
    active, and the customer's previous refund account is retired. Idempotent."""
    now = now or utcnow()
    ids = list(db.session.scalars(
        select(BankAccount.id).where(BankAccount.purpose == "refund",
                                     BankAccount.status == "pending",
                                     BankAccount.retired_at.is_(None),
                                     BankAccount.active_from <= now)
        .order_by(BankAccount.id).limit(1000)))
    activated = 0
    for account_id in ids:
        account = db.session.get(BankAccount, account_id)
        if account is None:
            continue
        lock(account.customer)  # two ticks at once, or the customer changing it meanwhile
        if (account.status != "pending" or account.retired_at is not None
                or account.active_from > now):
            db.session.rollback()
            continue
        for other in account.customer.bank_accounts:
            if other.id != account.id and other.purpose == "refund" and other.status == "active":
                _retire(other, now)
        account.status = "active"
        db.session.commit()
        activated += 1
    return activated


def on_bank_account_decision(req, approved: bool, user) -> None:
    """Staff decision on a "bank_account" request: rejecting it retires the pending account
    (the fraud stop). Approving does not shorten the cool-off."""
    lock(req.customer)
    account = db.session.get(BankAccount, (req.payload or {}).get("bank_account_id") or 0)
    if account is None or account.customer_id != req.customer_id:
        return
    if not approved and account.status == "pending":
        _retire(account, utcnow())


register_decision_handler("bank_account", on_bank_account_decision)


def pending_accounts(limit: int = 200) -> list[BankAccount]:
    """Pending refund accounts with their cool-off end, soonest first (for staff)."""
    return list(db.session.scalars(
        select(BankAccount).where(BankAccount.purpose == "refund",
                                  BankAccount.status == "pending")
        .order_by(BankAccount.active_from).limit(limit)))


def record_account(customer: Customer, iban: str | None, bic: str | None = None,
                   holder: str | None = None, purpose: str | None = "refund", *,
                   channel: str = "staff", now: datetime | None = None) -> BankAccount:
    """An account staff record for ``customer`` (the back office form); never active by hand.

    A refund account goes through the cool-off like one given in the portal
    (``set_refund_account``); a direct-debit account waits, pending, for its mandate to be
    confirmed (``app.customers.mandates``); a known payer account only helps recognise the
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
