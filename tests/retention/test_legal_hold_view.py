"""A legal hold set on screen (admin LegalHoldView) by the Compliance officer blocks the purge."""
from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from app.core.roles import AR_CLERK, COMPLIANCE_OFFICER, CREDIT_MANAGER
from app.customers.models import Contact, Customer
from app.extensions import db
from app.retention import purge
from app.retention.categories import ANONYMISED_NAME
from app.retention.models import LegalHold
from tests.backoffice.conftest import session_csrf
from tests.helpers import csrf_token
from tests.retention.conftest import rich_customer

pytestmark = pytest.mark.usefixtures("rules")


def test_compliance_officer_sets_a_hold_on_screen_and_the_purge_leaves_the_customer(
        app, staff_client):
    held = rich_customer(name="Held Person")
    free = rich_customer(name="Free Person")
    until = date.today() + timedelta(days=365)
    client = staff_client(COMPLIANCE_OFFICER)
    form = client.get("/legalholdview/add")
    assert form.status_code == 200
    response = client.post("/legalholdview/add", data={
        "customer": str(held.id), "reason": "Court case 2025/042",
        "until": until.isoformat(), "csrf_token": csrf_token(form.get_data(as_text=True))})
    assert response.status_code == 302
    hold = db.session.scalar(select(LegalHold))
    assert (hold.customer_id, hold.reason, hold.until) == (held.id, "Court case 2025/042", until)
    assert hold.created_by_id is not None and hold.released_at is None
    listing = client.get("/legalholdview/list/").get_data(as_text=True)
    assert "Court case 2025/042" in listing

    purge.execute(triggered_by="test")
    db.session.expire_all()
    assert db.session.get(Customer, held.id).name == "Held Person"
    assert db.session.get(Customer, held.id).email is not None
    assert db.session.scalar(select(func.count(Contact.id)).where(
        Contact.customer_id == held.id)) == 1
    assert held.attachment_path.exists()
    assert db.session.get(Customer, free.id).name == ANONYMISED_NAME


def test_released_on_screen_the_hold_no_longer_blocks(app, staff_client):
    held = rich_customer(name="Held Person")
    db.session.add(LegalHold(customer_id=held.id, reason="Court case"))
    db.session.commit()
    hold = db.session.scalar(select(LegalHold))
    client = staff_client(COMPLIANCE_OFFICER)
    form = client.get(f"/legalholdview/edit/{hold.id}")
    assert form.status_code == 200
    response = client.post(f"/legalholdview/edit/{hold.id}", data={
        "reason": "Court case (closed)", "until": "",
        "released_at": f"{date.today().isoformat()} 09:00:00",
        "csrf_token": csrf_token(form.get_data(as_text=True))})
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(LegalHold, hold.id).released_at is not None
    purge.execute(triggered_by="test")
    db.session.expire_all()
    assert db.session.get(Customer, held.id).name == ANONYMISED_NAME


@pytest.mark.parametrize("role", [CREDIT_MANAGER, AR_CLERK])
def test_finance_roles_may_not_set_a_hold(app, staff_client, role):
    customer = rich_customer(name="Someone")
    client = staff_client(role)
    response = client.post("/legalholdview/add", data={
        "customer": str(customer.id), "reason": "Mine", "csrf_token": session_csrf(app, client)})
    assert response.status_code == 403
    assert db.session.scalar(select(func.count(LegalHold.id))) == 0
