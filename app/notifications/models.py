"""Message templates (versioned, staff-edited) and the outbox of every message we send."""
from __future__ import annotations

from datetime import datetime

from flask_appbuilder import Model
from flask_babel import lazy_gettext as _l
from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core.models import UTCDateTime, utcnow

CHANNELS = {"email": _l("E-mail"), "sms": _l("SMS"), "letter": _l("Letter"),
            "webhook": _l("Webhook"),
            # e-invoices (app.einvoicing): a Peppol access point, or a folder the ERP sends from
            "peppol": _l("Peppol"), "export": _l("E-invoice export folder")}
# What a reminder can go by: the e-invoice channels carry documents, never a reminder.
REMINDER_CHANNELS = {code: CHANNELS[code] for code in ("email", "sms", "letter", "webhook")}
MESSAGE_STATUSES = {"queued": _l("Queued"), "sending": _l("Sending"), "sent": _l("Sent"),
                    "failed": _l("Failed"),
                    # a reminder whose invoices were all paid before it could be sent
                    "withdrawn": _l("Withdrawn (paid before sending)")}
PRINT_BATCH_STATUSES = {"open": _l("Collecting letters"), "closed": _l("Sent to the print shop")}


class MessageTemplate(Model):
    __tablename__ = "message_template"
    __table_args__ = (UniqueConstraint("key", "channel", "language", "version"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(60))
    channel: Mapped[str] = mapped_column(String(10), default="email")
    language: Mapped[str] = mapped_column(String(2))
    version: Mapped[int] = mapped_column(Integer, default=1)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    subject: Mapped[str | None] = mapped_column(String(200))
    body_text: Mapped[str] = mapped_column(Text)
    body_html: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("ab_user.id"))

    def __repr__(self) -> str:
        return f"{self.key} [{self.channel}/{self.language}] v{self.version}"


class Message(Model):
    """The outbox: created in the transaction of the event, delivered by a job, never lost."""

    __tablename__ = "message"
    __table_args__ = (Index("ix_message_status_next", "status", "next_attempt_at"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customer.id"), index=True)
    channel: Mapped[str] = mapped_column(String(10))
    recipient: Mapped[str] = mapped_column(String(300))
    language: Mapped[str] = mapped_column(String(2))
    template_id: Mapped[int | None] = mapped_column(ForeignKey("message_template.id"))
    event: Mapped[str] = mapped_column(String(60))
    subject: Mapped[str | None] = mapped_column(String(300))
    body_text: Mapped[str] = mapped_column(Text)
    body_html: Mapped[str | None] = mapped_column(Text)
    attachments: Mapped[list] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(10), default="queued")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    provider_message_id: Mapped[str | None] = mapped_column(String(200))
    error: Mapped[str | None] = mapped_column(Text)
    idempotency_key: Mapped[str] = mapped_column(String(120), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # When a worker took the message (status "sending"): a message left in "sending" for too
    # long belongs to a worker that died mid-send, and the sweep queues it again.
    sending_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The channel plugin that delivered it (e.g. "email_smtp", "local_mailbox").
    provider: Mapped[str | None] = mapped_column(String(60), index=True)
    print_batch_id: Mapped[int | None] = mapped_column(ForeignKey("print_batch.id"), index=True)
    # A message that carries a secret (sign-in link, SMS code...) is stored with the secret
    # hidden; its real subject and text are sealed here (Fernet, app.core.crypto) for the
    # delivery job only, and wiped once delivered or given up (outbox.seal / outbox.revealed).
    sealed_body: Mapped[str | None] = mapped_column(Text, deferred=True)
    customer = relationship("Customer")
    template: Mapped[MessageTemplate | None] = relationship()
    print_batch: Mapped[PrintBatch | None] = relationship(back_populates="messages")

    def __repr__(self) -> str:
        return f"{self.channel} → {self.recipient}"


class PrintBatch(Model):
    """Letters collected for the print shop: one PDF per letter in a folder, downloaded as a zip."""

    __tablename__ = "print_batch"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(40), unique=True)
    status: Mapped[str] = mapped_column(String(10), default="open", index=True)
    folder: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    messages: Mapped[list[Message]] = relationship(back_populates="print_batch")

    @property
    def letter_count(self) -> int:
        return len(self.messages)

    def __repr__(self) -> str:
        return self.name
