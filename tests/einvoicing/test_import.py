"""UBL invoices and credit notes in: CLI, API, admin upload; official examples and round trips."""
from __future__ import annotations

import io
import shutil
import zipfile
from datetime import date
from decimal import Decimal

from sqlalchemy import func, select

from app.core.settings import set_setting
from app.customers.models import Customer
from app.einvoicing.identifiers import Endpoint
from app.einvoicing.importing import import_documents
from app.einvoicing.models import EDocument
from app.einvoicing.ubl_out import CreditNoteData, Party, VatPart, build_credit_note, build_invoice
from app.extensions import db
from app.invoices.models import CreditNote, Invoice
from app.invoices.pdf import invoice_pdf_bytes
from tests.einvoicing.conftest import EXAMPLES, business
from tests.helpers import csrf_for

BILLING = EXAMPLES / "billing"


def _count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def _document(number="ERP-2026-001", buyer_vat="BE0403170701", payment_id=None, pdf=None,
              parts=None, kind="invoice", invoice_number=None):
    seller = Party(name="CreditDesk Demo SA", endpoint=Endpoint("0208", "0123456749"),
                   country="BE", street="Avenue Louise 54", city="Bruxelles",
                   postal_code="1050", vat="BE0123456749",
                   legal_id=Endpoint("0208", "0123456749"))
    buyer = Party(name="Brasserie Nouvelle SRL", endpoint=Endpoint("0208", buyer_vat[2:]),
                  country="BE", street="Rue Neuve 5", city="Namur", postal_code="5000",
                  vat=buyer_vat, legal_id=Endpoint("0208", buyer_vat[2:]))
    data = CreditNoteData(number=number, issue_date=date(2026, 11, 2), seller=seller,
                          buyer=buyer, buyer_reference="PO-55",
                          parts=parts or [VatPart(Decimal(21), Decimal("121.00"), "Beer"),
                                          VatPart(Decimal(6), Decimal("53.00"), "Food")],
                          iban="BE04068246137931", payment_id=payment_id, pdf=pdf,
                          invoice_number=invoice_number, due_date=date(2026, 12, 2))
    return build_invoice(data) if kind == "invoice" else build_credit_note(data)


DTD_ATTACK = (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
              b"<Invoice>&e;</Invoice>")
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def test_a_round_trip_creates_customer_invoice_lines_reference_and_pdf(app):
    xml = _document(payment_id="+++010/8068/17183+++", pdf=PDF)
    report = import_documents([("erp.xml", xml)])
    assert report.ok, report.problems
    assert (report.created, report.updated, report.customers_created) == (1, 0, 1)
    invoice = db.session.scalar(select(Invoice).where(Invoice.number == "ERP-2026-001"))
    assert invoice.customer.vat_number == "BE0403170701"
    assert invoice.customer.name == "Brasserie Nouvelle SRL" and invoice.customer.kind == "company"
    assert (invoice.issue_date, invoice.due_date) == (date(2026, 11, 2), date(2026, 12, 2))
    assert invoice.total_amount == Decimal("174.00") and invoice.open_amount == Decimal("174.00")
    assert invoice.structured_reference == "010806817183"
    assert sorted((line.vat_rate, line.amount) for line in invoice.lines) == \
        [(Decimal("6.00"), Decimal("53.00")), (Decimal("21.00"), Decimal("121.00"))]
    assert invoice_pdf_bytes(invoice) == PDF
    stored = db.session.scalar(select(EDocument).where(EDocument.direction == "in"))
    assert stored.status == "imported" and stored.invoice_id == invoice.id

    # Re-importing the corrected document updates the same invoice, never a second one.
    again = import_documents([("erp.xml", _document(
        parts=[VatPart(Decimal(21), Decimal("242.00"), "Beer")]))])
    assert again.ok and (again.created, again.updated, again.customers_created) == (0, 1, 0)
    assert _count(Invoice) == 1 and _count(Customer) == 1 and _count(EDocument) == 1
    db.session.refresh(invoice)
    assert invoice.total_amount == Decimal("242.00") and len(invoice.lines) == 1


def test_an_existing_customer_is_found_by_vat_number(app):
    customer = business("BE")
    report = import_documents([("a.xml", _document())])
    assert report.ok and report.customers_created == 0
    assert db.session.scalar(select(Invoice.customer_id)) == customer.id


def test_a_credit_note_round_trip_is_allocated_to_the_invoice_it_credits(app):
    assert import_documents([("inv.xml", _document())]).ok
    note_xml = _document(number="ERP-CN-7", kind="credit_note", invoice_number="ERP-2026-001",
                         parts=[VatPart(Decimal(21), Decimal("24.00"), "Broken bottles")])
    report = import_documents([("cn.xml", note_xml)])
    assert report.ok, report.problems
    note = db.session.scalar(select(CreditNote))
    assert (note.number, note.amount, note.status) == ("ERP-CN-7", Decimal("24.00"), "allocated")
    invoice = db.session.scalar(select(Invoice))
    assert invoice.open_amount == Decimal("150.00")
    assert import_documents([("cn.xml", note_xml)]).updated == 1
    assert _count(CreditNote) == 1


def _we_are(endpoint="", vat="BE0123456749", enterprise_number="0123.456.749"):
    """Our company's identifiers (Settings → Company and bank details)."""
    set_setting("einvoicing.seller_endpoint", endpoint)
    set_setting("company.vat_number", vat)
    set_setting("company.enterprise_number", enterprise_number)
    db.session.commit()


def test_official_peppol_examples_import_and_foreign_currencies_are_refused(app):
    # The examples' seller is a British company on endpoint 0088:9482348239847239874: as if
    # we were it, base-example and base-creditnote-correction import (same number "Snippet1",
    # kinds apart: one invoice, one credit note).
    _we_are(endpoint="0088:9482348239847239874", vat="", enterprise_number="")
    report = import_documents([(p.name, p.read_bytes()) for p in (
        BILLING / "base-example.xml", BILLING / "base-creditnote-correction.xml")])
    assert report.ok, [str(p) for p in report.problems]
    assert report.created == 2
    invoice = db.session.scalar(select(Invoice).where(Invoice.number == "Snippet1"))
    assert invoice.total_amount == Decimal("1656.25") and invoice.customer.country == "SE"
    assert len(invoice.lines) == 2
    # The Belgian credit note's seller is found by its VAT number.
    _we_are(vat="BE0012345625", enterprise_number="")
    report = import_documents([("be.xml", (EXAMPLES / "derived" / "be-creditnote.xml")
                                .read_bytes())])
    assert report.ok, [str(p) for p in report.problems]

    _we_are(endpoint="0088:7300010000001")
    refused = import_documents([(p.name, p.read_bytes()) for p in (
        BILLING / "vat-category-E.xml", EXAMPLES / "national" / "NO" / "Norwegian-example-1.xml")])
    assert not refused.ok
    currency = {p.file: p.message for p in refused.problems if p.field == "DocumentCurrencyCode"}
    assert "GBP" in currency["vat-category-E.xml"] and "NOK" in currency["Norwegian-example-1.xml"]
    assert "EUR" in currency["vat-category-E.xml"]
    assert _count(Invoice) == 1 and _count(CreditNote) == 2


def test_a_document_of_another_seller_is_refused_naming_the_seller(app):
    other = _document(number="ERP-OTHER")
    _we_are(vat="BE0403170701", enterprise_number="0403.170.701")  # not the documents' seller
    report = import_documents([("mine.xml", other)])
    assert not report.ok
    (problem,) = report.problems
    assert (problem.file, problem.field) == ("mine.xml", "AccountingSupplierParty")
    assert "0208:0123456749" in problem.message and "BE0123456749" in problem.message
    assert _count(Invoice) == 0 and _count(Customer) == 0 and _count(EDocument) == 0
    # Recognised by any one of our identifiers: the Peppol endpoint we set...
    _we_are(endpoint="0208:0123456749", vat="BE0403170701", enterprise_number="")
    assert import_documents([("mine.xml", other)]).ok
    # ... or our enterprise number alone.
    _we_are(vat="", enterprise_number="0123456749")
    assert import_documents([("mine.xml", other)]).updated == 1
    # Without any identifier of ours, nothing can be checked: refused with what to set.
    _we_are(vat="", enterprise_number="")
    (problem,) = import_documents([("mine.xml", other)]).problems
    assert problem.field == "AccountingSupplierParty" and "Settings" in problem.message


def test_invalid_documents_name_the_rule_or_field_and_store_nothing(app):
    broken = EXAMPLES / "broken"
    report = import_documents([
        ("good.xml", _document()),
        ("wrong-payable-amount.xml", (broken / "wrong-payable-amount.xml").read_bytes()),
        ("bad-ogm.xml", _document(number="ERP-9", payment_id="+++010/8068/17184+++")),
        ("dtd.xml", DTD_ATTACK),
        ("junk.xml", b"<Invoice><unclosed></Invoice>"),
    ])
    found = {(p.file, p.field) for p in report.problems}
    assert ("wrong-payable-amount.xml", "BR-CO-16") in found
    assert ("bad-ogm.xml", "PaymentID") in found
    assert ("dtd.xml", "file") in found and ("junk.xml", "file") in found
    assert "DTD" in next(p.message for p in report.problems if p.file == "dtd.xml")
    assert "good.xml" not in {p.file for p in report.problems}
    assert _count(Invoice) == 0 and _count(Customer) == 0 and _count(EDocument) == 0


def test_cli_imports_a_folder_and_a_zip(app, tmp_path):
    folder = tmp_path / "ubl"
    folder.mkdir()
    (folder / "one.xml").write_bytes(_document(number="ERP-1"))
    (folder / "two.xml").write_bytes(_document(number="ERP-2", buyer_vat="BE0123456749"))
    runner = app.test_cli_runner()
    result = runner.invoke(args=["import-invoices", str(folder)])
    assert result.exit_code == 0, result.output
    assert "2 created, 0 updated, 2 new customer(s)." in result.output
    archive = tmp_path / "batch.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("nested/one.xml", _document(number="ERP-1"))
    result = runner.invoke(args=["import-invoices", str(archive)])
    assert result.exit_code == 0 and "0 created, 1 updated" in result.output
    bad = tmp_path / "bad.xml"
    shutil.copy(EXAMPLES / "broken" / "wrong-payable-amount.xml", bad)
    result = runner.invoke(args=["import-invoices", str(bad)])
    assert result.exit_code == 1 and "bad.xml: BR-CO-16" in result.output
    assert _count(Invoice) == 2


def test_api_accepts_ubl_and_refuses_invalid_documents(app, client):
    from tests.api.support import ApiClient, jwt_for

    erp = ApiClient(client, jwt_for(app, client, "ERP integration"))
    response = erp.client.post("/api/v1/invoices/ubl", data=_document(),
                               headers={**erp.headers, "Content-Type": "application/xml"})
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["numbers"] == ["ERP-2026-001"]
    response = erp.client.post("/api/v1/invoices/ubl",
                               data=(EXAMPLES / "broken" / "wrong-payable-amount.xml").read_bytes(),
                               headers={**erp.headers, "Content-Type": "application/xml"})
    assert response.status_code == 422
    assert "body.xml:BR-CO-16" in response.get_json()["errors"]
    assert _count(Invoice) == 1


def test_admin_upload_imports_a_zip(app, staff_client):
    client = staff_client("Credit manager")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zipped:
        zipped.writestr("a.xml", _document(number="ERP-A"))
        zipped.writestr("b.xml", _document(number="ERP-B"))
    response = client.post("/einvoicing/import/", data={
        "csrf_token": csrf_for(client), "file": (io.BytesIO(buffer.getvalue()), "batch.zip")},
        content_type="multipart/form-data")
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    assert "ERP-A, ERP-B" in response.get_data(as_text=True)
    assert _count(Invoice) == 2
    response = client.post("/einvoicing/import/", data={
        "csrf_token": csrf_for(client),
        "file": (io.BytesIO((EXAMPLES / "broken" / "no-buyer-reference.xml").read_bytes()),
                 "x.xml")}, content_type="multipart/form-data")
    assert response.status_code == 422
    assert "PEPPOL-EN16931-R003" in response.get_data(as_text=True)


def test_payment_references_are_checked_across_the_batch_and_given_when_missing(app):
    taken = _document(number="ERP-1", payment_id="+++010/8068/17183+++")
    again = _document(number="ERP-2", payment_id="+++010/8068/17183+++")
    report = import_documents([("one.xml", taken), ("two.xml", again)])
    assert [(p.file, p.field) for p in report.problems] == [("two.xml", "structured_reference")]
    assert _count(Invoice) == 0 and _count(EDocument) == 0
    # Without a PaymentID, each new invoice gets its own OGM (and RF reference) from the sequence.
    report = import_documents([("a.xml", _document(number="ERP-A")),
                               ("b.xml", _document(number="ERP-B")), ("one.xml", taken)])
    assert report.ok, report.problems
    references = {r.number: r for r in db.session.execute(select(
        Invoice.number, Invoice.structured_reference, Invoice.rf_reference))}
    assert len({r.structured_reference for r in references.values()}) == 3
    assert all(r.rf_reference.startswith("RF") for r in references.values())
    assert references["ERP-1"].structured_reference == "010806817183"


def test_one_batch_mixes_new_and_known_invoices_and_a_credit_note_for_a_new_one(app):
    assert import_documents([("old.xml", _document(number="ERP-OLD"))]).ok
    note = _document(number="ERP-CN-1", kind="credit_note", invoice_number="ERP-NEW",
                     parts=[VatPart(Decimal(21), Decimal("24.00"), "Refund")])
    report = import_documents([
        ("new.xml", _document(number="ERP-NEW", pdf=PDF)),
        ("old.xml", _document(number="ERP-OLD", parts=[VatPart(Decimal(21), Decimal("60.50"),
                                                                "Less beer")])),
        ("note.xml", note)])
    assert report.ok, report.problems
    assert (report.created, report.updated) == (2, 1)
    new = db.session.scalar(select(Invoice).where(Invoice.number == "ERP-NEW"))
    old = db.session.scalar(select(Invoice).where(Invoice.number == "ERP-OLD"))
    assert new.open_amount == Decimal("150.00") and new.status == "partially_paid"
    assert [line.position for line in new.lines] == [1, 2] and invoice_pdf_bytes(new) == PDF
    assert old.total_amount == Decimal("60.50") and len(old.lines) == 1
    assert new.customer.balance == Decimal("210.50")  # 150.00 + 60.50, refreshed once
    received = {d.number: d for d in db.session.scalars(select(EDocument))}
    assert received["ERP-NEW"].invoice_id == new.id
    assert received["ERP-CN-1"].credit_note.invoice_id == new.id


def test_new_buyers_of_a_batch_are_created_once_and_the_set_wise_inserts_are_audited(app):
    from app.core.audit_models import AuditEvent
    from app.customers.services import clean_customer, upsert_customer

    # A customer our ERP number scheme already knows (P-<VAT>) is updated, not duplicated.
    known, created = upsert_customer(clean_customer({
        "number": "P-BE0403170701", "name": "Old name", "kind": "company", "language": "fr"}))
    db.session.commit()
    assert created
    report = import_documents([
        ("1.xml", _document(number="ERP-1")),
        ("2.xml", _document(number="ERP-2", buyer_vat="BE0202239951")),
        ("3.xml", _document(number="ERP-3")),
        ("4.xml", _document(number="ERP-4", buyer_vat="BE0202239951"))])
    assert report.ok, report.problems
    assert (report.created, report.customers_created) == (4, 1)
    assert _count(Customer) == 2
    owners = dict(db.session.execute(select(Invoice.number, Customer.number).join(
        Customer, Invoice.customer_id == Customer.id)).all())
    assert owners == {"ERP-1": "P-BE0403170701", "ERP-2": "P-BE0202239951",
                      "ERP-3": "P-BE0403170701", "ERP-4": "P-BE0202239951"}
    db.session.refresh(known)
    assert known.name == "Brasserie Nouvelle SRL" and known.vat_number == "BE0403170701"
    assert known.balance == Decimal("348.00")
    bulk = {event.entity: event for event in db.session.scalars(select(AuditEvent).where(
        AuditEvent.action == "bulk_insert"))}
    assert {"invoice", "invoice_line", "e_document"} <= set(bulk)
    assert '"row_sets": 4' in bulk["invoice"].detail and '"row_sets": 8' in \
        bulk["invoice_line"].detail
