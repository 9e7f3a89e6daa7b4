"""Pay online in a real browser (Chromium, 375 px): the demo provider's journey, and the way
out to a provider's own page on another host (the portal's CSP must not block it)."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from app.extensions import db
from app.invoices.models import Invoice
from app.payments.online.models import OnlineCheckout
from tests.browser_support import chromium, needs_chromium
from tests.helpers import make_customer, make_invoice
from tests.plugins.test_psp_mollie import fake_mollie, mollie  # noqa: F401  (fixtures)
from tests.portal.conftest import last_login_link

pytestmark = [
    pytest.mark.browser,
    needs_chromium,
]


@pytest.fixture
def page(templates):
    with chromium() as browser:
        context = browser.new_context(locale="en-GB", viewport={"width": 375, "height": 800})
        yield context.new_page()


@pytest.fixture(autouse=True)
def _notification_templates(app):
    from app.notifications.defaults import install_defaults

    install_defaults()


def _sign_in(page, server: str, email: str) -> None:
    page.goto(f"{server}/portal/login")
    page.locator("input[type=email]").fill(email)
    page.locator("main form button[type=submit]").click()
    page.wait_for_url("**/portal/login/sent")
    page.goto(server + last_login_link(email))
    page.locator("main form button[type=submit]").click()
    page.wait_for_url("**/portal/")


def test_demo_journey_in_the_browser(server, page):
    customer = make_customer(language="en", email="browser-pay@example.test")
    invoice = make_invoice(customer, total="42.00", due_in_days=-8)
    _sign_in(page, server, customer.email)
    page.goto(f"{server}/portal/pay")
    page.locator("section.online-pay button[type=submit]").click()
    page.wait_for_url("**/portal/demo-checkout/*")
    assert "No money moves" in page.content()
    page.locator("form.demo-checkout button[name=pay]").click()
    page.wait_for_url("**/portal/payments/*/return")
    assert "We received your payment of €42.00" in page.content()
    db.session.expire_all()
    assert db.session.get(Invoice, invoice.id).status == "paid"


def test_the_browser_reaches_the_providers_own_page(server, page, mollie):  # noqa: F811
    mollie.checkout_base = f"{mollie.url}/checkout/"
    customer = make_customer(language="en", email="browser-mollie@example.test")
    invoice = make_invoice(customer, total="12.00", due_in_days=-8)
    _sign_in(page, server, customer.email)
    page.goto(f"{server}/portal/invoices/{invoice.id}/pay")
    page.locator("section.online-pay button[type=submit]").click()
    page.wait_for_url(f"{mollie.url}/checkout/*")
    assert "Fake Mollie checkout" in page.content()
    assert db.session.scalar(select(OnlineCheckout.status)) == "created"
