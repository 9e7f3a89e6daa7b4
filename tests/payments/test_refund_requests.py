"""Refund requests: a customer in credit asks on the portal, staff approve within their limit,
the refund goes into the next pain.001 file; never to an account in its cool-off."""
from __future__ import annotations

import re
from datetime import date, timedelta
from decimal import Decimal
from xml.etree import ElementTree as ET

import pytest
from sqlalchemy import func, select

from app.core.models import utcnow
from app.core.roles import AR_CLERK, CREDIT_MANAGER
from app.core.settings import set_setting
from app.core.validation import ValidationError
from app.extensions import db
from app.payments.outgoing.models import Refund
from app.payments.outgoing.refunds import export_refunds, refundable
from app.payments.outgoing.sepa_xml import PAIN_001
from app.payments.services import book_payment
from app.requests import refund_requests
from app.requests import services as rs
from app.requests.models import CustomerRequest
from tests.backoffice.conftest import session_csrf
from tests.helpers import make_customer, make_invoice, make_staff_user
from tests.payments.cashout_helpers import refund_account, schema
from tests.portal.conftest import csrf_from, sign_in


@pytest.fixture(autouse=True)
def message_templates(app, _clean_database):
    from app.notifications.defaults import install_defaults
    from app.portal.auth import reset_rate_limits

    install_defaults()  # the sign-in link, the acknowledgement and the decision are mailed
    reset_rate_limits()
    yield
    reset_rate_limits()


@pytest.fixture
def portal(app):
    """portal(customer) -> a test client signed in to the portal as that customer."""
    from flask import g

    def make(customer):
        g.pop("csrf_token", None)
        client = app.test_client()
        sign_in(client, customer.email)
        return client

    return make


def _in_credit(amount="80.00", **fields):
    """A customer who paid 100.00 + ``amount`` for an invoice of 100.00."""
    fields.setdefault("language", "en")
    customer = make_customer(**fields)
    make_invoice(customer, "100.00", due_in_days=-5)
    book_payment(amount=Decimal("100.00") + Decimal(amount), received_on=date.today(),
                 customer_id=customer.id)
    db.session.commit()
    return customer


def _count(model, *where) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def _ask(client, amount, message=""):
    page = client.get("/portal/refund-request").get_data(as_text=True)
    return client.post("/portal/refund-request",
                       data={"amount": amount, "message": message, "csrf_token": csrf_from(page)})


def _decide(app, client, req, decision="approve"):
    return client.post(f"/requests/queue/{req.id}/decide",
                       data={"decision": decision, "note": "",
                             "csrf_token": session_csrf(app, client)}, follow_redirects=True)


def _fresh(record):
    db.session.expire_all()
    return db.session.get(type(record), record.id)


# --- the portal ---------------------------------------------------------------------------------

def test_a_customer_in_credit_asks_on_the_portal(portal):
    customer = _in_credit("80.00")
    account = refund_account(customer, "BE68539007547034")
    set_setting("requests.sla_hours.refund", 24)
    db.session.commit()
    client = portal(customer)
    entry = client.get("/portal/requests/new").get_data(as_text=True)
    assert 'id="refund-request-entry"' in entry and 'href="/portal/refund-request"' in entry
    page = client.get("/portal/refund-request").get_data(as_text=True)
    assert 'data-amount="80.00"' in page and 'id="refund-request-form"' in page
    assert account.iban[-4:] in page

    response = _ask(client, "50,00", "Paid twice by mistake")
    assert response.status_code == 302
    req = db.session.scalar(select(CustomerRequest))
    assert (req.kind, req.status, req.channel) == ("refund", "received", "portal")
    assert req.payload["amount"] == "50.00" and req.payload["bank_account_id"] == account.id
    assert req.message == "Paid twice by mistake"
    assert (req.sla_due_at - req.created_at).total_seconds() == pytest.approx(24 * 3600, abs=5)
    assert response.headers["Location"].endswith(f"/portal/refund-request/{req.id}")
    sent = client.get(response.headers["Location"]).get_data(as_text=True)
    assert f'id="refund-request-sent" data-request-id="{req.id}"' in sent
    assert f"/portal/requests/{req.id}" in sent
    # The 50.00 asked for is held back: 30.00 is left to ask for.
    assert 'data-amount="30.00"' in client.get("/portal/refund-request").get_data(as_text=True)
    assert refundable(customer.id) == Decimal("80.00")  # no refund until staff approve


@pytest.mark.parametrize("amount", ["30.01", "0", "-5", "abc", "12.345", "", "1e5"])
def test_a_wrong_amount_is_refused_and_changes_nothing(portal, amount):
    customer = _in_credit("80.00")
    refund_account(customer)
    client = portal(customer)
    assert _ask(client, "50.00").status_code == 302
    response = _ask(client, amount)
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert 'id="amount-errors"' in html and 'aria-invalid="true"' in html
    assert _count(CustomerRequest) == 1


def test_without_csrf_nothing_is_asked(portal):
    customer = _in_credit("80.00")
    refund_account(customer)
    response = portal(customer).post("/portal/refund-request", data={"amount": "10.00"})
    assert response.status_code == 400
    assert _count(CustomerRequest) == 0


def test_no_usable_account_the_page_says_so_and_refuses(portal):
    customer = _in_credit("80.00")
    pending = refund_account(customer, "BE62510007547061", pending=True)
    client = portal(customer)
    page = client.get("/portal/refund-request").get_data(as_text=True)
    assert 'id="refund-no-account"' in page and pending.iban[-4:] in page
    assert 'id="refund-bank-account-link" href="/portal/bank-account"' in page
    assert 'id="refund-request-form"' not in page
    token = csrf_from(client.get("/portal/requests/new").get_data(as_text=True))
    response = client.post("/portal/refund-request", data={"amount": "10.00", "csrf_token": token})
    assert response.status_code == 400 and 'id="refund-no-account"' in response.get_data(
        as_text=True)
    assert _count(CustomerRequest) == 0


def test_no_credit_nothing_to_ask(portal):
    customer = _in_credit("0.00")
    refund_account(customer)
    page = portal(customer).get("/portal/refund-request").get_data(as_text=True)
    assert 'id="refund-no-credit"' in page and 'id="refund-request-form"' not in page
    with pytest.raises(ValidationError):
        refund_requests.request_refund(customer, "1.00")


def test_another_customers_request_is_a_404(portal):
    owner = _in_credit("80.00")
    refund_account(owner)
    req = refund_requests.request_refund(owner, "20.00")
    other = make_customer(email="other@example.test", language="en")
    question = rs.open_request(other, "question", subject="Hello")
    db.session.commit()
    client = portal(other)
    assert client.get(f"/portal/refund-request/{req.id}").status_code == 404
    assert client.get(f"/portal/requests/{req.id}").status_code == 404
    assert client.get(f"/portal/refund-request/{question.id}").status_code == 404  # not a refund
    assert client.get("/portal/refund-request/999999").status_code == 404
    assert client.get("/portal/refund-request/99999999999").status_code == 404


# --- the staff decision ---------------------------------------------------------------------

def test_approved_request_becomes_a_refund_in_the_pain001(app, staff_client):
    customer = _in_credit("80.00", name="Zoë Lambert")
    account = refund_account(customer, "BE68539007547034")
    req = refund_requests.request_refund(customer, "60.00")
    db.session.commit()
    client = staff_client(CREDIT_MANAGER)
    assert _decide(app, client, req).status_code == 200
    assert _fresh(req).status == "approved"
    refund = db.session.scalar(select(Refund).where(Refund.request_id == req.id))
    assert refund is not None
    assert (refund.status, refund.source, refund.amount) == ("approved", "request",
                                                             Decimal("60.00"))
    assert refund.bank_account_id == account.id and refund.approved_by.username == "credit_manager"

    result = export_refunds(execution_date=date.today() + timedelta(days=1))
    db.session.commit()
    assert result.batch is not None and result.batch.transaction_count == 1
    schema("pain.001.001.03").validate(result.batch.file_xml)
    ns = {"p": PAIN_001}
    tx = ET.fromstring(result.batch.file_xml.encode()).find(
        "p:CstmrCdtTrfInitn/p:PmtInf/p:CdtTrfTxInf", ns)
    assert tx.findtext("p:CdtrAcct/p:Id/p:IBAN", namespaces=ns) == account.iban
    assert tx.findtext("p:Amt/p:InstdAmt", namespaces=ns) == "60.00"
    assert tx.findtext("p:PmtId/p:EndToEndId", namespaces=ns) == f"RF-{refund.id}"
    assert _fresh(refund).status == "exported"
    assert refundable(customer.id) == Decimal("20.00")


def test_over_the_approvers_limit_the_decision_is_refused(app, staff_client):
    customer = _in_credit("300.00")
    refund_account(customer)
    req = refund_requests.request_refund(customer, "300.00")
    db.session.commit()
    page = _decide(app, staff_client(AR_CLERK), req).get_data(as_text=True)  # limit 250.00
    assert re.search(r"alert-danger.*?250", page, re.DOTALL)
    assert _fresh(req).status == "received" and _count(Refund) == 0
    _decide(app, staff_client(CREDIT_MANAGER), req)  # limit 2,500.00
    assert _fresh(req).status == "approved"
    assert db.session.scalar(select(Refund.status).where(Refund.request_id == req.id)) \
        == "approved"


def test_an_account_in_its_cool_off_refuses_the_approval(app, staff_client):
    """Asked while the old account was active; then the account was changed (fraud path)."""
    customer = _in_credit("80.00")
    old = refund_account(customer, "BE68539007547034")
    req = refund_requests.request_refund(customer, "80.00")
    old.status, old.retired_at = "retired", utcnow()
    pending = refund_account(customer, "BE62510007547061", pending=True)
    db.session.commit()
    page = _decide(app, staff_client(CREDIT_MANAGER), req).get_data(as_text=True)
    assert "alert-danger" in page and pending.iban[-4:] in page
    assert _fresh(req).status == "received" and _count(Refund) == 0
    assert export_refunds().batch is None


def test_rejecting_changes_nothing(app, staff_client):
    customer = _in_credit("80.00")
    refund_account(customer)
    req = refund_requests.request_refund(customer, "80.00")
    db.session.commit()
    _decide(app, staff_client(CREDIT_MANAGER), req, "reject")
    assert _fresh(req).status == "rejected"
    assert _count(Refund) == 0 and refundable(customer.id) == Decimal("80.00")
    assert refund_requests.requestable(customer) == Decimal("80.00")  # free to ask again


def test_a_request_taken_by_staff_without_an_amount_refunds_the_whole_credit(app):
    customer = _in_credit("45.00")
    refund_account(customer)
    req = rs.open_request(customer, "refund", channel="staff", subject="Phone call")
    db.session.commit()
    rs.decide_request(req, make_staff_user(app, CREDIT_MANAGER), True, None)
    db.session.commit()
    refund = db.session.scalar(select(Refund).where(Refund.request_id == req.id))
    assert refund.amount == Decimal("45.00") and refund.status == "approved"
