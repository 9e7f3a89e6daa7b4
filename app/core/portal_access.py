"""Customer access tokens for the portal (table ``portal_access``), stored hashed.

One row per magic link (kind "magic_link": sign-in, 15 minutes, used once), portal session
("session"), deep link from a message ("deep_link": opens a page after the customer signs in)
and API token. The portal signs customers in with them (app/portal/auth.py); the link service
(app/core/links.py) issues deep links for the messages that notifications, dunning and replies
send; the customer 360 timeline and the retention purge read and delete them.

It lives in core, below all of those, so that none of them has to import the portal to build or
read a link. The row points at the customer and contact by table name only: core imports no
domain package.
"""
from __future__ import annotations

import hashlib
import secrets
from datetime import datetime
from urllib.parse import urlsplit

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


def new_token() -> str:
    return secrets.token_urlsafe(32)


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def safe_target(path: str | None) -> str | None:
    """Only portal paths on this site may be opened after login (no open redirect)."""
    if not path or not isinstance(path, str) or len(path) > 200:
        return None
    parts = urlsplit(path)
    if parts.scheme or parts.netloc or not parts.path.startswith("/portal/"):
        return None
    if "//" in parts.path or "\\" in path or any(ord(c) < 32 for c in path):
        return None
    if parts.path.startswith(("/portal/login", "/portal/logout", "/portal/go/")):
        return None
    return path
