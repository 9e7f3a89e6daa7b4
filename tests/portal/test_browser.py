"""The customer's journey in a real browser: Playwright driving Debian's Chromium against the
app served by a real HTTP server thread on 127.0.0.1.

magic link -> dashboard -> invoice -> PDF download -> pay page with a scannable QR code ->
dispute part of the invoice (with a photo) -> payment plan (preview, auto-approved, schedule with
a structured communication and QR code per instalment) -> Dutch -> log out. Every page a signed-in
customer reaches (invoices and paying, requests, my details, bank account, direct debit,
preferences, my data, the welcome check, the demo provider's checkout) is also photographed in
French, Dutch and English, on a desktop and at 375 px wide, into test-artifacts/portal/ for
people to review.
"""
from __future__ import annotations

import io
import shutil
import subprocess
from datetime import date, timedelta
from pathlib import Path

import pytest
from flask_babel import force_locale, format_date
from flask_babel import gettext as _
from pypdf import PdfReader
from sqlalchemy import select

from app.extensions import db
from app.invoices.models import InvoiceLine
from app.requests.models import PaymentPlan
from tests.browser_support import TIMEOUT_MS, needs_chromium
from tests.helpers import make_customer, make_invoice
from tests.portal.conftest import last_login_link

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "portal"
PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06"
       b"\x00\x00\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x01\x01\x01\x00"
       b"\x18\xdd\x8d\xb4\x00\x00\x00\x00IEND\xaeB`\x82")

pytestmark = [
    pytest.mark.browser,
    needs_chromium,
]


def _due_in_a_month_with_a_dutch_name() -> date:
    """An upcoming date whose month is written differently in Dutch, French and English."""
    day = date.today() + timedelta(days=3)
    while day.month not in (1, 2, 3, 5, 6, 7, 8, 10):
        day += timedelta(days=1)
    return day


@pytest.fixture
def customer(app, templates):
    from app.notifications.defaults import install_defaults

    install_defaults()  # requests, disputes and plans queue messages
    person = make_customer(name="Brasserie Van Dyck", email="journey@example.test",
                           language="fr")
    overdue = make_invoice(person, total="125.50", due_in_days=-12,
                           description="Entretien chaudière")
    overdue.lines.append(InvoiceLine(position=1, description="Entretien chaudière",
                                     quantity=1, unit_price=103.72, amount=125.50))
    upcoming_due = _due_in_a_month_with_a_dutch_name()
    make_invoice(person, total="80.00", due_in_days=(upcoming_due - date.today()).days,
                 description="Abonnement")
    db.session.commit()
    return person, overdue, upcoming_due


def _shoot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def _sign_in(page, server: str, email: str) -> None:
    page.goto(f"{server}/portal/login")
    page.locator("input[type=email]").fill(email)
    page.locator("main form button[type=submit]").click()
    page.wait_for_url("**/portal/login/sent")
    page.goto(server + last_login_link(email))
    page.locator("main form button[type=submit]").click()
    page.wait_for_url(f"{server}/portal/")


def test_customer_journey(server, browser, customer, tmp_path):
    person, overdue, upcoming_due = customer
    context = browser.new_context(locale="fr-BE", viewport={"width": 1280, "height": 900},
                                  accept_downloads=True)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    foreign = []
    page.on("request", lambda r: foreign.append(r.url)
            if not r.url.startswith((server, "data:")) else None)

    # Sign in with the magic link; the dashboard opens in the customer's language (French).
    _sign_in(page, server, person.email)
    assert page.locator("html").get_attribute("lang") == "fr"
    assert "125,50 €" in page.inner_text("main").replace("\u202f", " ").replace("\xa0", " ")

    # Invoice list, then the invoice.
    page.locator("nav.main-nav a[href='/portal/invoices']").click()
    page.get_by_role("link", name=overdue.number, exact=True).click()
    page.wait_for_url(f"**/portal/invoices/{overdue.id}")
    assert "Entretien chaudière" in page.inner_text("main")

    # The PDF: a real PDF of this invoice.
    with page.expect_download() as caught:
        page.locator(f"a[href='/portal/invoices/{overdue.id}/pdf']").click()
    pdf_path = tmp_path / "invoice.pdf"
    caught.value.save_as(pdf_path)
    data = pdf_path.read_bytes()
    assert data.startswith(b"%PDF")
    assert overdue.number in "".join(p.extract_text() for p in PdfReader(io.BytesIO(data)).pages)

    # Pay: IBAN, communication and a QR code a banking app can read.
    page.locator(f"a[href='/portal/invoices/{overdue.id}/pay']").first.click()
    page.wait_for_url(f"**/portal/invoices/{overdue.id}/pay")
    ogm = overdue.structured_reference
    assert f"+++{ogm[:3]}/{ogm[3:7]}/{ogm[7:]}+++" in page.inner_text("main")
    qr = page.locator(".qr img")
    assert qr.is_visible()
    if shutil.which("zbarimg"):
        shot = tmp_path / "qr.png"
        qr.screenshot(path=str(shot))
        decoded = subprocess.run(["zbarimg", "--raw", "-q", str(shot)], capture_output=True,
                                 text=True, check=True).stdout.splitlines()
        assert decoded[:4] == ["BCD", "002", "1", "SCT"]
        assert "BE04068246137931" in decoded and "EUR125.50" in decoded and ogm in decoded

    # Dispute part of the invoice, with a photo: reminders stop for that amount at once.
    page.goto(f"{server}/portal/invoices/{overdue.id}")
    page.locator(f"a[href='/portal/invoices/{overdue.id}/dispute']").click()
    page.wait_for_url(f"**/portal/invoices/{overdue.id}/dispute")
    page.locator("#reason").select_option("wrong_amount")
    page.locator("#amount").fill("25,50")
    page.locator("#text").fill("Le devis disait 100 €.")
    page.locator("#files").set_input_files(files=[{"name": "devis.png", "mimeType": "image/png",
                                                   "buffer": PNG}])
    page.locator("main form button[type=submit]").click()
    page.wait_for_url("**/portal/disputes/*")
    main = page.inner_text("main")
    assert "devis.png" in main and "Le devis disait 100 €." in main
    _shoot(page, "journey/fr-dispute-detail")

    # A payment plan for the overdue invoice: 100.00 still due (125.50 less 25.50 disputed)
    # in 2 instalments of 50.00: within the rules, approved at once.
    page.goto(f"{server}/portal/plan")
    boxes = page.locator("input[name=invoices]")
    for n in range(boxes.count()):
        box = boxes.nth(n)
        box.set_checked(box.get_attribute("value") == str(overdue.id))
    page.locator("#installment_count").fill("2")
    page.locator("#day_of_month").select_option("15")
    page.locator("main form button[type=submit]").click()
    assert "100,00 €" in page.inner_text("main").replace("\u202f", " ").replace("\xa0", " ")
    _shoot(page, "journey/fr-plan-preview")
    page.locator("main form button[value=confirm]").click()
    page.wait_for_url("**/portal/plans/*")
    plan = db.session.scalar(select(PaymentPlan).where(PaymentPlan.customer_id == person.id))
    assert plan is not None and plan.status == "active" and len(plan.installments) == 2
    main = page.inner_text("main")
    for installment in plan.installments:
        ogm = installment.structured_reference
        assert f"+++{ogm[:3]}/{ogm[3:7]}/{ogm[7:]}+++" in main
    assert page.locator(".installment .qr img").count() == 2
    _shoot(page, "journey/fr-plan")

    # Switch to Dutch: the page speaks Dutch (menu and dates) and formats amounts the Dutch way.
    page.locator("nav.languages a[hreflang=nl]").click()
    page.wait_for_load_state()
    assert page.locator("html").get_attribute("lang") == "nl"
    assert "€ 50,00" in page.inner_text("main").replace("\xa0", " ")
    with force_locale("nl_BE"):
        invoices_nl = _("Invoices")
        long_date = format_date(upcoming_due, "long")
        first_due = format_date(plan.installments[0].due_date, "long")
    assert invoices_nl != "Invoices"
    assert page.locator("nav.main-nav").inner_text().count(invoices_nl) == 1
    assert first_due in page.inner_text("main")
    _shoot(page, "journey/nl-plan")
    page.goto(f"{server}/portal/invoices/{overdue.id}")
    assert "€ 125,50" in page.inner_text("main").replace("\xa0", " ")
    page.locator("nav.main-nav a[href='/portal/']").click()
    # "Next due date" is the plan's first instalment when it comes before the next invoice.
    assert (first_due if plan.installments[0].due_date <= upcoming_due else long_date) \
        in page.inner_text("main")  # e.g. "5 maart 2026"

    # Log out: back to the sign-in page, and the dashboard is closed.
    page.locator("form.logout button").click()
    page.wait_for_url("**/portal/login?signed_out=1")
    page.goto(f"{server}/portal/")
    assert "/portal/login" in page.url
    assert foreign == [], f"requests to other hosts: {foreign}"
    context.close()


PAGES = [
    ("dashboard", "/portal/"), ("invoices", "/portal/invoices?status=all"),
    ("invoice", "/portal/invoices/{id}"), ("pay", "/portal/invoices/{id}/pay"),
    ("pay-overdue", "/portal/pay"), ("statement", "/portal/statement"),
    # invoice actions (deferral, plan, dispute)
    ("deferral", "/portal/invoices/{id}/deferral"), ("deferral-several", "/portal/deferral"),
    ("deferral-result", "/portal/invoice-actions/{request}"), ("plan-wizard", "/portal/plan"),
    ("plan", "/portal/plans/{plan}"), ("dispute", "/portal/invoices/{id}/dispute"),
    ("dispute-detail", "/portal/disputes/{dispute}"),
    # my details and settings
    ("profile", "/portal/profile"), ("bank-account", "/portal/bank-account"),
    ("direct-debit", "/portal/direct-debit"), ("preferences", "/portal/preferences"),
    # my requests, my data, the welcome check
    ("requests", "/portal/requests"), ("request-new", "/portal/requests/new"),
    ("request-detail", "/portal/requests/{question}"), ("my-data", "/portal/my-data"),
    ("welcome", "/portal/welcome"),
]


def _invoice_action_records(person, overdue) -> dict[str, int]:
    """A plan, a dispute, a deferral sent to staff and a question, so that their pages can be
    shown."""
    from datetime import date as _date

    from app.core.settings import set_setting
    from app.requests.deferrals import request_deferral
    from app.requests.disputes import open_dispute
    from app.requests.plans import request_plan
    from app.requests.services import open_request

    planned = make_invoice(person, total="300.00", due_in_days=-5, description="Travaux")
    plan = request_plan(person, [planned], 3, 10).plan
    dispute = open_dispute(person, overdue, "25.50", "wrong_amount", "Le devis disait 100 €.",
                           [("devis.png", PNG)])
    set_setting("self_service.deferral.max_amount", "50.00")
    late = make_invoice(person, total="90.00", due_in_days=-2, description="Pièces")
    referred = request_deferral(person, [late], _date.today() + timedelta(days=20))
    question = open_request(person, "question", subject="Facture d'eau",
                            message="Pourquoi le montant a-t-il doublé ?", invoices=[late])
    db.session.commit()
    return {"plan": plan.id, "dispute": dispute.id, "request": referred.request.id,
            "question": question.id}


@pytest.mark.parametrize("width", [1280, 375])
def test_screenshots_of_every_page_in_three_languages(server, browser, customer, width):
    person, overdue, _due = customer
    ids = _invoice_action_records(person, overdue)
    context = browser.new_context(locale="fr-BE", viewport={"width": width, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    for language in ("fr", "nl", "en"):
        page.goto(f"{server}/portal/language/{language}?next=/portal/login")
        _shoot(page, f"{width}/{language}-login")
    _sign_in(page, server, person.email)
    for language in ("fr", "nl", "en"):
        page.goto(f"{server}/portal/language/{language}?next=/portal/")
        for name, path in PAGES:
            response = page.goto(server + path.format(id=overdue.id, **ids))
            assert response.status == 200, f"{name}: HTTP {response.status}"
            assert page.url == server + path.format(id=overdue.id, **ids), f"{name} redirected"
            _check_width(page, name, language, width)
            _shoot(page, f"{width}/{language}-{name}")
        # The plan preview is the answer to a form: press "see the schedule".
        page.goto(f"{server}/portal/plan")
        page.locator("main form button[type=submit]").click()
        page.wait_for_load_state()
        assert page.locator("table.schedule").is_visible()
        _shoot(page, f"{width}/{language}-plan-preview")
        # The demo provider's checkout page, reached by the "pay online" button (nothing paid).
        page.goto(f"{server}/portal/pay")
        page.locator("section.online-pay button[type=submit]").click()
        page.wait_for_url("**/portal/demo-checkout/*")
        assert page.locator("form.demo-checkout").is_visible()
        _check_width(page, "demo-checkout", language, width)
        _shoot(page, f"{width}/{language}-demo-checkout")
    context.close()


def _check_width(page, name: str, language: str, width: int) -> None:
    assert page.locator("html").get_attribute("lang") == language
    # Usable on a phone: nothing wider than the screen.
    overflow = page.evaluate("document.documentElement.scrollWidth")
    assert overflow <= width, f"{name} in {language} is {overflow}px wide at {width}px"


def test_keyboard_only_sign_in_and_navigation(server, browser, customer):
    person, _overdue, _due = customer
    context = browser.new_context(viewport={"width": 375, "height": 800})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.goto(f"{server}/portal/login")
    page.keyboard.press("Tab")  # the first stop is the skip link
    assert page.evaluate("document.activeElement.className") == "skip-link"
    page.locator("input[type=email]").focus()
    page.keyboard.type(person.email)
    page.keyboard.press("Enter")
    page.wait_for_url("**/portal/login/sent")
    page.goto(server + last_login_link(person.email))
    page.keyboard.press("Tab")
    for _step in range(10):  # tab to the Continue button and press it
        if page.evaluate("document.activeElement.type") == "submit":
            break
        page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{server}/portal/")
    context.close()
