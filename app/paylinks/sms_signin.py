"""Sign in to the portal with a code sent by SMS, for customers with a confirmed mobile number.

The same rules as the e-mail sign-in link (app.portal.auth):
- the answer is the same whether or not the number belongs to a customer, and the work
  (finding the customer, making the code, queueing the SMS) runs as a background job, so not
  even the response time tells them apart;
- asking is limited per IP address and per number (the sign-in limits, counted with them);
- the code is short (6 digits), single use, valid ``customers.sms_code_minutes`` minutes, kept
  only as an HMAC keyed with SECRET_KEY; each number has one live code (a new one ends the
  older ones); wrong tries are limited per code (``customers.sms_code_attempts``, counted
  atomically) and per IP address (``PORTAL_SMS_VERIFY_LIMIT_PER_IP``).

A confirmed mobile number is the customer's ``phone`` with SMS switched on: the portal turns
SMS on only after the customer typed back a code sent to that number (app.customers
.preferences), and staff only after checking it. Numbers shared by several customers sign in
to the first of them (by id).
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta

from flask import current_app
from sqlalchemy import select, update

from app.core.models import utcnow
from app.core.settings import get_setting
from app.core.validation import ValidationError
from app.customers.models import Customer
from app.extensions import db
from app.paylinks.models import SmsSignInCode
from app.selfservice.preferences import CODE_ATTEMPTS, CODE_MINUTES
from app.selfservice.profile import clean_phone

CODE_DIGITS = 6


def normalise_number(value: str | None) -> str | None:
    """E.164 for a number typed with its country code, or a Belgian / Dutch national number;
    None when it is not a phone number at all."""
    for country in ("BE", "NL"):
        try:
            number = clean_phone((value or "")[:40], country)
        except ValidationError:
            continue
        if number:
            return number
    return None


def _hash(number: str, code: str) -> str:
    key = str(current_app.config["SECRET_KEY"]).encode("utf-8")
    return hmac.new(key, f"sms-sign-in:{number}:{code}".encode(), hashlib.sha256).hexdigest()


def customer_for_number(number: str) -> Customer | None:
    return db.session.scalar(select(Customer).where(
        Customer.phone == number, Customer.sms_reminders.is_(True),
        Customer.anonymised_at.is_(None)).order_by(Customer.id).limit(1))


def send_code(number: str, ip: str | None, language: str) -> bool:
    """Job: a new code to ``number`` if it is a customer's confirmed mobile (False: nothing
    sent, nothing kept)."""
    customer = customer_for_number(number)
    if customer is None:
        return False
    now = utcnow()
    db.session.execute(update(SmsSignInCode).where(SmsSignInCode.phone == number,
                                                   SmsSignInCode.used_at.is_(None))
                       .values(used_at=now).execution_options(synchronize_session=False))
    code = f"{secrets.randbelow(10 ** CODE_DIGITS):0{CODE_DIGITS}d}"
    minutes = max(1, int(get_setting(CODE_MINUTES)))
    row = SmsSignInCode(customer_id=customer.id, phone=number, code_hash=_hash(number, code),
                        attempts=0, created_at=now, expires_at=now + timedelta(minutes=minutes),
                        ip=(ip or "")[:45] or None)
    db.session.add(row)
    db.session.flush()
    from app.notifications.services import notify_sms_code

    notify_sms_code(customer, number, code, minutes, row.id, purpose="sms-sign-in")
    db.session.commit()
    return True


def check_code(number: str, typed: str | None) -> Customer | None:
    """The customer when ``typed`` is the live code of ``number`` (the code is spent), else
    None. Every try on a live code counts, committed at once, before the comparison."""
    now = utcnow()
    row = db.session.scalar(select(SmsSignInCode).where(
        SmsSignInCode.phone == number, SmsSignInCode.used_at.is_(None),
        SmsSignInCode.expires_at > now).order_by(SmsSignInCode.id.desc()).limit(1))
    digits = "".join(ch for ch in (typed or "")[:20] if ch.isdigit())
    if row is None:
        return None
    row_id, code_hash, customer_id = row.id, row.code_hash, row.customer_id
    taken = db.session.execute(
        update(SmsSignInCode).where(SmsSignInCode.id == row_id, SmsSignInCode.used_at.is_(None),
                                    SmsSignInCode.attempts < int(get_setting(CODE_ATTEMPTS)))
        .values(attempts=SmsSignInCode.attempts + 1).returning(SmsSignInCode.id)
        .execution_options(synchronize_session=False)).scalar()
    db.session.commit()
    if taken is None or len(digits) != CODE_DIGITS \
            or not hmac.compare_digest(code_hash, _hash(number, digits)):
        return None
    spent = db.session.execute(
        update(SmsSignInCode).where(SmsSignInCode.id == row_id, SmsSignInCode.used_at.is_(None))
        .values(used_at=now).execution_options(synchronize_session=False))
    if spent.rowcount != 1:  # a parallel right answer used it first
        db.session.rollback()
        return None
    customer = db.session.get(Customer, customer_id)
    if customer is None or customer.anonymised_at is not None:
        return None
    return customer
