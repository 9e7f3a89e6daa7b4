"""Staff side of the account area: confirming mandates, pending refund accounts, name/VAT."""
from __future__ import annotations

from sqlalchemy import select

from app.customers import bank_accounts
from app.extensions import db
from app.requests.models import CustomerRequest
from app.selfservice import mandates
from app.selfservice.bank_accounts import set_refund_account
from tests.helpers import csrf_for, make_customer, make_invoice


def _signed(customer):
    mandate = mandates.sign_mandate(customer, iban="BE68539007547034", signature_name="Jo Jo",
                                    consent=True, ip="198.51.100.1")
    db.session.commit()
    return mandate


def test_staff_confirm_a_pending_mandate_from_the_mandate_list(staff_client):
    customer = make_customer()
    mandate = _signed(customer)
    client = staff_client("AR clerk")
    response = client.post("/mandateview/action_post",
                           data={"action": "confirm_mandates", "rowid": [str(mandate.id)],
                                 "csrf_token": csrf_for(client)})
    assert response.status_code == 302
    db.session.expire_all()
    assert mandate.status == "active" and customer.payment_method == "direct_debit"
    req = db.session.scalar(select(CustomerRequest).where(CustomerRequest.kind == "mandate"))
    assert req.status == "approved"  # the customer's request is answered too
    # Confirming again changes nothing (not pending any more).
    client.post("/mandateview/action_post",
                data={"action": "reject_mandates", "rowid": [str(mandate.id)],
                      "csrf_token": csrf_for(client)})
    db.session.expire_all()
    assert mandate.status == "active"


def test_read_only_staff_cannot_confirm(staff_client):
    mandate = _signed(make_customer())
    client = staff_client("Read-only")
    client.post("/mandateview/action_post",
                data={"action": "confirm_mandates", "rowid": [str(mandate.id)],
                      "csrf_token": csrf_for(client)})
    db.session.expire_all()
    assert mandate.status == "pending"


def test_staff_see_pending_refund_accounts_with_their_cooloff_end(staff_client):
    customer = make_customer(name="Cooling Customer")
    set_refund_account(customer, "BE68539007547034")
    db.session.commit()
    client = staff_client("AR clerk")
    page = client.get("/bankaccountview/list/").get_data(as_text=True)
    assert "Cooling Customer" in page and "Pending (cool-off)" in page
    assert [a.customer_id for a in bank_accounts.pending_accounts()] == [customer.id]


def test_staff_may_still_change_name_and_vat_after_invoices(staff_client):
    from app.selfservice import profile

    customer = make_customer(name="Before SA")
    make_invoice(customer)
    assert profile.locked_fields(customer) == {"name", "vat_number"}
    assert profile.locked_fields(customer, by_staff=True) == frozenset()
    client = staff_client("Admin")
    page = client.get(f"/customerview/edit/{customer.id}").get_data(as_text=True)
    assert 'name="name"' in page and 'name="vat_number"' in page
