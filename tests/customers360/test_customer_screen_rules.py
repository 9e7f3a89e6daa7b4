"""The customer screen saves a reminder pause through the pause rules (app.customers.notes), and
refuses deleting a customer on record through the retention rule (check_customer_deletable):
the same rules as the 360° page, whatever a forged POST to FAB's generic edit sends."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from app.core.time import business_today
from app.core.validation import ValidationError
from app.customers.models import Customer, CustomerNote
from app.extensions import db
from app.retention.subject import check_customer_deletable
from tests.helpers import csrf_for, make_customer, make_invoice


def _edit(client, customer: Customer, **values) -> dict:
    form = {"name": customer.name, "kind": customer.kind, "language": customer.language,
            "country": customer.country or "BE", "email": customer.email or "",
            "delivery_channel": customer.delivery_channel or "email",
            "payment_method": customer.payment_method or "transfer",
            "legal_status": customer.legal_status or "none", "dunning_paused_until": "",
            "dunning_pause_reason": "", "csrf_token": csrf_for(client)}
    form.update(values)
    return client.post(f"/customerview/edit/{customer.id}", data=form)


def test_a_pause_beyond_the_longest_allowed_is_refused_on_the_customer_form(staff_client):
    customer = make_customer()
    client = staff_client("Credit manager")
    too_long = business_today() + timedelta(days=400)
    response = _edit(client, customer, dunning_paused_until=too_long.isoformat(),
                     dunning_pause_reason="Holiday")
    assert response.status_code == 200
    assert "A pause may last at most 90 days." in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Customer, customer.id).dunning_paused_until is None


def test_a_pause_set_on_the_customer_form_is_on_the_timeline_with_who(staff_client):
    customer = make_customer()
    client = staff_client("Credit manager")
    until = business_today() + timedelta(days=20)
    response = _edit(client, customer, dunning_paused_until=until.isoformat(),
                     dunning_pause_reason="Bereavement in the family")
    assert response.status_code == 302
    db.session.expire_all()
    customer = db.session.get(Customer, customer.id)
    assert customer.dunning_paused_until == until
    note = db.session.scalar(select(CustomerNote).where(CustomerNote.customer_id == customer.id,
                                                        CustomerNote.kind == "pause"))
    assert note.paused_until == until and note.user_name == "credit_manager"
    # A reason without an end is no pause.
    response = _edit(client, customer, dunning_paused_until="",
                     dunning_pause_reason="Bereavement in the family")
    assert response.status_code == 200
    # Emptied, reminders resume (the pause stays on the timeline).
    response = _edit(client, customer)
    assert response.status_code == 302
    db.session.expire_all()
    customer = db.session.get(Customer, customer.id)
    assert customer.dunning_paused_until is None and customer.dunning_pause_reason is None


def test_a_customer_on_record_is_not_deleted():
    customer = make_customer()
    check_customer_deletable(customer)
    make_invoice(customer)
    with pytest.raises(ValidationError) as refused:
        check_customer_deletable(customer)
    assert "cannot be deleted" in refused.value.errors["customer"][0]


def test_the_delete_button_goes_through_the_retention_rule(staff_client):
    kept, free = make_customer(), make_customer()
    make_invoice(kept)
    kept_id, free_id = kept.id, free.id
    client = staff_client("Credit manager")
    client.post(f"/customerview/delete/{kept_id}", data={"csrf_token": csrf_for(client)})
    assert "cannot be deleted" in client.get("/customerview/list/").get_data(as_text=True)
    client.post(f"/customerview/delete/{free_id}", data={"csrf_token": csrf_for(client)})
    db.session.expire_all()
    assert db.session.get(Customer, kept_id) is not None
    assert db.session.get(Customer, free_id) is None
