"""Reply tokens: every e-mail we send names itself, signed, so a reply finds its way back.

The token of outbox message 42 is ``r42-<16 hex>`` where the hex is an HMAC-SHA256 of the id
under a key derived from the app's SECRET_KEY. It rides in two places a reply keeps:

* the Reply-To plus-address: ``billing+r42-3f0c…@example.com`` (the reply's To / Delivered-To);
* the Message-ID ``<r42-3f0c….creditdesk@example.com>`` (app.notifications.channels
  .message_id_for), which a reply repeats in its In-Reply-To and References headers.

Lower-case letters, digits and "-" only: mail servers may lower-case a local part. A token whose
signature does not match (typed by hand, forged, from another installation) is refused.

Here, with the messages that carry it, below the e-mail channel and the replies that read it
back (app.inbound.tying checks it): the sender names its messages, the receiver recognises them.
"""
from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable

from flask import current_app

TOKEN = re.compile(r"\br(\d{1,12})-([0-9a-f]{16})\b", re.IGNORECASE)


def _key() -> bytes:
    secret = current_app.secret_key or ""
    if isinstance(secret, str):
        secret = secret.encode()
    return hashlib.sha256(b"creditdesk inbound reply token\x00" + secret).digest()


def _signature(message_id: int) -> str:
    return hmac.new(_key(), f"reply:{int(message_id)}".encode(), hashlib.sha256).hexdigest()[:16]


def token_for(message_id: int) -> str:
    return f"r{int(message_id)}-{_signature(message_id)}"


def plus_address(address: str, message_id: int) -> str:
    """``billing@example.com`` → ``billing+r42-…@example.com`` (an existing +tag is replaced)."""
    local, _at, domain = address.partition("@")
    if not domain:
        return address
    return f"{local.split('+', 1)[0]}+{token_for(message_id)}@{domain}"


class TokenCheck:
    """What the tokens of a reply say: the message it answers, or that a token was forged."""

    def __init__(self) -> None:
        self.message_id: int | None = None
        self.refused = False
        self.via: str | None = None  # "address" or "thread"


def check_tokens(addresses: Iterable[str], thread_ids: Iterable[str]) -> TokenCheck:
    """The first valid token in the reply's recipient addresses, else in its thread headers.

    A token with a wrong signature sets ``refused`` and is never used.
    """
    result = TokenCheck()
    for via, values in (("address", addresses), ("thread", thread_ids)):
        for value in values:
            for match in TOKEN.finditer(value or ""):
                number, signature = int(match.group(1)), match.group(2).lower()
                if hmac.compare_digest(signature, _signature(number)):
                    if result.message_id is None:
                        result.message_id, result.via = number, via
                else:
                    result.refused = True
    return result
