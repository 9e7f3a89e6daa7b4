"""Pay online in a real browser (Chromium, 375 px): the demo provider's journey, and the way
out to a provider's own page on another host (the portal's CSP must not block it)."""
from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlalchemy import select
from werkzeug.serving import make_server

from app.extensions import db
from app.invoices.models import Invoice
from app.payments.online_models import OnlineCheckout
from tests.helpers import make_customer, make_invoice
from tests.plugins.test_psp_mollie import fake_mollie, mollie  # noqa: F401  (fixtures)
from tests.portal.conftest import last_login_link

CHROMIUM = "/usr/bin/chromium"
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run"]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's Chromium"),
]


@pytest.fixture(scope="module")
def server(app):
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()
    thread.join(timeout=5)


@pytest.fixture
def page(templates):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        context = browser.new_context(locale="en-GB", viewport={"width": 375, "height": 800})
        yield context.new_page()
        browser.close()


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
