"""Preferences, and the SMS code that proves a phone number before SMS reminders start."""
from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from sqlalchemy import select

from app.core.models import utcnow
from app.core.validation import ValidationError
from app.customers.selfservice_models import SmsCode
from app.extensions import db
from app.notifications.models import Message
from app.requests.models import CustomerRequest
from app.selfservice import preferences
from tests.helpers import make_customer
from tests.notifications.received import received_text


def _code_sent() -> str:
    message = db.session.scalar(select(Message).where(Message.event == "sms_confirmation_code")
                                .order_by(Message.id.desc()))
    assert message.channel == "sms"
    # the stored copy has the code hidden: what the SMS carries
    return re.search(r"\b(\d{6})\b", received_text(message)).group(1)


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


# --- the preferred payment day ---------------------------------------------------------------

def test_payment_day_is_set_cleared_and_recorded():
    customer = make_customer(language="fr")
    preferences.update_preferences(customer, preferred_payment_day="25")
    db.session.commit()
    assert customer.preferred_payment_day == 25
    req = db.session.scalar(select(CustomerRequest))
    assert (req.kind, req.status) == ("preferences", "approved")
    assert req.payload["fields"] == ["preferred_payment_day"]
    preferences.update_preferences(customer, preferred_payment_day="")
    db.session.commit()
    assert customer.preferred_payment_day is None


def test_payment_day_left_out_is_not_changed():
    customer = make_customer(preferred_payment_day=10)
    change = preferences.update_preferences(customer, language="nl")
    assert customer.preferred_payment_day == 10 and change.changed == ["language"]


@pytest.mark.parametrize("bad", ["0", "29", "-3", "2.5", "tomorrow", True, "9" * 5000])
def test_a_bad_payment_day_is_refused_and_nothing_changes(bad):
    customer = make_customer(language="fr", preferred_payment_day=10)
    with pytest.raises(ValidationError) as refused:
        preferences.update_preferences(customer, preferred_payment_day=bad, language="nl")
    assert set(refused.value.errors) == {"preferred_payment_day"}
    assert customer.preferred_payment_day == 10 and customer.language == "fr"
    assert db.session.scalar(select(CustomerRequest.id)) is None


def test_a_day_after_the_28th_set_by_staff_survives_saving_other_preferences():
    customer = make_customer(preferred_payment_day=30)
    preferences.update_preferences(customer, preferred_payment_day="30", language="nl")
    assert customer.preferred_payment_day == 30 and customer.language == "nl"
    assert preferences.plan_day_for(customer) == 28  # plans stop at the 28th


# --- over HTTP: the portal page, and what the day changes --------------------------------------

@pytest.fixture
def portal(app, client):
    from tests.portal.conftest import install_magic_link_templates, sign_in

    install_magic_link_templates()
    customer = make_customer(kind="person", email="payday@example.test", language="fr")
    sign_in(client, "payday@example.test")
    return customer, client


def _post_preferences(client, data):
    from tests.portal.conftest import csrf_from

    page = client.get("/portal/preferences").get_data(as_text=True)
    return client.post("/portal/preferences", data={
        "delivery_channel": "email", "language": "fr", **data, "csrf_token": csrf_from(page)})


def test_customer_chooses_a_payment_day_in_the_portal(portal):
    from datetime import timedelta

    from tests.helpers import make_invoice

    customer, client = portal
    page = client.get("/portal/preferences").get_data(as_text=True)
    options = re.findall(r'<option[^>]*value="(\d*)"', page.split('name="preferred_payment_day"')[1]
                         .split("</select>")[0])
    assert options == [""] + [str(d) for d in range(1, 29)]
    response = _post_preferences(client, {"preferred_payment_day": "25"})
    assert response.status_code == 302
    db.session.expire_all()
    assert customer.preferred_payment_day == 25
    again = client.get("/portal/preferences").get_data(as_text=True)
    assert re.search(r'<option selected value="25">|<option value="25" selected', again)
    # The payment plan wizard now proposes that day.
    make_invoice(customer, total="600.00", due_in_days=-20,
                 issue_date=date.today() - timedelta(days=50))
    wizard = client.get("/portal/plan").get_data(as_text=True)
    assert re.search(r'<option value="25" selected>', wizard), "plan day is not the payment day"


def test_a_bad_payment_day_in_the_portal_is_refused_translated(portal):
    customer, client = portal
    response = _post_preferences(client, {"preferred_payment_day": "31", "language": "nl"})
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert 'id="preferred_payment_day-errors"' in html
    assert "Choisissez un jour entre 1 et 28." in html  # the customer's language (fr)
    db.session.expire_all()
    assert customer.preferred_payment_day is None and customer.language == "fr"


def test_without_the_field_the_day_is_kept(portal):
    customer, client = portal
    customer.preferred_payment_day = 12
    db.session.commit()
    assert _post_preferences(client, {"language": "nl"}).status_code == 302
    db.session.expire_all()
    assert customer.preferred_payment_day == 12 and customer.language == "nl"
