"""Signed webhooks: each message is POSTed as JSON to the URL staff configure.

The receiver checks ``X-CreditDesk-Signature: sha256=<hex>``, the HMAC-SHA256 of
``<X-CreditDesk-Timestamp>.<body>`` with the shared secret (environment variable
CREDITDESK_PLUGIN_WEBHOOK_SECRET, never stored in the database), and folds repeated deliveries
with the ``Idempotency-Key`` header.

The same plugin delivers the customers' own webhooks (app/customer_api/webhooks.py): a message
whose recipient is ``endpoint:<id>`` goes to that customer endpoint, signed the Standard
Webhooks way with the endpoint's secret, whatever the staff address above (which may be unset).
"""
from __future__ import annotations

import hashlib
import hmac
import json
import time

import requests
from flask_babel import lazy_gettext as _l

from app.core.http import EnvironmentSession
from app.core.plugins import PluginSetting, PluginSpec
from app.notifications.channels import PermanentError, TransientError


def signature(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def payload(message) -> dict:
    customer = message.customer
    return {"id": message.id, "event": message.event, "idempotency_key": message.idempotency_key,
            "customer": customer.number if customer is not None else None,
            "language": message.language, "subject": message.subject, "text": message.body_text,
            "created_at": message.created_at.isoformat() if message.created_at else None}


class Webhook:
    def __init__(self, settings: dict) -> None:
        self.url = settings.get("url") or ""
        self.secret = settings.get("secret") or ""
        self.timeout = float(settings.get("timeout") or 10)
        self._session = EnvironmentSession()  # keep-alive for the batch
        self._attempts = None  # the customers' endpoints' delivery log, written per batch

    def is_configured(self) -> bool:
        # Customers' endpoints need no staff address: the plugin is usable once enabled.
        return True

    def send(self, message) -> str:
        if message.recipient.startswith("endpoint:"):
            return self._send_to_customer_endpoint(message)
        if not (self.url and self.secret):
            raise TransientError("the staff webhook address or secret is not configured")
        body = json.dumps(payload(message), sort_keys=True, ensure_ascii=False).encode()
        timestamp = str(int(time.time()))
        headers = {"Content-Type": "application/json",
                   "X-CreditDesk-Event": message.event,
                   "X-CreditDesk-Timestamp": timestamp,
                   "X-CreditDesk-Signature": signature(self.secret, timestamp, body),
                   "Idempotency-Key": message.idempotency_key}
        try:
            response = self._session.post(self.url, data=body, headers=headers,
                                          timeout=self.timeout)
        except requests.RequestException as exc:
            raise TransientError(f"webhook unreachable: {exc}") from exc
        if response.status_code in (408, 425, 429) or response.status_code >= 500:
            raise TransientError(f"webhook answered HTTP {response.status_code}")
        if response.status_code >= 300:
            raise PermanentError(f"webhook refused the message: HTTP {response.status_code}")
        return response.headers.get("X-Request-Id") or f"webhook:{message.idempotency_key}"

    def _send_to_customer_endpoint(self, message) -> str:
        from app.customer_api import webhooks

        if self._attempts is None:
            self._attempts = webhooks.AttemptLog()
        try:
            return webhooks.deliver(message, self.timeout, self._attempts)
        except webhooks.EndpointGone as exc:
            raise PermanentError(str(exc)) from exc
        except webhooks.DeliveryFailed as exc:
            raise TransientError(str(exc)) from exc

    def close(self) -> None:
        try:
            if self._attempts is not None:
                self._attempts.close()  # the batch's delivery log and its connections
        finally:
            self._session.close()


plugin = PluginSpec(
    name="webhook", kind="channel", channel="webhook", priority=10,
    label=_l("Signed webhook"),
    description=_l("Posts messages as signed JSON to your own system."),
    factory=Webhook, enabled_by_default=False,
    settings=(
        PluginSetting("url", _l("Address (https://...)"), default=""),
        PluginSetting("timeout", _l("Timeout in seconds"), default=10),
        PluginSetting("secret", _l("Signing secret"), secret=True),
    ),
)
