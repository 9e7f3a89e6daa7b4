"""A pay link's "Pay in instalments" and "I need more time" open with a proposal the rules
approve, confirmed in one tap and still editable (app.requests.plans.proposed_count,
app.requests.deferrals.proposed_date)."""
from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from app.core.settings import set_setting
from app.core.time import business_today
from app.extensions import db
from app.paylinks import services
from app.paylinks.models import PayLinkEvent
from app.requests import deferrals, plans
from app.requests import self_service as ss
from app.requests.models import CustomerRequest, Deferral, PaymentPlan
from tests.helpers import make_customer, make_invoice
from tests.paylinks.conftest import csrf_from, token_path


def _open(client, customer, totals=("300.00",), due=-10):
    invoices = [make_invoice(customer, total=t, due_in_days=due) for t in totals]
    path = token_path(services.pay_link_url(customer.id, [i.id for i in invoices]))
    db.session.commit()
    assert client.get(path).status_code == 303
    return invoices


@pytest.mark.parametrize("total, count", [
    ("100.00", 2), ("149.99", 2), ("300.00", 3), ("500.00", 3), ("500.01", 5), ("1500.00", 6),
    ("4000.00", 12), ("5000.01", 3)])
def test_the_proposed_count_is_the_most_the_table_approves(app, total, count):
    _single, tiers = ss.plan_tiers()
    assert plans.proposed_count(Decimal(total), tiers) == count


def test_the_proposed_count_never_exceeds_the_maximum(app):
    set_setting(ss.PLAN_MAX_INSTALLMENTS, 4)
    _single, tiers = ss.plan_tiers()
    assert plans.proposed_count(Decimal("4000.00"), tiers) == 4


def test_the_plan_page_opens_with_the_proposal_and_one_tap_confirms_it(fresh_client):
    customer = make_customer(language="en", preferred_payment_day=12)
    client = fresh_client()
    invoices = _open(client, customer, totals=("240.00", "60.00"))
    page = client.get("/portal/pay-link/plan")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "3 instalments for a total of €300.00." in html and html.count("€100.00") == 3
    assert "within our rules" in html
    assert 'name="installment_count" value="3"' in html  # editable below
    assert db.session.scalar(select(func.count(CustomerRequest.id))) == 0  # a GET made nothing
    done = client.post("/portal/pay-link/plan", data={
        "csrf_token": csrf_from(html), "action": "confirm", "installment_count": "3",
        "day_of_month": "12"})
    assert done.status_code == 302
    plan = db.session.scalars(select(PaymentPlan)).one()
    assert plan.status == "active" and plan.installment_count == 3 and plan.day_of_month == 12
    assert sorted(i.id for i in plan.invoices) == sorted(i.id for i in invoices)
    kinds = db.session.scalars(select(PayLinkEvent.kind).order_by(PayLinkEvent.id)).all()
    assert kinds == ["opened", "plan"]


def test_a_changed_choice_is_previewed_before_it_is_confirmed(fresh_client):
    customer = make_customer(language="en")
    client = fresh_client()
    _open(client, customer, totals=("300.00",))
    html = client.get("/portal/pay-link/plan").get_data(as_text=True)
    changed = client.post("/portal/pay-link/plan", data={
        "csrf_token": csrf_from(html), "action": "preview", "installment_count": "2",
        "day_of_month": "20"})
    body = changed.get_data(as_text=True)
    assert changed.status_code == 200 and "2 instalments for a total of €300.00." in body
    assert "€150.00" in body
    bad = client.post("/portal/pay-link/plan", data={
        "csrf_token": csrf_from(html), "action": "confirm", "installment_count": "0",
        "day_of_month": "31"})
    assert bad.status_code == 400 and "Choose between 1 and" in bad.get_data(as_text=True)
    assert db.session.scalar(select(func.count(CustomerRequest.id))) == 0


def test_above_the_plan_table_the_proposal_says_a_person_decides(fresh_client):
    customer = make_customer(language="en")
    client = fresh_client()
    _open(client, customer, totals=("6000.00",))
    html = client.get("/portal/pay-link/plan").get_data(as_text=True)
    assert "needs our team's approval" in html and "Send my request" in html
    done = client.post("/portal/pay-link/plan", data={
        "csrf_token": csrf_from(html), "action": "confirm", "installment_count": "3",
        "day_of_month": "5"})
    assert "sent to our team" in client.get(done.headers["Location"]).get_data(as_text=True)
    req = db.session.scalars(select(CustomerRequest)).one()
    assert req.kind == "payment_plan" and req.status in ("received", "in_review")
    assert db.session.scalar(select(func.count(PaymentPlan.id))) == 0


def test_below_the_single_payment_amount_the_page_says_so_without_a_proposal(fresh_client):
    customer = make_customer(language="en")
    client = fresh_client()
    _open(client, customer, totals=("40.00",))
    page = client.get("/portal/pay-link/plan")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "a single payment" in html
    assert "Confirm my payment plan" not in html


def test_more_time_proposes_two_weeks_and_one_tap_sends_it(fresh_client):
    customer = make_customer(language="en")
    client = fresh_client()
    invoices = _open(client, customer, totals=("300.00",))
    html = client.get("/portal/pay-link/more-time").get_data(as_text=True)
    proposed = (business_today() + timedelta(days=14)).isoformat()
    assert f'value="{proposed}"' in html
    done = client.post("/portal/pay-link/more-time",
                       data={"csrf_token": csrf_from(html), "new_due_date": proposed})
    assert done.status_code == 302
    deferral = db.session.scalars(select(Deferral)).one()
    assert deferral.invoice_id == invoices[0].id and deferral.new_due_date.isoformat() == proposed
    assert deferral.status == "active"


def test_the_proposed_date_keeps_within_the_rules(app):
    today = date(2026, 3, 2)
    make = make_customer(language="en")
    soon = make_invoice(make, due_in_days=0)
    soon.due_date = today + timedelta(days=20)
    late = make_invoice(make, due_in_days=0)
    late.due_date = today - timedelta(days=10)
    assert deferrals.proposed_date([late], today) == today + timedelta(days=14)
    # Not due yet: after its due date.
    assert deferrals.proposed_date([soon], today) == today + timedelta(days=21)
    set_setting(ss.DEFERRAL_MAX_DAYS, 7)
    assert deferrals.proposed_date([late], today) == today + timedelta(days=7)
