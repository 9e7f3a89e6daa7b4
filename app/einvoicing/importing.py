"""UBL invoices and credit notes in: one more invoice source beside CSV and the JSON API.

All or nothing, like the CSV import: every document of a batch (a file, a folder, a ZIP) is read,
checked (our rules, then the official Peppol validation kit) and only when none has a problem
are they stored. Re-importing a number updates that invoice (never a second one). The customer
is found by VAT number, Peppol endpoint or enterprise number, and created when new.

The seller must be us: these are copies of what our ERP issued, so a document whose seller is
not our company (its endpoint, VAT number or enterprise number against Settings → Company and
bank details) is refused, naming AccountingSupplierParty. Currencies: only euro documents are
imported, others are refused naming their currency — invoices, balances, fees and dunning are
kept in euro throughout CreditDesk (invoices.services.SUPPORTED_CURRENCIES, the same rule as the
CSV import and the API); only payments may be in another currency.

Set-wise (bench/einvoicing.py): everything a batch needs from the database is read in a few
queries (_Batch.preload); new customers are upserted together (customers.services.
upsert_customers) and flushed once; new invoices are rows of one Core INSERT (executemany on
the table, not the ORM's bulk path, which spends more per row than the database does)
(invoices.services.new_invoice_row applies the create rules), re-imported ones go through
upsert_invoice; lines and received documents are inserted in bulk once the invoices have ids,
and each touched customer's balance is refreshed once. The audit trail records the set-wise
inserts as bulk events (app.core.audit), the updates and new customers row by row.
"""
from __future__ import annotations

import zipfile
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path

from flask_babel import gettext as _
from flask_babel import ngettext
from sqlalchemy import ARRAY, any_, bindparam, insert, select

from app.core import sequences
from app.core.settings import company_details, get_setting
from app.core.validation import ValidationError
from app.customers.models import COUNTRIES, Address, Customer
from app.customers.services import clean_customer, upsert_customers
from app.einvoicing import settings as _settings  # noqa: F401  (declares the settings)
from app.einvoicing.identifiers import (
    BELGIAN_ENTERPRISE_SCHEME,
    VAT_SCHEMES,
    Endpoint,
    belgian_enterprise_number,
    compact_vat,
    endpoint_for,
    vat_country,
    with_country_prefix,
)
from app.einvoicing.models import CustomerPeppol, EDocument
from app.einvoicing.ubl_in import MAX_DOCUMENT_BYTES, Buyer, UblDocument, read_document
from app.einvoicing.validation import ValidatorUnavailable, validate_documents
from app.extensions import db
from app.invoices.models import CreditNote, Invoice, InvoiceLine
from app.invoices.pdf import store_erp_pdf
from app.invoices.references import references_for_number
from app.invoices.services import (
    SUPPORTED_CURRENCIES,
    clean_invoice,
    new_invoice_row,
    upsert_invoice,
)
from app.payments.consequences import refresh_balances
from app.payments.outgoing.adjustments import allocate_credit_note

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
    us = OurCompany.from_settings()
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
        seller_problem = us.problem_with(document)
        if seller_problem:
            report.problems.append(Problem(name, "AccountingSupplierParty", seller_problem))
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
        _store_all(documents, report)
    except ValidationError:
        db.session.rollback()
        report.created = report.updated = report.customers_created = 0
        report.numbers = []
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


# --- the seller must be us -----------------------------------------------------------------------

@dataclass
class OurCompany:
    """Our company's identifiers (Settings → Company and bank details), read once per batch:
    an imported invoice is one our ERP issued, so its seller (BT-27..BT-34) must be us."""

    vat: str | None
    enterprise_number: str | None
    endpoints: set[str]

    @classmethod
    def from_settings(cls) -> OurCompany:
        company = company_details()
        vat = with_country_prefix(company.get("vat_number"), "BE")
        country = vat_country(vat) if vat else "BE"
        enterprise = belgian_enterprise_number(company.get("enterprise_number")) or \
            (belgian_enterprise_number(vat) if country == "BE" else None)
        endpoints = set()
        configured = str(get_setting("einvoicing.seller_endpoint") or "").strip()
        for candidate in (configured,
                          str(endpoint_for(country, vat, enterprise) or ""),
                          f"{BELGIAN_ENTERPRISE_SCHEME}:{enterprise}" if enterprise else "",
                          f"{VAT_SCHEMES.get(country or '', '')}:{vat}" if vat else ""):
            normalised = _endpoint_key(candidate)
            if normalised:
                endpoints.add(normalised)
        return cls(vat=vat, enterprise_number=enterprise, endpoints=endpoints)

    def problem_with(self, document: UblDocument) -> str | None:
        """None when the document's seller is us, else the message that refuses it."""
        if not (self.vat or self.enterprise_number or self.endpoints):
            return _("Your company's VAT number, enterprise number and Peppol endpoint are all "
                     "empty (Settings → Company and bank details): the seller of an imported "
                     "document cannot be checked.")
        if _endpoint_key(document.seller_endpoint) in self.endpoints:
            return None
        if document.seller_vat and self.vat and \
                compact_vat(document.seller_vat) == compact_vat(self.vat):
            return None
        if self.enterprise_number and document.seller_legal_id and \
                belgian_enterprise_number(document.seller_legal_id) == self.enterprise_number:
            return None
        return _("The seller (EndpointID %(endpoint)s, VAT number %(vat)s) is not your "
                 "company: only invoices and credit notes your company issued are imported. "
                 "Check the document, or your company's VAT number, enterprise number and "
                 "Peppol endpoint in Settings → Company and bank details.",
                 endpoint=document.seller_endpoint or "-", vat=document.seller_vat or "-")


def _endpoint_key(text: str | None) -> str | None:
    scheme, sep, value = (text or "").strip().partition(":")
    if not sep or not scheme.strip() or not value.strip():
        return None
    return f"{scheme.strip()}:{value.strip().upper()}"


# --- storing, set-wise -----------------------------------------------------------------------------

class _Batch:
    """What a batch needs from the database, read in a few queries instead of several per
    document (as the CSV import does): customers by VAT number and by Peppol endpoint, invoices
    by number with their lines, the structured references already taken, the documents already
    received."""

    CHUNK = 500

    def __init__(self) -> None:
        self.customers_by_vat: dict[str, Customer] = {}
        self.customers_by_number: dict[str, Customer] = {}
        self.customers_by_endpoint: dict[str, Customer] = {}
        self.invoices: dict[str, Invoice] = {}
        self.references: dict[str, Invoice] = {}
        self.new_references: dict[str, str] = {}  # invoice number -> OGM from the sequence
        self.received: dict[tuple[str, str, str], EDocument] = {}
        self.touched: set[Customer] = set()

    @classmethod
    def preload(cls, documents: list[UblDocument]) -> _Batch:
        from sqlalchemy.orm import selectinload

        batch = cls()
        vats = sorted({d.buyer.vat for d in documents if d.buyer.vat})
        numbers = sorted({d.number for d in documents})
        endpoints = sorted({d.buyer.endpoint.partition(":")[2].strip()
                            for d in documents if d.buyer.endpoint})
        for chunk in _chunks(vats):
            for customer in db.session.scalars(select(Customer).where(
                    _one_of(Customer.vat_number, chunk)).order_by(Customer.id.desc())):
                batch.remember_customer(customer)
        for chunk in _chunks(endpoints):
            for row in db.session.execute(select(CustomerPeppol, Customer).join(
                    Customer, CustomerPeppol.customer_id == Customer.id).where(
                    _one_of(CustomerPeppol.endpoint_id, chunk))):
                peppol, customer = row
                batch.customers_by_endpoint[
                    f"{peppol.endpoint_scheme}:{peppol.endpoint_id}"] = customer
        for chunk in _chunks(numbers):
            for invoice in db.session.scalars(select(Invoice).where(_one_of(Invoice.number, chunk))
                                              .options(selectinload(Invoice.lines))):
                batch.invoices[invoice.number] = invoice
            for row in db.session.scalars(select(EDocument).where(
                    EDocument.direction == "in", _one_of(EDocument.number, chunk))):
                batch.received[(row.doc_type, row.number, row.sender)] = row
        # New invoices without a payment reference: their OGMs from one sequence allocation
        # (what assign_references would give each), checked free with the ERP's own below.
        wanting = [d.number for d in documents if d.kind == "invoice"
                   and d.number not in batch.invoices and not d.structured_reference]
        if wanting:
            allocated = sequences.allocate(db.session, sequences.PAYMENT_REFERENCE, len(wanting))
            batch.new_references = {number: references_for_number(value)[0]
                                    for number, value in zip(wanting, allocated, strict=True)}
        references = sorted({d.structured_reference for d in documents if d.structured_reference}
                            | set(batch.new_references.values()))
        for chunk in _chunks(references):
            for invoice in db.session.scalars(select(Invoice).where(
                    _one_of(Invoice.structured_reference, chunk))):
                batch.references[invoice.structured_reference] = invoice
        for invoice in batch.invoices.values():
            batch.references.setdefault(invoice.structured_reference, invoice)
        return batch

    def remember_customer(self, customer: Customer) -> None:
        if customer.vat_number:
            self.customers_by_vat[customer.vat_number] = customer
        self.customers_by_number[customer.number] = customer


def _postgresql() -> bool:
    return db.session.get_bind().dialect.name == "postgresql"


def _chunks(values: list):
    """Values for _one_of, a few at a time (SQLite's bound parameters are limited)."""
    size = 10_000 if _postgresql() else _Batch.CHUNK
    for start in range(0, len(values), size):
        yield values[start:start + size]


def _one_of(column, values: list):
    """``column IN values``; on PostgreSQL ``column = ANY(array)``, one bound parameter: psycopg
    rewrites a query's placeholders one by one in Python and caches only short queries, so a
    500-value IN list cost more to send than to run (bench/einvoicing.py)."""
    if _postgresql():
        return column == any_(bindparam(None, values, type_=ARRAY(column.type)))
    return column.in_(values)


def _store_all(documents: list[tuple[str, bytes, UblDocument]], report: UblImportReport) -> None:
    """Customers (one flush), then invoices: the new ones as rows of one set-wise INSERT (the
    rules of invoices.services.new_invoice_row), the re-imported ones updated through
    upsert_invoice; then the lines, PDFs and received documents, then credit notes (which may
    credit an invoice of the same batch), then each touched customer's balance once. A
    ValidationError names its file in the report."""
    batch = _Batch.preload([document for _n, _d, document in documents])
    with db.session.no_autoflush:  # one flush for the batch's customers, not one per query
        customers = _customers_for(documents, report, batch)
    batch.touched.update(customers)
    db.session.flush()
    new_rows: list[dict] = []
    invoice_ids: dict[str, int] = {}  # number -> id, of every invoice of the batch
    updated: list[tuple[Invoice, UblDocument]] = []
    with db.session.no_autoflush:
        for (name, _data, document), customer in zip(documents, customers, strict=True):
            if document.kind != "invoice":
                continue
            with _naming(name, report):
                invoice = _store_invoice(document, customer, report, batch, new_rows)
                if invoice is not None:
                    updated.append((invoice, document))
    db.session.flush()
    for invoice, _document in updated:
        invoice_ids[invoice.number] = invoice.id
    if new_rows:
        db.session.execute(insert(Invoice.__table__), new_rows)
        numbers = [row["number"] for row in new_rows]
        for chunk in _chunks(numbers):
            invoice_ids.update((number, invoice_id) for number, invoice_id in db.session.execute(
                select(Invoice.number, Invoice.id).where(_one_of(Invoice.number, chunk))))
    created = {row["number"] for row in new_rows}
    lines = [(invoice_ids[document.number], document) for _n, _d, document in documents
             if document.number in created and document.kind == "invoice"]
    if any(document.lines for _id, document in lines):
        db.session.execute(insert(InvoiceLine.__table__), [
            {"invoice_id": invoice_id, "position": position, "description": line.description,
             "quantity": line.quantity, "unit_price": line.unit_price,
             "vat_rate": line.vat_rate, "amount": line.gross}
            for invoice_id, document in lines
            for position, line in enumerate(document.lines, start=1)])
    with_pdf = {invoice_ids[d.number] for _n, _d, d in documents if d.kind == "invoice" and d.pdf}
    loaded = {invoice.id: invoice for chunk in _chunks(sorted(with_pdf))
              for invoice in db.session.scalars(select(Invoice).where(_one_of(Invoice.id, chunk)))}
    new_documents = []
    for (name, data, document), customer in zip(documents, customers, strict=True):
        with _naming(name, report):
            credit_note, invoice_id = None, None
            if document.kind == "invoice":
                invoice_id = invoice_ids[document.number]
                if document.pdf:
                    store_erp_pdf(loaded[invoice_id], document.pdf)
            else:
                credit_note = _store_credit_note(document, customer, report)
                invoice_id = credit_note.invoice_id
            row = _remember(document, data, customer, invoice_id, credit_note, batch)
            if row is not None:
                new_documents.append(row)
            report.numbers.append(document.number)
    db.session.flush()
    if new_documents:
        db.session.execute(insert(EDocument.__table__), new_documents)
    refresh_balances(customer.id for customer in batch.touched)


class _naming:
    """Adds the file's name to the problems of a ValidationError (re-raised: all or nothing)."""

    def __init__(self, name: str, report: UblImportReport) -> None:
        self.name, self.report = name, report

    def __enter__(self):
        return self

    def __exit__(self, kind, error, _traceback) -> bool:
        if isinstance(error, ValidationError):
            self.report.problems.extend(Problem(self.name, f, m)
                                        for f, ms in error.errors.items() for m in ms)
        return False


def _store_invoice(document: UblDocument, customer: Customer, report, batch: _Batch,
                   new_rows: list) -> Invoice | None:
    """A re-imported invoice is updated (and returned); a new one becomes a row in
    ``new_rows`` (None is returned)."""
    existing = batch.invoices.get(document.number)
    if existing is not None and existing.customer_id != customer.id:
        raise ValidationError({"ID": [_(
            "Invoice %(number)s already exists for another customer.", number=document.number)]})
    clean = clean_invoice({
        "number": document.number, "customer_number": customer.number,
        "issue_date": document.issue_date, "due_date": document.due_date,
        "total_amount": document.total, "currency": document.currency,
        "description": _("Peppol invoice %(number)s", number=document.number),
        "structured_reference": document.structured_reference
        or batch.new_references.get(document.number)})
    if existing is None:
        new_rows.append(new_invoice_row(clean, customer, batch.references))
        report.created += 1
        return None
    invoice, _created = upsert_invoice(clean, customers=batch.customers_by_number,
                                       invoices=batch.invoices, refresh=False,
                                       references=batch.references)
    report.updated += 1
    invoice.lines = [InvoiceLine(position=position, description=line.description,
                                 quantity=line.quantity, unit_price=line.unit_price,
                                 vat_rate=line.vat_rate, amount=line.gross)
                     for position, line in enumerate(document.lines, start=1)]
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


def _remember(document, data: bytes, customer, invoice_id: int | None, credit_note,
              batch: _Batch) -> dict | None:
    """The received document kept with what it became: an existing row is updated, a new one
    is returned as a row for the bulk INSERT."""
    key = (document.kind, document.number, document.seller_endpoint[:70])
    xml = data.decode("utf-8", errors="replace")
    row = batch.received.get(key)
    if row is None:
        batch.received[key] = None  # a second document with this key is refused earlier
        return {"direction": "in", "doc_type": document.kind, "number": document.number,
                "sender": key[2], "status": "imported", "customer_id": customer.id,
                "invoice_id": invoice_id,
                "credit_note_id": credit_note.id if credit_note is not None else None,
                "failed_rules": [], "findings": [], "xml": xml}
    row.status, row.customer = "imported", customer
    row.invoice_id, row.credit_note = invoice_id, credit_note
    row.xml = xml
    return None


# --- customers ----------------------------------------------------------------------------------

def _customers_for(documents, report: UblImportReport, batch: _Batch) -> list[Customer]:
    """Each document's customer: found in the batch (VAT number, Peppol endpoint), else the
    new buyers are upserted together (customers.services.upsert_customers: one query per 500,
    not one per customer). A later document of a buyer new in this batch gets the customer its
    first document makes, found as _known_customer would find it once made."""
    chosen: list[Customer | str] = []
    wanted: dict[str, tuple[Buyer, dict]] = {}  # customer number -> (buyer, clean data)
    pending_vat: dict[str, str] = {}
    pending_endpoint: dict[str, str] = {}
    for name, _data, document in documents:
        buyer = document.buyer
        customer = _known_customer(buyer, batch)
        if customer is not None:
            chosen.append(customer)
            continue
        number = pending_vat.get(buyer.vat or "") or (
            pending_endpoint.get(str(Endpoint.parse(buyer.endpoint))) if buyer.endpoint
            else None)
        if number is None:
            number = ("P-" + (buyer.vat or buyer.endpoint or "").replace(":", "-"))[:40]
        if number not in wanted:
            with _naming(name, report):
                clean = clean_customer(_customer_data(buyer, number))
            wanted[number] = (buyer, clean)
            if clean.get("vat_number"):
                pending_vat[clean["vat_number"]] = number
            if buyer.endpoint and str(endpoint_for(_country_of(buyer, clean),
                                                   clean.get("vat_number")) or "") \
                    != buyer.endpoint:
                pending_endpoint[str(Endpoint.parse(buyer.endpoint))] = number
        chosen.append(number)
    made: dict[str, Customer] = {}
    results = upsert_customers([clean for _buyer, clean in wanted.values()])
    for (number, (buyer, _clean)), (customer, created) in zip(wanted.items(), results,
                                                              strict=True):
        _adopt_customer(customer, created, buyer, report, batch)
        made[number] = customer
    return [made[item] if isinstance(item, str) else item for item in chosen]


def _known_customer(buyer: Buyer, batch: _Batch) -> Customer | None:
    if buyer.vat and buyer.vat in batch.customers_by_vat:
        return batch.customers_by_vat[buyer.vat]
    if buyer.endpoint:
        found = batch.customers_by_endpoint.get(str(Endpoint.parse(buyer.endpoint)))
        if found is not None:
            batch.remember_customer(found)
            return found
    return None


def _customer_data(buyer: Buyer, number: str) -> dict:
    data = {"number": number, "name": buyer.name, "kind": "company",
            "language": LANGUAGE_BY_COUNTRY.get(buyer.country or "", "en"),
            "vat_number": buyer.vat}
    if buyer.country in COUNTRIES:
        data["country"] = buyer.country
    if buyer.street and buyer.city and buyer.postal_code:
        data.update(address_line1=buyer.street, city=buyer.city, postal_code=buyer.postal_code)
    return data


def _abroad(buyer: Buyer) -> bool:
    """The ERP's customer in a country our customer records do not list: kept as given."""
    return bool(buyer.country and buyer.country not in COUNTRIES and len(buyer.country) == 2)


def _country_of(buyer: Buyer, clean: dict) -> str | None:
    return buyer.country if _abroad(buyer) else clean.get("country")


def _adopt_customer(customer: Customer, created: bool, buyer: Buyer, report: UblImportReport,
                    batch: _Batch) -> None:
    if _abroad(buyer):
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
        batch.customers_by_endpoint[str(endpoint)] = customer
    batch.remember_customer(customer)
