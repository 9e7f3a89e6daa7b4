"""Preferences: delivery channel (paper or e-mail), language, SMS reminders, payment day.

The preferred payment day (1-28, or none) is the day of the month the customer is usually able
to pay (just after their salary). What the product does with it: the dunning run holds back a
reminder that would go out just before that day until just after it (app/dunning/calendar.py
``salary_day_wait``), and a payment plan's day of the month defaults to it (portal wizard and
the staff 360° page).

Switching SMS reminders on needs a proof that the phone number is the customer's: a 6-digit
code sent by SMS to that number, typed back within a few minutes. The code is stored only as an
HMAC (keyed with SECRET_KEY), expires, and allows a limited number of wrong tries; a customer
can ask for a limited number of codes per hour (no SMS bombing of a stranger's phone).
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select, update

from app.core.models import utcnow
from app.core.settings import get_setting, register_setting
from app.core.validation import ValidationError
from app.customers.models import DELIVERY_CHANNELS, LANGUAGES, Customer
from app.customers.selfservice_models import SmsCode
from app.extensions import db
from app.selfservice.profile import clean_phone

CODE_MINUTES = register_setting("customers.sms_code_minutes", 10, "minutes",
                                _l("An SMS confirmation code is valid for (minutes)"),
                                "customers").key
CODE_ATTEMPTS = register_setting("customers.sms_code_attempts", 5, "int",
                                 _l("Wrong tries allowed for an SMS confirmation code"),
                                 "customers").key
CODES_PER_HOUR = register_setting("customers.sms_codes_per_hour", 5, "int",
                                  _l("SMS confirmation codes a customer may ask for per hour"),
                                  "customers").key


MAX_PAYMENT_DAY = 28  # every month has it (the plans' day of the month has the same limit)
UNCHANGED: Any = object()  # update_preferences: "leave the payment day as it is"


@dataclass
class PreferencesChange:
    changed: list[str] = field(default_factory=list)
    sms_code_sent: SmsCode | None = None  # switching SMS on waits for this code


def update_preferences(customer: Customer, *, delivery_channel: str | None = None,
                       language: str | None = None, sms_reminders: bool | None = None,
                       phone: str | None = None, preferred_payment_day: Any = UNCHANGED,
                       channel: str = "portal",
                       now: datetime | None = None) -> PreferencesChange:
    """Apply the delivery channel, language and payment day at once; switching SMS off too.
    Switching SMS on sends a code to ``phone`` (or the phone we know) and waits for
    ``confirm_sms_code``. ``preferred_payment_day``: 1-28 (a number or its text), or None / ""
    for no preferred day; left out, it is not changed.

    ValidationError (nothing changed) on bad input. The caller commits."""
    errors: dict[str, list[str]] = {}
    if delivery_channel is not None and delivery_channel not in DELIVERY_CHANNELS:
        errors["delivery_channel"] = [_("Must be one of: %(choices)s.",
                                        choices=", ".join(DELIVERY_CHANNELS))]
    if language is not None and language not in LANGUAGES:
        errors["language"] = [_("Must be one of: %(choices)s.", choices=", ".join(LANGUAGES))]
    payment_day = customer.preferred_payment_day
    if preferred_payment_day is not UNCHANGED:
        try:
            payment_day = clean_payment_day(preferred_payment_day,
                                            keep=customer.preferred_payment_day)
        except ValidationError as exc:
            errors.update(exc.errors)
    number = None
    if sms_reminders:
        try:
            number = clean_phone(phone or customer.phone, customer.country)
        except ValidationError as exc:
            errors.update(exc.errors)
        if number is None and "phone" not in errors:
            errors["phone"] = [_("Give the mobile number the SMS reminders should go to.")]
    # A code is needed to switch SMS on, or to move the reminders to another number.
    wants_code = bool(sms_reminders) and (not customer.sms_reminders or number != customer.phone)
    if errors:
        raise ValidationError(errors)
    result = PreferencesChange()
    if wants_code:  # first: it may refuse (too many codes) before anything changed
        result.sms_code_sent = send_sms_code(customer, number, now=now)
    if delivery_channel is not None and delivery_channel != customer.delivery_channel:
        customer.delivery_channel = delivery_channel
        result.changed.append("delivery_channel")
    if language is not None and language != customer.language:
        customer.language = language
        result.changed.append("language")
    if sms_reminders is False and customer.sms_reminders:
        customer.sms_reminders = False
        result.changed.append("sms_reminders")
    if payment_day != customer.preferred_payment_day:
        customer.preferred_payment_day = payment_day
        result.changed.append("preferred_payment_day")
    if result.changed:
        _record(customer, result.changed, channel)
    return result


def clean_payment_day(value: Any, keep: int | None = None) -> int | None:
    """1-28 -> that day; None or blank -> None (no preferred day); else ValidationError.

    ``keep``: the day already stored, accepted as it is (staff may have set a 29th-31st, and
    saving the other preferences must not refuse it)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        day = int(str(value).strip())
    except ValueError:
        day = 0
    if keep is not None and day == keep and not isinstance(value, bool):
        return day
    if isinstance(value, bool) or not 1 <= day <= MAX_PAYMENT_DAY:
        raise ValidationError({"preferred_payment_day": [
            _("Choose a day between %(low)s and %(high)s.", low=1, high=MAX_PAYMENT_DAY)]})
    return day


def plan_day_for(customer: Customer, fallback: int = 5) -> int:
    """The day of the month a new payment plan proposes: the preferred payment day (brought
    within the plans' 1-28) or ``fallback``."""
    return min(customer.preferred_payment_day or fallback, MAX_PAYMENT_DAY)


def _record(customer: Customer, changed: list[str], channel: str) -> None:
    from app.requests.reasons import subject_code
    from app.requests.services import auto_approve

    auto_approve(customer, "preferences", channel=channel, subject=_("Preferences"),
                 subject_code=subject_code("preferences"),
                 payload={"fields": sorted(changed)})


def _code_hash(customer_id: int, phone: str, code: str) -> str:
    key = str(current_app.config["SECRET_KEY"]).encode("utf-8")
    return hmac.new(key, f"{customer_id}:{phone}:{code}".encode(), hashlib.sha256).hexdigest()


def send_sms_code(customer: Customer, phone: str, now: datetime | None = None) -> SmsCode:
    """Queue a new code to ``phone`` (E.164); earlier unused codes stop working."""
    now = now or utcnow()
    recent = db.session.scalar(select(func.count()).select_from(SmsCode).where(
        SmsCode.customer_id == customer.id, SmsCode.created_at > now - timedelta(hours=1)))
    if recent >= int(get_setting(CODES_PER_HOUR)):
        raise ValidationError({"phone": _("Too many codes were asked for. Please wait an hour "
                                          "and try again.")})
    db.session.execute(update(SmsCode).where(SmsCode.customer_id == customer.id,
                                             SmsCode.used_at.is_(None))
                       .values(used_at=now).execution_options(synchronize_session=False))
    code = f"{secrets.randbelow(1_000_000):06d}"
    minutes = max(1, int(get_setting(CODE_MINUTES)))
    row = SmsCode(customer_id=customer.id, phone=phone,
                  code_hash=_code_hash(customer.id, phone, code), attempts=0,
                  expires_at=now + timedelta(minutes=minutes), created_at=now)
    db.session.add(row)
    db.session.flush()
    from app.notifications.services import notify_sms_code

    notify_sms_code(customer, phone, code, minutes, row.id)
    return row


def pending_sms_code(customer: Customer, now: datetime | None = None) -> SmsCode | None:
    now = now or utcnow()
    return db.session.scalar(
        select(SmsCode).where(SmsCode.customer_id == customer.id, SmsCode.used_at.is_(None),
                              SmsCode.expires_at > now)
        .order_by(SmsCode.id.desc()).limit(1))


def confirm_sms_code(customer: Customer, code: str | None, *, channel: str = "portal",
                     now: datetime | None = None) -> SmsCode:
    """Check the typed code; when right, the number is saved and SMS reminders are on.

    Every try counts, taken atomically and committed at once (parallel or rolled-back tries
    cannot get past the limit); a wrong code then raises ValidationError. The caller commits a
    success."""
    now = now or utcnow()
    row = pending_sms_code(customer, now)
    typed = "".join(ch for ch in (code or "") if ch.isdigit())
    if row is None:
        raise ValidationError({"code": _("This code has expired. Ask for a new one.")})
    limit = int(get_setting(CODE_ATTEMPTS))
    code_id, phone, code_hash = row.id, row.phone, row.code_hash
    # Each try is taken in one UPDATE ... WHERE attempts < limit before the code is compared
    # (the row lock serialises parallel tries), so no number of parallel guesses gets more than
    # ``limit`` codes checked; the count is committed at once (a refusal cannot be rolled back).
    taken = db.session.execute(
        update(SmsCode).where(SmsCode.id == code_id, SmsCode.used_at.is_(None),
                              SmsCode.attempts < limit)
        .values(attempts=SmsCode.attempts + 1).returning(SmsCode.id)
        .execution_options(synchronize_session=False)).scalar()
    db.session.commit()
    if taken is None:
        raise ValidationError({"code": _("Too many wrong codes. Ask for a new one.")})
    if len(typed) != 6 or not hmac.compare_digest(
            code_hash, _code_hash(customer.id, phone, typed)):
        raise ValidationError({"code": _("This code is not right. Check the SMS and try again.")})
    spent = db.session.execute(
        update(SmsCode).where(SmsCode.id == code_id, SmsCode.used_at.is_(None))
        .values(used_at=now).execution_options(synchronize_session=False))
    if spent.rowcount != 1:  # a parallel right answer used it first
        raise ValidationError({"code": _("This code has expired. Ask for a new one.")})
    db.session.refresh(row)
    customer.phone = row.phone
    customer.sms_reminders = True
    _record(customer, ["sms_reminders", "phone"], channel)
    return row
