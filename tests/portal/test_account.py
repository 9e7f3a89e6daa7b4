"""The account area over HTTP: my details, refund account, direct debit, preferences."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from app.customers.models import BankAccount, Mandate
from app.extensions import db
from app.notifications.models import Message
from tests.helpers import make_customer, make_invoice
from tests.notifications.received import received_text
from tests.portal.conftest import csrf_from


@pytest.fixture(autouse=True)
def _message_templates(app, _clean_database):
    from app.notifications.defaults import install_defaults

    install_defaults()


@pytest.fixture
def signed_in(portal_client):
    def make(**fields):
        fields.setdefault("email", "me@example.test")
        fields.setdefault("language", "en")
        customer = make_customer(**fields)
        return customer, portal_client(customer)
    return make


def _post(client, url, data, token_from=None):
    page = client.get(token_from or url).get_data(as_text=True)
    return client.post(url, data={**data, "csrf_token": csrf_from(page)})


@pytest.mark.parametrize("url", ["/portal/profile", "/portal/bank-account", "/portal/direct-debit",
                                 "/portal/preferences", "/portal/preferences/sms-code"])
def test_pages_need_a_signed_in_customer(client, url):
    response = client.get(url)
    assert response.status_code == 302 and "/portal/login" in response.headers["Location"]


def test_details_page_and_locked_fields(signed_in):
    customer, client = signed_in(name="Locked Name SA", vat_number="BE0403170701")
    make_invoice(customer)
    body = client.get("/portal/profile").get_data(as_text=True)
    assert "Locked Name SA" in body and 'name="name"' not in body  # read-only, no input
    assert "can no longer be changed here" in body and "billing@creditdesk-demo.example" in body
    for link in ("/portal/bank-account", "/portal/direct-debit", "/portal/preferences"):
        assert link in body
    # A forged post of the locked field is refused; nothing changes.
    response = _post(client, "/portal/profile", {"name": "Forged Name", "city": "Gent",
                                                 "address_line1": "Veld 1", "postal_code": "9000",
                                                 "language": "en", "country": "BE"})
    assert response.status_code == 400
    db.session.expire_all()
    assert customer.name == "Locked Name SA" and customer.addresses == []


def test_details_are_saved_and_free_text_is_escaped(signed_in):
    customer, client = signed_in()
    response = _post(client, "/portal/profile", {
        "name": customer.name, "email": "me@example.test", "phone": "0470 12 34 56",
        "language": "en", "address_line1": "<script>alert(1)</script> street 1",
        "postal_code": "1000", "city": "Brussels", "country": "BE",
        "billing_name": "Anna", "reminder_name": ""})
    assert response.status_code == 302
    db.session.expire_all()
    assert customer.phone == "+32470123456"
    body = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "<script>alert(1)</script>" not in body
    assert "&lt;script&gt;alert(1)&lt;/script&gt; street 1" in body


def test_bad_phone_shows_the_message_and_changes_nothing(signed_in):
    customer, client = signed_in(phone="+32470123456")
    response = _post(client, "/portal/profile", {"phone": "12", "language": "nl",
                                                 "country": "BE", "name": customer.name})
    assert response.status_code == 400
    assert "Not a valid phone number" in response.get_data(as_text=True)
    db.session.expire_all()
    assert customer.phone == "+32470123456" and customer.language == "en"


def test_posts_without_csrf_are_refused(signed_in):
    customer, client = signed_in()
    for url, data in (("/portal/profile", {"phone": "0470123456", "language": "en"}),
                      ("/portal/bank-account", {"iban": "BE68539007547034"}),
                      ("/portal/direct-debit", {"iban": "BE68539007547034",
                                                "signature_name": "Me", "consent": "y"}),
                      ("/portal/direct-debit/revoke", {}),
                      ("/portal/preferences", {"delivery_channel": "paper", "language": "en"})):
        response = client.post(url, data=data)
        assert response.status_code == 400, url
    db.session.expire_all()
    assert customer.phone is None and customer.delivery_channel == "email"
    assert db.session.scalar(select(BankAccount.id)) is None
    assert db.session.scalar(select(Mandate.id)) is None


def test_email_change_over_http(signed_in, client):
    customer, portal = signed_in()
    response = _post(portal, "/portal/profile", {"email": "new@example.test", "language": "en",
                                                 "country": "BE", "name": customer.name})
    assert response.status_code == 302
    page = portal.get(response.headers["Location"]).get_data(as_text=True)
    assert "new@example.test" in page  # "we sent a confirmation link to ..."
    mail = db.session.scalar(select(Message).where(Message.event == "email_change_confirmation"))
    assert "/portal/profile/email/••••••" in mail.body_text  # staff see the link hidden
    path = re.search(r"(/portal/profile/email/[A-Za-z0-9_\-]+)", received_text(mail)).group(1)
    # Opened in another browser, not signed in: GET only asks. (The test's app context keeps
    # Flask-WTF's token on g: forget the signed-in client's one.)
    from flask import g

    g.pop("csrf_token", None)
    ask = client.get(path)
    assert ask.status_code == 200 and "new@example.test" in ask.get_data(as_text=True)
    db.session.expire_all()
    assert customer.email == "me@example.test"
    assert client.post(path, data={}).status_code == 400  # no CSRF token
    done = client.post(path, data={"csrf_token": csrf_from(ask.get_data(as_text=True))})
    assert done.status_code == 200
    db.session.expire_all()
    assert customer.email == "new@example.test"
    assert client.get(path).status_code == 410  # single use
    assert client.get("/portal/profile/email/forged-token").status_code == 410


def test_refund_account_over_http(signed_in):
    customer, client = signed_in(language="fr")
    bad = _post(client, "/portal/bank-account", {"iban": "BE68 5390 0754 7035"})
    assert bad.status_code == 400
    assert "IBAN non valide" in bad.get_data(as_text=True)
    assert db.session.scalar(select(BankAccount.id)) is None
    good = _post(client, "/portal/bank-account", {"iban": "be68 5390 0754 7034", "bic": ""})
    assert good.status_code == 302
    body = client.get(good.headers["Location"]).get_data(as_text=True)
    assert "BE68 •••• •••• 7034" in body and "BE68539007547034" not in body
    account = db.session.scalar(select(BankAccount))
    assert account.status == "pending" and account.customer_id == customer.id
    events = {m.event for m in db.session.scalars(select(Message))}
    assert {"refund_account_changed", "refund_account_staff_alert"} <= events


def test_direct_debit_over_http(signed_in):
    from app.core.settings import set_setting

    set_setting("company.name", "Zeta Energie NV")
    db.session.commit()
    customer, client = signed_in()
    page = client.get("/portal/direct-debit").get_data(as_text=True)
    assert "Zeta Energie NV" in page and "BE81ZZZ0123456749" in page and "8 weeks" in page
    refused = _post(client, "/portal/direct-debit", {"iban": "BE68539007547034",
                                                     "signature_name": "Me Myself"})
    assert refused.status_code == 400  # no consent ticked
    assert db.session.scalar(select(Mandate.id)) is None
    signed = _post(client, "/portal/direct-debit", {"iban": "BE68539007547034",
                                                    "signature_name": "<b>Me</b> Myself",
                                                    "consent": "y"})
    assert signed.status_code == 302
    mandate = db.session.scalar(select(Mandate))
    assert mandate.status == "pending" and mandate.signature_ip == "127.0.0.1"
    body = client.get("/portal/direct-debit").get_data(as_text=True)
    assert mandate.reference in body and "&lt;b&gt;Me&lt;/b&gt;" in body
    revoked = _post(client, "/portal/direct-debit/revoke", {}, token_from="/portal/direct-debit")
    assert revoked.status_code == 302
    db.session.expire_all()
    assert mandate.status == "revoked" and customer.payment_method == "transfer"


def test_preferences_and_sms_code_over_http(signed_in):
    customer, client = signed_in()
    response = _post(client, "/portal/preferences", {"delivery_channel": "paper",
                                                     "language": "en", "sms_reminders": "y",
                                                     "phone": "0470 12 34 56"})
    assert response.status_code == 302 and response.headers["Location"].endswith("/sms-code")
    db.session.expire_all()
    assert customer.delivery_channel == "paper" and customer.sms_reminders is False
    sms = db.session.scalar(select(Message).where(Message.event == "sms_confirmation_code"))
    code = re.search(r"\b(\d{6})\b", received_text(sms)).group(1)
    assert code not in sms.body_text  # staff see the code hidden
    wrong = _post(client, "/portal/preferences/sms-code", {"code": "99999a"})
    assert wrong.status_code == 400
    ok = _post(client, "/portal/preferences/sms-code", {"code": code})
    assert ok.status_code == 302
    db.session.expire_all()
    assert customer.sms_reminders is True and customer.phone == "+32470123456"
