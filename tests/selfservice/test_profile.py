"""My details: locks once invoiced, E.164 phones, e-mail changes confirmed from the new mailbox."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
from flask_babel import force_locale
from sqlalchemy import select

from app.core.models import utcnow
from app.core.validation import ValidationError
from app.customers.selfservice_models import EmailChange
from app.extensions import db
from app.notifications.models import Message
from app.requests.models import CustomerRequest
from app.selfservice import profile
from tests.helpers import make_customer, make_invoice
from tests.notifications.received import received_text


def _collect(urls: list):
    def url_for_token(raw: str) -> str:
        urls.append(raw)
        return f"http://x/portal/profile/email/{raw}"
    return url_for_token


def _link_token(message: Message) -> str:
    text = received_text(message)  # the stored copy has the link hidden
    match = re.search(r"/portal/profile/email/([A-Za-z0-9_\-]+)", text)
    assert match, text
    return match.group(1)


def test_name_and_vat_are_free_before_the_first_invoice():
    customer = make_customer(name="Old Name")
    assert profile.locked_fields(customer) == frozenset()
    profile.update_details(customer, {"name": "New Name", "vat_number": "BE 0403.170.701"})
    db.session.commit()
    assert customer.name == "New Name" and customer.vat_number == "BE0403170701"
    req = db.session.scalar(select(CustomerRequest))
    assert (req.kind, req.status) == ("data_change", "approved")
    assert req.payload["fields"] == ["name", "vat_number"]


@pytest.mark.parametrize("language", ["fr", "nl", "en"])
def test_name_and_vat_are_locked_once_invoiced_but_staff_may(language):
    customer = make_customer(name="Invoiced Ltd", language=language)
    make_invoice(customer)
    assert profile.locked_fields(customer) == {"name", "vat_number"}
    with force_locale(language), pytest.raises(ValidationError) as refused:
        profile.update_details(customer, {"name": "Someone Else", "city": "Gent",
                                          "address_line1": "Kerkstraat 1", "postal_code": "9000"})
    db.session.rollback()
    assert set(refused.value.errors) == {"name"}
    # (the message's French and Dutch are in /work/tr/h3.json; tests/i18n checks catalogues)
    assert refused.value.errors["name"][0]
    assert customer.name == "Invoiced Ltd" and customer.addresses == []
    assert db.session.scalar(select(CustomerRequest.id)) is None
    # The same value (the form posting it unchanged) is not a change.
    profile.update_details(customer, {"name": "Invoiced Ltd"})
    # Staff can.
    profile.update_details(customer, {"name": "Invoiced Ltd (renamed)"}, by_staff=True)
    db.session.commit()
    assert customer.name == "Invoiced Ltd (renamed)"
    assert db.session.scalar(select(CustomerRequest.channel)) == "staff"


@pytest.mark.parametrize("typed, stored", [("0470 12 34 56", "+32470123456"),
                                           ("+32 470/12.34.56", "+32470123456"),
                                           ("+31 6 12345678", "+31612345678")])
def test_phones_are_stored_in_e164(typed, stored):
    customer = make_customer(country="BE")
    profile.update_details(customer, {"phone": typed})
    assert customer.phone == stored


@pytest.mark.parametrize("typed", ["12", "+32 0000", "call me", "+999 123456789"])
def test_a_wrong_phone_is_refused_and_nothing_changes(typed):
    customer = make_customer(phone="+32470123456")
    with pytest.raises(ValidationError) as refused:
        profile.update_details(customer, {"phone": typed, "language": "nl"})
    db.session.rollback()
    assert "phone" in refused.value.errors
    assert customer.phone == "+32470123456" and customer.language == "fr"


def test_address_and_contacts():
    customer = make_customer(contact_name="Anna Billing")
    profile.update_details(customer, {
        "address_line1": "Rue Neuve 1", "postal_code": "1000", "city": "Bruxelles",
        "country": "be", "billing_name": "Anna Billing", "billing_phone": "0470123456",
        "reminder_name": "Rita Reminder", "reminder_phone": "+32 471 11 22 33"})
    db.session.commit()
    assert profile.billing_address(customer).lines() == ["Rue Neuve 1", "1000 Bruxelles"]
    reminder = profile.contact(customer, "reminder")
    assert reminder.name == "Rita Reminder" and reminder.phone == "+32471112233"
    assert reminder.portal_access is False  # self-service never grants a sign-in
    # Half an address is refused.
    with pytest.raises(ValidationError) as refused:
        profile.update_details(customer, {"address_line1": "Rue X 2", "postal_code": "",
                                          "city": ""})
    db.session.rollback()
    assert {"postal_code", "city"} <= set(refused.value.errors)
    # An empty reminder name removes the reminder contact.
    profile.update_details(customer, {"reminder_name": "", "reminder_email": "",
                                      "reminder_phone": ""})
    db.session.commit()
    assert profile.contact(customer, "reminder") is None


def test_email_change_is_confirmed_by_the_new_address_and_told_to_the_old():
    customer = make_customer(email="old@example.test")
    result = profile.update_details(customer, {"email": "New@Example.test"},
                                    confirm_url_for=lambda raw: f"http://x/portal/profile/email/{raw}")
    db.session.commit()
    assert result.pending_emails == ["new@example.test"]
    assert customer.email == "old@example.test"  # not before the click
    mail = db.session.scalar(select(Message).where(Message.event == "email_change_confirmation"))
    assert mail.recipient == "new@example.test"
    token = _link_token(mail)
    row = db.session.scalar(select(EmailChange))
    assert token not in (row.token_hash or "")  # stored hashed
    assert profile.confirm_email_change(token) is not None
    db.session.commit()
    assert customer.email == "new@example.test"
    notice = db.session.scalar(select(Message).where(Message.event == "email_changed_notice"))
    assert notice.recipient == "old@example.test" and "new@example.test" in notice.body_text
    # Single use.
    assert profile.confirm_email_change(token) is None


def test_email_change_link_expires_and_a_newer_one_replaces_it():
    customer = make_customer(email="old@example.test")
    urls = []
    profile.update_details(customer, {"email": "a@example.test"}, confirm_url_for=_collect(urls))
    profile.update_details(customer, {"email": "b@example.test"}, confirm_url_for=_collect(urls))
    db.session.commit()
    assert profile.confirm_email_change(urls[0]) is None  # replaced
    row = db.session.scalar(select(EmailChange).where(EmailChange.new_email == "b@example.test"))
    row.expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    assert profile.confirm_email_change(urls[1]) is None  # expired
    assert customer.email == "old@example.test"


def test_a_contact_email_change_is_confirmed_too():
    customer = make_customer(email="c@example.test", contact_name="Bill")
    urls = []
    profile.update_details(customer, {"billing_name": "Bill", "billing_email": "bill@example.test"},
                           confirm_url_for=_collect(urls))
    db.session.commit()
    billing = profile.contact(customer, "billing")
    assert billing.email == "c@example.test"
    mail = db.session.scalar(select(Message).where(Message.event == "email_change_confirmation"))
    assert mail.recipient == "bill@example.test"
    assert profile.confirm_email_change(_link_token(mail)) is not None
    db.session.commit()
    assert billing.email == "bill@example.test" and customer.email == "c@example.test"


def test_a_bad_email_is_refused():
    customer = make_customer(email="c@example.test")
    with pytest.raises(ValidationError) as refused:
        profile.update_details(customer, {"email": "not-an-address"})
    assert "email" in refused.value.errors
    assert db.session.scalar(select(EmailChange.id)) is None
