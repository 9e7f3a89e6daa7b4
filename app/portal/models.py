"""Portal access: magic-link, session and API tokens, stored hashed."""
from __future__ import annotations

from datetime import datetime

from flask_appbuilder import Model
from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core.models import UTCDateTime, utcnow


class PortalAccess(Model):
    __tablename__ = "portal_access"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"), index=True)
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contact.id"))
    kind: Mapped[str] = mapped_column(String(20), default="magic_link")  # magic_link / api_token
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    target: Mapped[str | None] = mapped_column(String(200))  # deep link opened after login
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ip: Mapped[str | None] = mapped_column(String(45))
    customer = relationship("Customer")
