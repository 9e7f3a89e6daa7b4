"""Whatever a client sends in any field, the answer is a 2xx or a 4xx with a JSON message."""
import pytest

from app.api import schemas
from app.customers.models import Customer
from app.invoices.models import Invoice
from app.payments.models import Payment
from tests.api.support import count
from tests.helpers import make_customer, make_invoice

GARBAGE = [None, True, False, 0, -1, 1.5, 1e308, -1e-308, 10**30, "", " ", "x" * 5000,
           "\x00", "\ud800", "\u202e", {}, [], {"a": [1, {"b": None}]}, [[[]]],
           "'; DROP TABLE customer; --", "+++", "１２３", "٣", "2024-02-30", "-0", "1e5",
           "0x10", "∞", "NaN"]

WRITES = [
    ("put", "/api/v1/customers/C9", schemas.CustomerInputSchema,
     {"name": "Dupont", "email": "a@b.example"}),
    ("post", "/api/v1/invoices", schemas.InvoiceInputSchema,
     {"number": "F9", "customer_number": "C1", "issue_date": "2024-03-01",
      "due_date": "2024-03-31", "total_amount": "10.00"}),
    ("put", "/api/v1/invoices/F9", schemas.InvoiceInputSchema,
     {"customer_number": "C1", "issue_date": "2024-03-01", "due_date": "2024-03-31",
      "total_amount": "10.00"}),
    ("post", "/api/v1/payments", schemas.PaymentInputSchema,
     {"customer_number": "C1", "amount": "5.00", "received_on": "2024-04-01"}),
]


@pytest.mark.parametrize("method, path, schema, valid", WRITES,
                         ids=[f"{m} {p}" for m, p, _, _ in WRITES])
def test_garbage_in_any_field_never_gives_a_500(erp, method, path, schema, valid):
    make_invoice(make_customer(number="C1"), total="50.00")
    send = getattr(erp, method)
    assert send(path, json=valid).status_code in (200, 201)
    rows = (count(Customer), count(Invoice), count(Payment))
    for field in schema._declared_fields:
        for value in GARBAGE:
            response = send(path, json={**valid, field: value})
            body = response.get_json()
            assert response.status_code < 500, (field, value, body)
            assert isinstance(body, dict), (field, value)
            if response.status_code >= 400:
                assert body["message"], (field, value)
                assert (count(Customer), count(Invoice), count(Payment)) == rows, (field, value)
            else:
                rows = (count(Customer), count(Invoice), count(Payment))
