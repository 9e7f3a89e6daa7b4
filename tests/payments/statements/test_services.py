"""Staff actions on payments through the services: undo, manual match, credit applied."""
from __future__ import annotations

from datetime import date
from decimal import Decimal as D

import pytest
from sqlalchemy import select

from app.core.audit_models import AuditEvent
from app.core.validation import ValidationError
from app.extensions import db
from app.payments.models import Allocation
from app.payments.services import (
    apply_credit,
    clean_payment,
    manual_match,
    post_payment,
    undo_allocation,
)
from tests.helpers import make_customer, make_invoice, make_staff_user
from tests.payments.statements.conftest import count, fresh


@pytest.fixture
def clerk(app):
    user = make_staff_user(app, "AR clerk")
    db.session.commit()
    return user


def _post(customer, amount, reference=None):
    payment, _created = post_payment(clean_payment({
        "customer_number": customer.number, "amount": amount, "reference": reference,
        "received_on": date.today().isoformat()}))
    db.session.commit()
    return payment


def test_undo_keeps_the_money_as_credit_and_audits(clerk, customer, invoices):
    payment = _post(customer, "121.00", invoices[0].number)
    (allocation,) = payment.allocations
    undo_allocation(allocation, clerk, "booked on the wrong invoice")
    db.session.commit()
    assert fresh(invoices[0]).status == "open"
    payment = fresh(payment)
    assert payment.unallocated_amount == D("121.00") and payment.status == "unmatched"
    assert payment.customer_id == customer.id  # not from a statement: stays the customer's
    # (the automatic audit trail also records the rows the fixtures created)
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "undo"))
    assert (event.action, event.entity, event.actor, event.actor_type) == (
        "undo", "allocation", clerk.username, "staff")
    with pytest.raises(ValidationError):
        undo_allocation(fresh(allocation), clerk, "again")
    with pytest.raises(ValidationError) as no_reason:
        undo_allocation(fresh(allocation), clerk, " ")
    assert "reason" in no_reason.value.errors


def test_credit_applied_to_a_new_invoice(clerk, customer, invoices):
    payment = _post(customer, "500.00", invoices[2].number)
    assert fresh(payment).unallocated_amount == D("49.00")
    later = make_invoice(customer, "30.00", due_in_days=40)
    apply_credit(fresh(payment), clerk)
    db.session.commit()
    assert fresh(later).status == "paid"
    assert fresh(payment).unallocated_amount == D("19.00")
    assert count(AuditEvent, AuditEvent.action == "manual_match") == 1


def test_manual_match_refuses_what_does_not_add_up(clerk, customer, invoices):
    payment = _post(make_customer(), "10.00")
    stranger = make_invoice(make_customer(), "10.00")
    with pytest.raises(ValidationError) as wrong:
        manual_match(fresh(payment), customer, [(stranger, D("10.00"))], clerk)
    assert "another customer" in str(wrong.value)
    db.session.rollback()
    assert count(Allocation) == 0
