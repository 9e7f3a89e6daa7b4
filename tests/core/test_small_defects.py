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
