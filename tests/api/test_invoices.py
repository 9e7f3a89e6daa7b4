from datetime import date, timedelta
from decimal import Decimal

import pytest

from app.core.time import business_today
from app.extensions import db
from app.invoices.models import Invoice
from app.invoices.references import format_ogm, make_ogm
from tests.api.support import count
from tests.helpers import make_customer, make_invoice

OGM = make_ogm(909337554)


def invoice_data(**fields):
    data = {"number": "F2024-0042", "customer_number": "C1", "issue_date": "2024-03-01",
            "due_date": "2024-03-31", "total_amount": "125.50", "description": "March"}
    data.update(fields)
    return data


@pytest.fixture
def customer():
    return make_customer(number="C1")


def stored(number: str) -> Invoice | None:
    db.session.rollback()
    return db.session.scalar(db.select(Invoice).where(Invoice.number == number))


def test_post_creates_an_invoice_with_its_payment_references(erp, customer):
    response = erp.post("/api/v1/invoices", json=invoice_data(structured_reference=format_ogm(OGM)))
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["number"] == "F2024-0042" and body["customer_number"] == "C1"
    assert body["total_amount"] == "125.50" and body["open_amount"] == "125.50"
    assert body["issue_date"] == "2024-03-01" and body["due_date"] == "2024-03-31"
    assert body["structured_communication"] == {"raw": OGM, "formatted": format_ogm(OGM)}
    assert body["rf_reference"]["raw"] == "RF" + body["rf_reference"]["raw"][2:4] + OGM
    assert body["rf_reference"]["formatted"].startswith("RF")
    assert " " in body["rf_reference"]["formatted"]
    assert body["status"] == "open" and body["overdue"] is True
    assert body["days_overdue"] == (business_today() - date(2024, 3, 31)).days
    assert stored("F2024-0042").structured_reference == OGM


def test_without_a_structured_reference_one_is_assigned(erp, customer):
    body = erp.post("/api/v1/invoices", json=invoice_data()).get_json()
    raw = body["structured_communication"]["raw"]
    assert len(raw) == 12 and body["structured_communication"]["formatted"] == format_ogm(raw)


def test_get_returns_the_invoice_not_overdue_before_its_due_date(erp, customer):
    invoice = make_invoice(customer, total="80.00", due_in_days=12)
    body = erp.get(f"/api/v1/invoices/{invoice.number}").get_json()
    assert body["open_amount"] == "80.00"
    assert body["overdue"] is False and body["days_overdue"] == 0
    assert body["structured_communication"]["raw"] == invoice.structured_reference


def test_duplicate_number_is_422_on_number_and_changes_nothing(erp, customer):
    assert erp.post("/api/v1/invoices", json=invoice_data()).status_code == 201
    response = erp.post("/api/v1/invoices", json=invoice_data(total_amount="999.00"))
    assert response.status_code == 422
    assert "number" in response.get_json()["errors"]
    assert count(Invoice) == 1
    assert stored("F2024-0042").total_amount == Decimal("125.50")


def test_duplicate_number_and_bad_field_are_reported_together(erp, customer):
    erp.post("/api/v1/invoices", json=invoice_data())
    response = erp.post("/api/v1/invoices", json=invoice_data(due_date="31.13.2024"))
    assert set(response.get_json()["errors"]) == {"number", "due_date"}


def test_put_creates_then_updates(erp, customer):
    created = erp.put("/api/v1/invoices/F-7", json=invoice_data(number=None))
    assert created.status_code == 201
    updated = erp.put("/api/v1/invoices/F-7", json=invoice_data(number=None, total_amount="150",
                                                                 due_date="2099-01-31"))
    assert updated.status_code == 200
    body = updated.get_json()
    assert body["total_amount"] == "150.00" and body["open_amount"] == "150.00"
    assert body["due_date"] == "2099-01-31" and body["overdue"] is False
    assert body["structured_communication"] == created.get_json()["structured_communication"]
    assert count(Invoice) == 1
    assert erp.get("/api/v1/customers/C1/balance").get_json()["balance"] == "150.00"


def test_put_keeps_payments_booked(erp, customer):
    erp.put("/api/v1/invoices/F-8", json=invoice_data(number="F-8"))
    paid = erp.post("/api/v1/payments", json={"invoice_number": "F-8", "amount": "100.00",
                                              "received_on": "2024-04-02"})
    assert paid.status_code == 201
    response = erp.put("/api/v1/invoices/F-8", json=invoice_data(number="F-8", total_amount="90.00"))
    assert response.status_code == 422
    assert "total_amount" in response.get_json()["errors"]
    assert stored("F-8").total_amount == Decimal("125.50")


def test_invoice_numbers_may_contain_a_slash(erp, customer):
    assert erp.put("/api/v1/invoices/2024/0001", json=invoice_data(number=None)).status_code == 201
    assert erp.get("/api/v1/invoices/2024/0001").get_json()["number"] == "2024/0001"


@pytest.mark.parametrize("fields, field", [
    ({"structured_reference": OGM[:-1] + str((int(OGM[-1]) + 1) % 10)}, "structured_reference"),
    ({"structured_reference": "+++123/4567/890+++"}, "structured_reference"),
    ({"total_amount": "-10.00"}, "total_amount"),
    ({"total_amount": "0"}, "total_amount"),
    ({"total_amount": "ten euro"}, "total_amount"),
    ({"total_amount": "12.345"}, "total_amount"),
    ({"total_amount": True}, "total_amount"),
    ({"total_amount": {"value": 10}}, "total_amount"),
    ({"total_amount": 1e300}, "total_amount"),
    ({"total_amount": "9" * 5000}, "total_amount"),
    ({"total_amount": None}, "total_amount"),
    ({"customer_number": "NOBODY"}, "customer_number"),
    ({"issue_date": "2024/03/01"}, "issue_date"),
    ({"issue_date": "01-03-24"}, "issue_date"),
    ({"due_date": "2024-02-30"}, "due_date"),
    ({"due_date": 20240331}, "due_date"),
    ({"due_date": "2024-02-01"}, "due_date"),
    ({"currency": "USD"}, "currency"),
    ({"description": ["a", "b"]}, "description"),
    ({"number": "N" * 41}, "number"),
    ({"extra": 1}, "extra"),
])
def test_invalid_invoice_is_422_naming_the_field_and_changes_nothing(erp, customer, fields, field):
    response = erp.post("/api/v1/invoices", json=invoice_data(**fields))
    assert response.status_code == 422, response.get_json()
    assert field in response.get_json()["errors"]
    put = erp.put("/api/v1/invoices/F-9", json=invoice_data(**{"number": None, **fields}))
    assert put.status_code == 422
    assert count(Invoice) == 0


def test_structured_reference_of_another_invoice_is_refused(erp, customer):
    erp.post("/api/v1/invoices", json=invoice_data(structured_reference=OGM))
    response = erp.post("/api/v1/invoices", json=invoice_data(number="F-2",
                                                              structured_reference=OGM))
    assert response.status_code == 422
    assert "structured_reference" in response.get_json()["errors"]
    assert count(Invoice) == 1


@pytest.mark.parametrize("path", ["/api/v1/invoices/NOPE", "/api/v1/invoices/" + "9" * 200])
def test_unknown_invoice_is_404(erp, path):
    assert erp.get(path).status_code == 404


def test_overdue_days_count_from_the_due_date(erp, customer):
    invoice = make_invoice(customer, due_in_days=-9, issue_date=date.today() - timedelta(days=40))
    body = erp.get(f"/api/v1/invoices/{invoice.number}").get_json()
    assert body["overdue"] is True
    assert body["days_overdue"] == (business_today() - invoice.due_date).days >= 8
