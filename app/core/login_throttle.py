"""Staff sign-in throttling: failed attempts per IP address and per account, in the database.

Only failures count, so an office behind one address can sign in all day; a guesser gets
AUTH_RATE_LIMIT failures per address and AUTH_RATE_LIMIT_PER_ACCOUNT per account in the
window before the form answers 429 until the oldest failure leaves it.

The counters live in the database rather than in Redis: FAB's Flask-Limiter kept them in
Redis, and a new staff sign-in answered 500 while Redis was down. The database is needed to
sign in anyway, so the throttle is never the part that fails.

Each attempt is written as a failure *before* the password is checked and deleted when it
succeeds: parallel guesses then each see the others, and no more than the limit get through
(a check-then-write would let a burst of parallel guesses past).
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import timedelta

from flask import current_app, request
from limits import parse
from sqlalchemy import delete, func, select

from app.core.models import utcnow
from app.core.staff_auth_models import StaffLoginFailure
from app.extensions import db


class LoginThrottled(Exception):
    """Too many failed sign-ins for this address or account; retry after `retry_after` s."""

    def __init__(self, retry_after: int):
        super().__init__(retry_after)
        self.retry_after = retry_after


@dataclass(frozen=True)
class Attempt:
    id: int | None  # the row counting this attempt as a failure until it succeeds


def enabled() -> bool:
    return bool(current_app.config.get("AUTH_RATE_LIMITED"))


def _window(key: str, default: str) -> tuple[int, int]:
    """(allowed failures, window in seconds) from a "10 per 5 minute" setting."""
    limit = parse(current_app.config.get(key) or default)
    return limit.amount, int(limit.get_expiry())


def account_hash(username: str | None) -> str:
    return hashlib.sha256((username or "").strip().lower().encode("utf-8")).hexdigest()


def client_ip() -> str:
    # request.remote_addr is the client's behind TRUSTED_PROXY_COUNT proxies (create_app).
    return (request.remote_addr or "unknown")[:45]


def begin(username: str | None) -> Attempt:
    """Count this attempt as a failure now; raise LoginThrottled if it is one too many."""
    if not enabled():
        return Attempt(None)
    now = utcnow()
    ip, account = client_ip(), account_hash(username)
    row = StaffLoginFailure(at=now, ip=ip, account_hash=account)
    db.session.add(row)
    db.session.commit()
    for column, value, setting, default in (
            (StaffLoginFailure.ip, ip, "AUTH_RATE_LIMIT", "10 per 5 minute"),
            (StaffLoginFailure.account_hash, account, "AUTH_RATE_LIMIT_PER_ACCOUNT",
             "5 per 15 minute")):
        amount, seconds = _window(setting, default)
        since = now - timedelta(seconds=seconds)
        count, oldest = db.session.execute(
            select(func.count(), func.min(StaffLoginFailure.at))
            .where(column == value, StaffLoginFailure.at > since)).one()
        if count > amount:
            # A refused attempt is not a guess: it does not push the window further.
            _forget(row.id)
            wait = seconds - (now - oldest).total_seconds() if oldest else seconds
            raise LoginThrottled(max(1, math.ceil(wait)))
    return Attempt(row.id)


def succeeded(attempt: Attempt) -> None:
    """The password was right: this attempt is not a failure."""
    if attempt.id is not None:
        _forget(attempt.id)


def failed(attempt: Attempt) -> None:
    """The attempt stays counted; failures older than the longest window are pruned."""
    if attempt.id is None:
        return
    longest = max(_window("AUTH_RATE_LIMIT", "10 per 5 minute")[1],
                  _window("AUTH_RATE_LIMIT_PER_ACCOUNT", "5 per 15 minute")[1])
    db.session.execute(delete(StaffLoginFailure).where(
        StaffLoginFailure.at < utcnow() - timedelta(seconds=longest)))
    db.session.commit()


def _forget(row_id: int) -> None:
    db.session.execute(delete(StaffLoginFailure).where(StaffLoginFailure.id == row_id))
    db.session.commit()
