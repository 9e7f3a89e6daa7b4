"""The customer withdraws a pending request from the portal: a POST with its CSRF token, the
request shows "withdrawn", the staff queue no longer lists it as open; a decided request (or
another customer's) cannot be withdrawn."""
from __future__ import annotations

from datetime import timedelta

import pytest
from flask import g

from app.core.models import utcnow
from app.extensions import db
from app.portal.auth import create_magic_link, reset_rate_limits, sign
from app.requests import services
from app.requests.disputes import open_dispute
from app.requests.models import CustomerRequest, Dispute
from tests.helpers import make_customer, make_invoice, make_staff_user
from tests.portal.conftest import csrf_from

pytestmark = pytest.mark.usefixtures("message_templates")


def _portal(app, customer):
    reset_rate_limits()
    for name in ("_login_user", "user", "csrf_token"):
        g.pop(name, None)
    link = f"/portal/login/{sign(create_magic_link(customer, None, None, None))}"
    db.session.commit()
    client = app.test_client()
    confirm = client.get(link)
    done = client.post(link, data={"csrf_token": csrf_from(confirm.get_data(as_text=True))})
    assert done.status_code == 302
    client.get("/portal/language/en")
    return client


def _question(customer, status="received"):
    req = CustomerRequest(customer_id=customer.id, kind="question", status=status,
                          subject="Copy of invoice", payload={},
                          sla_due_at=utcnow() + timedelta(hours=24))
    db.session.add(req)
    db.session.commit()
    return req


def _withdraw(client, req, token=None):
    page = client.get(f"/portal/requests/{req.id}").get_data(as_text=True)
    token = token if token is not None else csrf_from(page)
    return client.post(f"/portal/requests/{req.id}/withdraw", data={"csrf_token": token})


def test_the_customer_withdraws_a_pending_request(app, staff_client):
    customer = make_customer(language="en")
    req = _question(customer)
    client = _portal(app, customer)
    page = client.get(f"/portal/requests/{req.id}").get_data(as_text=True)
    assert 'id="withdraw-form"' in page and "Withdraw this request" in page
    response = _withdraw(client, req)
    assert response.status_code == 302
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Withdrawn" in page and 'id="withdraw-form"' not in page
    db.session.expire_all()
    assert db.session.get(CustomerRequest, req.id).status == "withdrawn"
    queue = staff_client("AR clerk").get("/requests/queue/").get_data(as_text=True)
    assert f'id="request-{req.id}"' not in queue
    assert f'id="request-{req.id}"' in staff_client("AR clerk").get(
        "/requests/queue/?status=withdrawn").get_data(as_text=True)


def test_without_the_csrf_token_nothing_is_withdrawn(app):
    customer = make_customer(language="en")
    req = _question(customer)
    client = _portal(app, customer)
    response = _withdraw(client, req, token="forged")
    assert response.status_code in (400, 403)
    db.session.expire_all()
    assert db.session.get(CustomerRequest, req.id).status == "received"


def test_a_decided_request_cannot_be_withdrawn(app):
    customer = make_customer(language="en")
    req = _question(customer)
    client = _portal(app, customer)
    token = csrf_from(client.get(f"/portal/requests/{req.id}").get_data(as_text=True))
    services.decide_request(req, make_staff_user(app, "Admin"), True, "Done")
    db.session.commit()
    response = client.post(f"/portal/requests/{req.id}/withdraw", data={"csrf_token": token})
    assert response.status_code == 400
    assert "can no longer be withdrawn" in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(CustomerRequest, req.id).status == "approved"


def test_another_customers_request_is_not_found(app):
    owner, stranger = make_customer(language="en"), make_customer(language="en")
    req = _question(owner)
    client = _portal(app, stranger)
    token = csrf_from(client.get("/portal/requests").get_data(as_text=True)) \
        if 'name="csrf_token"' in client.get("/portal/requests").get_data(as_text=True) \
        else "x"
    response = client.post(f"/portal/requests/{req.id}/withdraw", data={"csrf_token": token})
    assert response.status_code in (400, 403, 404)
    db.session.expire_all()
    assert db.session.get(CustomerRequest, req.id).status == "received"


def test_a_withdrawn_dispute_stops_holding_the_invoice(app):
    customer = make_customer(language="en")
    invoice = make_invoice(customer, "200.00", due_in_days=-3)
    dispute = open_dispute(customer, invoice.id, "50.00", "wrong_amount", "Too much")
    db.session.commit()
    client = _portal(app, customer)
    req = db.session.get(CustomerRequest, dispute.request_id)
    assert _withdraw(client, req).status_code == 302
    db.session.expire_all()
    assert db.session.get(Dispute, dispute.id).status == "withdrawn"
    assert not db.session.get(type(invoice), invoice.id).disputed


def test_a_staff_decision_and_a_withdrawal_at_once_take_one(app):
    from tests.requests.race_support import one_winner, race

    user_id = make_staff_user(app, "Admin").id
    customer = make_customer(language="en")
    request_id = _question(customer).id  # ids only: each thread has its own session

    def deciding(ready):
        from flask_appbuilder.security.sqla.models import User

        mine = db.session.get(CustomerRequest, request_id)
        user = db.session.get(User, user_id)
        ready()
        services.decide_request(mine, user, True, None)
        db.session.commit()

    def withdrawing(ready):
        mine = db.session.get(CustomerRequest, request_id)
        ready()
        services.withdraw_request(mine)
        db.session.commit()

    for _round in range(3):
        one_winner(race(app, deciding, withdrawing))
        db.session.expire_all()
        assert db.session.get(CustomerRequest, request_id).status in ("approved", "withdrawn")
        request_id = _question(customer).id
