"""The purge: dry run, real run, holds, idempotency, a crash halfway, replay after a restore."""
from __future__ import annotations

import json
from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from app.core.portal_access import PortalAccess
from app.customers.models import Address, BankAccount, Contact, Customer
from app.extensions import db
from app.invoices.models import Invoice
from app.notifications.models import Message
from app.payments.models import Payment
from app.requests.models import Attachment, CustomerRequest, Dispute
from app.retention import purge
from app.retention.categories import ANONYMISED_NAME
from app.retention.models import LegalHold, RetentionRun, RetentionTombstone
from tests.retention.conftest import rich_customer

pytestmark = pytest.mark.usefixtures("rules")


def _snapshot():
    """Everything personal still in the database, and the books' totals."""
    db.session.expire_all()
    return {
        "names": set(db.session.scalars(select(Customer.name))),
        "emails": set(db.session.scalars(select(Customer.email))) - {None},
        "contacts": db.session.scalar(select(func.count(Contact.id))),
        "addresses": set(db.session.scalars(select(Address.line1))),
        "bank_accounts": db.session.scalar(select(func.count(BankAccount.id))),
        "payer_names": set(db.session.scalars(select(Payment.counterparty_name))) - {None},
        "payer_ibans": set(db.session.scalars(select(Payment.counterparty_iban))) - {None},
        "request_texts": set(db.session.scalars(select(CustomerRequest.message))) - {None},
        "dispute_texts": set(db.session.scalars(select(Dispute.text))) - {None},
        "attachments": db.session.scalar(select(func.count(Attachment.id))),
        "messages": db.session.scalar(select(func.count(Message.id))),
        "sessions": db.session.scalar(select(func.count(PortalAccess.id))),
        "invoice_total": db.session.scalar(select(func.sum(Invoice.total_amount))),
        "invoice_open": db.session.scalar(select(func.sum(Invoice.open_amount))),
        "invoice_numbers": set(db.session.scalars(select(Invoice.number))),
        "payment_total": db.session.scalar(select(func.sum(Payment.amount))),
    }


def test_dry_run_changes_nothing_and_lists_counts_and_samples():
    customer = rich_customer()
    before = _snapshot()
    run = purge.dry_run(triggered_by="test")
    assert _snapshot() == before
    assert run.dry_run and run.status == "done"
    assert run.counts["_subjects"] == 1
    assert run.counts["contacts"]["records"] == 1
    assert run.counts["contacts"]["samples"] == [f"contact:{customer.contacts[0].id}"]
    assert run.counts["invoices"]["action"] == "anonymise"
    assert run.counts["invoices"]["records"] >= 3  # invoice, payment, customer row
    assert f"customer:{customer.id}" in run.counts["invoices"]["samples"]
    assert db.session.scalar(select(func.count(RetentionTombstone.id))) == 0


def test_real_run_anonymises_and_keeps_the_books():
    customer = rich_customer(name="Marie Dupont")
    keep = rich_customer(name="Jan Peeters", ended_on=None, age_days=40,
                         issued=date.today() - timedelta(days=40))
    before = _snapshot()
    outcome = purge.execute(triggered_by="test")
    after = _snapshot()
    assert outcome.subjects == 1
    # The books still add up: numbers, totals, open amounts, payments.
    for key in ("invoice_total", "invoice_open", "invoice_numbers", "payment_total"):
        assert after[key] == before[key], key
    assert "Marie Dupont" not in after["names"] and ANONYMISED_NAME in after["names"]
    assert "Jan Peeters" in after["names"]
    assert after["emails"] == {"jan.peeters@example.test"}
    assert after["contacts"] == 1 and after["bank_accounts"] == 1
    assert "Marie Dupont" not in after["payer_names"] and len(after["payer_ibans"]) == 1
    assert not any("Marie" in t for t in after["request_texts"] | after["dispute_texts"])
    assert after["attachments"] == 1
    assert not customer.attachment_path.exists()  # the file on disk too
    assert keep.attachment_path.exists()
    assert "Rue de la Station 12" in after["addresses"] and "-" in after["addresses"]
    db.session.expire_all()
    assert db.session.get(Customer, customer.id).anonymised_at is not None
    assert db.session.get(Customer, keep.id).anonymised_at is None
    invoice = db.session.scalar(select(Invoice).where(Invoice.customer_id == customer.id))
    assert invoice.dunning_block_reason is None
    tomb = db.session.scalar(select(RetentionTombstone))
    assert tomb.subject == f"customer:{customer.id}"
    assert "Marie" not in json.dumps(tomb.categories) and "contacts" in tomb.categories
    run = db.session.get(RetentionRun, outcome.run_id)
    assert run.status == "done" and not run.dry_run and run.counts["contacts"]["records"] == 1
    assert run.longest_transaction_ms is not None and run.pending_files == []


def test_rerun_is_a_no_op():
    rich_customer()
    purge.execute(triggered_by="test")
    first = _snapshot()
    again = purge.execute(triggered_by="test")
    assert again.subjects == 0
    assert _snapshot() == first
    assert db.session.scalar(select(func.count(RetentionTombstone.id))) == 1
    assert purge.plan().total_records == 0


def _manual_hold(customer):
    db.session.add(LegalHold(customer_id=customer.id, reason="Court case 2024/123"))


def _open_dispute(customer):
    invoice = customer_invoice(customer)
    db.session.add(Dispute(customer_id=customer.id, invoice_id=invoice.id,
                           amount=Decimal("5.00"), status="open"))


def _unpaid(customer):
    invoice = customer_invoice(customer)
    invoice.status, invoice.open_amount = "open", Decimal("50.00")


def _insolvent(customer):
    customer.legal_status = "insolvent"


def _proceedings(customer):
    customer.legal_status = "legal_proceedings"


def customer_invoice(customer):
    return db.session.scalar(select(Invoice).where(Invoice.customer_id == customer.id))


@pytest.mark.parametrize("put_on_hold", [_manual_hold, _open_dispute, _unpaid, _insolvent,
                                         _proceedings])
def test_every_hold_blocks_the_purge(put_on_hold):
    held = rich_customer(name="Held Person")
    free = rich_customer(name="Free Person")
    put_on_hold(db.session.get(Customer, held.id))
    db.session.commit()
    dry = purge.dry_run()
    assert dry.counts["_subjects"] == 1
    purge.execute(triggered_by="test")
    db.session.expire_all()
    assert db.session.get(Customer, held.id).name == "Held Person"
    assert db.session.scalar(select(func.count(Contact.id)).where(
        Contact.customer_id == held.id)) == 1
    assert held.attachment_path.exists()
    assert db.session.get(Customer, free.id).name == ANONYMISED_NAME


def test_released_or_expired_manual_hold_no_longer_blocks():
    customer = rich_customer()
    db.session.add(LegalHold(customer_id=customer.id, reason="old",
                             until=date.today() - timedelta(days=1)))
    db.session.commit()
    assert purge.execute().subjects == 1


def test_killed_halfway_then_rerun_leaves_no_half_anonymised_customer(monkeypatch):
    customers = [rich_customer(name=f"Person {n}") for n in range(5)]
    calls = {"n": 0}

    def crash(batch):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("worker killed")

    monkeypatch.setattr(purge, "_before_commit", crash)
    with pytest.raises(RuntimeError):
        purge.execute(batch_size=2, triggered_by="test")
    db.session.expire_all()
    states = []
    for c in customers:
        row = db.session.get(Customer, c.id)
        contacts = db.session.scalar(select(func.count(Contact.id)).where(
            Contact.customer_id == c.id))
        emails = row.email
        done = row.name == ANONYMISED_NAME
        # Whole or untouched: never anonymised with contacts left, or the reverse.
        assert done == (contacts == 0) == (emails is None), (c.id, done, contacts, emails)
        states.append(done)
    assert states == [True, True, False, False, False]
    failed = db.session.scalar(select(RetentionRun).where(RetentionRun.status == "failed"))
    assert failed is not None and "worker killed" in failed.error

    monkeypatch.setattr(purge, "_before_commit", None)
    outcome = purge.execute(batch_size=2, triggered_by="test")
    assert outcome.subjects == 3
    db.session.expire_all()
    assert all(db.session.get(Customer, c.id).name == ANONYMISED_NAME for c in customers)
    assert not any(c.attachment_path.exists() for c in customers)


def test_files_left_behind_are_deleted_by_the_next_run(monkeypatch):
    customer = rich_customer()
    monkeypatch.setattr(purge, "delete_files", lambda paths: list(paths))
    purge.execute()
    assert customer.attachment_path.exists()
    run = db.session.scalar(select(RetentionRun))
    assert run.pending_files
    monkeypatch.undo()
    purge.execute()
    assert not customer.attachment_path.exists()
    db.session.expire_all()
    assert db.session.get(RetentionRun, run.id).pending_files == []


def test_replay_after_a_restore_purges_again(app):
    customer = rich_customer(name="Marie Dupont")
    purge.execute(triggered_by="test")
    # The restore: the backup still had her data, and no trace of the purge.
    db.session.query(RetentionTombstone).delete()
    db.session.query(RetentionRun).delete()
    row = db.session.get(Customer, customer.id)
    row.name, row.email, row.anonymised_at = "Marie Dupont", "marie@example.test", None
    db.session.add(Contact(customer_id=customer.id, name="Marie Dupont",
                           email="marie@example.test"))
    db.session.commit()

    outcome = purge.replay(triggered_by="test")
    assert outcome.subjects == 1
    db.session.expire_all()
    row = db.session.get(Customer, customer.id)
    assert row.name == ANONYMISED_NAME and row.email is None
    assert db.session.scalar(select(func.count(Contact.id))) == 0
    assert purge.replay().subjects == 0  # twice: nothing more


def test_periods_count_from_the_rule(app):
    """A relationship that ended last month is not purged; a rule set to 0 months purges it."""
    from app.retention.models import RetentionRule

    recent = rich_customer(name="Recent Person", ended_on=date.today() - timedelta(days=30),
                           issued=date.today() - timedelta(days=60), age_days=60)
    assert purge.plan().counts["contacts"]["records"] == 0
    rule = db.session.scalar(select(RetentionRule).where(RetentionRule.category == "contacts"))
    rule.period_months = 0
    db.session.commit()
    purge.execute()
    db.session.expire_all()
    assert db.session.scalar(select(func.count(Contact.id)).where(
        Contact.customer_id == recent.id)) == 0
    # The invoices (10 years from their date) keep the name.
    assert db.session.get(Customer, recent.id).name == "Recent Person"
