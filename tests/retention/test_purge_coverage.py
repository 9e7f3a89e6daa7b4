"""The purge reaches every table with personal data: accounts still active when the customer
left, refunds, write-offs, online checkouts, the SEPA files kept on batches; and the journal
is written before the commit. Checked in the database, not through the plan."""
from __future__ import annotations

import json
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

import pytest
from flask_appbuilder import Model
from sqlalchemy import JSON, String, Text, select

from app.core.models import utcnow
from app.customers.models import BankAccount, Customer, Mandate
from app.extensions import db
from app.invoices.models import Invoice
from app.payments.online.models import OnlineCheckout
from app.payments.outgoing.models import (
    CollectionBatch,
    CollectionItem,
    CreditTransferBatch,
    Refund,
    WriteOff,
)
from app.retention import purge
from app.retention.categories import ANONYMISED_NAME
from app.retention.models import LegalHold
from tests.retention.conftest import LONG_AGO, rich_customer

pytestmark = pytest.mark.usefixtures("rules")

ACTIVE_IBAN = "NL91ABNA0417164300"
REFUND_IBAN = "BE71096123456769"


def _long_ago() -> datetime:
    return datetime.combine(LONG_AGO, time(12), tzinfo=UTC)


def _money_out(customer, name: str, when: datetime | None = None) -> dict:
    """An account still active, a paid refund in a transfer file, a write-off, an online
    checkout and a direct-debit collection file — all naming ``name``."""
    when = when or _long_ago()
    invoice = db.session.scalar(select(Invoice).where(Invoice.customer_id == customer.id))
    account = BankAccount(customer_id=customer.id, iban=ACTIVE_IBAN, holder=name,
                          status="active", purpose="direct_debit", active_from=when)
    mandate = Mandate(customer_id=customer.id, reference=f"MD-{customer.id}", status="active",
                      signed_on=when.date(), bank_account=account)
    transfer = CreditTransferBatch(message_id=f"CT-{customer.id}", execution_date=when.date(),
                                   transaction_count=1, total_amount=Decimal("25.00"),
                                   file_xml=f"<Cdtr><Nm>{name}</Nm></Cdtr>"
                                            f"<IBAN>{REFUND_IBAN}</IBAN>")
    refund = Refund(customer_id=customer.id, amount=Decimal("25.00"), status="paid",
                    reason=f"{name} paid twice", decision_note=f"Call {name} first",
                    iban=REFUND_IBAN, bic="GKCCBEBB", paid_at=when, batch=transfer,
                    created_at=when, updated_at=when)
    write_off = WriteOff(invoice_id=invoice.id, customer_id=customer.id,
                         amount=Decimal("3.00"), reason=f"{name} lost her job",
                         decision_note=f"{name}: hardship", status="approved",
                         approved_at=when, created_at=when, updated_at=when)
    checkout = OnlineCheckout(customer_id=customer.id, provider="demo",
                              provider_id=f"tr_{customer.id}", amount=Decimal("121.00"),
                              description=f"Invoices of {name}", status="paid",
                              provider_data={"consumerName": name}, note=f"{name} paid twice",
                              paid_at=when, created_at=when, updated_at=when)
    collection = CollectionBatch(message_id=f"DD-{customer.id}",
                                 payment_info_id=f"PI-{customer.id}",
                                 collection_date=when.date(), sequence_type="RCUR",
                                 creditor_id="BE69ZZZ050D000000008", status="exported",
                                 transaction_count=1, total_amount=Decimal("121.00"),
                                 exported_at=when,
                                 file_xml=f"<Dbtr><Nm>{name}</Nm></Dbtr><IBAN>{ACTIVE_IBAN}</IBAN>")
    db.session.add_all([account, mandate, transfer, refund, write_off, checkout, collection])
    db.session.flush()
    db.session.add(CollectionItem(batch=collection, invoice_id=invoice.id,
                                  customer_id=customer.id, mandate_id=mandate.id,
                                  amount=Decimal("121.00"), end_to_end_id=f"E2E-{customer.id}"))
    db.session.commit()
    return {"invoice": invoice.number, "refund": refund.id, "write_off": write_off.id,
            "checkout": checkout.id, "collection": collection.id, "transfer": transfer.id}


def _texts_naming(needle: str) -> list[str]:
    """Every text or JSON cell in the database that contains ``needle`` (table.column)."""
    found = []
    for table in Model.metadata.sorted_tables:
        columns = [c for c in table.c if isinstance(c.type, (String, Text, JSON))]
        if not columns:
            continue
        for row in db.session.execute(select(*columns)).all():
            for column, value in zip(columns, row, strict=True):
                if value is not None and needle in (value if isinstance(value, str)
                                                    else json.dumps(value)):
                    found.append(f"{table.name}.{column.name}")
    return found


def test_customer_ended_15_years_ago_leaves_no_bank_detail_or_free_text_behind():
    customer = rich_customer(name="Marie Dupont")
    ids = _money_out(customer, "Marie Dupont")
    invoice_total = db.session.scalar(select(Invoice.total_amount).where(
        Invoice.number == ids["invoice"]))

    purge.execute(triggered_by="test")
    db.session.expire_all()

    assert _texts_naming("Marie Dupont") == []
    assert db.session.scalars(select(BankAccount).where(
        BankAccount.customer_id == customer.id)).all() == []  # the active one too
    refund = db.session.get(Refund, ids["refund"])
    assert (refund.iban, refund.bic, refund.reason, refund.decision_note) == (None,) * 4
    write_off = db.session.get(WriteOff, ids["write_off"])
    assert "Marie" not in write_off.reason and write_off.decision_note is None
    checkout = db.session.get(OnlineCheckout, ids["checkout"])
    assert (checkout.description, checkout.note, checkout.provider_data) == (None,) * 3
    collection = db.session.get(CollectionBatch, ids["collection"])
    transfer = db.session.get(CreditTransferBatch, ids["transfer"])
    assert collection.file_xml is None and transfer.file_xml is None
    # What the books need stays: numbers, amounts, batch totals.
    assert db.session.scalar(select(Invoice.total_amount).where(
        Invoice.number == ids["invoice"])) == invoice_total
    assert (refund.amount, write_off.amount, checkout.amount) == (
        Decimal("25.00"), Decimal("3.00"), Decimal("121.00"))
    assert (collection.total_amount, collection.transaction_count) == (Decimal("121.00"), 1)
    assert (transfer.total_amount, transfer.transaction_count) == (Decimal("25.00"), 1)
    assert db.session.get(Customer, customer.id).name == ANONYMISED_NAME
    # Done twice: nothing more to do.
    assert purge.execute(triggered_by="test").subjects == 0


@pytest.mark.parametrize("ended_days_ago,purged", [(800, True), (90, False), (None, False)])
def test_an_account_still_active_counts_from_the_end_of_the_relationship(ended_days_ago, purged):
    ended = date.today() - timedelta(days=ended_days_ago) if ended_days_ago else None
    customer = rich_customer(name="Jan Peeters", ended_on=ended, age_days=40,
                             issued=date.today() - timedelta(days=60))
    db.session.add(BankAccount(customer_id=customer.id, iban=ACTIVE_IBAN, holder="Jan Peeters",
                               status="active", purpose="refund"))
    db.session.commit()
    purge.execute(triggered_by="test")
    db.session.expire_all()
    holders = db.session.scalars(select(BankAccount.holder).where(
        BankAccount.customer_id == customer.id)).all()
    # The account retired 40 days ago goes too once the relationship ended long enough ago:
    # the earlier of the two dates counts.
    assert len(holders) == (0 if purged else 2)


def test_a_sepa_file_naming_a_customer_on_hold_is_kept():
    gone = rich_customer(name="Marie Dupont")
    held = rich_customer(name="Held Person")
    ids = _money_out(gone, "Marie Dupont")
    invoice = db.session.scalar(select(Invoice).where(Invoice.customer_id == held.id))
    mandate = Mandate(customer_id=held.id, reference="MD-HELD", status="active",
                      signed_on=LONG_AGO)
    db.session.add(mandate)
    db.session.flush()
    db.session.add(CollectionItem(batch_id=ids["collection"], invoice_id=invoice.id,
                                  customer_id=held.id, mandate_id=mandate.id,
                                  amount=Decimal("10.00"), end_to_end_id="E2E-HELD"))
    db.session.add(LegalHold(customer_id=held.id, reason="Court case 2024/123"))
    db.session.commit()
    purge.execute(triggered_by="test")
    db.session.expire_all()
    assert db.session.get(CollectionBatch, ids["collection"]).file_xml is not None
    assert db.session.get(CreditTransferBatch, ids["transfer"]).file_xml is None  # hers alone
    assert db.session.get(Customer, gone.id).name == ANONYMISED_NAME


def test_an_erasure_request_leaves_a_recent_sepa_file_alone(app):
    """An erasure takes her bank accounts at once, not the collection file sent last month
    (other customers' payments are in it; the period of the file decides)."""
    customer = rich_customer(name="Marie Dupont", ended_on=None, age_days=40)
    ids = _money_out(customer, "Marie Dupont", when=utcnow() - timedelta(days=30))
    purge.purge_customer(customer.id, {"bank_accounts": "delete"}, "erasure request #1")
    db.session.commit()
    db.session.expire_all()
    assert db.session.scalars(select(BankAccount).where(
        BankAccount.customer_id == customer.id)).all() == []
    assert db.session.get(Refund, ids["refund"]).iban is None
    assert "Marie Dupont" in db.session.get(CollectionBatch, ids["collection"]).file_xml


def test_the_journal_names_a_batch_before_its_commit(app, monkeypatch):
    """Killed right after the commit, the purge must already be in the journal; otherwise a
    restore from an older backup would silently bring the data back."""
    customers = [rich_customer(name=f"Person {n}") for n in range(3)]
    seen: list[set[str]] = []

    def at_commit(batch):
        lines = purge.journal_path().read_text(encoding="utf-8").splitlines()
        seen.append({json.loads(line)["subject"] for line in lines})
        assert {f"customer:{cid}" for cid in batch} <= seen[-1]

    monkeypatch.setattr(purge, "_before_commit", at_commit)
    purge.execute(batch_size=2, triggered_by="test")
    assert len(seen) == 2
    assert seen[-1] == {f"customer:{c.id}" for c in customers}


def test_a_batch_that_never_committed_is_replayed_harmlessly(app, monkeypatch):
    """The other side of journalling first: the line of a batch killed before its commit
    purges on replay only what was due anyway, and a later run finds nothing more."""
    customer = rich_customer(name="Marie Dupont")

    def crash(batch):
        raise RuntimeError("worker killed")

    monkeypatch.setattr(purge, "_before_commit", crash)
    with pytest.raises(RuntimeError):
        purge.execute(triggered_by="test")
    monkeypatch.setattr(purge, "_before_commit", None)
    db.session.expire_all()
    assert db.session.get(Customer, customer.id).name == "Marie Dupont"  # rolled back
    assert purge.replay(triggered_by="test").subjects == 1
    db.session.expire_all()
    assert db.session.get(Customer, customer.id).name == ANONYMISED_NAME
    assert purge.execute(triggered_by="test").subjects == 0
