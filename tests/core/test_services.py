"""Rules of the customer and invoice services that every front door shares."""
from decimal import Decimal

import pytest

from app.core.validation import ValidationError
from app.customers.services import clean_customer, upsert_customer
from app.extensions import db
from app.invoices.references import is_valid_ogm, make_rf
from app.invoices.services import clean_invoice, upsert_invoice
from tests.helpers import make_customer, make_invoice


def test_an_update_without_a_column_keeps_what_we_had():
    make_customer(number="C1", name="Old name", email="keep@example.test", phone="+3221234567")
    customer, created = upsert_customer(clean_customer({"number": "C1", "name": "New name"}))
    db.session.commit()
    assert not created
    assert (customer.name, customer.email, customer.phone) == (
        "New name", "keep@example.test", "+3221234567")


def test_an_empty_value_given_on_purpose_clears_the_field():
    make_customer(number="C1", email="old@example.test")
    customer, _ = upsert_customer(clean_customer({"number": "C1", "name": "X", "email": ""}))
    assert customer.email is None


def test_changing_the_structured_communication_changes_the_rf_reference_too():
    invoice = make_invoice(make_customer())
    upsert_invoice(clean_invoice({
        "number": invoice.number, "customer_number": invoice.customer.number,
        "issue_date": invoice.issue_date.isoformat(), "due_date": invoice.due_date.isoformat(),
        "total_amount": "100.00", "structured_reference": "+++010/8068/17183+++"}))
    assert invoice.structured_reference == "010806817183"
    assert invoice.rf_reference == make_rf("010806817183")


def test_every_new_invoice_gets_its_own_valid_structured_communication():
    customer = make_customer()
    references = {make_invoice(customer).structured_reference for _ in range(5)}
    assert len(references) == 5 and all(is_valid_ogm(r) for r in references)


def test_total_below_what_is_paid_is_refused():
    from app.payments.services import clean_payment, post_payment

    customer = make_customer()
    invoice = make_invoice(customer, total="100.00")
    post_payment(clean_payment({"customer_number": customer.number, "amount": "60.00",
                                "received_on": "2026-01-01", "invoice_number": invoice.number}))
    db.session.commit()
    with pytest.raises(ValidationError) as refused:
        upsert_invoice(clean_invoice({
            "number": invoice.number, "customer_number": customer.number,
            "issue_date": invoice.issue_date.isoformat(), "due_date": invoice.due_date.isoformat(),
            "total_amount": "50.00"}))
    assert "total_amount" in refused.value.errors
    db.session.rollback()
    assert db.session.get(type(invoice), invoice.id).open_amount == Decimal("40.00")
