"""A credit manager's reminder day in a real browser, in French: dry run -> send -> the run's
page; and the level form showing only the fields that matter (a static script, no inline JS).
Screenshots go to test-artifacts/dunning/ for review."""
from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from app.dunning.models import DunningAction
from app.extensions import db
from app.notifications.models import Message
from tests.browser_support import TIMEOUT_MS, chromium, needs_chromium, sign_in_staff
from tests.dunning.conftest import consumer, level, overdue
from tests.helpers import make_staff_user

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "dunning"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.usefixtures("defaults"),
    needs_chromium,
]


def _count(model) -> int:
    db.session.rollback()
    return db.session.scalar(select(func.count()).select_from(model))


def test_a_credit_manager_sends_the_reminders_in_french(app, server):
    from playwright.sync_api import expect

    for name in ("Marie Dupont", "Luc Peeters"):
        overdue(consumer(name=name), 10, total="120.00")
    item = level("Belgian consumers", 2)
    user = make_staff_user(app, "Credit manager")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    problems: list[str] = []
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.set_default_timeout(TIMEOUT_MS)
        expect.set_options(timeout=TIMEOUT_MS)
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.on("response", lambda r: problems.append(f"{r.status} {r.url}")
                if r.status >= 400 and not r.url.endswith("/favicon.ico") else None)
        page.add_init_script(
            "document.addEventListener('securitypolicyviolation', e => "
            "console.error('CSP violation: ' + e.violatedDirective + ' ' + e.blockedURI));")
        page.on("console", lambda m: problems.append(m.text)
                if "CSP violation" in m.text else None)
        sign_in_staff(page, server, user)
        page.goto(f"{server}/lang/fr")

        page.goto(f"{server}/dunning/dry-run/")
        expect(page.locator("#dry-run-send a")).to_be_visible()
        page.screenshot(path=str(ARTIFACTS / "dry-run-fr.png"), full_page=True)
        page.locator("#dry-run-send a").click()
        page.wait_for_load_state()
        expect(page.locator("#send-counts")).to_contain_text("E-mail")
        page.screenshot(path=str(ARTIFACTS / "send-confirm-fr.png"), full_page=True)
        page.locator("#send-confirm").click()
        page.wait_for_load_state()
        assert "/dunning/send/run/" in page.url
        expect(page.locator("#run-actions")).to_contain_text("Marie Dupont")
        expect(page.locator("#run-actions")).to_contain_text("Luc Peeters")
        page.screenshot(path=str(ARTIFACTS / "send-run-fr.png"), full_page=True)
        assert _count(DunningAction) == 2
        messages = _count(Message)
        # The confirmation again: everyone is reminded, nothing is left to send.
        page.goto(page.url.replace("/dunning/send/run/", "/dunning/send/?date="))
        expect(page.locator("#send-nothing")).to_be_visible()
        assert page.locator("#send-confirm").count() == 0
        assert _count(DunningAction) == 2 and _count(Message) == messages

        # The level form: "counted from the previous reminder" hides the due-date days.
        page.goto(f"{server}/dunninglevelview/edit/{item.id}")
        page.wait_for_load_state("networkidle")
        assert item.days_basis == "previous"
        expect(page.locator("#days_after_due")).to_be_hidden()
        expect(page.locator("#min_days_since_previous")).to_be_visible()
        expect(page.locator("#fee_amount")).to_be_hidden()
        expect(page.locator("#channels-0")).to_be_checked()
        page.screenshot(path=str(ARTIFACTS / "level-form-fr.png"), full_page=True)
    assert not problems, problems
