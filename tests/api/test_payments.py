from datetime import date, timedelta
from decimal import Decimal

import pytest

from app.extensions import db
from app.invoices.models import Invoice
from app.invoices.references import format_ogm
from app.payments.models import Allocation, Payment
from tests.api.support import count
from tests.helpers import make_customer, make_invoice


@pytest.fixture
def customer():
    return make_customer(number="C1")


def test_payment_allocates_to_the_invoice_and_the_balance_follows(erp, customer):
    invoice = make_invoice(customer, total="125.50", due_in_days=-3,
                           issue_date=date.today() - timedelta(days=30))
    make_invoice(customer, total="60.00", due_in_days=20)
    assert erp.get("/api/v1/customers/C1/balance").get_json()["balance"] == "185.50"

    response = erp.post("/api/v1/payments", json={
        "invoice_number": invoice.number, "amount": "100.00", "received_on": "2024-05-02",
        "external_id": "ERP-PAY-1"})
    assert response.status_code == 201, response.get_json()
    payment = response.get_json()
    assert payment["amount"] == "100.00" and payment["unallocated_amount"] == "0.00"
    assert payment["status"] == "allocated" and payment["customer_number"] == "C1"
    assert payment["allocations"] == [{"invoice_number": invoice.number, "amount": "100.00"}]

    balance = erp.get("/api/v1/customers/C1/balance").get_json()
    assert balance["balance"] == "85.50"
    assert balance["overdue_amount"] == "25.50"
    shown = erp.get(f"/api/v1/invoices/{invoice.number}").get_json()
    assert shown["open_amount"] == "25.50" and shown["status"] == "partially_paid"
    assert erp.get(f"/api/v1/payments/{payment['id']}").get_json() == payment


def test_payment_by_structured_communication_pays_the_invoice(erp, customer):
    invoice = make_invoice(customer, total="40.00")
    response = erp.post("/api/v1/payments", json={
        "reference": format_ogm(invoice.structured_reference), "amount": 40,
        "received_on": "02/05/2024"})
    assert response.status_code == 201
    assert response.get_json()["received_on"] == "2024-05-02"
    db.session.rollback()
    assert db.session.get(Invoice, invoice.id).status == "paid"
    assert erp.get("/api/v1/customers/C1/balance").get_json()["balance"] == "0.00"


def test_repeated_external_id_books_once(erp, customer):
    invoice = make_invoice(customer, total="100.00")
    data = {"customer_number": "C1", "amount": "30.00", "received_on": "2024-05-02",
            "external_id": "ERP-PAY-2"}
    first = erp.post("/api/v1/payments", json=data)
    second = erp.post("/api/v1/payments", json=data)
    assert (first.status_code, second.status_code) == (201, 200)
    assert second.get_json() == first.get_json()
    assert count(Payment) == 1 and count(Allocation) == 1
    assert db.session.get(Invoice, invoice.id).open_amount == Decimal("70.00")


def test_external_id_reused_for_another_payment_is_a_conflict(erp, customer):
    make_invoice(customer, total="100.00")
    data = {"customer_number": "C1", "amount": "30.00", "received_on": "2024-05-02",
            "external_id": "ERP-PAY-3"}
    erp.post("/api/v1/payments", json=data)
    response = erp.post("/api/v1/payments", json={**data, "amount": "31.00"})
    assert response.status_code == 409
    assert "external_id" in response.get_json()["errors"]
    assert count(Payment) == 1


def test_payment_of_an_unknown_payer_is_booked_unmatched(erp):
    response = erp.post("/api/v1/payments", json={
        "reference": "something the bank wrote", "amount": "12.00", "received_on": "2024-05-02"})
    assert response.status_code == 201
    body = response.get_json()
    assert body["status"] == "unmatched" and body["customer_number"] is None
    assert body["unallocated_amount"] == "12.00" and body["allocations"] == []


@pytest.mark.parametrize("fields, field", [
    ({"amount": "-5.00"}, "amount"),
    ({"amount": "0.00"}, "amount"),
    ({"amount": "abc"}, "amount"),
    ({"amount": True}, "amount"),
    ({"amount": False}, "amount"),
    ({"amount": [10]}, "amount"),
    ({"amount": None}, "amount"),
    ({"amount": "1" * 39}, "amount"),
    ({"received_on": "2024-13-01"}, "received_on"),
    ({"received_on": "yesterday"}, "received_on"),
    ({"received_on": 1714608000}, "received_on"),
    ({"customer_number": "NOBODY"}, "customer_number"),
    ({"customer_number": None, "invoice_number": "NOPE"}, "invoice_number"),
    ({"customer_number": None}, "customer_number"),
    ({"method": "bitcoin"}, "method"),
    ({"external_id": {"id": 1}}, "external_id"),
    ({"amount_eur": "10.00"}, "amount_eur"),
])
def test_invalid_payment_is_422_naming_the_field_and_books_nothing(erp, customer, fields, field):
    invoice = make_invoice(customer, total="100.00")
    data = {"customer_number": "C1", "amount": "10.00", "received_on": "2024-05-02",
            "external_id": "ERP-PAY-9"}
    data.update(fields)
    response = erp.post("/api/v1/payments", json=data)
    assert response.status_code == 422, response.get_json()
    assert field in response.get_json()["errors"]
    assert count(Payment) == 0
    assert db.session.get(Invoice, invoice.id).open_amount == Decimal("100.00")


def test_invoice_of_another_customer_is_refused(erp, customer):
    other = make_customer(number="C2")
    invoice = make_invoice(other, total="10.00")
    response = erp.post("/api/v1/payments", json={
        "customer_number": "C1", "invoice_number": invoice.number, "amount": "10.00",
        "received_on": "2024-05-02"})
    assert response.status_code == 422
    assert "invoice_number" in response.get_json()["errors"]
    assert count(Payment) == 0


@pytest.mark.parametrize("payment_id", ["999", "abc", "99999999999999999999", "-1", "0",
                                        "%C2%B2"])
def test_unknown_payment_is_404(erp, payment_id):
    response = erp.get(f"/api/v1/payments/{payment_id}")
    assert response.status_code == 404
    assert response.get_json()["message"]
