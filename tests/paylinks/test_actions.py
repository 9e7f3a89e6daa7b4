"""From a pay link: more time and instalments through the portal's own rules; brute force."""
from __future__ import annotations

import secrets
from datetime import date, timedelta

from sqlalchemy import func, select

from app.core.audit_models import AuditEvent
from app.extensions import db
from app.paylinks import services
from app.paylinks.models import PayLinkEvent
from app.requests.models import CustomerRequest, Deferral, PaymentPlan
from tests.helpers import make_customer, make_invoice
from tests.paylinks.conftest import csrf_from, token_path


def _open(client, customer, totals=("300.00",), due=-10):
    invoices = [make_invoice(customer, total=t, due_in_days=due) for t in totals]
    path = token_path(services.pay_link_url(customer.id, [i.id for i in invoices]))
    db.session.commit()
    assert client.get(path).status_code == 303
    return invoices


def test_more_time_within_the_rules_is_approved(fresh_client):
    customer = make_customer(language="en")
    client = fresh_client()
    invoices = _open(client, customer)
    form = client.get("/portal/pay-link/more-time").get_data(as_text=True)
    new_due = (date.today() + timedelta(days=10)).isoformat()
    answer = client.post("/portal/pay-link/more-time",
                         data={"csrf_token": csrf_from(form), "new_due_date": new_due})
    assert answer.status_code == 302
    result = client.get(answer.headers["Location"]).get_data(as_text=True)
    assert "Approved" in result
    deferral = db.session.scalars(select(Deferral)).one()
    assert deferral.invoice_id == invoices[0].id and deferral.new_due_date.isoformat() == new_due
    kinds = db.session.scalars(select(PayLinkEvent.kind).order_by(PayLinkEvent.id)).all()
    assert kinds == ["opened", "deferral"]


def test_more_time_beyond_the_rules_creates_a_request_for_a_person(fresh_client):
    customer = make_customer(language="en")
    client = fresh_client()
    _open(client, customer, totals=("5000.00",))
    form = client.get("/portal/pay-link/more-time").get_data(as_text=True)
    new_due = (date.today() + timedelta(days=20)).isoformat()
    answer = client.post("/portal/pay-link/more-time",
                         data={"csrf_token": csrf_from(form), "new_due_date": new_due})
    result = client.get(answer.headers["Location"]).get_data(as_text=True)
    req = db.session.scalars(select(CustomerRequest)).one()
    assert req.status in ("received", "in_review") and "sent to our team" in result
    assert db.session.scalar(select(func.count(Deferral.id))) == 0


def test_bad_date_changes_nothing(fresh_client):
    customer = make_customer(language="en")
    client = fresh_client()
    _open(client, customer)
    form = client.get("/portal/pay-link/more-time").get_data(as_text=True)
    for bad in ("yesterday", "2001-01-01", "", "9999-99-99"):
        answer = client.post("/portal/pay-link/more-time",
                             data={"csrf_token": csrf_from(form), "new_due_date": bad})
        assert answer.status_code == 400, bad
    assert db.session.scalar(select(func.count(CustomerRequest.id))) == 0
    # Without the CSRF token: refused, nothing made.
    assert client.post("/portal/pay-link/more-time",
                       data={"new_due_date": "2030-01-01"}).status_code == 400


def test_plan_preview_then_confirm(fresh_client):
    customer = make_customer(language="en")
    client = fresh_client()
    invoices = _open(client, customer, totals=("300.00",))
    form = client.get("/portal/pay-link/plan").get_data(as_text=True)
    preview = client.post("/portal/pay-link/plan", data={
        "csrf_token": csrf_from(form), "action": "preview", "installment_count": "3",
        "day_of_month": "10"})
    html = preview.get_data(as_text=True)
    assert preview.status_code == 200 and "€100.00" in html
    done = client.post("/portal/pay-link/plan", data={
        "csrf_token": csrf_from(html), "action": "confirm", "installment_count": "3",
        "day_of_month": "10"})
    assert done.status_code == 302
    result = client.get(done.headers["Location"]).get_data(as_text=True)
    plan = db.session.scalars(select(PaymentPlan)).one()
    assert plan.status == "active" and [i.id for i in plan.invoices] == [invoices[0].id]
    assert "Your payment plan is approved." in result
    # The page now asks for the first instalment, not the invoice.
    page = client.get("/portal/pay-link").get_data(as_text=True)
    assert "Instalment 1" in page and "€100.00" in page


def test_a_thousand_random_tokens_get_no_data(fresh_client, app):
    customer = make_customer(language="en", name="Secret Customer Name")
    invoice = make_invoice(customer, total="123.45", due_in_days=-5)
    services.pay_link_url(customer.id, [invoice.id])
    db.session.commit()
    client = fresh_client()
    statuses = set()
    for _n in range(1000):
        guess = f"{secrets.token_urlsafe(18)}.{secrets.token_urlsafe(12)}"
        answer = client.get(f"/portal/p/{guess}")
        body = answer.get_data(as_text=True)
        statuses.add(answer.status_code)
        assert "Secret Customer Name" not in body and invoice.number not in body
        assert "123.45" not in body and "123,45" not in body
        assert answer.headers.get("Location") is None
    assert statuses == {410, 429}  # refused, then blocked from this address
    assert client.get("/portal/pay-link").status_code == 410
    refused = db.session.scalar(select(func.count(AuditEvent.id)).where(
        AuditEvent.entity == "pay_link", AuditEvent.action == "refused"))
    blocked = db.session.scalar(select(func.count(AuditEvent.id)).where(
        AuditEvent.entity == "pay_link", AuditEvent.action == "blocked"))
    assert refused == 10 and blocked == 990


def test_blocked_address_is_refused_even_a_right_token(fresh_client):
    customer = make_customer(language="en")
    invoice = make_invoice(customer, total="50.00", due_in_days=-5)
    path = token_path(services.pay_link_url(customer.id, [invoice.id]))
    db.session.commit()
    client = fresh_client()
    for _n in range(10):
        client.get("/portal/p/guess.guess")
    assert client.get(path).status_code == 429
