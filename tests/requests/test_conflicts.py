"""Conflicts are refused, not stacked: an invoice in an active plan gets no approved deferral and
an invoice with a running deferral gets no approved plan; staff are told why and what to do.
One decision sends the customer one message (counted in the outbox)."""
from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from app.core.settings import set_setting
from app.extensions import db
from app.notifications.models import Message
from app.requests.deferrals import request_deferral
from app.requests.models import CustomerRequest, Deferral, PaymentPlan
from app.requests.plans import request_plan
from app.requests.services import decide_request
from tests.helpers import csrf_token, make_customer, make_invoice, make_staff_user

pytestmark = pytest.mark.usefixtures("message_templates")
TODAY = date.today()


@pytest.fixture(autouse=True)
def _same_day(monkeypatch):
    for module in ("app.requests.deferrals", "app.requests.plans"):
        monkeypatch.setattr(f"{module}.business_today", date.today)


def _messages(customer_id: int) -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count(Message.id)).where(
        Message.customer_id == customer_id))


def _deferral_waiting(customer, invoice):
    set_setting("self_service.deferral.max_amount", "10.00")
    db.session.commit()
    outcome = request_deferral(customer, [invoice], TODAY + timedelta(days=10))
    db.session.commit()
    assert not outcome.approved
    return outcome.request


def _plan_waiting(customer, invoices):
    outcome = request_plan(customer, invoices, 24, 10)  # above the table: staff decide
    db.session.commit()
    assert not outcome.approved
    return outcome.request


def _approve(client, req, note=""):
    token = csrf_token(client.get(f"/requests/queue/{req.id}").get_data(as_text=True))
    response = client.post(f"/requests/queue/{req.id}/decide",
                           data={"decision": "approve", "note": note, "csrf_token": token})
    assert response.status_code == 302
    return client.get(f"/requests/queue/{req.id}").get_data(as_text=True)


def test_a_deferral_on_an_invoice_in_an_active_plan_is_refused_with_what_to_do(app,
                                                                               staff_client):
    customer = make_customer(language="en")
    invoice = make_invoice(customer, "3000.00", due_in_days=-10)
    other = make_invoice(customer, "3000.00", due_in_days=-8)
    deferral = _deferral_waiting(customer, invoice)
    plan = _plan_waiting(customer, [invoice, other])
    decide_request(plan, make_staff_user(app, "Admin"), True, None)  # the plan comes first
    db.session.commit()
    before = _messages(customer.id)
    page = _approve(staff_client("AR clerk"), deferral)
    assert "is in an active payment plan" in page and "cancel the plan" in page
    db.session.expire_all()
    assert db.session.get(CustomerRequest, deferral.id).status == "received"
    assert db.session.scalar(select(func.count(Deferral.id))) == 0
    assert _messages(customer.id) == before  # a refused decision tells the customer nothing


def test_a_plan_on_an_invoice_with_a_running_deferral_is_refused_with_what_to_do(app,
                                                                                 staff_client):
    customer = make_customer(language="en")
    invoices = [make_invoice(customer, "3000.00", due_in_days=-10),
                make_invoice(customer, "3000.00", due_in_days=-8)]
    plan = _plan_waiting(customer, invoices)
    deferral = _deferral_waiting(customer, invoices[0])
    decide_request(deferral, make_staff_user(app, "Admin"), True, None)  # the deferral first
    db.session.commit()
    page = _approve(staff_client("Credit manager"), plan)
    assert "has a deferral running until" in page and "cancel the deferral" in page
    db.session.expire_all()
    assert db.session.get(CustomerRequest, plan.id).status == "received"
    assert db.session.scalar(select(func.count(PaymentPlan.id))) == 0


def test_the_customer_cannot_ask_a_plan_for_a_deferred_invoice(app):
    from app.core.validation import ValidationError

    customer = make_customer(language="en")
    invoice = make_invoice(customer, "300.00", due_in_days=-2)
    assert request_deferral(customer, [invoice], TODAY + timedelta(days=10)).approved
    db.session.commit()
    with pytest.raises(ValidationError) as refused:
        request_plan(customer, [invoice], 3, 10)
    assert "is deferred until" in str(refused.value.errors)


@pytest.mark.parametrize("note", ["", "Granted, thank you for telling us."])
def test_approving_a_deferral_sends_one_message(app, staff_client, note):
    customer = make_customer(language="en")
    invoice = make_invoice(customer, "500.00", due_in_days=-5)
    req = _deferral_waiting(customer, invoice)
    before = _messages(customer.id)
    _approve(staff_client("AR clerk"), req, note)
    assert _messages(customer.id) == before + 1
    event = db.session.scalar(select(Message.event).where(Message.customer_id == customer.id)
                              .order_by(Message.id.desc()))
    # Without a note the deferral's own message (new date, pay link); with one, the answer.
    assert event == ("request_decided" if note else "deferral_approved")


def test_approving_a_plan_and_rejecting_send_one_message_each(app, staff_client):
    customer = make_customer(language="en")
    invoices = [make_invoice(customer, "3000.00", due_in_days=-10),
                make_invoice(customer, "3000.00", due_in_days=-8)]
    req = _plan_waiting(customer, invoices)
    before = _messages(customer.id)
    _approve(staff_client("AR clerk"), req)
    assert _messages(customer.id) == before + 1
    rejected = _deferral_waiting(customer, make_invoice(customer, "50.00", due_in_days=-1))
    before = _messages(customer.id)
    client = staff_client("AR clerk")
    token = csrf_token(client.get(f"/requests/queue/{rejected.id}").get_data(as_text=True))
    client.post(f"/requests/queue/{rejected.id}/decide",
                data={"decision": "reject", "csrf_token": token})
    assert _messages(customer.id) == before + 1
