"""Pieces every domain model uses, and the product-wide Setting and PluginConfig rows."""
from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from flask_appbuilder import Model
from sqlalchemy import JSON, BigInteger, Boolean, DateTime, Integer, Numeric, String, Text
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

# Money is always Numeric(12, 2) / Decimal, never float.
Money = Numeric(12, 2)
ZERO = Decimal("0.00")


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """Timestamps are stored in UTC and always come back timezone-aware (SQLite drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None and value.tzinfo is not None:
            value = value.astimezone(UTC)
        return value

    def process_result_value(self, value, dialect):
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), default=utcnow, onupdate=utcnow
    )


class Setting(Model):
    """A business rule or product setting that staff edit in the admin (value stored as JSON)."""

    __tablename__ = "setting"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(100), unique=True)
    value: Mapped[object] = mapped_column(JSON, nullable=True)
    category: Mapped[str] = mapped_column(String(40), default="general")
    description: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), default=utcnow, onupdate=utcnow
    )

    def __repr__(self) -> str:
        return self.key


class PluginConfig(Model):
    """Whether a discovered plugin is enabled, and its non-secret settings."""

    __tablename__ = "plugin_config"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    kind: Mapped[str] = mapped_column(String(40))
    enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    settings: Mapped[dict] = mapped_column(JSON, default=dict)
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), default=utcnow, onupdate=utcnow
    )

    def __repr__(self) -> str:
        return self.name


class NumberSequence(Model):
    """Named counters handed out in blocks (structured communications of invoices and plans)."""

    __tablename__ = "number_sequence"
    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    next_value: Mapped[int] = mapped_column(BigInteger, default=1)
