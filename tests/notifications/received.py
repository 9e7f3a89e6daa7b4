"""What the customer received, for tests: a message's real wording, secret included.

Messages carrying a secret (sign-in link, e-mail-change link, SMS code) are stored with it
hidden; the real text exists sealed until delivery and in the channel. Tests that follow the
customer's journey read it here:

* still undelivered (e.g. SMS without a gateway): the sealed copy, decrypted;
* delivered to the local mailbox (the tests' e-mail channel): the copy the plugin was handed,
  recorded by wrapping LocalMailbox.send (installed when this module is imported).
"""
from __future__ import annotations

import json

from sqlalchemy import select

from app.core import crypto
from app.extensions import db
from app.notifications.models import Message
from plugins.local_mailbox import LocalMailbox

_HANDED_OVER: dict[int, dict] = {}


def _install() -> None:
    original = LocalMailbox.send
    if getattr(original, "_records", False):
        return

    def send(self, message) -> str:
        _HANDED_OVER[message.id] = {"subject": message.subject, "text": message.body_text,
                                    "html": message.body_html}
        return original(self, message)

    send._records = True
    LocalMailbox.send = send


_install()


def received(message: Message) -> dict:
    """{"subject", "text", "html"} as the customer got (or will get) it."""
    sealed = db.session.scalar(select(Message.sealed_body).where(Message.id == message.id))
    if sealed:
        return json.loads(crypto.decrypt(sealed))
    if message.id in _HANDED_OVER:
        return _HANDED_OVER[message.id]
    return {"subject": message.subject, "text": message.body_text, "html": message.body_html}


def received_text(message: Message) -> str:
    return received(message)["text"] or ""
