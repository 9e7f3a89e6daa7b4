"""Preferences, and the SMS code that proves a phone number before SMS reminders start."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from app.core.models import utcnow
from app.core.validation import ValidationError
from app.customers import preferences
from app.customers.selfservice_models import SmsCode
from app.extensions import db
from app.notifications.models import Message
from app.requests.models import CustomerRequest
from tests.helpers import make_customer


def _code_sent() -> str:
    message = db.session.scalar(select(Message).where(Message.event == "sms_confirmation_code")
                                .order_by(Message.id.desc()))
    assert message.channel == "sms"
    return re.search(r"\b(\d{6})\b", message.body_text).group(1)


def test_channel_and_language_apply_at_once_with_a_request_record():
    customer = make_customer(language="fr")
    preferences.update_preferences(customer, delivery_channel="paper", language="nl")
    db.session.commit()
    assert (customer.delivery_channel, customer.language) == ("paper", "nl")
    req = db.session.scalar(select(CustomerRequest))
    assert (req.kind, req.status) == ("preferences", "approved")


def test_bad_choices_are_refused_and_nothing_changes():
    customer = make_customer(language="fr")
    with pytest.raises(ValidationError) as refused:
        preferences.update_preferences(customer, delivery_channel="pigeon", language="de")
    assert set(refused.value.errors) == {"delivery_channel", "language"}
    assert customer.delivery_channel == "email" and customer.language == "fr"


def test_sms_needs_the_code_sent_to_that_number():
    customer = make_customer()
    result = preferences.update_preferences(customer, sms_reminders=True, phone="0470 12 34 56")
    db.session.commit()
    assert customer.sms_reminders is False and customer.phone is None  # not yet
    message = db.session.scalar(select(Message).where(Message.event == "sms_confirmation_code"))
    assert message.recipient == "+32470123456"
    code = _code_sent()
    row = result.sms_code_sent
    assert code not in row.code_hash and len(row.code_hash) == 64  # stored hashed
    preferences.confirm_sms_code(customer, code)
    db.session.commit()
    assert customer.sms_reminders is True and customer.phone == "+32470123456"


def test_wrong_codes_are_counted_and_limited():
    customer = make_customer()
    preferences.update_preferences(customer, sms_reminders=True, phone="+32470123456")
    db.session.commit()
    code = _code_sent()
    wrong = "000000" if code != "000000" else "111111"
    for _ in range(5):
        with pytest.raises(ValidationError):
            preferences.confirm_sms_code(customer, wrong)
        db.session.rollback()  # what the portal does: the count survives it
    assert db.session.scalar(select(SmsCode.attempts)) == 5
    with pytest.raises(ValidationError) as refused:
        preferences.confirm_sms_code(customer, code)  # even the right code, now
    assert "code" in refused.value.errors
    assert customer.sms_reminders is False


def test_codes_expire_and_a_new_one_replaces_the_old():
    customer = make_customer()
    preferences.update_preferences(customer, sms_reminders=True, phone="+32470123456")
    db.session.commit()
    first = _code_sent()
    with pytest.raises(ValidationError):
        preferences.confirm_sms_code(customer, first, now=utcnow() + timedelta(minutes=11))
    preferences.send_sms_code(customer, "+32470123456")
    db.session.commit()
    second = _code_sent()
    if second != first:
        with pytest.raises(ValidationError):
            preferences.confirm_sms_code(customer, first)
    preferences.confirm_sms_code(customer, second)
    assert customer.sms_reminders is True


def test_codes_per_hour_are_limited():
    customer = make_customer()
    for _ in range(5):
        preferences.send_sms_code(customer, "+32470123456")
    db.session.commit()
    with pytest.raises(ValidationError) as refused:
        preferences.send_sms_code(customer, "+32470123456")
    assert "phone" in refused.value.errors


def test_switching_sms_off_needs_no_code():
    customer = make_customer(phone="+32470123456", sms_reminders=True)
    preferences.update_preferences(customer, sms_reminders=False)
    assert customer.sms_reminders is False
    assert db.session.scalar(select(SmsCode.id)) is None


def test_a_wrong_number_is_refused():
    customer = make_customer()
    with pytest.raises(ValidationError) as refused:
        preferences.update_preferences(customer, sms_reminders=True, phone="12", language="nl")
    assert "phone" in refused.value.errors and customer.language == "fr"
