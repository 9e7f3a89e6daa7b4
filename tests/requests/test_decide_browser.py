"""An AR clerk, in French, decides a deferral request in a real browser (Playwright driving
Debian's Chromium against the app on a real HTTP server thread): from the queue to the request
page, which shows the invoice concerned, why it needs a person and the customer's attachment;
approve; the request is approved, the invoice's due date moved, one message to the customer.
Screenshots go to test-artifacts/requests/ for review."""
from __future__ import annotations

import struct
import zlib
from datetime import date, timedelta
from pathlib import Path

import pytest
from flask_babel import force_locale
from sqlalchemy import func, select

from app.core.i18n import day
from app.extensions import db
from app.invoices.models import Invoice
from app.notifications.models import Message
from app.requests import attachments, deferrals
from app.requests.models import CustomerRequest, Deferral
from tests.browser_support import TIMEOUT_MS, chromium, needs_chromium, sign_in_staff
from tests.helpers import make_customer, make_invoice, make_staff_user

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "requests"
PDF = b"%PDF-1.4\n%test\n"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.usefixtures("message_templates"),
    needs_chromium,
]


def _png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A real PNG (one colour), so that the browser really draws it inline."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data)))

    rows = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0,
                                                               0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def _text(locator) -> str:
    """French groups thousands with (narrow) no-break spaces: compare with plain ones."""
    return locator.inner_text().replace("\u202f", " ").replace("\xa0", " ")


def _shoot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_an_ar_clerk_approves_a_deferral_in_french(app, server, monkeypatch):
    from playwright.sync_api import expect

    # The services' "today" is Brussels' calendar; the test builds dates from date.today().
    monkeypatch.setattr("app.requests.deferrals.business_today", date.today)
    customer = make_customer(name="Brasserie Dupont", language="fr")
    invoice = make_invoice(customer, total="1500.00", due_in_days=-3)
    old_due = invoice.due_date
    new_due = date.today() + timedelta(days=20)
    # As the portal does: the deferral service, then the files checked and stored.
    outcome = deferrals.request_deferral(customer, [invoice.id], new_due.isoformat())
    assert not outcome.approved  # 1 500 € is above the 1 000 € self-service limit
    req = outcome.request
    stored = attachments.store(req, attachments.check_uploads(
        [("releve.png", _png(160, 90, (40, 120, 200))), ("justificatif.pdf", PDF)]))
    db.session.commit()
    png, pdf = stored
    request_id, invoice_id = req.id, invoice.id
    messages_before = db.session.scalar(select(func.count()).select_from(Message))

    user = make_staff_user(app, "AR clerk")
    db.session.commit()
    problems: list[str] = []
    with chromium() as browser:
        page = browser.new_page(locale="fr-BE", viewport={"width": 1280, "height": 900})
        page.set_default_timeout(TIMEOUT_MS)
        expect.set_options(timeout=TIMEOUT_MS)
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.on("response", lambda r: problems.append(f"{r.status} {r.url}")
                if r.status >= 400 and not r.url.endswith("/favicon.ico") else None)
        sign_in_staff(page, server, user)
        page.goto(f"{server}/lang/fr")

        page.goto(f"{server}/requests/queue/")
        page.locator(f'a[href$="/requests/queue/{request_id}"]').first.click()
        page.wait_for_url(f"**/requests/queue/{request_id}")
        expect(page.locator("h1")).to_contain_text("Report de paiement")
        row = page.locator(f"#invoice-{invoice_id}")
        row_text = _text(row)
        assert invoice.number in row_text
        assert "1 500,00 €" in row_text  # the open amount the French way
        with app.test_request_context(), force_locale("fr"):
            old_due_fr, new_due_fr = day(old_due), day(new_due)
        assert old_due_fr in row_text
        reason = _text(page.locator("#referral-reason"))
        assert "Un report de paiement est approuvé immédiatement jusqu'à 1 000,00 €" \
            in reason and "1 500,00 €" in reason
        # The image is drawn inline, the PDF is a link to open in the browser.
        image = page.locator(f"#attachment-{png.id} img")
        expect(image).to_be_visible()
        assert image.evaluate("img => img.complete && img.naturalWidth") == 160
        # Sizes in the French number format (decimal comma), never "0.0".
        assert "(0,1 ko)" in _text(page.locator(f"#attachment-{pdf.id}"))
        pdf_link = page.locator(f'#attachment-{pdf.id} a[href$="?inline=1"]')
        expect(pdf_link).to_have_text("Ouvrir dans le navigateur")
        expect(page.locator(f"#attachment-{pdf.id}")).to_contain_text("justificatif.pdf")
        _shoot(page, "decide-fr-before")

        page.locator('#decide-form button[value="approve"]').click()
        page.wait_for_url(f"**/requests/queue/{request_id}")
        expect(page.locator("body")).to_contain_text(
            "La demande est approuvée ; le client en a été informé.")
        expect(page.locator("#request-status")).to_have_text("Approuvée")
        expect(page.locator("#decide-form")).to_have_count(0)
        expect(page.locator(f"#invoice-{invoice_id}")).to_contain_text(new_due_fr)
        _shoot(page, "decide-fr-approved")
    assert problems == []

    db.session.rollback()
    assert db.session.get(CustomerRequest, request_id).status == "approved"
    deferral = db.session.scalar(select(Deferral).where(Deferral.invoice_id == invoice_id))
    assert deferral is not None and deferral.status == "active"
    assert (deferral.original_due_date, deferral.new_due_date) == (old_due, new_due)
    assert db.session.get(Invoice, invoice_id).open_amount > 0
    told = db.session.scalars(select(Message).order_by(Message.id)).all()[messages_before:]
    assert len(told) == 1 and told[0].customer_id == customer.id

