"""Staff sign-in state kept in the database: sessions, failed sign-ins, TOTP secrets.

The Flask session cookie is signed but lives in the browser, so a copied cookie would work until
it expires. Each staff sign-in therefore gets a row here, named by a random token kept in the
cookie; the row decides whether the cookie still signs anyone in (app/core/staff_auth.py).
"""
from __future__ import annotations

from datetime import datetime

from flask_appbuilder import Model
from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.core.crypto import EncryptedString
from app.core.models import UTCDateTime, utcnow


class StaffSession(Model):
    __tablename__ = "staff_session"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("ab_user.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ip: Mapped[str | None] = mapped_column(String(45))


class StaffLoginFailure(Model):
    """One failed staff sign-in (or a sign-in in progress, until it succeeds: see
    app/core/login_throttle.py). The account is a hash of what was typed as user name."""

    __tablename__ = "staff_login_failure"
    __table_args__ = (
        Index("ix_staff_login_failure_ip_at", "ip", "at"),
        Index("ix_staff_login_failure_account_at", "account_hash", "at"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    ip: Mapped[str] = mapped_column(String(45))
    account_hash: Mapped[str] = mapped_column(String(64))


class StaffTotp(Model):
    """A staff user's TOTP secret (RFC 6238), encrypted; confirmed once a first code matched."""

    __tablename__ = "staff_totp"
    user_id: Mapped[int] = mapped_column(ForeignKey("ab_user.id", ondelete="CASCADE"),
                                         primary_key=True)
    secret: Mapped[str] = mapped_column(EncryptedString())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The last time step accepted: a code is good once (RFC 6238 section 5.2).
    last_step: Mapped[int | None] = mapped_column(BigInteger)
