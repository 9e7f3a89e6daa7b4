"""Credit notes out as Peppol BIS 3.0 e-invoices: build, validate, keep (held or ready).

A document is only ever "ready" (and so deliverable) after the official validation kit said
0 fatal; otherwise it is "held" with the failed rule ids, which staff see on E-invoicing →
Documents. A business customer we cannot address on Peppol is refused with a message.
"""
from __future__ import annotations

import re
from decimal import Decimal

from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import select

from app.core.i18n import language_locale
from app.core.models import utcnow
from app.core.settings import company_details, get_setting
from app.core.validation import ValidationError
from app.customers.models import Customer
from app.einvoicing import settings as _settings  # noqa: F401  (declares the settings)
from app.einvoicing.identifiers import (
    BELGIAN_ENTERPRISE_SCHEME,
    Endpoint,
    IdentifierError,
    belgian_enterprise_number,
    check_endpoint,
    endpoint_for,
    with_country_prefix,
)
from app.einvoicing.models import CustomerPeppol, EDocument
from app.einvoicing.pdf import credit_note_pdf
from app.einvoicing.ubl_out import CreditNoteData, Party, VatPart, build_credit_note
from app.einvoicing.validation import ValidatorUnavailable, validate_documents
from app.extensions import db
from app.invoices.models import CreditNote
from app.invoices.references import format_ogm

# Credit notes in these statuses exist for the customer (approved): they get an e-invoice.
ISSUED_STATUSES = ("open", "allocated", "refunded")
NOT_BUILT_RULE = "CD-NOT-BUILT"  # refused before validation (e.g. no Peppol address)
KIT_UNAVAILABLE_RULE = "CD-VALIDATOR-UNAVAILABLE"


def peppol_row(customer: Customer) -> CustomerPeppol | None:
    return db.session.scalar(select(CustomerPeppol).where(CustomerPeppol.customer_id == customer.id))


def customer_endpoint(customer: Customer) -> Endpoint:
    """Where the customer receives e-invoices: its own Peppol id, else derived from its VAT."""
    row = peppol_row(customer)
    if row is not None and row.endpoint_scheme and row.endpoint_id:
        endpoint = Endpoint(row.endpoint_scheme.strip(), row.endpoint_id.strip())
    else:
        endpoint = endpoint_for(customer.country, customer.vat_number)
    if endpoint is None:
        raise ValidationError({"customer": _(
            "Customer %(customer)s has no Peppol address: enter its VAT or enterprise number, or "
            "its Peppol identifier, first.", customer=customer.number)})
    try:
        check_endpoint(endpoint)
    except IdentifierError:
        raise ValidationError({"customer": _(
            "The Peppol identifier %(endpoint)s of customer %(customer)s is not valid.",
            endpoint=str(endpoint), customer=customer.number)}) from None
    return endpoint


def seller_party() -> Party:
    company = company_details()
    country = (company.get("vat_number") or "BE")[:2].upper()
    configured = str(get_setting("einvoicing.seller_endpoint") or "").strip()
    enterprise = belgian_enterprise_number(company.get("enterprise_number"))
    try:
        endpoint = Endpoint.parse(configured) if configured else \
            endpoint_for(country, company.get("vat_number"), company.get("enterprise_number"))
        if endpoint is None:
            raise IdentifierError(configured)
        check_endpoint(endpoint)
    except IdentifierError:
        raise ValidationError({"einvoicing.seller_endpoint": _(
            "Your company's Peppol endpoint is not valid: check it, or the enterprise number, on "
            "Settings → Company and bank details.")}) from None
    street, postal_code, city = _address(company.get("address") or "")
    return Party(name=company["name"], endpoint=endpoint, country=country, street=street,
                 city=city, postal_code=postal_code,
                 vat=with_country_prefix(company.get("vat_number"), country),
                 legal_id=Endpoint(BELGIAN_ENTERPRISE_SCHEME, enterprise)
                 if enterprise and country == "BE" else None,
                 email=company.get("email"))


def _address(text: str) -> tuple[str | None, str | None, str | None]:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    street = lines[0] if lines else None
    for line in lines[1:]:
        found = re.match(r"^(?:[A-Z]{1,2}-)?(\d{4,5}(?:\s?[A-Z]{2})?)\s+(.+)$", line)
        if found:
            return street, found.group(1), found.group(2)
    return street, None, None


def buyer_party(customer: Customer) -> Party:
    endpoint = customer_endpoint(customer)
    billing = sorted(customer.addresses, key=lambda a: a.kind != "billing")
    address = billing[0] if billing else None
    country = (address.country if address else customer.country or "BE").upper()
    enterprise = belgian_enterprise_number(customer.vat_number) if country == "BE" else None
    return Party(name=customer.name, endpoint=endpoint, country=country,
                 street=address.line1 if address else None,
                 city=address.city if address else None,
                 postal_code=address.postal_code if address else None,
                 vat=with_country_prefix(customer.vat_number, customer.country),
                 legal_id=Endpoint(BELGIAN_ENTERPRISE_SCHEME, enterprise) if enterprise else None)


def vat_parts(note: CreditNote, name: str) -> list[VatPart]:
    """The note's amount over VAT rates: in the proportions of the credited invoice's lines
    (a partial credit note credits each rate alike), else all at the default rate."""
    invoice = note.invoice
    rates: dict[Decimal, Decimal] = {}
    for line in (invoice.lines if invoice is not None else []):
        rate = Decimal(line.vat_rate or 0)
        rates[rate] = rates.get(rate, Decimal(0)) + Decimal(line.amount)
    invoiced = sum(rates.values(), Decimal(0))
    if not rates or invoiced <= 0:
        rate = Decimal(str(get_setting("einvoicing.default_vat_rate")))
        return [VatPart(rate=rate, gross=note.amount, name=name)]
    parts, left = [], note.amount
    ordered = sorted(rates.items(), key=lambda item: -item[0])
    for index, (rate, amount) in enumerate(ordered):
        share = left if index == len(ordered) - 1 else \
            (note.amount * amount / invoiced).quantize(Decimal("0.01"))
        left -= share
        if share > 0:
            parts.append(VatPart(rate=rate, gross=share, name=name))
    return parts


def credit_note_data(note: CreditNote) -> CreditNoteData:
    customer = note.customer
    seller, buyer = seller_party(), buyer_party(customer)
    company = company_details()
    row = peppol_row(customer)
    invoice = note.invoice
    with force_locale(language_locale(customer.language)):
        name = (note.reason or "").strip()[:200] or _("Credit note %(number)s", number=note.number)
        data = CreditNoteData(
            number=note.number, issue_date=note.issue_date, seller=seller, buyer=buyer,
            buyer_reference=(row.buyer_reference if row and row.buyer_reference else
                             customer.number),
            parts=vat_parts(note, name), currency=invoice.currency if invoice else "EUR",
            note=(note.reason or "").strip()[:1000] or None,
            invoice_number=invoice.number if invoice else None,
            invoice_date=invoice.issue_date if invoice else None,
            iban=company.get("iban"), bic=company.get("bic") or None,
            payment_id=format_ogm(invoice.structured_reference)
            if invoice is not None and invoice.structured_reference else None,
            pdf_name=f"{note.number}.pdf")
        data.pdf = credit_note_pdf(data, customer.language)
    return data


def credit_note_xml(note: CreditNote) -> bytes:
    """The e-invoice of one credit note (not validated). Raises ValidationError."""
    if not note.customer.is_business:
        raise ValidationError({"customer": _(
            "Credit note %(number)s is for a private person: e-invoices are for businesses.",
            number=note.number)})
    if note.status not in ISSUED_STATUSES:
        raise ValidationError({"credit_note": _(
            "Credit note %(number)s is not approved yet.", number=note.number)})
    return build_credit_note(credit_note_data(note))


def existing_document(note: CreditNote) -> EDocument | None:
    return db.session.scalar(select(EDocument).where(EDocument.direction == "out",
                                                     EDocument.credit_note_id == note.id))


def produce_credit_note_documents(notes: list[CreditNote]) -> list[EDocument]:
    """Build and validate the e-invoices of ``notes`` (one validator call); caller commits.

    A note whose document was already handed over is left alone; a held one is rebuilt (after
    staff fixed the data). A note that cannot be built (no Peppol address) gets a held
    document with the reason, so staff see it."""
    built: list[tuple[CreditNote, EDocument, bytes]] = []
    documents = []
    for note in notes:
        document = existing_document(note)
        if document is not None and document.status not in ("held", "ready"):
            documents.append(document)
            continue
        if document is None:
            document = EDocument(direction="out", doc_type="credit_note", number=note.number,
                                 sender="", customer_id=note.customer_id, credit_note_id=note.id,
                                 invoice_id=note.invoice_id, status="held")
            db.session.add(document)
        documents.append(document)
        try:
            xml = credit_note_xml(note)
        except ValidationError as refused:
            _hold(document, [NOT_BUILT_RULE], " ".join(_messages(refused)))
            continue
        document.xml = xml.decode()
        built.append((note, document, xml))
    try:
        results = validate_documents([xml for _n, _d, xml in built])
    except ValidatorUnavailable as missing:
        for _note, document, _xml in built:
            _hold(document, [KIT_UNAVAILABLE_RULE], str(missing))
        return documents
    for (_note, document, _xml), result in zip(built, results, strict=True):
        if result.valid:
            document.status, document.failed_rules, document.note = "ready", [], None
        else:
            _hold(document, result.failed_rules, None)
        document.findings = result.findings
    db.session.flush()
    return documents


def _hold(document: EDocument, rules: list[str], note: str | None) -> None:
    document.status, document.failed_rules, document.note = "held", rules, note
    document.updated_at = utcnow()


def _messages(error: ValidationError) -> list[str]:
    found = []
    for value in (error.errors if hasattr(error, "errors") else {}).values():
        found.extend(value if isinstance(value, list) else [value])
    return [str(m) for m in found] or [str(error)]


def credit_notes_without_document(limit: int = 200) -> list[CreditNote]:
    """Approved credit notes of business customers that have no e-invoice yet."""
    done = select(EDocument.credit_note_id).where(EDocument.direction == "out",
                                                  EDocument.credit_note_id.is_not(None))
    return list(db.session.scalars(
        select(CreditNote).join(Customer, CreditNote.customer_id == Customer.id)
        .where(Customer.kind == "company", CreditNote.status.in_(ISSUED_STATUSES),
               CreditNote.id.not_in(done))
        .order_by(CreditNote.id).limit(limit)))
