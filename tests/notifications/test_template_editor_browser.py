"""The template editor in a real browser (Playwright driving Debian's Chromium): a credit
manager edits a reminder in French, sees the variables beside the text and the preview follow
what they type, a mistake shown with its line, and saves. Screenshots of the editor in French,
Dutch and English go to test-artifacts/templates/ for people to review."""
from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from app.dunning.defaults import install_templates
from app.extensions import db
from app.notifications.models import MessageTemplate
from app.notifications.rendering import active_template
from tests.browser_support import TIMEOUT_MS, needs_chromium, sign_in_staff
from tests.helpers import make_staff_user

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "templates"

pytestmark = [
    pytest.mark.browser,
    needs_chromium,
]


def _sign_in(page, server: str, app, language: str) -> None:
    user = make_staff_user(app, "Credit manager")
    sign_in_staff(page, server, user, login=f"/login/?_l_={language}")


def test_editing_a_reminder_in_french_with_the_live_preview(app, defaults, server, browser):
    install_templates()
    db.session.commit()
    template = active_template("dunning_reminder", "email", "fr")
    from playwright.sync_api import expect

    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.set_default_timeout(TIMEOUT_MS)
    expect.set_options(timeout=TIMEOUT_MS)
    _sign_in(page, server, app, "fr")
    page.goto(f"{server}/messagetemplateview/edit/{template.id}?_l_=fr")
    variables = page.locator("#template-variable-list")
    assert "total_due" in variables.inner_text() and "deadline" in variables.inner_text()
    expect(page.locator("#preview-text")).to_contain_text("INV-000123")

    body = page.locator("textarea[name=body_text]")
    body.fill("Bonjour {{ customer.contact_name }},\nVous devez encore {{ total_due|money }}.\n")
    expect(page.locator("#preview-text")).to_contain_text(
        "Bonjour Marie Dupont,\nVous devez encore 125,00\u00a0€.")
    expect(page.frame_locator("#preview-html").locator("body")).to_contain_text(
        "Vous devez encore 125,00")  # the e-mail's HTML, as the customer sees it
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "editor-fr.png"), full_page=True)

    body.fill("Bonjour\n{{ montant_du|money }}\n")
    expect(page.locator("#preview-error")).to_contain_text("montant_du")
    assert "2" in page.locator("#preview-error").inner_text()  # the line
    page.locator("form#model_form [type=submit], form [type=submit]").last.click()
    page.wait_for_load_state()
    assert "montant_du" in page.content()  # refused next to the field, nothing saved
    db.session.expire_all()
    assert db.session.scalar(select(MessageTemplate.id).where(
        MessageTemplate.created_by_id.is_not(None))) is None

    body.fill("Bonjour {{ customer.contact_name }}, merci de payer {{ total_due|money }} "
              "avant le {{ deadline|date }} : {{ pay_url }}\n")
    page.locator("form#model_form [type=submit], form [type=submit]").last.click()
    page.wait_for_load_state()
    db.session.expire_all()
    newest = active_template("dunning_reminder", "email", "fr")
    assert newest.version == template.version + 1 and "deadline" in newest.body_text

    for language in ("nl", "en"):
        page.goto(f"{server}/messagetemplateview/edit/{newest.id}?_l_={language}")
        expect(page.locator("#preview-text")).to_contain_text("Marie Dupont")
        page.screenshot(path=str(ARTIFACTS / f"editor-{language}.png"), full_page=True)
    page.close()
