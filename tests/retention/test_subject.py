"""Access and erasure: the portal's "My data" page, the export, the erasure through the queue."""
from __future__ import annotations

import json
import subprocess
from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from app.core.portal_access import PortalAccess
from app.core.time import business_today
from app.customers.models import BankAccount, Contact, Customer
from app.extensions import db
from app.notifications.defaults import install_defaults as install_templates
from app.notifications.models import Message
from app.requests.models import CustomerRequest
from app.requests.services import decide_request
from app.retention import subject
from app.retention.models import RetentionTombstone
from tests.helpers import make_staff_user
from tests.portal.conftest import csrf_from, install_magic_link_templates, sign_in
from tests.retention.conftest import rich_customer

pytestmark = pytest.mark.usefixtures("rules")


@pytest.fixture
def templates(app):
    install_templates()
    install_magic_link_templates()


@pytest.fixture(autouse=True)
def _fresh_portal_state(app):
    from app.portal.auth import reset_rate_limits

    reset_rate_limits()
    yield
    reset_rate_limits()


def _portal(app, customer):
    from flask import g

    g.pop("csrf_token", None)
    client = app.test_client()
    sign_in(client, customer.email)
    return client


def test_export_json_holds_only_that_customers_data():
    marie = rich_customer(name="Marie Dupont", ended_on=None, age_days=40)
    rich_customer(name="Jan Peeters", ended_on=None, age_days=40)
    data = json.loads(subject.export_json(marie))
    text = json.dumps(data)
    assert "Marie Dupont" in text and "Jan Peeters" not in text
    assert data["customer"][0]["email"] == "marie.dupont@example.test"
    assert {row["customer_id"] for row in data["invoice"]} == {marie.id}
    assert data["contact"][0]["name"] == "Marie Dupont (contact)"
    assert data["bank_account"][0]["iban"] == "BE68539007547034"
    assert "attachment" in data and "storage_path" not in data["attachment"][0]
    assert "token_hash" not in text
    assert all(row["customer_id"] == marie.id for row in data["portal_access"])


def test_export_pdf_is_a_real_pdf_in_the_customers_language(tmp_path):
    customer = rich_customer(name="Jan Peeters", language="nl", ended_on=None, age_days=40)
    data = subject.export_pdf(customer)
    assert data.startswith(b"%PDF-")
    path = tmp_path / "data.pdf"
    path.write_bytes(data)
    text = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True,
                          check=True).stdout
    assert "Jan Peeters" in text
    assert "BE68539007547034" in text


def test_my_data_page_and_downloads_record_an_access_request(app, templates):
    customer = rich_customer(name="Marie Dupont", ended_on=None, age_days=40)
    client = _portal(app, customer)
    page = client.get("/portal/my-data")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "RGPD" in html or "GDPR" in html  # the legal basis of each period
    token = csrf_from(html)
    response = client.post("/portal/my-data/download/json", data={"csrf_token": token})
    assert response.status_code == 200 and response.mimetype == "application/json"
    assert json.loads(response.data)["customer"][0]["name"] == "Marie Dupont"
    response = client.post("/portal/my-data/download/pdf", data={"csrf_token": token})
    assert response.status_code == 200 and response.data.startswith(b"%PDF-")
    access = db.session.scalars(select(CustomerRequest).where(
        CustomerRequest.kind == "access")).all()
    assert len(access) == 2 and all(r.status == "approved" for r in access)
    # Without the CSRF token: refused, nothing recorded.
    assert client.post("/portal/my-data/download/json").status_code == 400
    assert client.post("/portal/my-data/download/exe",
                       data={"csrf_token": token}).status_code == 404
    assert db.session.scalar(select(func.count(CustomerRequest.id)).where(
        CustomerRequest.kind == "access")) == 2


def test_erasure_request_needs_confirmation_and_csrf(app, templates):
    customer = rich_customer(name="Marie Dupont", ended_on=None, age_days=40)
    client = _portal(app, customer)
    token = csrf_from(client.get("/portal/my-data").get_data(as_text=True))
    refused = client.post("/portal/my-data/erasure", data={"csrf_token": token})
    assert refused.status_code == 400
    assert client.post("/portal/my-data/erasure", data={"confirm": "y"}).status_code == 400
    erasures = select(func.count(CustomerRequest.id)).where(CustomerRequest.kind == "erasure")
    assert db.session.scalar(erasures) == 0
    done = client.post("/portal/my-data/erasure", data={
        "csrf_token": token, "confirm": "y", "message": "<script>alert(1)</script>"})
    assert done.status_code == 302
    req = db.session.scalar(select(CustomerRequest).where(CustomerRequest.kind == "erasure"))
    assert req.status == "received" and "<script>" in req.message
    assert req.sla_due_at.date() >= date.today() + timedelta(days=29)  # one month
    page = client.get("/portal/my-data").get_data(as_text=True)
    assert f"no. {req.id}" in page or f"n° {req.id}" in page
    # A second request while one is open opens nothing more.
    client.post("/portal/my-data/erasure", data={"csrf_token": token, "confirm": "y"})
    assert db.session.scalar(erasures) == 1


def _erasure_request(customer):
    from app.requests.services import open_request

    req = open_request(customer, "erasure", subject="Erase", notify=False)
    db.session.commit()
    return req


def test_erasure_through_the_queue_tells_what_is_kept_in_the_customers_language(app,
                                                                                templates):
    customer = rich_customer(name="Jan Peeters", language="nl", ended_on=None, age_days=40,
                             issued=date.today() - timedelta(days=40))
    attachment = customer.attachment_path
    req = _erasure_request(customer)
    staff = make_staff_user(app, "Compliance officer")
    decide_request(req, staff, True, "Done")
    db.session.commit()
    db.session.expire_all()
    row = db.session.get(Customer, customer.id)
    assert row.email is None and row.phone is None
    assert row.name == "Jan Peeters"  # printed on invoices: kept
    assert db.session.scalar(select(func.count(Contact.id))) == 0
    assert db.session.scalar(select(func.count(BankAccount.id))) == 0
    assert db.session.scalar(select(func.count(PortalAccess.id))) == 0
    assert not attachment.exists()
    assert row.relationship_ended_on == business_today()  # Brussels date, not the UTC one
    message = db.session.scalar(select(Message).where(Message.event == "erasure_done"))
    assert message.recipient == "jan.peeters@example.test" and message.language == "nl"
    assert "Btw-Wetboek, art. 60" in message.body_text  # why, in Dutch
    until = (date.today() - timedelta(days=40)).replace(year=date.today().year + 10 - (
        0 if (date.today() - timedelta(days=40)).year == date.today().year else 1))
    assert str(until.year) in message.body_text  # until when
    assert "gewist" in message.subject
    tomb = db.session.scalar(select(RetentionTombstone))
    assert tomb.subject == f"customer:{customer.id}" and "Jan" not in json.dumps(tomb.categories)


def test_erasure_with_an_unpaid_debt_keeps_the_data_for_the_claim(app, templates):
    customer = rich_customer(name="Marie Dupont", paid=False, ended_on=None, age_days=40,
                             issued=date.today() - timedelta(days=40))
    req = _erasure_request(customer)
    decide_request(req, make_staff_user(app, "Admin"), True, None)
    db.session.commit()
    db.session.expire_all()
    row = db.session.get(Customer, customer.id)
    assert row.email == "marie.dupont@example.test"  # needed to pursue the debt
    assert db.session.scalar(select(func.count(Contact.id))) == 1
    assert db.session.scalar(select(func.count(PortalAccess.id))) == 0  # sign-ins go anyway
    message = db.session.scalar(select(Message).where(Message.event == "erasure_done"))
    assert "17, §3, e)" in message.body_text  # legal claims, in French
    assert row.balance > Decimal(0)


def test_rejected_erasure_changes_nothing(app, templates):
    customer = rich_customer(name="Marie Dupont", ended_on=None, age_days=40)
    req = _erasure_request(customer)
    decide_request(req, make_staff_user(app, "Admin"), False, "Identity not proven")
    db.session.commit()
    db.session.expire_all()
    assert db.session.get(Customer, customer.id).email == "marie.dupont@example.test"
    assert db.session.scalar(select(func.count(Contact.id))) == 1
