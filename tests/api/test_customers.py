from datetime import date, timedelta

import pytest

from app.customers.models import Customer
from app.customers.services import find_by_number
from tests.api.support import count
from tests.helpers import make_customer, make_invoice

DUPONT = {"name": "Dupont SRL", "kind": "company", "language": "fr", "email": "ap@dupont.example",
          "vat_number": "BE0403019261", "contact_name": "Marie Dupont",
          "address_line1": "Rue de la Loi 16", "postal_code": "1000", "city": "Bruxelles",
          "preferred_payment_day": 25, "sms_reminders": True}


def test_put_creates_then_updates_the_same_customer(erp):
    created = erp.put("/api/v1/customers/C1001", json=DUPONT)
    assert created.status_code == 201
    body = created.get_json()
    assert body["number"] == "C1001"
    assert body["vat_number"] == "BE0403019261"
    assert body["contact_name"] == "Marie Dupont"
    assert body["city"] == "Bruxelles"
    assert body["preferred_payment_day"] == 25 and body["sms_reminders"] is True
    assert body["balance"] == "0.00" and body["currency"] == "EUR"

    again = erp.put("/api/v1/customers/C1001", json=DUPONT)
    assert again.status_code == 200
    assert count(Customer) == 1

    changed = erp.put("/api/v1/customers/C1001", json={**DUPONT, "name": "Dupont & Fils",
                                                        "language": "nl"})
    assert changed.status_code == 200
    customer = find_by_number("C1001")
    assert (customer.name, customer.language) == ("Dupont & Fils", "nl")
    assert erp.get("/api/v1/customers/C1001").get_json()["name"] == "Dupont & Fils"


def test_number_in_the_body_must_match_the_url(erp):
    response = erp.put("/api/v1/customers/C1", json={**DUPONT, "number": "C2"})
    assert response.status_code == 422
    assert "number" in response.get_json()["errors"]
    assert count(Customer) == 0
    assert erp.put("/api/v1/customers/C1", json={**DUPONT, "number": "C1"}).status_code == 201


def test_get_shows_balance_and_overdue_amount(erp):
    customer = make_customer(number="C7")
    make_invoice(customer, total="100.00", due_in_days=10)
    make_invoice(customer, total="250.50", due_in_days=-20,
                 issue_date=date.today() - timedelta(days=50))
    body = erp.get("/api/v1/customers/C7").get_json()
    assert body["balance"] == "350.50"
    assert body["overdue_amount"] == "250.50"


def test_balance_endpoint(erp):
    customer = make_customer(number="C8")
    make_invoice(customer, total="100.00", due_in_days=10)
    old = make_invoice(customer, total="40.00", due_in_days=-30,
                       issue_date=date.today() - timedelta(days=60))
    make_invoice(customer, total="60.00", due_in_days=-5,
                 issue_date=date.today() - timedelta(days=60))
    response = erp.get("/api/v1/customers/C8/balance")
    assert response.status_code == 200
    assert response.get_json() == {
        "customer_number": "C8", "currency": "EUR", "balance": "200.00",
        "overdue_amount": "100.00", "open_invoices": 3,
        "oldest_due_date": old.due_date.isoformat()}


def test_balance_of_a_customer_without_invoices(erp):
    make_customer(number="C9")
    body = erp.get("/api/v1/customers/C9/balance").get_json()
    assert body["balance"] == "0.00" and body["open_invoices"] == 0
    assert body["oldest_due_date"] is None


def test_open_invoices_are_paginated_oldest_due_first(erp):
    customer = make_customer(number="C10")
    other = make_customer(number="C11")
    make_invoice(other, total="5.00")
    numbers = [make_invoice(customer, total="10.00", due_in_days=days).number
               for days in (30, 10, 20, 40, 50)]
    first = erp.get("/api/v1/customers/C10/invoices?page_size=2").get_json()
    assert first["count"] == 5 and first["page"] == 1 and first["page_size"] == 2
    assert [i["number"] for i in first["result"]] == [numbers[1], numbers[2]]
    third = erp.get("/api/v1/customers/C10/invoices?page=3&page_size=2").get_json()
    assert [i["number"] for i in third["result"]] == [numbers[4]]
    beyond = erp.get("/api/v1/customers/C10/invoices?page=9&page_size=2").get_json()
    assert beyond["result"] == [] and beyond["count"] == 5


@pytest.mark.parametrize("query", ["page=0", "page=abc", "page_size=1000", "page_size=-1",
                                   "page=99999999999999999999", "page=%C2%B2"])
def test_bad_page_arguments_are_400_naming_the_argument(erp, query):
    make_customer(number="C12")
    response = erp.get(f"/api/v1/customers/C12/invoices?{query}")
    assert response.status_code == 400
    assert set(response.get_json()["errors"]) <= {"page", "page_size"}


@pytest.mark.parametrize("path", ["/api/v1/customers/NOPE", "/api/v1/customers/NOPE/balance",
                                  "/api/v1/customers/NOPE/invoices",
                                  "/api/v1/customers/" + "X" * 300,
                                  "/api/v1/customers/A%00B"])
def test_unknown_customer_is_404(erp, path):
    response = erp.get(path)
    assert response.status_code == 404
    assert response.get_json()["message"]


def test_customer_numbers_may_contain_a_slash(erp):
    assert erp.put("/api/v1/customers/BE/0042", json=DUPONT).status_code == 201
    assert erp.get("/api/v1/customers/BE/0042").get_json()["number"] == "BE/0042"
    assert erp.get("/api/v1/customers/BE/0042/balance").get_json()["customer_number"] == "BE/0042"


@pytest.mark.parametrize("body, field", [
    ({"name": ""}, "name"),
    ({"name": "X", "email": "not-an-email"}, "email"),
    ({"name": "X", "vat_number": "BE0123456789"}, "vat_number"),
    ({"name": "X", "language": "de"}, "language"),
    ({"name": "X", "preferred_payment_day": 32}, "preferred_payment_day"),
    ({"name": "X", "preferred_payment_day": 2.5}, "preferred_payment_day"),
    ({"name": "X", "address_line1": "Rue 1"}, "city"),
    ({"name": {"first": "A"}}, "name"),
    ({"name": ["A"]}, "name"),
    ({"name": True}, "name"),
    ({"name": "X" * 100_000}, "name"),
    ({"name": "A\u0000B"}, "name"),
    ({"name": "\ud800"}, "name"),
    ({"name": "X", "sms_reminders": "maybe"}, "sms_reminders"),
    ({"name": "X", "nmae": "typo"}, "nmae"),
])
def test_invalid_customer_is_422_naming_the_field_and_changes_nothing(erp, body, field):
    make_customer(number="C20", name="Before")
    response = erp.put("/api/v1/customers/C20", json=body)
    assert response.status_code == 422, response.get_json()
    assert field in response.get_json()["errors"]
    assert find_by_number("C20").name == "Before"
    response = erp.put("/api/v1/customers/C21", json=body)
    assert response.status_code == 422
    assert count(Customer) == 1


@pytest.mark.parametrize("data", [b"not json", b"[1, 2]", b"null", b"\"text\"", b"",
                                  b"{\"name\": NaN}", b"\xff\xfe\x00", b"[" * 100_000])
def test_a_body_that_is_not_a_json_object_is_400(erp, data):
    response = erp.client.put("/api/v1/customers/C1", data=data, headers={
        **erp.headers, "Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.get_json()["message"]
    assert count(Customer) == 0



def test_a_body_over_the_size_limit_is_413(app, erp, monkeypatch):
    monkeypatch.setitem(app.config, "MAX_CONTENT_LENGTH", 1000)
    response = erp.put("/api/v1/customers/C1", json={"name": "X" * 2000})
    assert response.status_code == 413
    assert response.get_json()["message"]
    assert count(Customer) == 0


@pytest.mark.parametrize("path", ["/api/v1/customers/C1/balance", "/api/v1/customers/C1/invoices/"])
def test_put_on_a_sub_resource_creates_no_customer(erp, path):
    response = erp.put(path, json=DUPONT)
    assert response.status_code == 422
    assert "number" in response.get_json()["errors"]
    assert count(Customer) == 0
