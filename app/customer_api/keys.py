"""API keys a customer makes on the portal: shown once, stored hashed, scoped, expiring.

A key is ``cdk_`` + 40 random url-safe characters. Only its SHA-256 is stored (a key is random
and long: no salt or slow hash needed, and a lookup by hash stays one index probe). The key
itself is never logged, stored or shown again.

Recording a key's use must not cost every read a write and a commit (the customer API's reads
are meant to be as fast as a bare endpoint). So (``record_use``):

* "last used (when, from where)" and the use count are written at most once per
  USE_WRITE_SECONDS per key — at once when the key is used from another address, or acts
  (POST). The calls in between are counted in this process and added at the next write (a
  process that stops loses at most a minute of its count; when and from where stay exact to
  the minute). The rule reads the row just loaded, so it holds across web processes.
* The audit trail gets an "api_key_used" event for every action (any method but GET/HEAD), for
  the first use of a key in each AUDIT_PERIOD (a clock hour, UTC) and for every use from a new
  address: who used which key from where stays answerable, without one audit row per read.
"""
from __future__ import annotations

import hashlib
import secrets
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import select, text, update
from sqlalchemy.orm import joinedload
from sqlalchemy.orm.attributes import set_committed_value

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
USE_WRITE_SECONDS = 60
READS = frozenset({"GET", "HEAD", "OPTIONS"})
# Uses not yet written, per key id (this process): added to use_count at the next write.
_unwritten: dict[int, int] = {}
_unwritten_lock = threading.Lock()


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
    """The active key for ``raw`` (None: unknown, revoked or expired), with its customer
    loaded, and its use recorded (``record_use``). ``key.use_written`` says whether that
    wrote anything, which the caller then commits."""
    if not raw or not raw.startswith(PREFIX) or len(raw) > 100:
        return None
    now = now or utcnow()
    key = db.session.scalar(select(ApiKey).options(joinedload(ApiKey.customer))
                            .where(ApiKey.key_hash == hash_key(raw)))
    if key is None or not key.is_active(now):
        return None
    key.use_written = record_use(key, ip, method, path, now)
    return key


def _audit_period(moment: datetime) -> tuple:
    return moment.timetuple()[:4]  # the clock hour (UTC)


def record_use(key: ApiKey, ip: str | None, method: str, path: str, now: datetime) -> bool:
    """Record this use of ``key`` under the rules at the top of this module; True when a row
    was written (the caller commits), False when the use was only counted in this process."""
    ip = (ip or "")[:45] or None
    acting = method.upper() not in READS
    last = key.last_used_at
    new_place = ip != key.last_used_ip
    recent = last is not None and timedelta(0) <= now - last < timedelta(
        seconds=USE_WRITE_SECONDS)
    with _unwritten_lock:
        if recent and not new_place and not acting:
            if len(_unwritten) > 100_000:
                _unwritten.clear()
            _unwritten[key.id] = _unwritten.get(key.id, 0) + 1
            return False
        uses = _unwritten.pop(key.id, 0) + 1
    connection = db.session.connection()
    if connection.dialect.name == "postgresql":
        # A read must not wait for a disk flush to record its own use: the row and its audit
        # event are committed without waiting for the WAL (lost only if the server crashes
        # within a fraction of a second; never half written).
        connection.execute(text("SET LOCAL synchronous_commit TO OFF"))
    # On the connection, not through the session: the UPDATE of a use is not itself a change
    # worth a generic "bulk_update" audit row (the event below says what happened).
    connection.execute(update(ApiKey).where(ApiKey.id == key.id).values(
        last_used_at=now, last_used_ip=ip, use_count=ApiKey.use_count + uses))
    set_committed_value(key, "last_used_at", now)
    set_committed_value(key, "last_used_ip", ip)
    if acting or new_place or last is None or _audit_period(last) != _audit_period(now):
        audit.record("api_key_used", "custapi_key", key.id, customer_id=key.customer_id,
                     detail=f"{key.prefix}… {method} {path}"[:500])
    return True
