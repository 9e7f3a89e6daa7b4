"""Handing valid e-documents to a delivery channel, and what the channels report back.

An e-invoice leaves through the notification outbox (app.notifications): one Message per
document on channel "peppol" (an access-point plugin) or "export" (a folder the company's own
ERP sends from), so retries, idempotency and the delivery log are the outbox's. The channel
plugins call ``document_for_message`` / ``record_handover`` / ``record_failure`` here.
"""
from __future__ import annotations

from flask_babel import gettext as _
from sqlalchemy import select

from app.core.models import utcnow
from app.core.settings import get_setting
from app.core.validation import ValidationError
from app.einvoicing.models import CustomerPeppol, EDocument
from app.einvoicing.outgoing import customer_endpoint, produce_credit_note_documents
from app.extensions import db
from app.notifications.models import Message

E_INVOICE_EVENT = "e_invoice"


def rebuild(documents: list[EDocument]) -> dict[str, int]:
    """Staff's "build and validate again" on outgoing documents not yet handed over."""
    notes = [d.credit_note for d in documents
             if d.direction == "out" and d.credit_note is not None and d.status in ("held", "ready")]
    produced = produce_credit_note_documents(notes)
    db.session.commit()
    return {"ready": sum(d.status == "ready" for d in produced),
            "held": sum(d.status == "held" for d in produced)}


def channel_for(document: EDocument) -> str:
    customer = document.customer
    if customer is not None and customer.delivery_channel == "peppol":
        return "peppol"
    return str(get_setting("einvoicing.delivery_channel") or "peppol")


def queue_delivery(document: EDocument) -> Message:
    """Hand a valid document to its channel (one outbox message, never two). Caller commits,
    then calls ``app.notifications.outbox.enqueue_delivery([message.id])``."""
    if document.direction != "out" or document.status not in ("ready", "queued", "failed"):
        raise ValidationError({"document": _(
            "E-invoice %(number)s cannot be sent: only a document that passed validation can.",
            number=document.number)})
    channel = channel_for(document)
    key = f"e_document:{document.id}:{channel}"
    message = db.session.scalar(select(Message).where(Message.idempotency_key == key))
    if message is None:
        recipient = str(customer_endpoint(document.customer)) if channel == "peppol" \
            else f"{document.number}.xml"
        message = Message(customer_id=document.customer_id, channel=channel, recipient=recipient,
                          language=document.customer.language if document.customer else "en",
                          event=E_INVOICE_EVENT, subject=document.number,
                          body_text=f"{document.doc_type} {document.number}",
                          attachments=[{"e_document_id": document.id}], status="queued",
                          idempotency_key=key, next_attempt_at=utcnow())
        db.session.add(message)
        db.session.flush()
    elif message.status == "failed":  # staff send again after fixing the cause
        message.status, message.next_attempt_at, message.error = "queued", utcnow(), None
    document.status, document.channel, document.message_id = "queued", channel, message.id
    return message


def send(documents: list[EDocument]) -> dict:
    """Staff's "send": queue each valid document; the others are named in ``refused``."""
    from app.notifications.outbox import enqueue_delivery

    queued, refused = [], []
    for document in documents:
        try:
            queued.append(queue_delivery(document))
        except ValidationError as error:
            refused.extend(m for messages in error.errors.values() for m in messages)
    db.session.commit()
    enqueue_delivery([m.id for m in queued])
    return {"queued": len(queued), "refused": refused}


# --- what the channel plugins call -------------------------------------------------------------

def document_for_message(message: Message) -> EDocument | None:
    for item in message.attachments or []:
        if isinstance(item, dict) and item.get("e_document_id"):
            return db.session.get(EDocument, int(item["e_document_id"]))
    return None


def record_handover(document: EDocument, ap_message_id: str | None, ap_status: str | None,
                    *, delivered: bool = False) -> None:
    """The channel took the document (the outbox commits with the message's outcome)."""
    document.ap_message_id = ap_message_id or document.ap_message_id
    document.ap_status = ap_status
    document.status = "delivered" if delivered else "sent"
    document.sent_at = document.sent_at or utcnow()


def record_failure(document: EDocument, ap_status: str | None, reason: str) -> None:
    document.status, document.ap_status = "failed", ap_status
    document.note = reason[:2000]


def record_reachability(customer_id: int, reachable: bool) -> None:
    row = db.session.scalar(select(CustomerPeppol).where(CustomerPeppol.customer_id == customer_id))
    if row is None:
        row = CustomerPeppol(customer_id=customer_id)
        db.session.add(row)
    row.reachable, row.reachable_checked_at = reachable, utcnow()


# Sent documents a customer may download: validated, never the held ones (they do not validate).
DOWNLOADABLE_STATUSES = ("ready", "queued", "sent", "delivered", "failed")


def _downloadable(customer_id: int):
    return (EDocument.direction == "out", EDocument.doc_type == "invoice",
            EDocument.customer_id == customer_id,
            EDocument.status.in_(DOWNLOADABLE_STATUSES), EDocument.xml.is_not(None))


def has_ubl_column(customer_id: int):
    """A column to add to a SELECT of the customer's invoices: whether a downloadable UBL exists
    for the row's invoice (a correlated EXISTS on e_document's invoice index), so a page of
    invoices needs no query of its own for it."""
    from app.invoices.models import Invoice

    return (select(EDocument.id).where(EDocument.invoice_id == Invoice.id,
                                       *_downloadable(customer_id))
            .correlate(Invoice).exists().label("has_ubl"))


def invoices_with_ubl(customer_id: int, invoice_ids: list[int]) -> set[int]:
    """Which of these invoices of the customer have a downloadable UBL (one query)."""
    if not invoice_ids:
        return set()
    return set(db.session.scalars(select(EDocument.invoice_id).where(
        EDocument.invoice_id.in_(invoice_ids), *_downloadable(customer_id))))


def invoice_ubl(customer_id: int, invoice_id: int) -> bytes | None:
    """The Peppol UBL of this customer's invoice, when an e-invoice document was made for it
    (the latest), else None. Scoped: another customer's invoice id gives None."""
    xml = db.session.scalar(
        select(EDocument.xml).where(EDocument.invoice_id == invoice_id,
                                    *_downloadable(customer_id))
        .order_by(EDocument.id.desc()).limit(1))
    return xml.encode("utf-8") if xml else None


# --- a customer's Peppol address, set by staff (Receivables -> Peppol addresses) -----------------

def check_scheme(value: str) -> None:
    """A scheme (EAS code) is 4 digits; ValueError(message) otherwise (a form field's check)."""
    if not value.strip().isdigit() or len(value.strip()) != 4:
        raise ValueError(_("A scheme is a 4-digit code, e.g. 0208 or 9925."))


def save_peppol_address(row: CustomerPeppol | None, customer, scheme: str | None,
                        endpoint_id: str | None, buyer_reference: str | None) -> CustomerPeppol:
    """Add (``row`` None) or change a customer's Peppol address: scheme and identifier both or
    neither (neither: derived from the VAT number), valid as access points require. A changed
    address is asked about again (reachability unknown). ValidationError (per field) when
    refused: nothing changes. The caller commits."""
    from app.einvoicing.identifiers import Endpoint, IdentifierError, check_endpoint

    if customer is None:
        raise ValidationError({"customer": [_("Choose a customer.")]})
    scheme = (scheme or "").strip() or None
    endpoint_id = (endpoint_id or "").strip() or None
    if scheme:
        try:
            check_scheme(scheme)
        except ValueError as exc:
            raise ValidationError({"endpoint_scheme": [str(exc)]}) from None
    if bool(scheme) != bool(endpoint_id):
        raise ValidationError({"endpoint_id": [
            _("Enter both the scheme and the identifier, or neither.")]})
    if scheme:
        try:
            check_endpoint(Endpoint(scheme, endpoint_id))
        except IdentifierError:
            raise ValidationError({"endpoint_id": [_(
                "The Peppol identifier %(endpoint)s is not valid.",
                endpoint=f"{scheme}:{endpoint_id}")]}) from None
    reference = (buyer_reference or "").strip() or None
    other = db.session.scalar(select(CustomerPeppol.id).where(
        CustomerPeppol.customer_id == customer.id))
    if other is not None and (row is None or other != row.id):
        raise ValidationError({"customer": [_(
            "This customer already has a Peppol address: change that one.")]})
    if row is None:
        row = CustomerPeppol(customer=customer, customer_id=customer.id, endpoint_scheme=scheme,
                             endpoint_id=endpoint_id, buyer_reference=reference)
        db.session.add(row)
        return row
    if (row.endpoint_scheme, row.endpoint_id, row.customer_id) != \
            (scheme, endpoint_id, customer.id):
        row.reachable, row.reachable_checked_at = None, None  # a new address: ask again
    row.customer, row.customer_id = customer, customer.id
    row.endpoint_scheme, row.endpoint_id = scheme, endpoint_id
    row.buyer_reference = reference
    return row
