"""Refund bank account: checksums, the cool-off, and that a pending account is never paid to."""
from __future__ import annotations

from datetime import timedelta

import pytest
from flask_babel import force_locale
from sqlalchemy import select

from app.core.models import utcnow
from app.core.settings import set_setting
from app.core.validation import ValidationError
from app.customers import bank_accounts as ba
from app.customers.models import BankAccount
from app.extensions import db
from app.notifications.models import Message
from app.requests.models import CustomerRequest
from app.requests.services import decide_request
from app.selfservice.bank_accounts import set_refund_account
from tests.helpers import make_customer

GOOD = "BE68 5390 0754 7034"
OTHER = "NL91ABNA0417164300"


def _accounts(customer):
    return db.session.scalars(select(BankAccount).where(BankAccount.customer_id == customer.id)
                              .order_by(BankAccount.id)).all()


def test_a_pending_account_is_never_usable():
    customer = make_customer()
    now = utcnow()
    account = set_refund_account(customer, GOOD, now=now)
    db.session.commit()
    assert account.status == "pending" and account.iban == "BE68539007547034"
    # Not during the cool-off, and not even after it while the row is still pending.
    for later in (now, now + timedelta(hours=71), now + timedelta(hours=73),
                  now + timedelta(days=400)):
        assert ba.usable_refund_account(customer, later) is None
    # A forged "active" status with a future cool-off end is not usable either.
    account.status = "active"
    assert ba.usable_refund_account(customer, now + timedelta(hours=1)) is None


def test_usable_only_after_the_cooloff_and_the_job():
    customer = make_customer()
    now = utcnow()
    account = set_refund_account(customer, GOOD, now=now)
    db.session.commit()
    assert ba.activate_cooled_off_accounts(now + timedelta(hours=71, minutes=59)) == 0
    assert ba.usable_refund_account(customer, now + timedelta(hours=72)) is None
    assert ba.activate_cooled_off_accounts(now + timedelta(hours=72, seconds=1)) == 1
    assert ba.activate_cooled_off_accounts(now + timedelta(hours=73)) == 0  # idempotent
    db.session.refresh(account)
    assert account.status == "active"
    assert ba.usable_refund_account(customer, now + timedelta(hours=73)) == account


def test_cooloff_is_a_setting():
    set_setting("customers.refund_cooloff_hours", "24")
    db.session.commit()
    customer = make_customer()
    now = utcnow()
    set_refund_account(customer, GOOD, now=now)
    db.session.commit()
    assert ba.activate_cooled_off_accounts(now + timedelta(hours=23)) == 0
    assert ba.activate_cooled_off_accounts(now + timedelta(hours=24, seconds=1)) == 1


def test_changing_again_restarts_the_cooloff_and_keeps_the_old_account_in_use():
    customer = make_customer()
    now = utcnow()
    first = set_refund_account(customer, GOOD, now=now)
    db.session.commit()
    ba.activate_cooled_off_accounts(now + timedelta(hours=73))
    assert ba.usable_refund_account(customer, now + timedelta(hours=73)) == first
    # The fraud path: someone in the account gives their own IBAN.
    t1 = now + timedelta(hours=100)
    second = set_refund_account(customer, OTHER, now=t1)
    db.session.commit()
    assert ba.usable_refund_account(customer, t1) == first  # refunds still go to the old one
    # Given again a day later: the cool-off starts over from then.
    t2 = t1 + timedelta(hours=24)
    third = set_refund_account(customer, "FR7630006000011234567890189", now=t2)
    db.session.commit()
    db.session.refresh(second)
    assert second.status == "retired"
    assert ba.activate_cooled_off_accounts(t1 + timedelta(hours=73)) == 0
    assert ba.usable_refund_account(customer, t1 + timedelta(hours=73)) == first
    assert ba.activate_cooled_off_accounts(t2 + timedelta(hours=72, seconds=1)) == 1
    assert ba.usable_refund_account(customer, t2 + timedelta(hours=73)) == third
    db.session.refresh(first)
    assert first.status == "retired" and first.retired_at is not None


def test_giving_the_account_in_use_again_changes_nothing():
    customer = make_customer()
    now = utcnow()
    first = set_refund_account(customer, GOOD, now=now)
    db.session.commit()
    ba.activate_cooled_off_accounts(now + timedelta(hours=73))
    again = set_refund_account(customer, "be68539007547034", now=now + timedelta(hours=80))
    db.session.commit()
    assert again == first and len(_accounts(customer)) == 1


@pytest.mark.parametrize("language, word", [("fr", "IBAN non valide"), ("nl", "Geen geldig IBAN"),
                                            ("en", "Not a valid IBAN")])
def test_a_wrong_checksum_is_refused_translated_and_nothing_changes(language, word):
    customer = make_customer(language=language)
    requests_before = db.session.scalar(select(CustomerRequest.id).limit(1))
    with force_locale(language), pytest.raises(ValidationError) as refused:
        set_refund_account(customer, "BE68 5390 0754 7035")
    db.session.rollback()
    message = refused.value.errors["iban"][0]
    assert word in message and "BE68 5390 0754 7035" in message
    assert _accounts(customer) == []
    assert requests_before is None and db.session.scalar(select(CustomerRequest.id)) is None
    assert db.session.scalar(select(Message.id)) is None


def test_a_bad_bic_is_refused_too():
    customer = make_customer()
    with pytest.raises(ValidationError) as refused:
        set_refund_account(customer, GOOD, bic="NOTABIC!")
    assert "bic" in refused.value.errors


def test_known_contact_told_staff_alerted_and_request_queued():
    customer = make_customer(email="owner@example.test", language="nl")
    account = set_refund_account(customer, GOOD)
    db.session.commit()
    messages = db.session.scalars(select(Message).order_by(Message.id)).all()
    to_customer = [m for m in messages if m.event == "refund_account_changed"]
    assert [m.recipient for m in to_customer] == ["owner@example.test"]
    assert "7034" in to_customer[0].body_text and to_customer[0].language == "nl"
    staff = [m for m in messages if m.event == "refund_account_staff_alert"]
    assert [m.recipient for m in staff] == ["billing@creditdesk-demo.example"]
    assert customer.number in staff[0].subject
    req = db.session.scalar(select(CustomerRequest).where(CustomerRequest.kind == "bank_account"))
    assert req.status == "received" and req.payload["bank_account_id"] == account.id
    # The full IBAN is never written in a message.
    assert all("BE68539007547034" not in (m.body_text or "") for m in messages)


def test_staff_rejecting_the_request_stops_the_account_for_good():
    customer = make_customer()
    now = utcnow()
    account = set_refund_account(customer, GOOD, now=now)
    db.session.commit()
    req = db.session.scalar(select(CustomerRequest).where(CustomerRequest.kind == "bank_account"))
    decide_request(req, None, approve=False, note="Not the customer")
    db.session.commit()
    assert account.status == "retired"
    assert ba.activate_cooled_off_accounts(now + timedelta(days=10)) == 0
    assert ba.usable_refund_account(customer, now + timedelta(days=10)) is None
