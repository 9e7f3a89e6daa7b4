"""Peppol BIS Billing 3.0 UBL 2.1 CreditNote, built from plain data (no database, no Flask).

Valid by construction for what CreditDesk knows about a credit note: one line per VAT rate
(the credit split over the rates of the invoice it credits), the VAT breakdown and totals
computed here from the amounts including VAT, so that BR-CO-10/13/14/15/16/17 hold exactly.
The element order is the UBL 2.1 CreditNote schema's. ``app.einvoicing.validation`` checks
every document with the official validation kit before it may leave.
"""
from __future__ import annotations

import base64
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from lxml import etree

from app.einvoicing.identifiers import Endpoint

CUSTOMIZATION_ID = "urn:cen.eu:en16931:2017#compliant#urn:fdc:peppol.eu:2017:poacc:billing:3.0"
PROFILE_ID = "urn:fdc:peppol.eu:2017:poacc:billing:01:1.0"
NS_CN = "urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2"
NS_INV = "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"
NS_CAC = "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"
NS_CBC = "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"
CENT = Decimal("0.01")
# EU member states: a 0 % line to a VAT-registered buyer in another one is reverse charge (AE).
EU = frozenset(["AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU", "IE", "IT", "LT", "LU", "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK"])


@dataclass
class Party:
    name: str
    endpoint: Endpoint
    country: str
    street: str | None = None
    city: str | None = None
    postal_code: str | None = None
    vat: str | None = None  # with its country prefix
    legal_id: Endpoint | None = None  # e.g. 0208 enterprise number
    email: str | None = None


@dataclass
class VatPart:
    """What is credited at one VAT rate, including VAT."""

    rate: Decimal
    gross: Decimal
    name: str


@dataclass
class CreditNoteData:
    number: str
    issue_date: date
    seller: Party
    buyer: Party
    buyer_reference: str
    parts: list[VatPart]
    currency: str = "EUR"
    note: str | None = None
    invoice_number: str | None = None
    invoice_date: date | None = None
    iban: str | None = None
    bic: str | None = None
    payment_id: str | None = None
    pdf: bytes | None = None
    pdf_name: str | None = None
    vat_exemption_text: str = "Reverse charge"
    due_date: date | None = None  # invoices only
    totals: dict = field(default_factory=dict)


# What differs between the two BIS documents: root, type code, quantity and line element names.
_KINDS = {
    "CreditNote": (NS_CN, "CreditNoteTypeCode", "381", "CreditNoteLine", "CreditedQuantity"),
    "Invoice": (NS_INV, "InvoiceTypeCode", "380", "InvoiceLine", "InvoicedQuantity"),
}


def _cbc(parent, tag: str, text, **attrs):
    element = etree.SubElement(parent, f"{{{NS_CBC}}}{tag}", attrs)
    element.text = str(text)
    return element


def _cac(parent, tag: str):
    return etree.SubElement(parent, f"{{{NS_CAC}}}{tag}")


def _amount(value: Decimal) -> str:
    return str(value.quantize(CENT, ROUND_HALF_UP))


def split_vat(gross: Decimal, rate: Decimal) -> tuple[Decimal, Decimal]:
    """(net, VAT) of an amount including VAT: net rounded to the cent, VAT the rest."""
    net = (gross * 100 / (100 + rate)).quantize(CENT, ROUND_HALF_UP)
    return net, gross - net


def vat_category(rate: Decimal, seller: Party, buyer: Party) -> str:
    if rate > 0:
        return "S"
    if buyer.vat and seller.vat and buyer.country != seller.country \
            and buyer.country in EU and seller.country in EU:
        return "AE"
    return "Z"


def build_credit_note(data: CreditNoteData) -> bytes:
    """The UBL CreditNote as UTF-8 bytes (with XML declaration)."""
    return build_document(data, "CreditNote")


def build_invoice(data: CreditNoteData) -> bytes:
    """The same data as a UBL Invoice (round trips of the import, the benchmark)."""
    return build_document(data, "Invoice")


def build_document(data: CreditNoteData, kind: str) -> bytes:
    namespace, type_tag, type_code, _line, _quantity = _KINDS[kind]
    root = etree.Element(f"{{{namespace}}}{kind}",
                         nsmap={None: namespace, "cac": NS_CAC, "cbc": NS_CBC})
    _cbc(root, "CustomizationID", CUSTOMIZATION_ID)
    _cbc(root, "ProfileID", PROFILE_ID)
    _cbc(root, "ID", data.number)
    _cbc(root, "IssueDate", data.issue_date.isoformat())
    if kind == "Invoice" and data.due_date:
        _cbc(root, "DueDate", data.due_date.isoformat())
    _cbc(root, type_tag, type_code)
    if data.note:
        _cbc(root, "Note", data.note)
    _cbc(root, "DocumentCurrencyCode", data.currency)
    _cbc(root, "BuyerReference", data.buyer_reference)
    if data.invoice_number:
        reference = _cac(_cac(root, "BillingReference"), "InvoiceDocumentReference")
        _cbc(reference, "ID", data.invoice_number)
        if data.invoice_date:
            _cbc(reference, "IssueDate", data.invoice_date.isoformat())
    if data.pdf:
        document = _cac(root, "AdditionalDocumentReference")
        _cbc(document, "ID", data.number)
        _cbc(_cac(document, "Attachment"), "EmbeddedDocumentBinaryObject",
             base64.b64encode(data.pdf).decode(), mimeCode="application/pdf",
             filename=data.pdf_name or f"{data.number}.pdf")
    _party(_cac(root, "AccountingSupplierParty"), data.seller)
    _party(_cac(root, "AccountingCustomerParty"), data.buyer)
    if data.iban:
        means = _cac(root, "PaymentMeans")
        _cbc(means, "PaymentMeansCode", "30", name="Credit transfer")
        if data.payment_id:
            _cbc(means, "PaymentID", data.payment_id)
        account = _cac(means, "PayeeFinancialAccount")
        _cbc(account, "ID", data.iban)
        _cbc(account, "Name", data.seller.name)
        if data.bic:
            _cbc(_cac(account, "FinancialInstitutionBranch"), "ID", data.bic)
    _totals(root, data, kind)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def _party(holder, party: Party) -> None:
    element = _cac(holder, "Party")
    _cbc(element, "EndpointID", party.endpoint.value, schemeID=party.endpoint.scheme)
    _cbc(_cac(element, "PartyName"), "Name", party.name)
    address = _cac(element, "PostalAddress")
    if party.street:
        _cbc(address, "StreetName", party.street)
    if party.city:
        _cbc(address, "CityName", party.city)
    if party.postal_code:
        _cbc(address, "PostalZone", party.postal_code)
    _cbc(_cac(address, "Country"), "IdentificationCode", party.country)
    if party.vat:
        scheme = _cac(element, "PartyTaxScheme")
        _cbc(scheme, "CompanyID", party.vat)
        _cbc(_cac(scheme, "TaxScheme"), "ID", "VAT")
    legal = _cac(element, "PartyLegalEntity")
    _cbc(legal, "RegistrationName", party.name)
    if party.legal_id:
        _cbc(legal, "CompanyID", party.legal_id.value, schemeID=party.legal_id.scheme)
    if party.email:
        _cbc(_cac(element, "Contact"), "ElectronicMail", party.email)


def _tax_category(parent, tag: str, category: str, rate: Decimal, exemption: str | None) -> None:
    element = _cac(parent, tag)
    _cbc(element, "ID", category)
    _cbc(element, "Percent", _amount(rate))
    if exemption and tag == "TaxCategory":
        _cbc(element, "TaxExemptionReasonCode", "VATEX-EU-AE")
        _cbc(element, "TaxExemptionReason", exemption)
    _cbc(_cac(element, "TaxScheme"), "ID", "VAT")


def _totals(root, data: CreditNoteData, kind: str) -> None:
    _ns, _type, _code, line_tag, quantity_tag = _KINDS[kind]
    currency = {"currencyID": data.currency}
    lines, breakdown = [], {}
    for part in data.parts:
        net, _vat = split_vat(part.gross, part.rate)
        category = vat_category(part.rate, data.seller, data.buyer)
        lines.append((part, net, category))
        key = (category, part.rate)
        taxable, gross = breakdown.get(key, (Decimal(0), Decimal(0)))
        breakdown[key] = (taxable + net, gross + part.gross)
    total_net = sum((net for _p, net, _c in lines), Decimal(0))
    total_gross = sum((p.gross for p in data.parts), Decimal(0))
    tax_total = _cac(root, "TaxTotal")
    _cbc(tax_total, "TaxAmount", _amount(total_gross - total_net), **currency)
    for (category, rate), (taxable, gross) in breakdown.items():
        subtotal = _cac(tax_total, "TaxSubtotal")
        _cbc(subtotal, "TaxableAmount", _amount(taxable), **currency)
        _cbc(subtotal, "TaxAmount", _amount(gross - taxable), **currency)
        _tax_category(subtotal, "TaxCategory", category, rate,
                      data.vat_exemption_text if category == "AE" else None)
    monetary = _cac(root, "LegalMonetaryTotal")
    _cbc(monetary, "LineExtensionAmount", _amount(total_net), **currency)
    _cbc(monetary, "TaxExclusiveAmount", _amount(total_net), **currency)
    _cbc(monetary, "TaxInclusiveAmount", _amount(total_gross), **currency)
    _cbc(monetary, "PayableAmount", _amount(total_gross), **currency)
    data.totals = {"net": total_net, "vat": total_gross - total_net, "gross": total_gross}
    for position, (part, net, category) in enumerate(lines, start=1):
        line = _cac(root, line_tag)
        _cbc(line, "ID", position)
        _cbc(line, quantity_tag, "1", unitCode="C62")
        _cbc(line, "LineExtensionAmount", _amount(net), **currency)
        item = _cac(line, "Item")
        _cbc(item, "Name", part.name[:200])
        _tax_category(item, "ClassifiedTaxCategory", category, part.rate, None)
        _cbc(_cac(line, "Price"), "PriceAmount", _amount(net), **currency)
