"""Peppol BIS Invoice Response 3 (ApplicationResponse) in: the buyer's system answers our invoice.

What each status code does (UNCL4343 subset of the BIS):
- UQ (under query), RE (rejected): a dispute is opened on that invoice with the buyer's reason
  (app.requests.disputes): reminders stop for it at once and staff see it in the request queue;
- PD (paid): reminders of that invoice are held for ``einvoicing.paid_hold_days`` while the bank
  line arrives (app.dunning.holds);
- AB (acknowledged), IP (in process), AP (accepted), CA (conditionally accepted): recorded, shown
  on the customer's timeline.
An answer about an invoice we do not know is kept for review, never lost. The same response
received twice (the access point's webhook retried, a re-upload) is applied once.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from app.core.settings import get_setting
from app.core.time import business_today
from app.core.validation import ValidationError
from app.customers.models import Customer
from app.dunning.holds import hold_reminders
from app.einvoicing import settings as _settings  # noqa: F401  (declares paid_hold_days)
from app.einvoicing.models import EDocument
from app.einvoicing.ubl_in import NS, parse_xml
from app.einvoicing.validation import ValidatorUnavailable, validate_documents
from app.extensions import db
from app.invoices.models import Invoice
from app.requests.disputes import open_dispute

ROOT = "{urn:oasis:names:specification:ubl:schema:xsd:ApplicationResponse-2}ApplicationResponse"
RESPONSE_CODES = {
    "AB": _l("Acknowledged by the buyer"), "IP": _l("In process at the buyer"),
    "UQ": _l("Under query by the buyer"), "CA": _l("Conditionally accepted by the buyer"),
    "RE": _l("Rejected by the buyer"), "AP": _l("Accepted by the buyer"),
    "PD": _l("Paid, says the buyer"),
}
DISPUTING = ("UQ", "RE")


@dataclass
class InvoiceResponse:
    number: str
    sender: str
    code: str
    invoice_number: str
    reason: str


def read_response(data: bytes) -> InvoiceResponse:
    root = parse_xml(data)
    if root.tag != ROOT:
        raise ValidationError({"file": _("Not a Peppol invoice response (ApplicationResponse).")})

    def text(path: str) -> str:
        return (root.findtext(path, namespaces=NS) or "").strip()

    sender = root.find("cac:SenderParty/cbc:EndpointID", NS)
    response = "cac:DocumentResponse/cac:Response/"
    reasons = [text(response + "cbc:Description")]
    for status in root.iterfind(response + "cac:Status", NS):
        reasons.append((status.findtext("cbc:StatusReason", namespaces=NS) or "").strip())
        code = (status.findtext("cbc:StatusReasonCode", namespaces=NS) or "").strip()
        if code:
            reasons.append(f"[{code}]")
        for condition in status.iterfind("cac:Condition", NS):
            attribute = (condition.findtext("cbc:AttributeID", namespaces=NS) or "").strip()
            wanted = (condition.findtext("cbc:Description", namespaces=NS) or "").strip()
            if attribute or wanted:
                reasons.append(f"{attribute}: {wanted}".strip(": "))
    found = InvoiceResponse(
        number=text("cbc:ID"), code=text(response + "cbc:ResponseCode").upper(),
        sender=f"{sender.get('schemeID')}:{(sender.text or '').strip()}"
        if sender is not None else "",
        invoice_number=text("cac:DocumentResponse/cac:DocumentReference/cbc:ID"),
        reason=" ".join(r for r in reasons if r)[:2000])
    problems = {}
    if not found.number:
        problems["ID"] = [_("Missing.")]
    if found.code not in RESPONSE_CODES:
        problems["ResponseCode"] = [_("Unknown response code %(code)s.", code=found.code[:10])]
    if not found.invoice_number:
        problems["DocumentReference"] = [_("The invoice it answers is not named.")]
    if problems:
        raise ValidationError(problems)
    return found


def receive_response(data: bytes, *, schematron: bool = True) -> EDocument:
    """Check, record and apply one invoice response; the caller commits.

    Raises ValidationError (rule ids or fields named) when it is not a valid response; nothing
    is stored then."""
    response = read_response(data)
    if schematron:
        try:
            [result] = validate_documents([data])
        except ValidatorUnavailable as missing:
            raise ValidationError({"validator": [str(missing)[:300]]}) from None
        if not result.valid:
            raise ValidationError(
                {rule: [next((f["text"] for f in result.findings if f["id"] == rule), rule)]
                 for rule in result.failed_rules})
    sender = response.sender[:70]
    existing = db.session.scalar(select(EDocument).where(
        EDocument.direction == "in", EDocument.doc_type == "invoice_response",
        EDocument.number == response.number[:60], EDocument.sender == sender))
    if existing is not None:
        return existing  # a replayed or re-sent response: applied once
    invoice = db.session.scalar(select(Invoice).where(Invoice.number == response.invoice_number))
    document = EDocument(direction="in", doc_type="invoice_response",
                         number=response.number[:60], sender=sender, ap_status=response.code,
                         note=response.reason or None, xml=data.decode("utf-8", "replace"),
                         failed_rules=[], findings=[],
                         customer_id=invoice.customer_id if invoice else None,
                         invoice_id=invoice.id if invoice else None)
    db.session.add(document)
    if invoice is None:
        document.status = "review"
        document.note = _("No invoice %(number)s: kept for review. %(reason)s",
                          number=response.invoice_number[:40], reason=response.reason)
        db.session.flush()
        return document
    document.status = "applied"
    db.session.flush()
    _apply(response, invoice, document)
    return document


def _apply(response: InvoiceResponse, invoice: Invoice, document: EDocument) -> None:
    label = str(RESPONSE_CODES[response.code])
    if response.code in DISPUTING:
        customer = db.session.get(Customer, invoice.customer_id)
        text = response.reason or label
        try:
            open_dispute(customer, invoice, None, "other", f"{label}: {text}", channel="peppol")
        except ValidationError as refused:  # e.g. paid meanwhile, or all of it already disputed
            document.status = "review"
            document.note = "; ".join(m for ms in refused.errors.values() for m in ms)
    elif response.code == "PD":
        days = int(get_setting("einvoicing.paid_hold_days"))
        hold_reminders(invoice.customer_id, invoice_ids=[invoice.id],
                       until=business_today() + timedelta(days=days),
                       reason=_("Peppol: the buyer says invoice %(number)s is paid",
                                number=invoice.number),
                       source=f"peppol:response:{document.id}")


def responses_for_timeline(customer_id: int, limit: int) -> list[EDocument]:
    return list(db.session.scalars(
        select(EDocument).where(EDocument.customer_id == customer_id,
                                EDocument.doc_type == "invoice_response")
        .order_by(EDocument.created_at.desc()).limit(limit)))
