"""Idempotency-Key on every POST of the customer API: the first answer is kept and replayed.

The key is claimed before the action runs (a row committed with status 0), so two copies of
the same request sent at once cannot both act: the second gets 409 while the first runs.
The same key with a different body is refused (409) rather than answered with another
request's result. Answers are kept for CUSTAPI_IDEMPOTENCY_HOURS (default 24).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import timedelta

from flask import current_app
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from app.core.models import utcnow
from app.customer_api.models import IdempotentAnswer
from app.extensions import db

MAX_LENGTH = 100


def request_hash(method: str, path: str, body: bytes) -> str:
    return hashlib.sha256(method.encode() + b" " + path.encode() + b"\n" + body).hexdigest()


@dataclass
class Claim:
    row: IdempotentAnswer | None  # ours to fill in
    replay: IdempotentAnswer | None = None  # the earlier answer to send back
    conflict: bool = False  # same key, another request, or still running


def claim(key_id: int, idempotency_key: str, digest: str) -> Claim:
    hours = int(current_app.config.get("CUSTAPI_IDEMPOTENCY_HOURS", 24))
    db.session.execute(delete(IdempotentAnswer).where(
        IdempotentAnswer.key_id == key_id,
        IdempotentAnswer.created_at < utcnow() - timedelta(hours=hours)))
    found = db.session.scalar(select(IdempotentAnswer).where(
        IdempotentAnswer.key_id == key_id, IdempotentAnswer.idempotency_key == idempotency_key))
    if found is not None:
        if found.request_hash != digest or found.status == 0:
            return Claim(None, conflict=True)
        return Claim(None, replay=found)
    row = IdempotentAnswer(key_id=key_id, idempotency_key=idempotency_key,
                           request_hash=digest, status=0, body="")
    db.session.add(row)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        return Claim(None, conflict=True)
    return Claim(row)


def remember(row_id: int, status: int, body: str) -> None:
    """Keep the answer (4xx too: a refusal is the answer); forget the claim after a 5xx so
    that the client may try again."""
    db.session.rollback()  # whatever the failed action left
    row = db.session.get(IdempotentAnswer, row_id)
    if row is None:
        return
    if status >= 500:
        db.session.delete(row)
    else:
        row.status, row.body = status, body
    db.session.commit()
