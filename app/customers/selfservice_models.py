"""Short-lived proofs for self-service changes: e-mail change links and SMS confirmation codes.

Both hold only a hash of the secret the customer receives; a row is spent once (``used_at``)
and expires. They are personal data of no lasting use: the retention purge may delete spent or
expired rows at any time.
"""
from __future__ import annotations

from datetime import datetime

from flask_appbuilder import Model
from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core.models import UTCDateTime, utcnow
from app.customers.models import Contact, Customer


class EmailChange(Model):
    """A new e-mail address waiting to be confirmed from its own mailbox."""

    __tablename__ = "email_change"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"), index=True)
    # None: the customer's own address; else that contact's address.
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contact.id"))
    old_email: Mapped[str | None] = mapped_column(String(200))
    new_email: Mapped[str] = mapped_column(String(200))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    customer: Mapped[Customer] = relationship()
    contact: Mapped[Contact | None] = relationship()


class SmsCode(Model):
    """A 6-digit code sent by SMS to prove a phone number before SMS reminders are switched on."""

    __tablename__ = "sms_code"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"), index=True)
    phone: Mapped[str] = mapped_column(String(32))
    code_hash: Mapped[str] = mapped_column(String(64))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    customer: Mapped[Customer] = relationship()
