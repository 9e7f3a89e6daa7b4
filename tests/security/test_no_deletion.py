"""Issue 12 #5: what people may not delete, whatever their role.

An AR clerk deleted a GDPR erasure request (POST /customerrequestview/delete/24). Customer
requests are answered, closed or cancelled, never deleted by people; data-subject requests
(access, erasure) are removed by the retention rules only. The same holds for legal holds (they
are released), the audit trail, messages, dunning history, and the money records (invoices,
credit notes, payments, allocations, bank accounts, mandates). For every role, a delete with a
valid CSRF token (POST, as FAB's form sends it) and without (GET) leaves every such row in place.
"""
from __future__ import annotations

import pytest
from sqlalchemy import select

from app.core.audit_models import AuditEvent
from app.core.roles import STAFF_ROLES
from app.customers.models import BankAccount, Customer, Mandate
from app.extensions import db
from app.invoices.models import CreditNote, Invoice
from app.notifications.models import Message
from app.payments.models import Allocation, Payment
from app.requests.models import CustomerRequest
from app.retention.models import LegalHold
from tests.helpers import make_customer
from tests.security.money_support import login, make_money_records, page_token


def _targets(r) -> list[tuple[str, type, int]]:
    return [
        ("customerrequestview", CustomerRequest, r.erasure_request_id),
        ("customerrequestview", CustomerRequest, r.access_request_id),
        ("customerrequestview", CustomerRequest, r.question_request_id),
        ("legalholdview", LegalHold, r.legal_hold_id),
        ("auditeventview", AuditEvent, r.audit_event_id),
        ("messageview", Message, r.message_id),
        ("mailboxview", Message, r.message_id),
        ("invoiceview", Invoice, r.big_invoice_id),
        ("creditnoteview", CreditNote, r.refused_note_id),
        ("paymentview", Payment, r.payment_id),
        ("allocationview", Allocation, r.allocation_id),
        ("bankaccountview", BankAccount, r.refund_account_id),
        ("mandateview", Mandate, r.mandate_id),
        ("customerview", Customer, r.customer_id),
    ]


@pytest.mark.parametrize("role", STAFF_ROLES)
def test_nobody_deletes_requests_holds_history_or_money(app, role):
    records = make_money_records()
    client = login(app, role) or app.test_client()
    kept = []
    for view, model, row_id in _targets(records):
        token = page_token(client, f"/{view}/show/{row_id}")
        for method, data in (("POST", {"csrf_token": token}), ("GET", None)):
            response = client.open(f"/{view}/delete/{row_id}", method=method, data=data)
            assert response.status_code < 500, (view, method, response.status_code)
            db.session.rollback()
            db.session.expire_all()
            if db.session.get(model, row_id) is None:
                kept.append(f"{method} /{view}/delete/{row_id} deleted a {model.__name__}")
    assert not kept, f"{role}:\n" + "\n".join(kept)


def test_a_customer_with_only_an_erasure_request_is_not_deleted(app):
    """No invoice, but a data-subject request: deleting the customer would take the request
    with it (or orphan it); refused with a message."""
    from app.notifications.defaults import install_defaults
    from app.requests.services import open_request

    install_defaults()
    customer = make_customer()
    request_id = open_request(customer, "erasure", channel="staff").id
    db.session.commit()
    client = login(app, "Admin")
    response = client.post(f"/customerview/delete/{customer.id}",
                           data={"csrf_token": page_token(client, "/customerview/list/")},
                           follow_redirects=True)
    assert "cannot be deleted" in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Customer, customer.id) is not None
    assert db.session.get(CustomerRequest, request_id) is not None


def test_the_delete_buttons_are_gone(app):
    records = make_money_records()
    client = login(app, "Admin")
    for view, _model, row_id in _targets(records):
        if view == "customerview":
            continue  # a customer without records may still be deleted
        html = client.get(f"/{view}/list/").get_data(as_text=True)
        assert f"/{view}/delete/" not in html, view
    assert db.session.scalar(select(CustomerRequest.id).where(
        CustomerRequest.id == records.erasure_request_id)) is not None
