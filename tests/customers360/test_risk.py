"""Risk signals from our own data; the proactive proposal is queued once a month."""
from __future__ import annotations

import re
from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from app.core.models import utcnow
from app.customers.models import Customer
from app.extensions import db
from app.notifications.models import Message
from app.payments.models import Payment
from app.requests.models import Deferral
from app.selfservice.risk import flags_for, refresh_risk_flags
from tests.helpers import make_customer, make_invoice

TODAY = date.today()


def _history(customer, late_flags):
    """Six invoices, oldest first, each paid 40 days late (True) or on time (False)
    (an invoice counts as late from risk.late_days, 30 by default)."""
    for n, late in enumerate(late_flags):
        due = TODAY - timedelta(days=250 - n * 40)
        invoice = make_invoice(customer, total="50.00", due_in_days=(due - TODAY).days,
                               issue_date=due - timedelta(days=30))
        invoice.status, invoice.open_amount = "paid", Decimal("0.00")
        invoice.paid_on = due + timedelta(days=40 if late else 2)
    db.session.commit()


@pytest.fixture
def templates():
    from app.notifications.defaults import install_defaults

    install_defaults()


def test_two_late_of_six_is_not_a_late_payer():
    customer = make_customer(kind="person")
    _history(customer, [True, True, False, False, False, False])
    assert "late_payer" not in flags_for(customer)


def test_three_late_of_six_is_a_late_payer():
    customer = make_customer(kind="person")
    _history(customer, [True, False, True, False, True, False])
    assert "late_payer" in flags_for(customer)


def test_only_the_last_six_count():
    customer = make_customer(kind="person")
    # Three late long ago, then six on time: no longer a late payer.
    _history(customer, [True, True, True])
    for n in range(6):
        due = TODAY - timedelta(days=100 - n * 10)
        invoice = make_invoice(customer, total="10.00", due_in_days=(due - TODAY).days,
                               issue_date=due - timedelta(days=30))
        invoice.status, invoice.paid_on = "paid", due
        invoice.open_amount = Decimal("0.00")
    db.session.commit()
    assert "late_payer" not in flags_for(customer)


def test_thresholds_are_settings():
    from app.core.settings import set_setting

    customer = make_customer(kind="person")
    _history(customer, [True, True, False, False, False, False])
    set_setting("risk.late_count", 2)
    db.session.commit()
    assert "late_payer" in flags_for(customer)


def test_broken_promise_returned_debit_and_growing_balance():
    customer = make_customer(kind="person")
    invoice = make_invoice(customer, total="5200.00", due_in_days=-40,
                           issue_date=TODAY - timedelta(days=70))
    db.session.add(Deferral(customer=customer, invoice=invoice,
                            original_due_date=invoice.due_date,
                            new_due_date=TODAY - timedelta(days=3), status="broken"))
    db.session.add(Payment(customer=customer, received_on=TODAY - timedelta(days=10),
                           amount=Decimal("50.00"), method="direct_debit", status="returned",
                           returned_at=utcnow(), return_reason="AM04"))
    db.session.commit()
    assert set(flags_for(customer)) == {"broken_promise", "returned_debit", "growing_balance"}
    quiet = make_customer(kind="person")
    make_invoice(quiet, total="9000.00", due_in_days=10)
    assert flags_for(quiet) == []  # invoiced and not yet due: not a reason to call
    make_invoice(quiet, total="5000.00", due_in_days=-45)
    assert flags_for(quiet) == ["growing_balance"]  # 5000 overdue, nothing overdue before


def test_daily_job_flags_and_proposes_once_a_month(templates):
    customer = make_customer(kind="person", language="nl")
    _history(customer, [True, True, True, False, False, False])
    make_invoice(customer, total="75.00", due_in_days=-45, issue_date=TODAY - timedelta(days=75))
    fine = make_customer(kind="person")
    _history(fine, [False] * 6)

    first = refresh_risk_flags(TODAY)
    db.session.expire_all()
    assert db.session.get(Customer, customer.id).risk_flags == ["late_payer"]
    assert db.session.get(Customer, fine.id).risk_flags in ([], None)
    assert first["proposed"] == 1
    refresh_risk_flags(TODAY)  # the next day's run: nothing new this month
    messages = db.session.scalars(select(Message).where(Message.event == "risk_proposal")).all()
    assert len(messages) == 1
    assert messages[0].customer_id == customer.id and messages[0].language == "nl"
    assert "afbetalingsplan" in messages[0].body_text and "domiciliëring" in messages[0].body_text


def test_flag_is_cleared_when_the_signal_goes(templates):
    customer = make_customer(kind="person")
    customer.risk_flags = ["returned_debit"]
    db.session.commit()
    refresh_risk_flags(TODAY)
    db.session.expire_all()
    assert db.session.get(Customer, customer.id).risk_flags == []


def test_flagged_customer_sees_the_proposal_in_the_portal(app, client):
    from tests.portal.conftest import install_magic_link_templates, sign_in

    install_magic_link_templates()
    customer = make_customer(kind="person", email="flagged@example.test")
    make_invoice(customer, total="75.00", due_in_days=-15, issue_date=TODAY - timedelta(days=45))
    customer.risk_flags = ["late_payer"]
    db.session.commit()
    sign_in(client, "flagged@example.test")
    html = client.get("/portal/").get_data(as_text=True)
    assert 'id="risk-proposal"' in html
    # Each proposal is a card of its kind whose button leads to the page that does it (the
    # texts are in the customer's language: only kinds and links are checked).
    cards = dict(re.findall(r'<li class="proposal-(\w+)">.*?href="([^"]+)"', html,
                            re.DOTALL))
    assert cards == {"due_date": "/portal/preferences", "direct_debit": "/portal/direct-debit",
                     "plan": "/portal/plan"}


def test_staff_list_of_customers_to_call(staff_client):
    flagged = make_customer(name="Call me", kind="person")
    flagged.risk_flags = ["late_payer"]
    make_customer(name="Leave me")
    db.session.commit()
    html = staff_client("Read-only").get("/mywork/flagged").get_data(as_text=True)
    assert "Call me" in html and "Leave me" not in html and "Pays late repeatedly" in html
