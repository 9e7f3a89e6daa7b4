"""A failing address (a bounce) is cleared by staff from the 360° page, or by itself when the
customer changes that address or confirms their details; never by a forged or stale form."""
from __future__ import annotations

from sqlalchemy import select

from app.core.models import utcnow
from app.customers.models import Contact
from app.extensions import db
from app.inbound.actions import failing_addresses
from app.inbound.models import FailingAddress
from app.inbound.receiving import receive
from tests.dunning.conftest import consumer
from tests.helpers import csrf_for
from tests.inbound import mails
from tests.inbound.test_polling import sent_reminder
from tests.inbound.test_replies_flow import our_message_id


def bounced(address: str, **fields):
    customer = consumer(email=address, **fields)
    message = sent_reminder(customer)
    receive(mails.bounce(address, our_message_id(message)))
    db.session.commit()
    [row] = failing_addresses(customer.id)
    return customer, row


def audit_events(entity: str, entity_id: int) -> list:
    table = db.metadata.tables["audit_event"]
    return db.session.execute(select(table.c.action, table.c.actor, table.c.changed_fields).where(
        table.c.entity == entity, table.c.entity_id == str(entity_id))).all()


def test_staff_clear_a_failing_address_from_the_360_page_with_audit(staff_client):
    customer, row = bounced("gone@example.test")
    client = staff_client("AR clerk")
    page = client.get(f"/customer360/{customer.id}").get_data(as_text=True)
    action = f"/replies/failing/{customer.id}/{row.id}/clear"
    assert "cd-clear-failing" in page and action in page
    response = client.post(action, data={"csrf_token": csrf_for(client)})
    assert response.status_code == 302 and f"/customer360/{customer.id}" in response.location
    db.session.expire_all()
    cleared = db.session.get(FailingAddress, row.id)
    assert cleared.cleared_at is not None and cleared.cleared_by.startswith("staff:")
    assert failing_addresses(customer.id) == []
    page = client.get(f"/customer360/{customer.id}").get_data(as_text=True)
    assert "gone@example.test is no longer marked as failing." in page
    assert "cd-failing-address" not in page
    assert any(e.action == "update" and "cleared_at" in (e.changed_fields or []) for e in
               audit_events("failing_email_address", row.id))
    # Twice: a clear message, nothing changes.
    again = client.post(action, data={"csrf_token": csrf_for(client)}, follow_redirects=True)
    assert "This address is no longer marked as failing." in again.get_data(as_text=True)


def test_no_clear_without_csrf_for_another_customer_or_for_read_only_staff(staff_client):
    customer, row = bounced("gone@example.test")
    other = consumer(email="other@example.test")
    clerk = staff_client("AR clerk")
    clerk.post(f"/replies/failing/{customer.id}/{row.id}/clear", data={})
    clerk.post(f"/replies/failing/{other.id}/{row.id}/clear",
               data={"csrf_token": csrf_for(clerk)})
    reader = staff_client("Read-only")
    assert "cd-clear-failing" not in reader.get(f"/customer360/{customer.id}").get_data(
        as_text=True)
    reader.post(f"/replies/failing/{customer.id}/{row.id}/clear",
                data={"csrf_token": csrf_for(reader)})
    db.session.expire_all()
    assert db.session.get(FailingAddress, row.id).cleared_at is None


def test_an_unknown_failing_address_gets_a_message_not_a_500(staff_client):
    customer, row = bounced("weg@example.test", language="nl")
    client = staff_client("AR clerk")
    response = client.post(f"/replies/failing/{customer.id}/{row.id + 999}/clear",
                           data={"csrf_token": csrf_for(client)}, follow_redirects=True)
    assert response.status_code == 200
    assert "This failing address does not exist." in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(FailingAddress, row.id).cleared_at is None


def test_the_customer_changing_the_address_clears_it_and_a_rollback_does_not():
    customer, row = bounced("old@example.test")
    customer.email = "new@example.test"
    db.session.flush()
    db.session.rollback()
    assert db.session.get(FailingAddress, row.id).cleared_at is None
    customer.email = "new@example.test"  # expired after the rollback: the old value is loaded
    db.session.commit()
    cleared = db.session.get(FailingAddress, row.id)
    assert cleared.cleared_at is not None and cleared.cleared_by == "customer:changed"
    # The same address typed again (a staff form saving every field) clears nothing.
    _customer, kept = bounced("kept@example.test")
    _customer.email = "KEPT@example.test"
    db.session.commit()
    assert db.session.get(FailingAddress, kept.id).cleared_at is None


def test_a_contacts_address_changed_or_the_details_confirmed_clears_it():
    customer = consumer(email="main@example.test")
    contact = Contact(customer_id=customer.id, name="Billing", email="billing@example.test")
    db.session.add(contact)
    db.session.commit()
    message = sent_reminder(customer)
    receive(mails.bounce("billing@example.test", our_message_id(message)))
    receive(mails.bounce("main@example.test", our_message_id(message)))
    db.session.commit()
    assert {f.address for f in failing_addresses(customer.id)} == {"billing@example.test",
                                                                   "main@example.test"}
    contact.email = "accounts@example.test"
    db.session.commit()
    assert [f.address for f in failing_addresses(customer.id)] == ["main@example.test"]
    customer.verified_at = utcnow()
    db.session.commit()
    assert failing_addresses(customer.id) == []
    [main] = db.session.scalars(select(FailingAddress).where(
        FailingAddress.address == "main@example.test")).all()
    assert main.cleared_by == "customer:confirmed"
