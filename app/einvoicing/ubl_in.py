"""Reading Peppol BIS 3.0 UBL Invoices and Credit Notes, safely, into plain records.

Parsed with lxml without DTDs, entities or network (a document with a DOCTYPE is refused), with
a size limit. Only what CreditDesk keeps is read: number, dates, currency, amounts, VAT lines,
the buyer (our customer), the payment reference and the embedded PDF. Problems are reported
per field in the words staff and ERP developers know (the UBL element name).
"""
from __future__ import annotations

import base64
import binascii
import threading
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import lru_cache

from flask_babel import gettext as _
from lxml import etree

from app.core.validation import ValidationError
from app.einvoicing.identifiers import belgian_enterprise_number, with_country_prefix
from app.einvoicing.ubl_out import NS_CAC, NS_CBC, NS_CN, NS_INV
from app.invoices.references import InvalidReference, normalise_ogm, normalise_rf

MAX_DOCUMENT_BYTES = 20 * 1024 * 1024
NS = {"cbc": NS_CBC, "cac": NS_CAC}
ROOTS = {f"{{{NS_INV}}}Invoice": "invoice", f"{{{NS_CN}}}CreditNote": "credit_note"}
CENT = Decimal("0.01")
# Without a due date (BT-9), an invoice is due after the Belgian B2B default term.
DEFAULT_TERM_DAYS = 30


def _parser() -> etree.XMLParser:
    """One parser per thread (an lxml parser is not shared between threads), made once."""
    parser = getattr(_parsers, "parser", None)
    if parser is None:
        parser = _parsers.parser = etree.XMLParser(
            resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False,
            huge_tree=False, remove_comments=True)
    return parser


_parsers = threading.local()


@lru_cache(maxsize=256)
def _path(path: str) -> str:
    """``cac:Party/cbc:Name`` in Clark notation (``{urn...}Party/{urn...}Name``), worked out
    once per path: lxml then needs no prefix map per call."""
    return "/".join(f"{{{NS[step.split(':', 1)[0]]}}}{step.split(':', 1)[1]}"
                    if ":" in step else step for step in path.split("/"))


@dataclass
class Line:
    description: str
    quantity: Decimal
    unit_price: Decimal
    vat_rate: Decimal
    net: Decimal

    @property
    def gross(self) -> Decimal:
        return (self.net * (100 + self.vat_rate) / 100).quantize(CENT, ROUND_HALF_UP)


@dataclass
class Buyer:
    name: str
    country: str | None
    vat: str | None
    endpoint: str | None
    street: str | None = None
    city: str | None = None
    postal_code: str | None = None


@dataclass
class UblDocument:
    kind: str  # "invoice" | "credit_note"
    number: str
    issue_date: date
    due_date: date
    currency: str
    total: Decimal  # BT-112, with VAT
    payable: Decimal  # BT-115
    buyer: Buyer
    lines: list[Line] = field(default_factory=list)
    structured_reference: str | None = None  # 12 digits
    rf_reference: str | None = None
    invoice_reference: str | None = None  # a credit note's BillingReference
    pdf: bytes | None = None
    seller_endpoint: str = ""  # "scheme:value" (BT-34)
    seller_vat: str | None = None  # BT-31, with its country prefix
    seller_legal_id: str | None = None  # BT-30 (the enterprise number in Belgium)


def parse_xml(data: bytes) -> etree._Element:
    """The root element, or ValidationError (not XML, DOCTYPE/entities, too large)."""
    if len(data) > MAX_DOCUMENT_BYTES:
        raise ValidationError({"file": _("The document is too large: at most %(n)s MB.",
                                         n=MAX_DOCUMENT_BYTES // (1024 * 1024))})
    try:
        tree = etree.fromstring(data, _parser()).getroottree()
    except etree.XMLSyntaxError as exc:
        raise ValidationError({"file": _("Not a well-formed XML document: %(error)s",
                                         error=str(exc)[:200])}) from None
    if tree.docinfo.doctype or tree.docinfo.internalDTD is not None:
        raise ValidationError({"file": _("The document declares a DTD or entities: refused.")})
    return tree.getroot()


def read_document(data: bytes) -> UblDocument:
    root = parse_xml(data)
    kind = ROOTS.get(root.tag)
    if kind is None:
        raise ValidationError({"file": _(
            "Not a UBL Invoice or Credit Note (the root element is %(root)s).",
            root=etree.QName(root).localname)})
    problems: dict[str, list[str]] = {}

    def need(path: str) -> str:
        value = (root.findtext(_path(path)) or "").strip()
        if not value:
            problems.setdefault(path.rsplit("/", 1)[-1], []).append(_("Missing."))
        return value

    number = need("cbc:ID")
    issue_date = _date(need("cbc:IssueDate"), "IssueDate", problems)
    due_text = (root.findtext(_path("cbc:DueDate")) or "").strip()
    due_date = _date(due_text, "DueDate", problems) if due_text else \
        (issue_date + timedelta(days=DEFAULT_TERM_DAYS) if issue_date and kind == "invoice"
         else issue_date)
    currency = need("cbc:DocumentCurrencyCode").upper()
    total = _amount(need("cac:LegalMonetaryTotal/cbc:TaxInclusiveAmount"),
                    "TaxInclusiveAmount", problems)
    payable = _amount(need("cac:LegalMonetaryTotal/cbc:PayableAmount"), "PayableAmount",
                      problems)
    buyer = _buyer(root, problems)
    seller_party = root.find(_path("cac:AccountingSupplierParty/cac:Party"))
    seller = seller_party.find(_path("cbc:EndpointID")) if seller_party is not None else None
    document = UblDocument(
        kind=kind, number=number[:40], issue_date=issue_date, due_date=due_date,
        currency=currency, total=total, payable=payable, buyer=buyer,
        lines=_lines(root, kind, problems),
        invoice_reference=(root.findtext(_path(
            "cac:BillingReference/cac:InvoiceDocumentReference/cbc:ID")) or "").strip() or None,
        pdf=_pdf(root, problems),
        seller_endpoint=f"{seller.get('schemeID')}:{(seller.text or '').strip()}"
        if seller is not None else "")
    if seller_party is not None:
        document.seller_vat = _vat_of(seller_party)
        document.seller_legal_id = (seller_party.findtext(
            _path("cac:PartyLegalEntity/cbc:CompanyID")) or "").strip() or None
    _payment_reference(root, document, problems)
    if len(number) > 40:
        problems.setdefault("ID", []).append(_("At most 40 characters."))
    if problems:
        raise ValidationError(problems)
    return document


def _vat_of(party) -> str | None:
    """The party's VAT number (the PartyTaxScheme whose scheme is VAT), country prefix first."""
    for scheme in party.iterfind(_path("cac:PartyTaxScheme")):
        if (scheme.findtext(_path("cac:TaxScheme/cbc:ID")) or "").strip() == "VAT":
            country = (party.findtext(_path(
                "cac:PostalAddress/cac:Country/cbc:IdentificationCode")) or "").strip().upper() or None
            return with_country_prefix(scheme.findtext(_path("cbc:CompanyID")), country)
    return None


def _date(text: str, name: str, problems: dict) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        problems.setdefault(name, []).append(_("Not a date (YYYY-MM-DD): %(value)s",
                                               value=text[:20]))
        return None


def _amount(text: str, name: str, problems: dict) -> Decimal:
    if not text:
        return Decimal(0)
    try:
        return Decimal(text).quantize(CENT, ROUND_HALF_UP)
    except InvalidOperation:
        problems.setdefault(name, []).append(_("Not an amount: %(value)s", value=text[:20]))
        return Decimal(0)


def _buyer(root, problems: dict) -> Buyer:
    party = root.find(_path("cac:AccountingCustomerParty/cac:Party"))
    if party is None:
        problems.setdefault("AccountingCustomerParty", []).append(_("Missing."))
        return Buyer(name="", country=None, vat=None, endpoint=None)

    def text(path: str) -> str | None:
        return (party.findtext(_path(path)) or "").strip() or None

    country = (text("cac:PostalAddress/cac:Country/cbc:IdentificationCode") or "").upper() or None
    endpoint = party.find(_path("cbc:EndpointID"))
    vat = with_country_prefix(text("cac:PartyTaxScheme/cbc:CompanyID"), country)
    endpoint_text = f"{endpoint.get('schemeID')}:{(endpoint.text or '').strip()}" \
        if endpoint is not None and (endpoint.text or "").strip() else None
    if vat is None and endpoint_text and endpoint_text.startswith("0208:"):
        number = belgian_enterprise_number(endpoint_text[5:])
        vat = f"BE{number}" if number else None
    name = text("cac:PartyLegalEntity/cbc:RegistrationName") or text("cac:PartyName/cbc:Name")
    if not name:
        problems.setdefault("RegistrationName", []).append(_("The buyer has no name."))
    if not (vat or endpoint_text):
        problems.setdefault("AccountingCustomerParty", []).append(_(
            "The buyer has neither a VAT number nor an endpoint id: it cannot be matched to a "
            "customer."))
    return Buyer(name=name or "", country=country, vat=vat, endpoint=endpoint_text,
                 street=text("cac:PostalAddress/cbc:StreetName"),
                 city=text("cac:PostalAddress/cbc:CityName"),
                 postal_code=text("cac:PostalAddress/cbc:PostalZone"))


def _lines(root, kind: str, problems: dict) -> list[Line]:
    tag, quantity_tag = ("cac:InvoiceLine", "cbc:InvoicedQuantity") if kind == "invoice" \
        else ("cac:CreditNoteLine", "cbc:CreditedQuantity")
    lines = []
    for element in root.iterfind(_path(tag)):
        def text(path: str, default: str = "0", element=element) -> str:
            return (element.findtext(_path(path)) or default).strip()

        lines.append(Line(
            description=(text("cac:Item/cbc:Name", "") or text("cac:Item/cbc:Description", "")
                         or "-")[:300],
            quantity=_amount(text(quantity_tag, "1"), quantity_tag[4:], problems),
            unit_price=_amount(text("cac:Price/cbc:PriceAmount"), "PriceAmount", problems),
            vat_rate=_amount(text("cac:Item/cac:ClassifiedTaxCategory/cbc:Percent"), "Percent",
                             problems),
            net=_amount(text("cbc:LineExtensionAmount"), "LineExtensionAmount", problems)))
    return lines


def _pdf(root, problems: dict) -> bytes | None:
    for element in root.iterfind(_path("cac:AdditionalDocumentReference/cac:Attachment/"
                                       "cbc:EmbeddedDocumentBinaryObject")):
        if element.get("mimeCode") != "application/pdf":
            continue
        try:
            return base64.b64decode((element.text or "").strip(), validate=True)
        except (binascii.Error, ValueError):
            problems.setdefault("EmbeddedDocumentBinaryObject", []).append(
                _("The embedded PDF is not valid base64."))
    return None


def _payment_reference(root, document: UblDocument, problems: dict) -> None:
    """PaymentID (BT-83): a Belgian structured communication or an RF creditor reference is
    checked (wrong check digits: refused); any other text is the ERP's own and ignored."""
    payment_id = (root.findtext(_path("cac:PaymentMeans/cbc:PaymentID")) or "").strip()
    if not payment_id:
        return
    compact = payment_id.replace(" ", "").upper()
    try:
        if compact.startswith("RF"):
            document.rf_reference = normalise_rf(compact)
            body = document.rf_reference[4:]
            if len(body) == 12 and body.isdigit():
                document.structured_reference = normalise_ogm(body)
        elif compact.strip("+*").replace("/", "").isdigit() and \
                len(compact.strip("+*").replace("/", "")) == 12:
            document.structured_reference = normalise_ogm(compact)
    except InvalidReference:
        problems.setdefault("PaymentID", []).append(_(
            "Not a valid structured communication or RF reference: %(value)s",
            value=payment_id[:40]))
