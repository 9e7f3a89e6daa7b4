"""Replies read from the AR mailbox, their attachments, the mailbox's state, failing addresses."""
from __future__ import annotations

from datetime import datetime

from flask_appbuilder import Model
from flask_babel import lazy_gettext as _l
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    event,
    update,
)
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from app.core.models import UTCDateTime, utcnow
from app.customers.models import Contact, Customer

# What a message is, decided before anything else (only "human" replies act on anything).
KINDS = {"human": _l("Reply from the customer"), "auto_reply": _l("Automatic reply"),
         "bounce": _l("Delivery failure (bounce)"), "loop": _l("Our own message came back")}
CATEGORIES = {"paid": _l("Already paid"), "dispute": _l("Dispute"),
              "more_time": _l("Needs more time / a plan"),
              "details": _l("Change of details"), "other": _l("Other question")}
# How the customer was found.
TIED_BY = {"token": _l("Reply token"), "thread": _l("Message thread"),
           "sender": _l("Sender address"), "reference": _l("Invoice number or structured "
                                                             "communication"),
           "staff": _l("Chosen by staff"), "none": _l("Not found")}
STATUSES = {"to_review": _l("To review"), "to_read": _l("To read"), "read": _l("Read"),
            "ignored": _l("Nothing to do")}


class InboundMessage(Model):
    """One message read from the mailbox. ``dedupe_key`` (its Message-ID, or a hash of its
    bytes) is unique: a message read again after a crash or a UIDVALIDITY change is not
    stored twice."""

    __tablename__ = "inbound_message"
    __table_args__ = (UniqueConstraint("dedupe_key", name="uq_inbound_message_dedupe"),
                      Index("ix_inbound_message_status", "status", "received_at"),
                      Index("ix_inbound_message_customer", "customer_id", "received_at"))
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dedupe_key: Mapped[str] = mapped_column(String(300))
    mailbox: Mapped[str] = mapped_column(String(100), default="")
    uid_validity: Mapped[int | None] = mapped_column(BigInteger)
    uid: Mapped[int | None] = mapped_column(BigInteger)
    message_id_header: Mapped[str | None] = mapped_column(String(300))
    sender: Mapped[str] = mapped_column(String(300), default="")
    sender_name: Mapped[str | None] = mapped_column(String(200))
    subject: Mapped[str] = mapped_column(String(300), default="")
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    size: Mapped[int] = mapped_column(Integer, default=0)
    # The customer's own words (quotes and our message below them removed), and the whole text.
    text: Mapped[str] = mapped_column(Text, default="")
    full_text: Mapped[str] = mapped_column(Text, default="")
    kind: Mapped[str] = mapped_column(String(12), default="human")
    category: Mapped[str | None] = mapped_column(String(12))
    category_by: Mapped[str | None] = mapped_column(String(10))  # "auto" or "staff"
    matched_words: Mapped[list] = mapped_column(JSON, default=list)
    language: Mapped[str | None] = mapped_column(String(2))
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customer.id"))
    answers_message_id: Mapped[int | None] = mapped_column(ForeignKey("message.id"), index=True)
    tied_by: Mapped[str] = mapped_column(String(10), default="none")
    token_refused: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(10), default="to_review")
    notes: Mapped[list] = mapped_column(JSON, default=list)  # what was noticed, as codes
    answer_id: Mapped[int | None] = mapped_column(ForeignKey("message.id"))
    request_id: Mapped[int | None] = mapped_column(ForeignKey("customer_request.id"))
    hold_id: Mapped[int | None] = mapped_column(ForeignKey("reminder_hold.id"))
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    read_by: Mapped[str | None] = mapped_column(String(100))
    customer = relationship("Customer")
    answers_message = relationship("Message", foreign_keys=[answers_message_id])
    answer = relationship("Message", foreign_keys=[answer_id])
    attachments: Mapped[list[InboundAttachment]] = relationship(
        back_populates="inbound", cascade="all, delete-orphan", order_by="InboundAttachment.id")

    def __repr__(self) -> str:
        return f"reply #{self.id} from {self.sender}"


class InboundAttachment(Model):
    """A file of a reply, kept only after the portal uploads' content checks; or a refusal."""

    __tablename__ = "inbound_attachment"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    inbound_id: Mapped[int] = mapped_column(ForeignKey("inbound_message.id"), index=True)
    file_name: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str | None] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer, default=0)
    sha256: Mapped[str | None] = mapped_column(String(64))
    storage_path: Mapped[str | None] = mapped_column(String(300))  # None: refused
    refusal: Mapped[str | None] = mapped_column(String(300))
    inbound: Mapped[InboundMessage] = relationship(back_populates="attachments")


class MailboxState(Model):
    """Where reading a mailbox stands: the folder's UIDVALIDITY and the last UID taken, and the
    last poll's outcome (shown on Settings → Plugins and on the replies screen)."""

    __tablename__ = "inbound_mailbox"
    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    uid_validity: Mapped[int | None] = mapped_column(BigInteger)
    last_uid: Mapped[int] = mapped_column(BigInteger, default=0)
    last_poll_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(Text)
    last_error_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    messages_read: Mapped[int] = mapped_column(BigInteger, default=0)


class FailingAddress(Model):
    """An e-mail address a bounce said is failing (shown on the customer's 360° page)."""

    __tablename__ = "failing_email_address"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    address: Mapped[str] = mapped_column(String(300), unique=True)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customer.id"), index=True)
    reason: Mapped[str | None] = mapped_column(String(300))
    first_failed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_failed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    bounces: Mapped[int] = mapped_column(Integer, default=1)
    inbound_id: Mapped[int | None] = mapped_column(ForeignKey("inbound_message.id"))
    cleared_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # "staff:<name>", "customer:changed" (the customer changed the address), "customer:confirmed"
    cleared_by: Mapped[str | None] = mapped_column(String(100))


# A failing mark clears itself when the customer changes that address or confirms their details,
# wherever that happens (portal e-mail change link, customer API, staff edit, import): attribute
# events note it on the session, one before_flush hook clears in the same transaction (nothing
# is cleared if the change rolls back). Here, beside the model, so that they are connected in
# every process that loads the models.
_PENDING = "inbound_failing_checks"


def _note(target, customer_id: int | None, address: str | None, by: str) -> None:
    session = Session.object_session(target)
    if session is None or customer_id is None or not address:
        return
    session.info.setdefault(_PENDING, []).append((customer_id, address.strip().lower(), by))


def _changed(target, value, oldvalue, customer_id) -> None:
    old = oldvalue if isinstance(oldvalue, str) else None
    if old and (value or "").strip().lower() != old.strip().lower():
        _note(target, customer_id, old, "customer:changed")


@event.listens_for(Customer.email, "set", active_history=True)
def _customer_email_set(target, value, oldvalue, _initiator):
    _changed(target, value, oldvalue, target.id)


@event.listens_for(Contact.email, "set", active_history=True)
def _contact_email_set(target, value, oldvalue, _initiator):
    _changed(target, value, oldvalue, target.customer_id)


@event.listens_for(Customer.verified_at, "set")
def _customer_confirmed(target, value, oldvalue, _initiator):
    if value is not None and target.email:
        _note(target, target.id, target.email, "customer:confirmed")


@event.listens_for(Session, "before_flush")
def _clear_noted(session, _context, _instances) -> None:
    pending = session.info.pop(_PENDING, None)
    if not pending:
        return
    now = utcnow()
    for customer_id, address, by in dict.fromkeys(pending):
        session.execute(update(FailingAddress).where(
            FailingAddress.customer_id == customer_id, FailingAddress.address == address,
            FailingAddress.cleared_at.is_(None)).values(cleared_at=now, cleared_by=by)
            .execution_options(synchronize_session="fetch"))
