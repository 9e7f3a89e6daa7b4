"""Credit notes and write-offs under the approval limits; a write-off ends dunning."""
from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import func, select

from app.core.roles import ADMIN, AR_CLERK, CREDIT_MANAGER
from app.core.validation import ValidationError
from app.dunning.models import DunningActionInvoice
from app.dunning.runs import run
from app.extensions import db
from app.invoices.models import CreditNote
from app.payments.models import Allocation
from app.payments.outgoing.adjustments import (
    approve_credit_note,
    approve_write_off,
    propose_credit_note,
    propose_write_off,
)
from app.payments.outgoing.models import WriteOff
from tests.backoffice.conftest import session_csrf
from tests.dunning.conftest import consumer, overdue, today
from tests.helpers import make_invoice, make_staff_user


def _count(model, *where) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def _fresh(record):
    db.session.expire_all()
    return db.session.get(type(record), record.id)


def test_a_credit_note_is_allocated_against_invoices(app):
    customer = consumer()
    named = make_invoice(customer, "50.00", due_in_days=10)
    older = make_invoice(customer, "100.00", due_in_days=-20)
    note = propose_credit_note(customer, "120.00", "Damaged goods", make_staff_user(app, AR_CLERK),
                               invoice=named)
    db.session.commit()
    assert note.status == "proposed" and _fresh(customer).balance == Decimal("150.00")
    made = approve_credit_note(note, make_staff_user(app, CREDIT_MANAGER))
    db.session.commit()
    # The named invoice first, then the oldest other one.
    assert [(a.invoice_id, a.amount) for a in made] == [(named.id, Decimal("50.00")),
                                                        (older.id, Decimal("70.00"))]
    assert _fresh(named).status == "paid"
    assert _fresh(older).open_amount == Decimal("30.00")
    assert _fresh(note).status == "allocated" and _fresh(note).open_amount == 0
    assert _fresh(customer).balance == Decimal("30.00")
    assert _count(Allocation, Allocation.credit_note_id == note.id) == 2


@pytest.mark.parametrize("role,amount,allowed", [
    (AR_CLERK, "100.00", True), (AR_CLERK, "100.01", False), (CREDIT_MANAGER, "900.00", True),
    (CREDIT_MANAGER, "1000.01", False), (ADMIN, "5000.00", True)])
def test_credit_note_approval_limits(app, role, amount, allowed):
    customer = consumer()
    invoice = make_invoice(customer, "6000.00", due_in_days=-5)
    note = propose_credit_note(customer, amount, "Goodwill", invoice=invoice)
    db.session.commit()
    if allowed:
        approve_credit_note(note, make_staff_user(app, role))
        db.session.commit()
        assert _fresh(invoice).open_amount == Decimal("6000.00") - Decimal(amount)
    else:
        with pytest.raises(ValidationError):
            approve_credit_note(note, make_staff_user(app, role))
        db.session.rollback()
        assert _fresh(note).status == "proposed"
        assert _fresh(invoice).open_amount == Decimal("6000.00")
        assert _count(Allocation) == 0


def test_credit_note_needs_a_reason_and_a_positive_amount(app):
    customer = consumer()
    for amount, reason in (("10.00", "  "), ("0", "why"), ("abc", "why")):
        with pytest.raises(ValidationError):
            propose_credit_note(customer, amount, reason)
        db.session.rollback()
    assert _count(CreditNote) == 0


def test_write_off_ends_dunning_with_the_reason_kept(app):
    from app.dunning.defaults import install_defaults
    from app.notifications.defaults import install_defaults as install_templates

    install_templates()
    install_defaults()
    customer = consumer()
    written = overdue(customer, 30, total="40.00")
    reminded = overdue(consumer(), 30, total="40.00")
    with pytest.raises(ValidationError):
        propose_write_off(written, "")
    write_off = propose_write_off(written, "Customer deceased, estate insolvent",
                                  make_staff_user(app, AR_CLERK))
    db.session.commit()
    approve_write_off(write_off, make_staff_user(app, AR_CLERK))  # 40.00 <= 50.00
    db.session.commit()
    invoice = _fresh(written)
    assert invoice.status == "written_off" and invoice.open_amount == 0
    assert _fresh(write_off).reason == "Customer deceased, estate insolvent"
    assert _fresh(customer).balance == 0
    run(today())
    assert _count(DunningActionInvoice, DunningActionInvoice.invoice_id == written.id) == 0
    # The same situation without the write-off is reminded: the run did look.
    assert _count(DunningActionInvoice, DunningActionInvoice.invoice_id == reminded.id) == 1


def test_write_off_above_the_clerks_limit_waits_for_a_manager(app):
    invoice = overdue(consumer(), 30, total="300.00")
    write_off = propose_write_off(invoice, "Uncollectable")
    db.session.commit()
    with pytest.raises(ValidationError) as refused:
        approve_write_off(write_off, make_staff_user(app, AR_CLERK))
    assert "50" in str(refused.value)
    db.session.rollback()
    assert _fresh(invoice).status == "open" and _fresh(write_off).status == "proposed"
    approve_write_off(write_off, make_staff_user(app, CREDIT_MANAGER))
    db.session.commit()
    assert _fresh(invoice).status == "written_off"


def test_back_office_adjustments(app, staff_client):
    customer = consumer()
    invoice = make_invoice(customer, "80.00", due_in_days=-10)
    client = staff_client("AR clerk")
    assert client.get("/adjustments/").status_code == 200
    client.post("/adjustments/credit-notes", data={
        "customer_number": customer.number, "invoice_number": invoice.number,
        "amount": "30.00", "reason": "<script>alert(1)</script>",
        "csrf_token": session_csrf(app, client)})
    note = db.session.scalar(select(CreditNote))
    assert note is not None and note.status == "proposed"
    page = client.get("/adjustments/").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;" in page
    client.post(f"/adjustments/credit-notes/{note.id}/approve",
                data={"csrf_token": session_csrf(app, client)})
    assert _fresh(note).status == "allocated"
    assert _fresh(invoice).open_amount == Decimal("50.00")
    client.post("/adjustments/write-offs", data={
        "invoice_number": invoice.number, "reason": "Small balance",
        "csrf_token": session_csrf(app, client)})
    write_off = db.session.scalar(select(WriteOff))
    approved = client.post(f"/adjustments/write-offs/{write_off.id}/approve",
                           data={"csrf_token": session_csrf(app, client)}, follow_redirects=True)
    assert approved.status_code == 200  # 50.00 is within the clerk's 50.00
    assert _fresh(invoice).status == "written_off"
    assert client.post("/adjustments/write-offs/999999/approve",
                       data={"csrf_token": session_csrf(app, client)}).status_code == 404
    unknown = client.post("/adjustments/write-offs", data={
        "invoice_number": "NOPE", "reason": "x", "csrf_token": session_csrf(app, client)},
        follow_redirects=True)
    assert unknown.status_code == 200 and "NOPE" in unknown.get_data(as_text=True)
