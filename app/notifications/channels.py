"""What a channel plugin is, and which plugin delivers a message.

A channel plugin (kind "channel" in app.core.plugins) is built from its settings and offers:

    is_configured() -> bool      # e.g. the SMTP plugin without a host: not usable
    send(message) -> str         # hands the message over; returns the provider's id
    close() -> None              # e.g. ends the SMTP connection kept open for a batch

``send`` raises TransientError when trying again later may work (connection refused, 421,
HTTP 503, throttling) and PermanentError when it never will (550 unknown mailbox, invalid
number); anything else it raises is treated as transient. It must use ``message_id_for`` /
``message.idempotency_key`` so that a message sent twice (a worker killed mid-send) can be
recognised as one by the receiver.
"""
from __future__ import annotations

import hashlib
from typing import Any, Protocol

from flask import current_app

from app.core.plugins import PluginUnavailable, build, enabled_plugins
from app.notifications.models import Message
from app.notifications.reply_tokens import token_for

# Events a customer may opt out of: their e-mails carry List-Unsubscribe. Reminders, notices,
# decisions, security mails and legally required notices (contract renewal) are mandatory.
OPTIONAL_EVENTS = frozenset({"payment_received", "account_settled", "instalment_due",
                             "reminder_pre_due"})


class DeliveryError(Exception):
    transient = True


class TransientError(DeliveryError):
    """Try again later."""


class PermanentError(DeliveryError):
    """Will never work as it is: the message is marked failed and shown to staff."""

    transient = False


class NoChannelPlugin(TransientError):
    """No enabled and configured plugin delivers this channel (staff can enable one)."""


class ChannelPlugin(Protocol):
    def is_configured(self) -> bool: ...

    def send(self, message: Message) -> str: ...

    def close(self) -> None: ...


def is_optional(message: Message) -> bool:
    return message.event in OPTIONAL_EVENTS


def message_id_for(idempotency_key: str, domain: str | None = None,
                   message_id: int | None = None) -> str:
    """The RFC 5322 Message-ID of a message: the same on every attempt, so copies fold.

    With the outbox row's ``message_id`` it carries that message's signed reply token
    (app.notifications.reply_tokens), which replies repeat in In-Reply-To / References.
    """
    digest = hashlib.sha256(idempotency_key.encode()).hexdigest()[:40]
    if domain is None:
        sender = current_app.config.get("MAIL_FROM", "creditdesk@localhost")
        domain = sender.rpartition("@")[2] or "localhost"
    if message_id is not None:
        # The signed token is unique per message and the same on every attempt; without the
        # digest the header stays on one line (a folded Message-ID comes back with a space).
        return f"<{token_for(message_id)}.creditdesk@{domain}>"
    return f"<{digest}.creditdesk@{domain}>"


def plugin_for(channel: str) -> tuple[str, Any]:
    """The enabled, configured plugin with the lowest priority number for ``channel``."""
    candidates = sorted((spec for spec in enabled_plugins("channel") if spec.channel == channel),
                        key=lambda spec: (spec.priority, spec.name))
    for spec in candidates:
        try:
            instance = build(spec.name)
        except PluginUnavailable:
            continue
        if getattr(instance, "is_configured", lambda: True)():
            return spec.name, instance
        close = getattr(instance, "close", None)
        if close:
            close()
    raise NoChannelPlugin(f"no enabled and configured plugin delivers {channel} messages")


class PluginPool:
    """The plugins used while delivering a batch of messages, closed together at the end."""

    def __init__(self) -> None:
        self._open: dict[str, tuple[str, Any]] = {}

    def get(self, channel: str) -> tuple[str, Any]:
        if channel not in self._open:
            self._open[channel] = plugin_for(channel)
        return self._open[channel]

    def discard(self, channel: str) -> None:
        found = self._open.pop(channel, None)
        if found is not None:
            _close(found[1])

    def close(self) -> None:
        for _name, instance in self._open.values():
            _close(instance)
        self._open.clear()


def _close(instance: Any) -> None:
    close = getattr(instance, "close", None)
    if close is not None:
        try:
            close()
        except Exception:  # noqa: BLE001, S110 (closing a broken connection must not hide the outcome)
            pass
