"""SEPA mandate: signature evidence, text per language, UMR, staff confirmation, revocation."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from app.core.settings import set_setting
from app.core.validation import ValidationError
from app.customers.models import BankAccount, Mandate
from app.extensions import db
from app.notifications.models import Message
from app.requests.models import CustomerRequest
from app.requests.services import decide_request
from app.selfservice import mandates
from tests.helpers import make_customer

IBAN = "BE68539007547034"


def _sign(customer, **changes):
    values = {"iban": "BE68 5390 0754 7034", "signature_name": "Marie Dupont", "consent": True,
                  "ip": "203.0.113.7", "user_agent": "Test browser"}
    values.update(changes)
    return mandates.sign_mandate(customer, **values)


def test_signing_keeps_the_evidence_and_waits_for_staff():
    set_setting("company.creditor_id", "BE11ZZZ0403170701")
    customer = make_customer(number="C-42/7", language="nl")
    mandate = _sign(customer, language="nl")
    db.session.commit()
    assert mandate.status == "pending" and customer.payment_method == "transfer"
    assert mandate.signature_name == "Marie Dupont" and mandate.signature_consent is True
    assert mandate.signature_ip == "203.0.113.7" and mandate.signed_at is not None
    assert mandate.signature_user_agent == "Test browser" and mandate.language == "nl"
    assert mandate.creditor_id == "BE11ZZZ0403170701"
    assert mandate.reference.startswith("CD-C427-") and len(mandate.reference) <= 35
    assert "BE11ZZZ0403170701" in mandate.mandate_text
    assert mandate.reference in mandate.mandate_text and IBAN in mandate.mandate_text
    assert mandate.bank_account.iban == IBAN and mandate.bank_account.status == "pending"
    req = db.session.scalar(select(CustomerRequest).where(CustomerRequest.kind == "mandate"))
    assert req.status == "received" and req.payload["mandate_id"] == mandate.id


def test_references_are_unique():
    customer = make_customer()
    refs = {mandates.new_reference(customer) for _ in range(50)}
    assert len(refs) == 50


def test_the_text_names_the_creditor_in_the_customers_language():
    set_setting("company.name", "Zeta Energie NV")
    customer = make_customer(language="fr")
    english = mandates.mandate_text(customer, "en")
    assert "Zeta Energie NV" in english and "BE81ZZZ0123456749" in english
    assert "8 weeks" in english


@pytest.mark.parametrize("changes, field", [
    ({"iban": "BE68539007547035"}, "iban"), ({"iban": ""}, "iban"),
    ({"signature_name": " "}, "signature_name"), ({"consent": False}, "consent"),
    ({"bic": "XX"}, "bic")])
def test_a_bad_signature_is_refused_and_nothing_changes(changes, field):
    customer = make_customer()
    with pytest.raises(ValidationError) as refused:
        _sign(customer, **changes)
    db.session.rollback()
    assert field in refused.value.errors
    assert db.session.scalar(select(Mandate.id)) is None
    assert db.session.scalar(select(BankAccount.id)) is None
    assert db.session.scalar(select(CustomerRequest.id)) is None


def test_one_pending_mandate_at_a_time():
    customer = make_customer()
    _sign(customer)
    db.session.commit()
    with pytest.raises(ValidationError):
        _sign(customer, iban="NL91ABNA0417164300")


def test_staff_approving_the_request_confirms_the_mandate():
    customer = make_customer(email="dd@example.test")
    mandate = _sign(customer)
    db.session.commit()
    req = db.session.scalar(select(CustomerRequest).where(CustomerRequest.kind == "mandate"))
    decide_request(req, None, approve=True, note=None)
    db.session.commit()
    assert mandate.status == "active" and mandate.bank_account.status == "active"
    assert customer.payment_method == "direct_debit"
    active = db.session.scalar(select(Message).where(Message.event == "mandate_active"))
    assert active.recipient == "dd@example.test" and mandate.reference in active.body_text
    assert IBAN not in active.body_text  # masked
    # One decision, one message: the mandate's own message is the answer to the request.
    events = [m.event for m in db.session.scalars(select(Message).order_by(Message.id))]
    assert events == ["request_received", "mandate_active"]  # the request's receipt, then this


def test_a_note_on_the_approval_goes_out_in_the_one_answer():
    customer = make_customer(email="dd@example.test")
    mandate = _sign(customer)
    db.session.commit()
    req = db.session.scalar(select(CustomerRequest).where(CustomerRequest.kind == "mandate"))
    before = {m.id for m in db.session.scalars(select(Message))}
    decide_request(req, None, approve=True, note="First collection on the 5th.")
    db.session.commit()
    assert mandate.status == "active"
    new = [m for m in db.session.scalars(select(Message).order_by(Message.id))
           if m.id not in before]
    assert [m.event for m in new] == ["request_decided"]
    assert "First collection on the 5th." in new[0].body_text


def test_staff_rejecting_the_request_refuses_the_mandate():
    customer = make_customer()
    mandate = _sign(customer)
    db.session.commit()
    req = db.session.scalar(select(CustomerRequest).where(CustomerRequest.kind == "mandate"))
    decide_request(req, None, approve=False, note="Account holder differs")
    db.session.commit()
    assert mandate.status == "revoked" and customer.payment_method == "transfer"
    assert mandate.bank_account.status == "retired"


def test_revoking_goes_back_to_transfer():
    customer = make_customer()
    mandate = _sign(customer)
    mandates.confirm_mandate(mandate)
    db.session.commit()
    assert customer.payment_method == "direct_debit"
    mandates.revoke_mandate(customer)
    db.session.commit()
    assert mandate.status == "revoked" and mandate.revoked_at is not None
    assert customer.payment_method == "transfer"
    revoked = db.session.scalars(select(CustomerRequest).where(
        CustomerRequest.kind == "mandate", CustomerRequest.status == "approved")).all()
    assert revoked[-1].payload["action"] == "revoke"
    with pytest.raises(ValidationError):
        mandates.revoke_mandate(customer)


def test_withdrawing_a_pending_mandate_cancels_its_request():
    customer = make_customer()
    _sign(customer)
    db.session.commit()
    mandates.revoke_mandate(customer)
    db.session.commit()
    sign_request = db.session.scalar(select(CustomerRequest).where(
        CustomerRequest.kind == "mandate", CustomerRequest.payload.isnot(None))
        .order_by(CustomerRequest.id))
    assert sign_request.status == "cancelled"


def test_a_new_mandate_replaces_the_active_one_when_confirmed():
    customer = make_customer()
    first = _sign(customer)
    mandates.confirm_mandate(first)
    db.session.commit()
    second = _sign(customer, iban="NL91ABNA0417164300")
    mandates.confirm_mandate(second)
    db.session.commit()
    assert first.status == "revoked" and second.status == "active"
    assert customer.payment_method == "direct_debit"
