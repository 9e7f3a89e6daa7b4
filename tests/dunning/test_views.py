"""Back office: the dry run screen, excluding an invoice by hand, reminders on the invoice."""
from __future__ import annotations

import pytest

from app.dunning.models import DunningAction
from app.dunning.runs import run
from app.extensions import db
from app.invoices.models import Invoice
from tests.backoffice.conftest import session_csrf
from tests.dunning.conftest import consumer, count, overdue, today
from tests.helpers import csrf_token

pytestmark = pytest.mark.usefixtures("defaults")


def test_dry_run_screen_shows_each_customer_level_and_reasons(staff_client):
    reminded = consumer(name="Marie Dupont")
    invoice = overdue(reminded, 10, total="120.00")
    excluded = consumer(name="Luc Mertens", legal_status="insolvent")
    overdue(excluded, 10)
    client = staff_client("Credit manager")

    page = client.get(f"/dunning/dry-run/?date={today().isoformat()}&outcome=all")

    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Marie Dupont" in html and invoice.number in html
    assert "First reminder (free)" in html
    assert "10 days overdue: reaches level 1" in html
    assert "Luc Mertens" in html and "legal status is &#34;Insolvent&#34;" in html
    assert count(DunningAction) == 0

    only_excluded = client.get("/dunning/dry-run/?outcome=excluded").get_data(as_text=True)
    assert "Luc Mertens" in only_excluded and "Marie Dupont" not in only_excluded
    by_name = client.get("/dunning/dry-run/?outcome=all&customer=dupont").get_data(as_text=True)
    assert "Marie Dupont" in by_name and "Luc Mertens" not in by_name


def test_dry_run_screen_refuses_bad_input_without_an_error_page(staff_client):
    client = staff_client("Read-only")
    page = client.get("/dunning/dry-run/?outcome=bogus&page=x")
    assert page.status_code == 200
    assert "Unknown outcome: bogus" in page.get_data(as_text=True)
    # A wrong date is said with a 400, not replaced by today (tests/dunning/test_send_from_screen).
    bad_date = client.get("/dunning/dry-run/?date=31-31-2025&outcome=bogus&page=x")
    assert bad_date.status_code == 400
    assert "Not a date: 31-31-2025" in bad_date.get_data(as_text=True)


def test_excluding_an_invoice_needs_a_reason_and_shows_in_the_dry_run(app, staff_client):
    customer = consumer(name="Marie Dupont")
    invoice = overdue(customer, 10)
    client = staff_client("AR clerk")
    form = client.get(f"/dunning/exclusion/{invoice.id}")
    assert form.status_code == 200
    token = csrf_token(form.get_data(as_text=True))

    empty = client.post(f"/dunning/exclusion/{invoice.id}", data={"reason": " ",
                                                                  "csrf_token": token})
    assert empty.status_code == 200
    assert "Say why reminders stop for this invoice." in empty.get_data(as_text=True)
    db.session.expire_all()
    assert not db.session.get(Invoice, invoice.id).dunning_blocked

    done = client.post(f"/dunning/exclusion/{invoice.id}",
                       data={"reason": "Customer called: paying on Friday", "csrf_token": token})
    assert done.status_code == 302 and f"/invoiceview/show/{invoice.id}" in done.location
    db.session.expire_all()
    blocked = db.session.get(Invoice, invoice.id)
    assert blocked.dunning_blocked and blocked.dunning_blocked_by == "ar_clerk"
    assert blocked.dunning_blocked_on == today()
    html = client.get("/dunning/dry-run/?outcome=all").get_data(as_text=True)
    assert "Excluded from reminders by hand: Customer called: paying on Friday" in html

    lifted = client.post(f"/dunning/exclusion/{invoice.id}/lift", data={"csrf_token": token})
    assert lifted.status_code == 302
    db.session.expire_all()
    assert not db.session.get(Invoice, invoice.id).dunning_blocked


def test_read_only_staff_cannot_exclude(app, staff_client):
    invoice = overdue(consumer(), 10)
    client = staff_client("Read-only")
    token = session_csrf(app, client)
    response = client.post(f"/dunning/exclusion/{invoice.id}",
                           data={"reason": "no", "csrf_token": token})
    assert response.status_code == 403
    assert not db.session.get(Invoice, invoice.id).dunning_blocked


def test_invoice_page_offers_the_exclusion_and_lists_its_reminders(app, staff_client):
    customer = consumer()
    invoice = overdue(customer, 10)
    run(today())
    client = staff_client("Credit manager")
    page = client.get(f"/invoiceview/show/{invoice.id}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Exclude from reminders" in html
    assert "Reminders for this invoice" in html and "First reminder (free)" in html
    action = client.post(f"/invoiceview/action/exclude_from_dunning/{invoice.id}",
                         data={"csrf_token": session_csrf(app, client)})
    assert action.status_code == 302
    assert action.location.endswith(f"/dunning/exclusion/{invoice.id}")

    [reminder] = db.session.query(DunningAction).all()
    shown = client.get(f"/dunningactionview/show/{reminder.id}").get_data(as_text=True)
    assert "10 days overdue: reaches level 1" in shown
