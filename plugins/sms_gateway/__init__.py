"""SMS through the Vonage (formerly Nexmo) SMS API: https://rest.nexmo.com/sms/json.

Vonage is a widely used gateway with a plain REST API: one form POST per message, answered with
a JSON status per message part. The API key and secret come from the environment
(CREDITDESK_PLUGIN_SMS_GATEWAY_API_KEY / _API_SECRET); staff set the sender name and, for tests
or a regional endpoint, the base URL. Our idempotency key travels as ``client-ref`` so that a
copy sent twice can be matched in Vonage's delivery receipts.
"""
from __future__ import annotations

import re

import requests
from flask_babel import lazy_gettext as _l

from app.core.plugins import PluginSetting, PluginSpec
from app.notifications.channels import PermanentError, TransientError

# Vonage status codes worth another try: throttled, internal error, communications failure.
TRANSIENT_STATUSES = {"1", "5", "13"}


class VonageSms:
    def __init__(self, settings: dict) -> None:
        self.base_url = (settings.get("base_url") or "https://rest.nexmo.com").rstrip("/")
        self.sender = settings.get("sender") or "CreditDesk"
        self.api_key = settings.get("api_key") or ""
        self.api_secret = settings.get("api_secret") or ""
        self.timeout = float(settings.get("timeout") or 15)
        self._session = requests.Session()

    def is_configured(self) -> bool:
        return bool(self.api_key and self.api_secret)

    def send(self, message) -> str:
        text = message.body_text.strip()
        data = {"api_key": self.api_key, "api_secret": self.api_secret, "from": self.sender,
                "to": international_number(message.recipient), "text": text,
                "client-ref": message.idempotency_key[:40]}
        if any(ord(ch) > 127 for ch in text):
            data["type"] = "unicode"  # accents: é, ë ... outside the GSM default alphabet
        try:
            response = self._session.post(f"{self.base_url}/sms/json", data=data,
                                          timeout=self.timeout)
        except requests.RequestException as exc:
            raise TransientError(f"SMS gateway unreachable: {exc}") from exc
        if response.status_code == 429 or response.status_code >= 500:
            raise TransientError(f"SMS gateway answered HTTP {response.status_code}")
        if response.status_code >= 400:
            raise PermanentError(f"SMS gateway refused the request: HTTP {response.status_code}")
        try:
            parts = response.json()["messages"]
        except (ValueError, KeyError, TypeError) as exc:
            raise TransientError("SMS gateway gave an unreadable answer") from exc
        ids = []
        for part in parts:
            status = str(part.get("status"))
            if status != "0":
                error = f"SMS gateway status {status}: {part.get('error-text', '')}".strip()
                raise (TransientError if status in TRANSIENT_STATUSES else PermanentError)(error)
            ids.append(str(part.get("message-id")))
        return ",".join(ids)

    def close(self) -> None:
        self._session.close()


def international_number(phone: str) -> str:
    """+32 470 12 34 56 / 0032470123456 -> 32470123456 (what Vonage expects)."""
    digits = re.sub(r"\D", "", phone or "")
    if phone.strip().startswith("00"):
        digits = digits[2:]
    if not digits or (digits.startswith("0") and not phone.strip().startswith("+")):
        raise PermanentError(f"{phone!r} is not an international phone number (+32...)")
    return digits


plugin = PluginSpec(
    name="sms_gateway", kind="channel", channel="sms", priority=10,
    label=_l("SMS (Vonage SMS API)"),
    description=_l("Sends SMS through Vonage's SMS API to customers who opted in."),
    factory=VonageSms, enabled_by_default=False,
    settings=(
        PluginSetting("sender", _l("Sender name or number"), default="CreditDesk"),
        PluginSetting("base_url", _l("API address"), default="https://rest.nexmo.com"),
        PluginSetting("timeout", _l("Timeout in seconds"), default=15),
        PluginSetting("api_key", _l("API key"), secret=True),
        PluginSetting("api_secret", _l("API secret"), secret=True),
    ),
)
