"""What the customer received, for tests: a message's real wording, secret included.

Messages carrying a secret (sign-in link, e-mail-change link, SMS code) are stored with it
hidden; the real text exists sealed until delivery and in the channel. Tests that follow the
customer's journey read it here:

* still undelivered (e.g. SMS without a gateway): the sealed copy, decrypted;
* delivered (any channel plugin): the copy the plugin was handed, recorded by wrapping the
  delivery job's ``revealed`` (installed when this module is imported).
"""
from __future__ import annotations

import json
from contextlib import contextmanager

from sqlalchemy import select

from app.core import crypto
from app.extensions import db
from app.notifications import jobs
from app.notifications.models import Message

# By idempotency key: ids come back after a test's rows are deleted, keys do not repeat.
_HANDED_OVER: dict[str, dict] = {}


def _install() -> None:
    original = jobs.revealed
    if getattr(original, "_records", False):
        return

    @contextmanager
    def revealed(message, *sealed):
        with original(message, *sealed):
            _HANDED_OVER[message.idempotency_key] = {
                "subject": message.subject, "text": message.body_text, "html": message.body_html}
            yield

    revealed._records = True
    jobs.revealed = revealed


_install()


def received(message: Message) -> dict:
    """{"subject", "text", "html"} as the customer got (or will get) it."""
    sealed = db.session.scalar(select(Message.sealed_body).where(Message.id == message.id))
    if sealed:
        return json.loads(crypto.decrypt(sealed))
    if message.idempotency_key in _HANDED_OVER:
        return _HANDED_OVER[message.idempotency_key]
    return {"subject": message.subject, "text": message.body_text, "html": message.body_html}


def received_text(message: Message) -> str:
    return received(message)["text"] or ""
