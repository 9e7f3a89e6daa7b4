"""An AR clerk, in French, matches an unmatched bank line by ticking two invoices: Playwright
driving Debian's Chromium against the app on a real HTTP server thread. The line comes from a
published sample statement (shared/samples/bank-statements/test-camt053.xml: 1 405,31 € from
"3rd party Media", NL69ABNA0522123643); the customer and invoices are made to fit it."""
from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select

from app.customers.models import BankAccount
from app.extensions import db
from app.payments.incoming.importing import import_statement
from app.payments.incoming.models import StatementLine
from app.payments.models import Allocation
from tests.browser_support import TIMEOUT_MS, needs_chromium, sign_in_staff
from tests.helpers import make_customer, make_invoice, make_staff_user
from tests.payments.statements.conftest import sample

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "picking"

pytestmark = [
    pytest.mark.browser,
    needs_chromium,
]


def _shoot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_an_ar_clerk_matches_a_line_by_ticking_two_invoices(server, browser, app):
    customer = make_customer(name="3rd Party Media BV", language="nl")
    db.session.add(BankAccount(customer_id=customer.id, iban="NL69ABNA0522123643",
                               status="active"))
    db.session.commit()
    older = make_invoice(customer, "300.00", due_in_days=-45)
    first = make_invoice(customer, "905.31", due_in_days=-30)
    second = make_invoice(customer, "500.00", due_in_days=-15)
    # The published sample's balances do not add up: imported deliberately (issue 15).
    report = import_statement(sample("test-camt053.xml"), "test-camt053.xml",
                              force_reason="published sample")
    assert report.ok, report.error
    line = db.session.scalar(select(StatementLine).where(
        StatementLine.amount == Decimal("1405.31"), StatementLine.kind == "payment"))
    assert line is not None and line.status in ("unmatched", "suggested")

    user = make_staff_user(app, "AR clerk")
    db.session.commit()
    page = browser.new_page(locale="fr-BE", viewport={"width": 1280, "height": 900})
    page.set_default_timeout(TIMEOUT_MS)
    sign_in_staff(page, server, user)
    page.goto(f"{server}/lang/fr")
    page.goto(f"{server}/matching/")
    page.locator(f'a[href$="/matching/line/{line.id}"]').first.click()
    page.wait_for_url(f"**/matching/line/{line.id}")
    candidate = page.locator(f"#candidate-{customer.id}")
    assert "3rd Party Media BV" in candidate.inner_text()
    heading = page.locator("h1").inner_text().replace("\u202f", " ").replace("\xa0", " ")
    assert "1 405,31 €" in heading  # amounts the French way
    # Start from nothing ticked, then tick the two invoices this money pays.
    for box in candidate.locator('input[name="invoice"]').all():
        box.uncheck()
    candidate.locator(f"#pick-{customer.id}-{first.id}").check()
    candidate.locator(f"#pick-{customer.id}-{second.id}").check()
    _shoot(page, "fr-ticked")
    candidate.locator("button.cd-confirm").click()
    page.wait_for_url(f"**/matching/line/{line.id}")
    assert "Le paiement est rapproché." in page.content()
    _shoot(page, "fr-matched")

    db.session.expire_all()
    assert db.session.get(StatementLine, line.id).status == "matched"
    assert (first.status, second.status, older.status) == ("paid", "paid", "open")
    assert db.session.scalar(select(func.count()).select_from(Allocation)) == 2
    page.close()
