"""API keys a customer makes on the portal: shown once, stored hashed, scoped, expiring.

A key is ``cdk_`` + 40 random url-safe characters. Only its SHA-256 is stored (a key is random
and long: no salt or slow hash needed, and a lookup by hash stays one index probe). Every use
updates "last used (when, from where)" and writes an audit event; the key itself is never
logged, stored or shown again.
"""
from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import select, text, update

from app.core import audit
from app.core.models import utcnow
from app.core.validation import ValidationError
from app.customer_api.models import SCOPES, ApiKey
from app.customers.models import Customer
from app.extensions import db

PREFIX = "cdk_"
DEFAULT_DAYS = 365
MAX_DAYS = 3 * 365
MAX_KEYS = 20
NAME_LENGTH = 80


def hash_key(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8", "replace")).hexdigest()


@dataclass
class NewKey:
    key: ApiKey
    secret: str  # shown once to the customer, never stored


def create_key(customer: Customer, name: Any, scope: Any, days: Any = None, *,
               actor: str = "customer", now: datetime | None = None) -> NewKey:
    """A new key for ``customer`` (the caller commits). ValidationError: nothing changed."""
    now = now or utcnow()
    errors: dict[str, list[str]] = {}
    name = (str(name or "")).strip()
    if not name:
        errors["name"] = [_("Give the key a name, e.g. the software that will use it.")]
    elif len(name) > NAME_LENGTH:
        errors["name"] = [_("At most %(max)d characters.", max=NAME_LENGTH)]
    scope = str(scope or "read")
    if scope not in SCOPES:
        errors["scope"] = [_("Choose read only, or read and act.")]
    try:
        valid_days = int(days) if days not in (None, "") else DEFAULT_DAYS
    except (TypeError, ValueError):
        valid_days = 0
    if not 1 <= valid_days <= MAX_DAYS:
        errors["days"] = [_("A key is valid from 1 to %(max)d days.", max=MAX_DAYS)]
    if len(active_keys(customer.id, now)) >= MAX_KEYS:
        errors["name"] = [_("You have %(max)d active keys: revoke one first.", max=MAX_KEYS)]
    if errors:
        raise ValidationError(errors)
    raw = PREFIX + secrets.token_urlsafe(30)
    key = ApiKey(customer_id=customer.id, name=name, prefix=raw[:10], key_hash=hash_key(raw),
                 scope=scope, created_at=now, expires_at=now + timedelta(days=valid_days),
                 use_count=0)
    db.session.add(key)
    db.session.flush()
    audit.record("api_key_created", "custapi_key", key.id, customer_id=customer.id,
                 detail=f"{key.prefix}… {scope} by {actor}")
    return NewKey(key, raw)


def active_keys(customer_id: int, now: datetime | None = None) -> list[ApiKey]:
    now = now or utcnow()
    return [k for k in keys_of(customer_id) if k.is_active(now)]


def keys_of(customer_id: int) -> list[ApiKey]:
    return list(db.session.scalars(select(ApiKey).where(ApiKey.customer_id == customer_id)
                                   .order_by(ApiKey.created_at.desc(), ApiKey.id.desc())))


def key_of(customer_id: int, key_id: int) -> ApiKey | None:
    return db.session.scalar(select(ApiKey).where(ApiKey.id == key_id,
                                                  ApiKey.customer_id == customer_id))


def revoke_key(key: ApiKey, by: str, now: datetime | None = None) -> None:
    """Revoked at once: the next call with it gets 401 (the caller commits)."""
    if key.revoked_at is not None:
        return
    key.revoked_at = now or utcnow()
    key.revoked_by = by[:100]
    audit.record("api_key_revoked", "custapi_key", key.id, customer_id=key.customer_id,
                 detail=f"{key.prefix}… by {by}"[:500])


def authenticate(raw: str | None, ip: str | None, method: str, path: str,
                 now: datetime | None = None) -> ApiKey | None:
    """The active key for ``raw`` (None: unknown, revoked or expired), its use recorded.

    The use is written with an UPDATE (no read-modify-write race between two calls) and an
    audit event naming the key by its prefix, the method and the path."""
    if not raw or not raw.startswith(PREFIX) or len(raw) > 100:
        return None
    now = now or utcnow()
    key = db.session.scalar(select(ApiKey).where(ApiKey.key_hash == hash_key(raw)))
    if key is None or not key.is_active(now):
        return None
    if db.session.get_bind().dialect.name == "postgresql":
        # A read must not wait for a disk flush to record its own use: the row and its audit
        # event are committed without waiting for the WAL (lost only if the server crashes
        # within a fraction of a second; never half written).
        db.session.execute(text("SET LOCAL synchronous_commit TO OFF"))
    db.session.execute(update(ApiKey).where(ApiKey.id == key.id).values(
        last_used_at=now, last_used_ip=(ip or "")[:45] or None,
        use_count=ApiKey.use_count + 1).execution_options(synchronize_session=False))
    audit.record("api_key_used", "custapi_key", key.id, customer_id=key.customer_id,
                 detail=f"{key.prefix}… {method} {path}"[:500])
    return key
