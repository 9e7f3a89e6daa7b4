"""Pay links and their uses; SMS sign-in codes. Secrets are stored only as hashes."""
from __future__ import annotations

from datetime import datetime

from flask_appbuilder import Model
from sqlalchemy import JSON, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core.models import UTCDateTime, utcnow
from app.paylinks import settings as _settings  # noqa: F401  (declares paylinks.valid_days)

PURPOSES = ("pay", "due_soon", "instalment", "promise_broken", "plan_broken")
EVENT_KINDS = ("opened", "checkout", "paid_online", "deferral", "plan", "revoked")


class PayLink(Model):
    """A link from one message to paying that message's invoices, without signing in."""

    __tablename__ = "pay_link"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"), index=True)
    # The outbox message it was made for (no foreign key: the retention purge may delete
    # messages, the link then simply stays bound to its invoices).
    message_id: Mapped[int | None] = mapped_column(Integer)
    invoice_ids: Mapped[list] = mapped_column(JSON, default=list)
    purpose: Mapped[str] = mapped_column(String(20), default="pay")
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_by: Mapped[str | None] = mapped_column(String(100))
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    customer = relationship("Customer")
    # The message object while both are new: its id is copied into message_id when the
    # message is written (app.notifications.message_links: the link is made before its
    # message has an id).
    message = relationship("Message", primaryjoin="foreign(PayLink.message_id) == Message.id",
                           lazy="select")


class PayLinkEvent(Model):
    """One use of a pay link (opened, paid online, asked for time or a plan): the timeline."""

    __tablename__ = "pay_link_event"
    __table_args__ = (Index("ix_pay_link_event_customer_at", "customer_id", "at"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    pay_link_id: Mapped[int] = mapped_column(ForeignKey("pay_link.id"), index=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"))
    kind: Mapped[str] = mapped_column(String(20))
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # What the use made: a checkout id (paid_online) or a request id (deferral, plan).
    ref_id: Mapped[int | None] = mapped_column(Integer)
    detail: Mapped[str | None] = mapped_column(String(200))


class SmsSignInCode(Model):
    """A short single-use code sent by SMS to sign in to the portal (hash only)."""

    __tablename__ = "sms_signin_code"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"), index=True)
    phone: Mapped[str] = mapped_column(String(32), index=True)
    code_hash: Mapped[str] = mapped_column(String(64))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ip: Mapped[str | None] = mapped_column(String(45))
