"""The customer's refund bank account, and the cool-off that protects it.

Changing the account refunds are paid to is the classic fraud path (a stolen portal session, a
phished e-mail): so a new refund account is *pending* for a cool-off period (setting
``customers.refund_cooloff_hours``, 72 h by default). Meanwhile the known contact is told (so a
real customer can react), staff see a "bank_account" request in their queue and get an e-mail,
and refunds keep going to the previous active account, or nowhere. Only
``usable_refund_account`` decides where a refund may go; whoever pays refunds asks it, nothing
else.

The change itself (a request in the staff queue, the messages to the customer and to staff, the
decision on that request, the back office form) is a self-service use case above requests and
notifications: app/selfservice/bank_accounts.py. This module keeps the account rules that
payments and requests read: which account is usable, which is pending, the cool-off, the job that
ends it.

IBANs are stored compact and upper case. They are compared in Python over the customer's own
accounts, never with ``BankAccount.iban == ...`` in SQL (the column is to be encrypted at rest).
"""
from __future__ import annotations

import logging
from datetime import datetime

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from app.core.locking import lock
from app.core.models import utcnow
from app.core.settings import get_setting, register_setting
from app.core.validation import ValidationError
from app.customers.models import BankAccount, Customer
from app.extensions import db

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


def retire(account: BankAccount, now: datetime) -> None:
    account.status = "retired"
    account.retired_at = now


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
                retire(other, now)
        account.status = "active"
        db.session.commit()
        activated += 1
    return activated


def pending_accounts(limit: int = 200) -> list[BankAccount]:
    """Pending refund accounts with their cool-off end, soonest first (for staff)."""
    return list(db.session.scalars(
        select(BankAccount).where(BankAccount.purpose == "refund",
                                  BankAccount.status == "pending")
        .order_by(BankAccount.active_from).limit(limit)))
