"""Small defects of issue 20 (#5, #6): the signed-out home page, the favicon, amounts typed
with a decimal comma, refused forms that keep what was typed."""
from __future__ import annotations

from decimal import Decimal

from flask_babel import refresh
from sqlalchemy import select

from app.core.forms import parse_money_input
from app.extensions import db
from app.invoices.models import CreditNote
from tests.helpers import csrf_for, logged_in_client, make_customer


def test_signed_out_home_goes_to_the_login_page_without_access_denied(app):
    client = app.test_client()
    response = client.get("/")
    assert response.status_code in (302, 303)
    assert "/login" in response.headers["Location"]
    login = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Access is Denied" not in login


def test_favicon_is_served(app):
    response = app.test_client().get("/favicon.ico")
    assert response.status_code == 200
    assert response.data[:4] == b"\x00\x00\x01\x00"  # an ICO file
    assert "icon" in response.mimetype


def test_money_input_in_both_separators_and_per_locale_groups():
    assert parse_money_input("12,50", "fr") == Decimal("12.50")
    assert parse_money_input("12.50", "fr") == Decimal("12.50")
    assert parse_money_input("1.234,50", "nl") == Decimal("1234.50")
    assert parse_money_input("1 234,50 €", "fr") == Decimal("1234.50")
    assert parse_money_input("1,234.50", "en") == Decimal("1234.50")
    assert parse_money_input("1.234", "fr") == Decimal("1234.00")
    assert parse_money_input("1,234", "en") == Decimal("1234.00")
    assert parse_money_input("12,5", "en") == Decimal("12.50")


def _post(client, url: str, data: dict):
    refresh()
    return client.post(url, data={**data, "csrf_token": csrf_for(client)})


def test_credit_note_form_accepts_a_decimal_comma(app):
    customer = make_customer(name="Brasserie Dupont")
    client = logged_in_client(app, "Credit manager")
    response = _post(client, "/adjustments/credit-notes?lang=fr",
                     {"customer_number": customer.number, "amount": "12,50",
                      "reason": "Geste commercial"})
    assert response.status_code in (302, 303)
    note = db.session.scalar(select(CreditNote).where(CreditNote.customer_id == customer.id))
    assert note is not None and note.amount == Decimal("12.50")


def test_refused_credit_note_form_keeps_what_was_typed(app):
    customer = make_customer(name="Brasserie Dupont")
    client = logged_in_client(app, "Credit manager")
    response = _post(client, "/adjustments/credit-notes?lang=en",
                     {"customer_number": customer.number, "amount": "twelve",
                      "reason": "Goodwill gesture"})
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert 'value="twelve"' in html
    assert "Goodwill gesture" in html
    assert db.session.scalar(select(CreditNote)) is None
    # a refusal by the service (unknown customer) keeps the form too
    response = _post(client, "/adjustments/credit-notes?lang=en",
                     {"customer_number": "NOPE", "amount": "12,50", "reason": "Goodwill"})
    assert response.status_code == 400
    assert 'value="12,50"' in response.get_data(as_text=True)


def test_refused_pause_form_keeps_the_reason(app):
    customer = make_customer(name="Jan Peeters")
    client = logged_in_client(app, "Credit manager")
    response = _post(client, f"/customer360/{customer.id}/pause?lang=en",
                     {"reason": "On holiday until June", "paused_until": "yesterday"})
    assert response.status_code == 400
    assert 'value="On holiday until June"' in response.get_data(as_text=True)


def test_sms_code_journey_on_the_embedded_default(app, capsys):
    """The local mailbox takes SMS on the embedded default: the console of run.py shows the
    real code, the mailbox (what staff read) only the hidden copy; the code finishes opt-in."""
    import re

    from app.customers.models import Customer
    from app.notifications.defaults import install_defaults
    from app.notifications.models import Message
    from tests.portal.conftest import sign_in

    assert not app.config.get("PUBLIC_URL_REQUIRED")  # the embedded default
    install_defaults()
    customer = make_customer(email="sms@example.test", language="en")
    client = app.test_client()
    sign_in(client, "sms@example.test")
    response = _post(client, "/portal/preferences",
                     {"delivery_channel": "email", "language": "en", "sms_reminders": "y",
                      "phone": "0470 12 34 56"})
    assert response.status_code == 302 and response.headers["Location"].endswith("/sms-code")
    from app.notifications.jobs import deliver_message

    sms = db.session.scalar(select(Message).where(Message.event == "sms_confirmation_code"))
    if sms.status != "sent":  # queued on a real Redis: deliver it as the worker would
        deliver_message(sms.id)
    db.session.expire_all()
    sms = db.session.get(Message, sms.id)
    assert sms.channel == "sms" and sms.status == "sent", (sms.status, sms.error)
    assert sms.provider == "local_mailbox_sms"
    console = capsys.readouterr().out
    code = re.search(r"\[mailbox\] SMS to \+32470123456: .*?\b(\d{6})\b", console).group(1)
    assert code not in (sms.body_text or "")  # the stored copy has it hidden

    from flask import g

    g.pop("csrf_token", None)  # the test shares one app context with the portal client
    staff = logged_in_client(app, "Admin")
    refresh()
    mailbox = staff.get("/mailboxview/list/?lang=en").get_data(as_text=True)
    assert "SMS" in mailbox and sms.recipient in mailbox
    shown = staff.get(f"/mailboxview/show/{sms.id}?lang=en").get_data(as_text=True)
    assert code not in shown  # staff never read a usable code

    done = _post(client, "/portal/preferences/sms-code", {"code": code})
    assert done.status_code == 302
    db.session.expire_all()
    assert db.session.get(Customer, customer.id).sms_reminders is True
