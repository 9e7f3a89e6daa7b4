"""UBL invoices and credit notes in: one more invoice source beside CSV and the JSON API.

All or nothing, like the CSV import: every document of a batch (a file, a folder, a ZIP) is read,
checked (our rules, then the official Peppol validation kit) and only when none has a problem
are they stored. Re-importing a number updates that invoice (never a second one). The customer
is found by VAT number, Peppol endpoint or enterprise number, and created when new.
"""
from __future__ import annotations

import zipfile
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path

from flask_babel import gettext as _
from flask_babel import ngettext
from sqlalchemy import select

from app.core.validation import ValidationError
from app.customers.models import COUNTRIES, Address, Customer
from app.customers.services import clean_customer, refresh_balance, upsert_customer
from app.einvoicing.identifiers import Endpoint, endpoint_for
from app.einvoicing.models import CustomerPeppol, EDocument
from app.einvoicing.ubl_in import MAX_DOCUMENT_BYTES, Buyer, UblDocument, read_document
from app.einvoicing.validation import ValidatorUnavailable, validate_documents
from app.extensions import db
from app.invoices.adjustments import allocate_credit_note
from app.invoices.models import CreditNote, Invoice, InvoiceLine
from app.invoices.pdf import store_erp_pdf
from app.invoices.services import SUPPORTED_CURRENCIES, clean_invoice, upsert_invoice

MAX_FILES = 5000
MAX_BATCH_BYTES = 500 * 1024 * 1024
LANGUAGE_BY_COUNTRY = {"NL": "nl", "FR": "fr", "BE": "fr", "LU": "fr"}


@dataclass
class Problem:
    file: str
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.field}: {self.message}" if self.field else \
            f"{self.file}: {self.message}"


@dataclass
class UblImportReport:
    created: int = 0
    updated: int = 0
    customers_created: int = 0
    problems: list[Problem] = field(default_factory=list)
    numbers: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        if not self.ok:
            return ngettext("%(num)d problem: nothing was imported.",
                            "%(num)d problems: nothing was imported.", len(self.problems))
        return _("%(created)s created, %(updated)s updated, %(customers)s new customer(s).",
                 created=self.created, updated=self.updated, customers=self.customers_created)


# --- reading files -----------------------------------------------------------------------------

def files_from_path(path: Path) -> list[tuple[str, bytes]]:
    """The XML documents of FILE.xml, a folder (its *.xml, not recursive) or a ZIP."""
    if path.is_dir():
        found = sorted(p for p in path.iterdir() if p.suffix.lower() == ".xml" and p.is_file())
        if len(found) > MAX_FILES:
            raise ValidationError({"file": _("At most %(n)s documents at once.", n=MAX_FILES)})
        return [(p.name, _read_limited(p)) for p in found]
    data = path.read_bytes() if path.stat().st_size <= MAX_BATCH_BYTES else b""
    if not data:
        raise ValidationError({"file": _("The file is empty or too large.")})
    return files_from_upload(path.name, data)


def _read_limited(path: Path) -> bytes:
    if path.stat().st_size > MAX_DOCUMENT_BYTES:
        raise ValidationError({"file": _("%(name)s is too large.", name=path.name)})
    return path.read_bytes()


def files_from_upload(name: str, data: bytes) -> list[tuple[str, bytes]]:
    """One uploaded file: an XML document, or a ZIP of them (sizes checked while reading)."""
    if not data.startswith(b"PK"):
        return [(name, data)]
    try:
        archive = zipfile.ZipFile(BytesIO(data))
    except zipfile.BadZipFile:
        raise ValidationError({"file": _("%(name)s is not a valid ZIP file.", name=name)}) from None
    entries = [i for i in archive.infolist()
               if not i.is_dir() and i.filename.lower().endswith(".xml")]
    if len(entries) > MAX_FILES:
        raise ValidationError({"file": _("At most %(n)s documents at once.", n=MAX_FILES)})
    files, total = [], 0
    for info in entries:
        with archive.open(info) as member:  # read at most one byte too many: a zip bomb stops
            content = member.read(MAX_DOCUMENT_BYTES + 1)
        total += len(content)
        if len(content) > MAX_DOCUMENT_BYTES or total > MAX_BATCH_BYTES:
            raise ValidationError({"file": _("%(name)s is too large.", name=info.filename)})
        files.append((Path(info.filename).name, content))
    return files


# --- importing ---------------------------------------------------------------------------------

def import_upload(name: str, data: bytes) -> UblImportReport:
    """What staff upload: invoices and credit notes (all or nothing), and any Peppol invoice
    responses among them (each applied on its own, as if the access point had delivered it)."""
    from app.einvoicing.responses import ROOT, receive_response
    from app.einvoicing.ubl_in import parse_xml

    files = files_from_upload(name, data)
    responses, documents = [], []
    for item in files:
        try:
            is_response = parse_xml(item[1]).tag == ROOT
        except ValidationError:
            is_response = False  # import_documents names the problem
        (responses if is_response else documents).append(item)
    report = import_documents(documents) if documents else UblImportReport()
    if not report.ok:
        return report
    for file_name, content in responses:
        try:
            received = receive_response(content)
            db.session.commit()
        except ValidationError as refused:
            db.session.rollback()
            report.problems.extend(Problem(file_name, f, m) for f, ms in refused.errors.items()
                                   for m in ms)
            continue
        report.created += 1
        report.numbers.append(received.number)
    return report


def import_documents(files: list[tuple[str, bytes]], *, schematron: bool = True,
                     dry_run: bool = False) -> UblImportReport:
    report = UblImportReport()
    if not files:
        report.problems.append(Problem("", "file", _("No XML document found.")))
        return report
    documents: list[tuple[str, bytes, UblDocument]] = []
    seen: dict[tuple[str, str], str] = {}
    for name, data in files:
        try:
            document = read_document(data)
        except ValidationError as refused:
            report.problems.extend(Problem(name, f, m) for f, ms in refused.errors.items()
                                   for m in ms)
            continue
        if document.currency not in SUPPORTED_CURRENCIES:
            report.problems.append(Problem(name, "DocumentCurrencyCode", _(
                "Unknown or unsupported currency %(code)s: only invoices in euro (EUR) are "
                "imported.", code=document.currency[:3])))
        key = (document.kind, document.number)
        if key in seen:
            report.problems.append(Problem(name, "ID", _(
                "Number %(number)s is also in %(other)s: one document per number.",
                number=document.number, other=seen[key])))
        seen[key] = name
        documents.append((name, data, document))
    if schematron and documents:
        _check_with_kit(documents, report)
    if not report.ok:
        return report
    try:
        batch = _Batch.preload([document for _n, _d, document in documents])
        with db.session.no_autoflush:  # one flush at the end, not one per query
            for name, data, document in documents:
                try:
                    _store(document, data, report, batch)
                except ValidationError as refused:
                    report.problems.extend(Problem(name, f, m)
                                           for f, ms in refused.errors.items() for m in ms)
                    raise
        db.session.flush()
        for customer in batch.touched:  # each balance once, after all its invoices
            refresh_balance(customer)
        db.session.flush()
    except ValidationError:
        db.session.rollback()
        report.created = report.updated = report.customers_created = 0
        return report
    if dry_run:
        db.session.rollback()
    else:
        db.session.commit()
    return report


def _check_with_kit(documents, report: UblImportReport) -> None:
    try:
        results = validate_documents([data for _n, data, _d in documents])
    except ValidatorUnavailable as missing:
        report.problems.append(Problem("", "validator", _(
            "The Peppol validation kit could not run, so nothing was imported: %(error)s",
            error=str(missing)[:300])))
        return
    for (name, _data, _document), result in zip(documents, results, strict=True):
        for finding in result.findings:
            if finding.get("flag") == "fatal":
                report.problems.append(Problem(name, finding.get("id") or "",
                                               finding.get("text") or ""))


class _Batch:
    """What a batch needs from the database, read in a few queries instead of several per
    document (as the CSV import does): customers by VAT number, invoices by number with their
    lines, the documents already received."""

    CHUNK = 500

    def __init__(self) -> None:
        self.customers_by_vat: dict[str, Customer] = {}
        self.customers_by_number: dict[str, Customer] = {}
        self.invoices: dict[str, Invoice] = {}
        self.received: dict[tuple[str, str, str], EDocument] = {}
        self.touched: set[Customer] = set()

    @classmethod
    def preload(cls, documents: list[UblDocument]) -> _Batch:
        from sqlalchemy.orm import selectinload

        batch = cls()
        vats = sorted({d.buyer.vat for d in documents if d.buyer.vat})
        numbers = sorted({d.number for d in documents})
        for chunk in _chunks(vats, cls.CHUNK):
            for customer in db.session.scalars(select(Customer).where(
                    Customer.vat_number.in_(chunk)).order_by(Customer.id.desc())):
                batch.remember_customer(customer)
        for chunk in _chunks(numbers, cls.CHUNK):
            for invoice in db.session.scalars(select(Invoice).where(Invoice.number.in_(chunk))
                                              .options(selectinload(Invoice.lines))):
                batch.invoices[invoice.number] = invoice
            for row in db.session.scalars(select(EDocument).where(
                    EDocument.direction == "in", EDocument.number.in_(chunk))):
                batch.received[(row.doc_type, row.number, row.sender)] = row
        return batch

    def remember_customer(self, customer: Customer) -> None:
        if customer.vat_number:
            self.customers_by_vat[customer.vat_number] = customer
        self.customers_by_number[customer.number] = customer


def _chunks(values: list, size: int):
    for start in range(0, len(values), size):
        yield values[start:start + size]


def _store(document: UblDocument, data: bytes, report: UblImportReport, batch: _Batch) -> None:
    customer = _customer_for(document.buyer, report, batch)
    batch.touched.add(customer)
    if document.kind == "invoice":
        invoice = _store_invoice(document, customer, report, batch)
        credit_note = None
    else:
        db.session.flush()
        credit_note = _store_credit_note(document, customer, report)
        invoice = credit_note.invoice
    _remember(document, data, customer, invoice, credit_note, batch)
    report.numbers.append(document.number)


def _store_invoice(document: UblDocument, customer: Customer, report, batch: _Batch) -> Invoice:
    existing = batch.invoices.get(document.number)
    if existing is not None and existing.customer_id != customer.id:
        raise ValidationError({"ID": [_(
            "Invoice %(number)s already exists for another customer.", number=document.number)]})
    clean = clean_invoice({
        "number": document.number, "customer_number": customer.number,
        "issue_date": document.issue_date, "due_date": document.due_date,
        "total_amount": document.total, "currency": document.currency,
        "description": _("Peppol invoice %(number)s", number=document.number),
        "structured_reference": document.structured_reference})
    invoice, created = upsert_invoice(clean, customers=batch.customers_by_number,
                                      invoices=batch.invoices, refresh=False)
    if created:
        report.created += 1
    else:
        report.updated += 1
    invoice.lines = [InvoiceLine(position=position, description=line.description,
                                 quantity=line.quantity, unit_price=line.unit_price,
                                 vat_rate=line.vat_rate, amount=line.gross)
                     for position, line in enumerate(document.lines, start=1)]
    if document.pdf:
        store_erp_pdf(invoice, document.pdf)
    return invoice


def _store_credit_note(document: UblDocument, customer: Customer, report) -> CreditNote:
    if document.total <= 0:
        raise ValidationError({"TaxInclusiveAmount": [_("A credit note's amount must be more "
                                                        "than zero.")]})
    note = db.session.scalar(select(CreditNote).where(CreditNote.number == document.number))
    invoice = db.session.scalar(select(Invoice).where(
        Invoice.number == document.invoice_reference, Invoice.customer_id == customer.id)) \
        if document.invoice_reference else None
    if note is not None:
        if note.customer_id != customer.id:
            raise ValidationError({"ID": [_("Credit note %(number)s already exists for another "
                                            "customer.", number=document.number)]})
        if note.amount != document.total and note.open_amount != note.amount:
            raise ValidationError({"TaxInclusiveAmount": [_(
                "Credit note %(number)s is already used: its amount cannot change.",
                number=document.number)]})
        if note.amount != document.total:
            note.amount = note.open_amount = document.total
        note.issue_date = document.issue_date
        report.updated += 1
        return note
    note = CreditNote(customer=customer, customer_id=customer.id, invoice=invoice,
                      number=document.number, issue_date=document.issue_date,
                      amount=document.total, open_amount=document.total,
                      reason=_("Peppol credit note %(number)s", number=document.number),
                      status="open")
    db.session.add(note)
    db.session.flush()
    allocate_credit_note(note)
    report.created += 1
    return note


def _remember(document, data: bytes, customer, invoice, credit_note, batch: _Batch) -> None:
    key = (document.kind, document.number, document.seller_endpoint[:70])
    row = batch.received.get(key)
    if row is None:
        row = EDocument(direction="in", doc_type=document.kind, number=document.number,
                        sender=document.seller_endpoint[:70], failed_rules=[], findings=[])
        db.session.add(row)
        batch.received[key] = row
    row.status, row.customer = "imported", customer
    row.invoice, row.credit_note = invoice, credit_note
    row.xml = data.decode("utf-8", errors="replace")


# --- customers ----------------------------------------------------------------------------------

def _customer_for(buyer: Buyer, report: UblImportReport, batch: _Batch) -> Customer:
    if buyer.vat and buyer.vat in batch.customers_by_vat:
        return batch.customers_by_vat[buyer.vat]
    if buyer.endpoint:
        endpoint = Endpoint.parse(buyer.endpoint)
        found = db.session.scalar(select(Customer).join(
            CustomerPeppol, CustomerPeppol.customer_id == Customer.id).where(
            CustomerPeppol.endpoint_scheme == endpoint.scheme,
            CustomerPeppol.endpoint_id == endpoint.value))
        if found is not None:
            batch.remember_customer(found)
            return found
    number = ("P-" + (buyer.vat or buyer.endpoint or "").replace(":", "-"))[:40]
    data = {"number": number, "name": buyer.name, "kind": "company",
            "language": LANGUAGE_BY_COUNTRY.get(buyer.country or "", "en"),
            "vat_number": buyer.vat}
    if buyer.country in COUNTRIES:
        data["country"] = buyer.country
    if buyer.street and buyer.city and buyer.postal_code:
        data.update(address_line1=buyer.street, city=buyer.city, postal_code=buyer.postal_code)
    customer, created = upsert_customer(clean_customer(data))
    if buyer.country and buyer.country not in COUNTRIES and len(buyer.country) == 2:
        customer.country = buyer.country  # the ERP's customer abroad: kept as the document says
        for address in customer.addresses:
            if isinstance(address, Address):
                address.country = buyer.country
    if created:
        report.customers_created += 1
    derived = endpoint_for(customer.country, customer.vat_number)
    if buyer.endpoint and str(derived or "") != buyer.endpoint:
        endpoint = Endpoint.parse(buyer.endpoint)
        db.session.add(CustomerPeppol(customer=customer, endpoint_scheme=endpoint.scheme[:4],
                                      endpoint_id=endpoint.value[:60]))
    db.session.flush()
    batch.remember_customer(customer)
    return customer
