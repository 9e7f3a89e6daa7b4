"""SEPA direct debit: batches, sequence types, creditor id, pre-notification, pain.008 against
the official schema, and settlement from the bank statement."""
from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from xml.etree import ElementTree as ET

import pytest
from sqlalchemy import func, select

from app.core.models import Setting
from app.core.time import business_today
from app.core.validation import ValidationError
from app.extensions import db
from app.invoices.models import Invoice
from app.notifications.models import Message
from app.payments.incoming.importing import import_statement
from app.payments.outgoing.direct_debit import (
    export_batch,
    prepare_collection,
    validate_creditor_id,
)
from app.payments.outgoing.models import CollectionBatch, CollectionItem
from app.payments.outgoing.sepa_xml import PAIN_008
from tests.backoffice.conftest import session_csrf
from tests.helpers import make_customer, make_invoice
from tests.payments.cashout_helpers import customer_with_mandate, schema
from tests.payments.statements.builders import Entry, Tx, camt053

NS = {"p": PAIN_008}


def _count(model, *where) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def _notices() -> int:
    return _count(Message, Message.event == "direct_debit_notice")


@pytest.fixture(autouse=True)
def templates(app):
    from app.notifications.defaults import install_defaults

    install_defaults()


@pytest.fixture
def collection_day():
    return business_today() + timedelta(days=14)


@pytest.fixture
def debtors():
    """first: never collected (FRST), two due invoices; known: collected before (RCUR);
    plus invoices that must not be collected."""
    first = customer_with_mandate(0, name="Zoë Dupont")
    known = customer_with_mandate(1, collected_on=business_today() - timedelta(days=30),
                                  name="Jan Peeters")
    revoked = customer_with_mandate(2, status="revoked", name="Revoked SA")
    plain = make_customer(name="No Mandate")
    invoices = {
        "first_a": make_invoice(first, "121.00", due_in_days=-3),
        "first_b": make_invoice(first, "30.50", due_in_days=10),
        "known": make_invoice(known, "80.00", due_in_days=5),
        "later": make_invoice(known, "99.00", due_in_days=40),
        "disputed": make_invoice(first, "45.00", due_in_days=1),
        "revoked": make_invoice(revoked, "60.00", due_in_days=1),
        "plain": make_invoice(plain, "70.00", due_in_days=1),
    }
    invoices["disputed"].disputed = True
    db.session.commit()
    return {"first": first, "known": known, "invoices": invoices}


def test_batches_are_grouped_by_sequence_type_and_date(debtors, collection_day):
    batches = prepare_collection(collection_day)
    db.session.commit()
    by_type = {b.sequence_type: b for b in batches}
    assert set(by_type) == {"FRST", "RCUR"}
    assert all(b.collection_date == collection_day for b in batches)
    frst, rcur = by_type["FRST"], by_type["RCUR"]
    invoices = debtors["invoices"]
    assert {i.invoice_id for i in frst.items} == {invoices["first_a"].id, invoices["first_b"].id}
    assert {i.invoice_id for i in rcur.items} == {invoices["known"].id}
    # One customer's invoices are one transaction (one end-to-end id, one debit).
    assert frst.transaction_count == 1 and len({i.end_to_end_id for i in frst.items}) == 1
    assert frst.total_amount == Decimal("151.50") and rcur.total_amount == Decimal("80.00")
    # Not collected: due after the date, disputed, revoked mandate, no mandate.
    collected = {i.invoice_id for i in db.session.scalars(select(CollectionItem))}
    for key in ("later", "disputed", "revoked", "plain"):
        assert invoices[key].id not in collected, key


def test_first_collection_is_frst_then_rcur(debtors, collection_day):
    first = prepare_collection(collection_day)
    frst = next(b for b in first if b.sequence_type == "FRST")
    export_batch(frst)
    db.session.commit()
    mandate = debtors["first"].mandates[0]
    assert mandate.last_collection_on == collection_day
    make_invoice(debtors["first"], "12.00", due_in_days=20)
    later = prepare_collection(collection_day + timedelta(days=7))
    db.session.commit()
    assert [b.sequence_type for b in later] == ["RCUR"]
    # Only the new invoice: the others are in the first batches already.
    assert [i.invoice.total_amount for i in later[0].items] == [Decimal("12.00")]


def test_an_invoice_is_not_collected_twice(debtors, collection_day):
    prepare_collection(collection_day)
    db.session.commit()
    items = _count(CollectionItem)
    assert prepare_collection(collection_day + timedelta(days=3)) == []
    assert _count(CollectionItem) == items


def test_invalid_creditor_identifier_is_refused(debtors, collection_day):
    assert validate_creditor_id("BE11 ZZZ 0403170701") == "BE11ZZZ0403170701"
    # wrong check digits: the settings form refuses them, so store the row as a hand edit would
    db.session.add(Setting(key="company.creditor_id", value="BE12ZZZ0403170701",
                           category="company"))
    db.session.commit()
    with pytest.raises(ValidationError) as refused:
        prepare_collection(collection_day)
    assert "BE12ZZZ0403170701" in str(refused.value)
    db.session.rollback()
    assert _count(CollectionBatch) == 0 and _notices() == 0


def test_pre_notification_is_queued_14_days_ahead_once(debtors, collection_day):
    with pytest.raises(ValidationError):
        prepare_collection(collection_day - timedelta(days=4))  # only 10 days' notice
    db.session.rollback()
    assert _count(CollectionBatch) == 0 and _notices() == 0

    prepare_collection(collection_day)
    db.session.commit()
    messages = db.session.scalars(select(Message).where(
        Message.event == "direct_debit_notice")).all()
    assert len(messages) == 2  # one per transaction (two customers)
    first = next(m for m in messages if m.customer_id == debtors["first"].id)
    assert "151,50" in first.body_text  # the amount, in the customer's (French) format
    assert debtors["first"].mandates[0].reference in first.body_text
    assert str(collection_day.year) in first.body_text
    # Again (a second click, a retried job): nothing new, no second message.
    prepare_collection(collection_day)
    db.session.commit()
    assert _notices() == 2


def test_pain008_validates_against_the_official_schema(debtors, collection_day):
    batches = prepare_collection(collection_day)
    db.session.commit()
    for batch in batches:
        data = export_batch(batch)
        schema("pain.008.001.02").validate(data.decode("utf-8"))
        root = ET.fromstring(data)
        info = root.find("p:CstmrDrctDbtInitn/p:PmtInf", NS)
        assert info.findtext("p:PmtInfId", namespaces=NS) == batch.payment_info_id
        assert info.findtext("p:PmtTpInf/p:SeqTp", namespaces=NS) == batch.sequence_type
        assert info.findtext("p:ReqdColltnDt", namespaces=NS) == collection_day.isoformat()
        assert info.findtext("p:CdtrSchmeId/p:Id/p:PrvtId/p:Othr/p:Id",
                             namespaces=NS) == "BE81ZZZ0123456749"
        assert info.findtext("p:CtrlSum", namespaces=NS) == str(batch.total_amount)
    db.session.commit()
    frst = next(b for b in batches if b.sequence_type == "FRST")
    assert "Zoe Dupont" in frst.file_xml  # reduced to the SEPA character set
    assert export_batch(frst).decode() == frst.file_xml  # the file is fixed once exported


def test_statement_with_each_collection_settles_the_invoices(debtors, collection_day):
    batches = prepare_collection(collection_day)
    for batch in batches:
        export_batch(batch)
    db.session.commit()
    entries = []
    for batch in batches:
        for e2e in {i.end_to_end_id for i in batch.items}:
            amount = sum(i.amount for i in batch.items if i.end_to_end_id == e2e)
            entries.append(Entry(str(amount), ref=f"REF-{e2e}",
                                 family=("PMNT", "IDDT", "ESDD"),
                                 txs=[Tx(end_to_end=e2e, mandate="whatever", name="Debtor",
                                         ustrd=[])]))
    report = import_statement(camt053(entries), "dd.xml")
    assert report.ok, report.error
    assert report.matched.count == 2
    db.session.expire_all()
    invoices = debtors["invoices"]
    for key in ("first_a", "first_b", "known"):
        assert db.session.get(Invoice, invoices[key].id).status == "paid", key
    assert db.session.get(Invoice, invoices["later"].id).status == "open"


def test_a_batch_booking_settles_every_invoice_of_the_batch(debtors, collection_day):
    batches = prepare_collection(collection_day)
    frst = next(b for b in batches if b.sequence_type == "FRST")
    export_batch(frst)
    db.session.commit()
    entry = Entry(str(frst.total_amount), ref="BATCH-1", family=("PMNT", "IDDT", "ESDD"),
                  info=f"SEPA DD collection {frst.payment_info_id}")
    report = import_statement(camt053([entry]), "batch.xml")
    assert report.ok and report.matched.count == 1
    db.session.expire_all()
    invoices = debtors["invoices"]
    assert db.session.get(Invoice, invoices["first_a"].id).status == "paid"
    assert db.session.get(Invoice, invoices["first_b"].id).status == "paid"
    assert db.session.get(Invoice, invoices["known"].id).status == "open"  # other batch


def test_back_office_prepares_and_downloads(app, staff_client, debtors, collection_day):
    client = staff_client("AR clerk")
    page = client.get("/direct-debit/")
    assert page.status_code == 200
    response = client.post("/direct-debit/prepare", data={
        "collection_date": collection_day.isoformat(), "csrf_token": session_csrf(app, client)})
    assert response.status_code == 302
    batch = db.session.scalars(select(CollectionBatch).order_by(CollectionBatch.id)).first()
    assert batch is not None
    assert client.get(f"/direct-debit/batch/{batch.id}").status_code == 200
    exported = client.post(f"/direct-debit/batch/{batch.id}/export",
                           data={"csrf_token": session_csrf(app, client)})
    assert exported.status_code == 302
    download = client.get(f"/direct-debit/batch/{batch.id}/xml")
    assert download.status_code == 200 and b"pain.008.001.02" in download.data
    assert client.get("/direct-debit/batch/999999").status_code == 404


def test_back_office_refuses_bad_input_without_change(app, staff_client, debtors,
                                                     collection_day):
    client = staff_client("AR clerk")
    client.post("/direct-debit/prepare", data={"collection_date": collection_day.isoformat()})
    assert _count(CollectionBatch) == 0  # no CSRF token: refused
    too_early = client.post("/direct-debit/prepare", data={
        "collection_date": business_today().isoformat(), "csrf_token": session_csrf(app, client)},
        follow_redirects=True)
    assert too_early.status_code == 200 and _count(CollectionBatch) == 0
    assert "14" in too_early.get_data(as_text=True)


def test_read_only_sees_but_does_not_prepare(app, staff_client, debtors, collection_day):
    reader = staff_client("Read-only")
    assert reader.get("/direct-debit/").status_code == 200
    response = reader.post("/direct-debit/prepare", data={
        "collection_date": collection_day.isoformat(), "csrf_token": session_csrf(app, reader)})
    assert response.status_code == 403
    assert _count(CollectionBatch) == 0


def test_a_returned_collection_reopens_the_invoices(debtors, collection_day):
    batches = prepare_collection(collection_day)
    rcur = next(b for b in batches if b.sequence_type == "RCUR")
    export_batch(rcur)
    db.session.commit()
    e2e = rcur.items[0].end_to_end_id
    paid = Entry("80.00", ref="IN-1", family=("PMNT", "IDDT", "ESDD"),
                 txs=[Tx(end_to_end=e2e, name="Jan Peeters")])
    assert import_statement(camt053([paid], statement_id="S1"), "in.xml").matched.count == 1
    returned = Entry("80.00", credit=False, ref="RET-1", family=("PMNT", "IDDT", "UPDD"),
                     txs=[Tx(end_to_end=e2e, name="Jan Peeters", return_reason="AM04")])
    report = import_statement(camt053([returned], statement_id="S2"), "return.xml")
    assert report.ok and report.returns.count == 1
    db.session.expire_all()
    assert db.session.get(Invoice, debtors["invoices"]["known"].id).status == "open"
