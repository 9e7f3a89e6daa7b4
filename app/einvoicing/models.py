"""E-invoicing rows: a customer's Peppol address, and every e-document sent or received."""
from __future__ import annotations

from datetime import datetime

from flask_appbuilder import Model
from flask_babel import lazy_gettext as _l
from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, deferred, mapped_column, relationship

from app.core.models import TimestampMixin, UTCDateTime

E_DOCUMENT_STATUSES = {
    # out
    "held": _l("Held: does not validate"),
    "ready": _l("Valid, waiting to be sent"),
    "queued": _l("Handed to the delivery channel"),
    "sent": _l("Sent"),
    "delivered": _l("Delivered"),
    "failed": _l("Delivery failed"),
    # in
    "imported": _l("Imported"),
    "applied": _l("Applied"),
    "review": _l("Kept for review"),
}
E_DOCUMENT_TYPES = {"credit_note": _l("Credit note"), "invoice": _l("Invoice"),
                    "invoice_response": _l("Invoice response"),
                    # bookkeeping rows of the access point's webhook calls and polled inbox
                    "webhook_event": _l("Access point notification"),
                    "ap_inbox_item": _l("Access point document")}
DIRECTIONS = {"out": _l("Sent"), "in": _l("Received")}


class CustomerPeppol(TimestampMixin, Model):
    """Where a business customer receives e-invoices; without a row, derived from its VAT."""

    __tablename__ = "customer_peppol"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"), unique=True)
    endpoint_scheme: Mapped[str | None] = mapped_column(String(4))
    endpoint_id: Mapped[str | None] = mapped_column(String(60))
    # BT-10: what the buyer wants quoted (their reference); the customer number by default.
    buyer_reference: Mapped[str | None] = mapped_column(String(100))
    # The access point's answer to "is this participant on Peppol?" (None: never asked).
    reachable: Mapped[bool | None] = mapped_column(Boolean)
    reachable_checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    customer = relationship("Customer")

    def __repr__(self) -> str:
        return f"{self.endpoint_scheme}:{self.endpoint_id}"


class EDocument(TimestampMixin, Model):
    __tablename__ = "e_document"
    __table_args__ = (UniqueConstraint("direction", "doc_type", "number", "sender",
                                       name="uq_e_document_number"),
                      Index("ix_e_document_status", "direction", "status"))
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    direction: Mapped[str] = mapped_column(String(3))
    doc_type: Mapped[str] = mapped_column(String(20))
    number: Mapped[str] = mapped_column(String(60))
    # The sending party's endpoint ("0208:0123456749"): numbers are unique per sender only.
    sender: Mapped[str] = mapped_column(String(70), default="")
    status: Mapped[str] = mapped_column(String(20))
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customer.id"), index=True)
    credit_note_id: Mapped[int | None] = mapped_column(ForeignKey("credit_note.id"), index=True)
    invoice_id: Mapped[int | None] = mapped_column(ForeignKey("invoice.id"), index=True)
    # Validation: the failed rule ids (shown to staff), and the findings with their texts.
    failed_rules: Mapped[list] = mapped_column(JSON, default=list)
    findings: Mapped[list] = mapped_column(JSON, default=list)
    xml: Mapped[str | None] = deferred(mapped_column(Text))
    channel: Mapped[str | None] = mapped_column(String(10))
    message_id: Mapped[int | None] = mapped_column(ForeignKey("message.id"))
    ap_message_id: Mapped[str | None] = mapped_column(String(200))
    ap_status: Mapped[str | None] = mapped_column(String(60))
    note: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    customer = relationship("Customer")
    credit_note = relationship("CreditNote")
    invoice = relationship("Invoice")

    @property
    def failed_rules_text(self) -> str:
        return ", ".join(self.failed_rules or [])

    def __repr__(self) -> str:
        return f"{self.doc_type} {self.number}"
