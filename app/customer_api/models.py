"""Customer API keys, webhook endpoints and their delivery log, idempotent answers and the
calendar feed's secret: what a customer's own software needs to talk to CreditDesk.

Keys and the calendar token are stored as SHA-256 hashes (the value is shown once); webhook
secrets are encrypted at rest (app.core.crypto.EncryptedString) because signing needs them.
"""
from __future__ import annotations

from datetime import datetime

from flask_appbuilder import Model
from flask_babel import lazy_gettext as _l
from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core.crypto import EncryptedString
from app.core.models import UTCDateTime, utcnow

SCOPES = {"read": _l("Read only"), "act": _l("Read and act")}


class ApiKey(Model):
    __tablename__ = "custapi_key"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"), index=True)
    name: Mapped[str] = mapped_column(String(80))
    # The first characters of the key (e.g. "cdk_4f3a9c"): lets people tell keys apart.
    prefix: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scope: Mapped[str] = mapped_column(String(10), default="read")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_by: Mapped[str | None] = mapped_column(String(100))
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_used_ip: Mapped[str | None] = mapped_column(String(45))
    use_count: Mapped[int] = mapped_column(Integer, default=0)
    customer = relationship("Customer")
    # Set by keys.authenticate: whether recording this use wrote a row (to commit).
    use_written = False

    @property
    def can_act(self) -> bool:
        return self.scope == "act"

    def is_active(self, now: datetime) -> bool:
        return self.revoked_at is None and self.expires_at > now


class WebhookEndpoint(Model):
    """A subscriber's HTTPS endpoint: a customer's, or the company's own (ERP) when
    ``customer_id`` is NULL (app/customer_api/webhooks.py)."""

    __tablename__ = "custapi_webhook"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customer.id"), index=True)
    url: Mapped[str] = mapped_column(String(500))
    # "whsec_" + base64 of 32 random bytes (Standard Webhooks), encrypted in the database.
    secret: Mapped[str] = mapped_column(EncryptedString())
    events: Mapped[list] = mapped_column(JSON, default=list)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    disabled_reason: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    customer = relationship("Customer")


class WebhookAttempt(Model):
    """One POST to an endpoint: the delivery log customers and staff read."""

    __tablename__ = "custapi_webhook_attempt"
    __table_args__ = (Index("ix_custapi_attempt_endpoint", "endpoint_id", "id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("custapi_webhook.id"))
    message_id: Mapped[int | None] = mapped_column(ForeignKey("message.id"), index=True)
    event: Mapped[str] = mapped_column(String(60))
    attempted_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    status_code: Mapped[int | None] = mapped_column(Integer)
    ok: Mapped[bool] = mapped_column(Boolean, default=False)
    error: Mapped[str | None] = mapped_column(String(300))
    duration_ms: Mapped[int | None] = mapped_column(Integer)


class IdempotentAnswer(Model):
    """The first answer to a POST with an Idempotency-Key, replayed to any repeat."""

    __tablename__ = "custapi_idempotency"
    __table_args__ = (UniqueConstraint("key_id", "idempotency_key"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key_id: Mapped[int] = mapped_column(ForeignKey("custapi_key.id", ondelete="CASCADE"))
    idempotency_key: Mapped[str] = mapped_column(String(100))
    request_hash: Mapped[str] = mapped_column(String(64))
    status: Mapped[int] = mapped_column(Integer)
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)


class CalendarFeed(Model):
    __tablename__ = "custapi_calendar"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"), unique=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
