"""Refunds: proposals from credit balances, approval within limits, never to an account in
its cool-off, pain.001 against the official schema."""
from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from xml.etree import ElementTree as ET

import pytest
from sqlalchemy import func, select

from app.core.models import utcnow
from app.core.roles import ADMIN, AR_CLERK, CREDIT_MANAGER
from app.core.validation import ValidationError
from app.extensions import db
from app.payments.models import Payment
from app.payments.outgoing.models import CreditTransferBatch, Refund
from app.payments.outgoing.refunds import (
    approve_refund,
    export_refunds,
    propose_from_credit_balances,
    propose_refund,
    refundable,
)
from app.payments.outgoing.sepa_xml import PAIN_001
from app.payments.services import book_payment
from tests.backoffice.conftest import session_csrf
from tests.helpers import make_customer, make_invoice, make_staff_user
from tests.payments.cashout_helpers import refund_account, schema


def _overpaid(amount="80.00", **fields):
    """A customer who paid 100.00 + ``amount`` for an invoice of 100.00."""
    customer = make_customer(**fields)
    make_invoice(customer, "100.00", due_in_days=-5)
    book_payment(amount=Decimal("100.00") + Decimal(amount), received_on=date.today(),
                 customer_id=customer.id)
    db.session.commit()
    return customer


def _count(model, *where) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def test_credit_balances_become_proposals_once(app):
    overpaid = _overpaid("80.00")
    settled = _overpaid("0.00")
    assert refundable(overpaid.id) == Decimal("80.00")
    made = propose_from_credit_balances()
    db.session.commit()
    assert [(r.customer_id, r.amount, r.status) for r in made] == [
        (overpaid.id, Decimal("80.00"), "proposed")]
    assert propose_from_credit_balances() == []  # already proposed
    assert refundable(overpaid.id) == 0 and refundable(settled.id) == 0


def test_a_refund_never_goes_to_an_account_in_its_cool_off(app):
    """The fraud path: someone changes the refund account, then asks for the money."""
    customer = _overpaid("80.00")
    pending = refund_account(customer, "BE68539007547034", pending=True)
    refund = propose_refund(customer, None)
    db.session.commit()
    admin = make_staff_user(app, ADMIN)
    with pytest.raises(ValidationError) as refused:
        approve_refund(refund, admin)
    message = str(refused.value)
    assert "cool-off" in message and pending.iban[-4:] in message
    db.session.rollback()
    db.session.expire_all()
    refund = db.session.get(Refund, refund.id)
    assert refund.status == "proposed" and refund.bank_account_id is None
    assert export_refunds(admin).batch is None
    assert _count(CreditTransferBatch) == 0


def test_an_account_changed_after_approval_blocks_the_export(app):
    customer = _overpaid("80.00")
    old = refund_account(customer, "BE68539007547034")
    refund = propose_refund(customer, None)
    approve_refund(refund, make_staff_user(app, ADMIN))
    db.session.commit()
    assert refund.iban == old.iban
    # A new account became active meanwhile (cool-off over) and the old one was retired.
    old.status, old.retired_at = "retired", utcnow()
    refund_account(customer, "BE62510007547061")
    result = export_refunds()
    db.session.commit()
    assert result.batch is None
    assert [r.id for r, _reason in result.blocked] == [refund.id]
    assert "changed" in result.blocked[0][1]
    assert db.session.get(Refund, refund.id).status == "approved"
    assert db.session.get(Payment, db.session.scalar(select(Payment.id))).unallocated_amount \
        == Decimal("80.00")


@pytest.mark.parametrize("role,amount,allowed", [
    (AR_CLERK, "200.00", True), (AR_CLERK, "300.00", False),
    (CREDIT_MANAGER, "300.00", True), (CREDIT_MANAGER, "3000.00", False),
    (ADMIN, "3000.00", True)])
def test_approval_limits_per_role(app, role, amount, allowed):
    customer = _overpaid(amount)
    refund_account(customer)
    refund = propose_refund(customer, Decimal(amount))
    db.session.commit()
    user = make_staff_user(app, role)
    if allowed:
        approve_refund(refund, user)
        db.session.commit()
        assert refund.status == "approved" and refund.approved_by_id == user.id
    else:
        with pytest.raises(ValidationError):
            approve_refund(refund, user)
        db.session.rollback()
        assert db.session.get(Refund, refund.id).status == "proposed"


def test_more_than_the_credit_is_refused(app):
    customer = _overpaid("80.00")
    with pytest.raises(ValidationError):
        propose_refund(customer, Decimal("80.01"))
    db.session.rollback()
    assert _count(Refund) == 0


def test_export_writes_a_valid_pain001_and_uses_the_credit(app):
    customer = _overpaid("80.00", name="Zoë Lambert")
    account = refund_account(customer, "BE68539007547034")
    refund = propose_refund(customer, None)
    approve_refund(refund, make_staff_user(app, CREDIT_MANAGER))
    db.session.commit()
    result = export_refunds(execution_date=date.today() + timedelta(days=1))
    db.session.commit()
    batch = result.batch
    assert batch is not None and batch.transaction_count == 1
    schema("pain.001.001.03").validate(batch.file_xml)
    root = ET.fromstring(batch.file_xml.encode())
    ns = {"p": PAIN_001}
    tx = root.find("p:CstmrCdtTrfInitn/p:PmtInf/p:CdtTrfTxInf", ns)
    assert tx.findtext("p:CdtrAcct/p:Id/p:IBAN", namespaces=ns) == account.iban
    assert tx.findtext("p:Amt/p:InstdAmt", namespaces=ns) == "80.00"
    assert db.session.get(Refund, refund.id).status == "exported"
    assert refundable(customer.id) == 0
    payment = db.session.scalar(select(Payment))
    assert payment.unallocated_amount == 0
    assert export_refunds().batch is None  # nothing exported twice


def test_back_office_refund_flow(app, staff_client):
    customer = _overpaid("80.00")
    refund_account(customer, pending=True)
    client = staff_client("AR clerk")
    assert client.get("/refunds/").status_code == 200
    client.post("/refunds/propose-credits", data={"csrf_token": session_csrf(app, client)})
    refund = db.session.scalar(select(Refund))
    assert refund is not None and refund.amount == Decimal("80.00")
    page = client.post(f"/refunds/{refund.id}/approve",
                       data={"csrf_token": session_csrf(app, client)}, follow_redirects=True)
    assert page.status_code == 200 and "cool-off" in page.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Refund, refund.id).status == "proposed"
    assert client.post("/refunds/999999/approve",
                       data={"csrf_token": session_csrf(app, client)}).status_code == 404
