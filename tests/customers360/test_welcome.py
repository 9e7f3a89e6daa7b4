"""Welcome check: the portal asks a new customer to confirm their details once; staff see who
has not; the checklist follows the data."""
from __future__ import annotations

import pytest

from app.customers.models import BankAccount, Customer
from app.customers.welcome import checklist
from app.extensions import db
from tests.helpers import make_customer
from tests.portal.conftest import csrf_from, install_magic_link_templates


@pytest.fixture
def welcome_on(app):
    app.config["PORTAL_WELCOME_CHECK"] = True
    install_magic_link_templates()
    yield
    app.config.pop("PORTAL_WELCOME_CHECK", None)


def _login_location(client, email):
    from app.portal.auth import reset_rate_limits
    from tests.portal.conftest import last_login_link

    reset_rate_limits()
    # The test's app context (and so Flask's `g`, where Flask-WTF caches the CSRF token) is
    # shared by every client: forget the previous client's token.
    from flask import g

    g.pop("csrf_token", None)
    page = client.get("/portal/login").get_data(as_text=True)
    client.post("/portal/login", data={"email": email, "csrf_token": csrf_from(page)})
    link = last_login_link(email)
    confirm = client.get(link).get_data(as_text=True)
    done = client.post(link, data={"csrf_token": csrf_from(confirm)})
    assert done.status_code == 302
    return done.headers["Location"]


def g_reset():
    from flask import g

    g.pop("csrf_token", None)


def test_first_sign_in_asks_to_confirm_then_never_again(app, welcome_on):
    customer = make_customer(email="new@example.test", phone="+32470000001",
                             address_line1="Rue Haute 1", postal_code="1000", city="Bruxelles")
    client = app.test_client()
    location = _login_location(client, "new@example.test")
    assert location.startswith("/portal/welcome")
    page = client.get(location)
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "Rue Haute 1" in html and "new@example.test" in html
    # Without a CSRF token nothing changes.
    assert client.post("/portal/welcome", data={"action": "confirm"}).status_code == 400
    db.session.expire_all()
    assert db.session.get(Customer, customer.id).verified_at is None
    done = client.post("/portal/welcome", data={"action": "confirm", "next": "/portal/",
                                                "csrf_token": csrf_from(html)})
    assert done.status_code == 302 and done.headers["Location"] == "/portal/"
    db.session.expire_all()
    assert db.session.get(Customer, customer.id).verified_at is not None
    again = app.test_client()
    assert _login_location(again, "new@example.test") == "/portal/"


def test_later_goes_on_and_asks_again_next_time(app, welcome_on):
    make_customer(email="later@example.test")
    client = app.test_client()
    location = _login_location(client, "later@example.test")
    g_reset()
    html = client.get(location).get_data(as_text=True)
    done = client.post("/portal/welcome", data={"action": "later", "next": "/portal/invoices",
                                                "csrf_token": csrf_from(html)})
    assert done.headers["Location"] == "/portal/invoices"
    assert _login_location(app.test_client(), "later@example.test").startswith("/portal/welcome")


def test_no_open_redirect_from_the_welcome_page(app, welcome_on):
    make_customer(email="redirect@example.test")
    client = app.test_client()
    html = client.get(_login_location(client, "redirect@example.test")).get_data(as_text=True)
    done = client.post("/portal/welcome", data={"action": "later", "next": "https://evil.test/",
                                                "csrf_token": csrf_from(html)})
    assert done.headers["Location"] == "/portal/"


def test_staff_setting_turns_it_off(app, welcome_on):
    from app.core.settings import set_setting

    set_setting("portal.welcome_check", False)
    db.session.commit()
    make_customer(email="off@example.test")
    assert _login_location(app.test_client(), "off@example.test") == "/portal/"


def test_checklist_follows_the_data():
    customer = make_customer(email="c@example.test", phone=None)
    items = {i.key: i for i in checklist(customer)}
    assert items["email"].present and not items["email"].confirmed
    assert not items["phone"].present and not items["address"].present
    assert not items["bank_account"].present
    db.session.add(BankAccount(customer=customer, iban="BE68539007547034", status="active"))
    customer.verified_at = db.func.now()
    db.session.commit()
    db.session.refresh(customer)
    items = {i.key: i for i in checklist(customer)}
    assert items["email"].confirmed and items["bank_account"].confirmed


def test_staff_list_of_unverified_customers(staff_client):
    make_customer(name="Never confirmed")
    done = make_customer(name="Confirmed already")
    from app.core.models import utcnow

    done.verified_at = utcnow()
    db.session.commit()
    html = staff_client("Read-only").get("/mywork/unverified").get_data(as_text=True)
    assert "Never confirmed" in html and "Confirmed already" not in html
