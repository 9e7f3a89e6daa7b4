"""Settings → Business rules in a real browser (Playwright driving Debian's Chromium, as the
portal journeys do): a credit manager working in French lowers the largest deferral approved at
once by typing "250,50" (decimal comma) on the form; a customer then sees the new limit on the
portal and a deferral above it waits for staff. Every group's form is photographed in French,
Dutch and English into test-artifacts/settings/ for people to review."""
from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select

from app.core.roles import ADMIN, CREDIT_MANAGER
from app.core.settings import GROUPS, get_setting
from app.extensions import db
from app.requests.models import CustomerRequest
from tests.browser_support import TIMEOUT_MS, needs_chromium, sign_in_staff
from tests.helpers import make_customer, make_invoice, make_staff_user

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "settings"
KEY = "self_service.deferral.max_amount"

pytestmark = [
    pytest.mark.browser,
    needs_chromium,
]


def _staff_page(browser, server: str, app, role: str, language: str):
    user = make_staff_user(app, role)
    db.session.commit()
    page = browser.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    sign_in_staff(page, server, user)
    page.goto(f"{server}/lang/{language}")
    return page


def _shoot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_a_credit_manager_lowers_the_deferral_limit_and_the_portal_applies_it(
        server, browser, app):
    from app.notifications.defaults import install_defaults
    from tests.portal.conftest import install_magic_link_templates, last_login_link

    install_magic_link_templates()
    install_defaults()  # the request's acknowledgement is queued
    person = make_customer(name="Boulangerie Dewitte", email="settings-journey@example.test",
                           language="fr")
    invoice = make_invoice(person, total="300.00", due_in_days=-3)
    db.session.commit()

    page = _staff_page(browser, server, app, CREDIT_MANAGER, "fr")
    page.goto(f"{server}/settings/rules/")
    page.locator("#group-portal").click()
    page.wait_for_url("**/settings/rules/portal")
    field = page.locator("#setting-self_service-deferral-max_amount")
    assert field.input_value() == "1000,00"  # the default, written the French way
    field.fill("douze")
    page.locator("#save-settings").click()
    # the same address answers: wait for the answer's content, not for the URL
    page.locator("#row-self_service-deferral-max_amount .setting-error").wait_for()
    assert field.input_value() == "douze"  # what was typed stays, to be corrected
    field.fill("250,50")
    page.locator("#save-settings").click()
    row = page.locator("#row-self_service-deferral-max_amount")
    row.locator(".setting-changed").wait_for()
    assert field.input_value() == "250,50"
    _shoot(page, "journey/fr-portal-changed")
    db.session.expire_all()
    assert get_setting(KEY) == Decimal("250.50")
    page.close()

    customer_page = browser.new_page()
    customer_page.set_default_timeout(TIMEOUT_MS)
    customer_page.goto(f"{server}/portal/login")
    customer_page.locator("input[type=email]").fill(person.email)
    customer_page.locator("main form button[type=submit]").click()
    customer_page.wait_for_url("**/portal/login/sent")
    customer_page.goto(server + last_login_link(person.email))
    customer_page.locator("main form button[type=submit]").click()
    customer_page.wait_for_url(f"{server}/portal/")
    customer_page.goto(f"{server}/portal/invoices/{invoice.id}/deferral")
    text = customer_page.inner_text("main").replace("\u202f", " ").replace("\xa0", " ")
    assert "250,50 €" in text  # the new limit, shown to the customer
    new_date = date.today() + timedelta(days=10)
    customer_page.locator("#new_due_date").fill(new_date.isoformat())
    customer_page.locator("main form button[type=submit]").click()
    customer_page.wait_for_url(lambda url: not url.endswith("/deferral"))
    _shoot(customer_page, "journey/fr-portal-deferral-above-the-limit")
    db.session.expire_all()
    request = db.session.scalar(select(CustomerRequest).where(
        CustomerRequest.customer_id == person.id).order_by(CustomerRequest.id.desc()))
    assert request is not None and request.kind == "deferral"
    assert request.status != "approved"  # 300,00 € is above 250,50 €: our team decides
    customer_page.close()


@pytest.mark.parametrize("language", ["fr", "nl", "en"])
def test_screenshots_of_every_group(server, browser, app, language):
    page = _staff_page(browser, server, app, ADMIN, language)
    page.goto(f"{server}/settings/rules/")
    _shoot(page, f"{language}-index")
    for group in GROUPS:
        response = page.goto(f"{server}/settings/rules/{group}")
        assert response.status == 200, group
        _shoot(page, f"{language}-{group}")
    page.close()
    # and one form as someone who may only read it
    reader = _staff_page(browser, server, app, "AR clerk", language)
    reader.goto(f"{server}/settings/rules/approvals")
    assert reader.locator("#read-only").count() == 1
    assert reader.locator("#save-settings").count() == 0
    _shoot(reader, f"{language}-approvals-read-only")
    reader.close()
