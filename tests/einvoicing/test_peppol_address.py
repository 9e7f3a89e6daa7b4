"""A customer's Peppol address is saved through app.einvoicing.services.save_peppol_address, on
the staff screen (add and FAB's generic edit) as anywhere else."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from app.core.models import utcnow
from app.core.validation import ValidationError
from app.einvoicing.models import CustomerPeppol
from app.einvoicing.services import record_reachability, save_peppol_address
from app.extensions import db
from tests.einvoicing.conftest import business
from tests.helpers import csrf_for


def test_both_parts_or_neither_and_a_valid_identifier():
    customer = business("BE")
    for scheme, endpoint_id, field in (("0208", "", "endpoint_id"),
                                       ("", "0403170701", "endpoint_id"),
                                       ("208", "0403170701", "endpoint_scheme"),
                                       ("0208", "0403170702", "endpoint_id")):
        with pytest.raises(ValidationError) as refused:
            save_peppol_address(None, customer, scheme, endpoint_id, None)
        assert field in refused.value.errors
    with pytest.raises(ValidationError) as refused:
        save_peppol_address(None, None, "0208", "0403170701", None)
    assert "customer" in refused.value.errors
    db.session.rollback()
    assert db.session.scalar(select(CustomerPeppol.id)) is None
    row = save_peppol_address(None, customer, " 0208 ", " 0403170701 ", "  ")
    db.session.commit()
    assert (row.endpoint_scheme, row.endpoint_id, row.buyer_reference) == \
        ("0208", "0403170701", None)


def test_a_changed_address_is_asked_about_again_a_changed_reference_is_not():
    customer = business("BE")
    row = save_peppol_address(None, customer, "0208", "0403170701", None)
    db.session.commit()
    record_reachability(customer.id, True)
    db.session.commit()
    save_peppol_address(row, customer, "0208", "0403170701", "PO-7")
    assert row.reachable is True and row.buyer_reference == "PO-7"
    save_peppol_address(row, customer, "9925", "BE0403170701", "PO-7")
    assert row.reachable is None and row.reachable_checked_at is None


def test_the_generic_edit_goes_through_the_address_rules(staff_client):
    customer = business("BE")
    row = save_peppol_address(None, customer, "0208", "0403170701", None)
    row.reachable, row.reachable_checked_at = True, utcnow()
    db.session.commit()
    client = staff_client("Credit manager")
    response = client.post(f"/customerpeppolview/edit/{row.id}", data={
        "csrf_token": csrf_for(client), "customer": str(customer.id),
        "endpoint_scheme": "0208", "endpoint_id": "", "buyer_reference": ""})
    assert response.status_code == 200
    assert "Enter both the scheme and the identifier, or neither." in response.get_data(
        as_text=True)
    db.session.expire_all()
    row = db.session.get(CustomerPeppol, row.id)
    assert row.endpoint_id == "0403170701" and row.reachable is True
    response = client.post(f"/customerpeppolview/edit/{row.id}", data={
        "csrf_token": csrf_for(client), "customer": str(customer.id),
        "endpoint_scheme": "9925", "endpoint_id": "BE0403170701", "buyer_reference": "PO-1",
        "reachable": "y"})
    assert response.status_code == 302
    db.session.expire_all()
    row = db.session.get(CustomerPeppol, row.id)
    assert (row.endpoint_scheme, row.endpoint_id, row.reachable) == ("9925", "BE0403170701",
                                                                     None)


def test_one_address_per_customer_said_not_a_database_error(staff_client):
    customer = business("BE")
    save_peppol_address(None, customer, "0208", "0403170701", None)
    db.session.commit()
    client = staff_client("Credit manager")
    response = client.post("/customerpeppolview/add", data={
        "csrf_token": csrf_for(client), "customer": str(customer.id),
        "endpoint_scheme": "9925", "endpoint_id": "BE0403170701", "buyer_reference": ""})
    assert response.status_code == 200
    assert "already has a Peppol address" in response.get_data(as_text=True)
    assert [r.endpoint_scheme for r in db.session.scalars(select(CustomerPeppol))] == ["0208"]
