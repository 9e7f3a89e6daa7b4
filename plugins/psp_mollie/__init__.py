"""Pay online with Mollie (Bancontact, iDEAL, cards, ...) through its Payments API v2.

https://docs.mollie.com/reference/v2/payments-api: ``POST /v2/payments`` creates a payment and
answers its id (``tr_...``) and the hosted checkout address (``_links.checkout.href``);
``GET /v2/payments/{id}`` tells its status (open, pending, authorized, paid, failed, canceled,
expired). Mollie's webhook posts only ``id=tr_...`` (form data): the status is always fetched
back from the API, so a forged webhook can at most make us ask Mollie.

The API key comes from the environment (CREDITDESK_PLUGIN_PSP_MOLLIE_API_KEY: ``test_...`` or
``live_...``). Staff set the payment method (empty: the customer chooses on Mollie's page),
and, for tests or a proxy, the API address.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal, InvalidOperation
from urllib.parse import urlsplit

import requests
from flask_babel import lazy_gettext as _l

from app.core.plugins import PluginSetting, PluginSpec
from app.payments.online.provider import (
    CheckoutRequest,
    ProviderCheckout,
    ProviderError,
    ProviderPayment,
)

PAYMENT_ID = re.compile(r"^tr_[A-Za-z0-9]{1,64}$")
STATUSES = {"paid": "paid", "failed": "failed", "expired": "expired", "canceled": "cancelled",
            "open": "created", "pending": "created", "authorized": "created"}


class MolliePayments:
    def __init__(self, settings: dict) -> None:
        self.base_url = (settings.get("base_url") or "https://api.mollie.com").rstrip("/")
        self.api_key = settings.get("api_key") or ""
        self.method = (settings.get("method") or "").strip()
        self.country = (settings.get("country") or "BE").strip().upper()
        self.timeout = float(settings.get("timeout") or 10)

    def is_configured(self) -> bool:
        return bool(self.api_key)

    # -- calls --
    def _call(self, method: str, path: str, **kwargs) -> dict:
        headers = {"Authorization": f"Bearer {self.api_key}", "Accept": "application/json"}
        try:
            response = requests.request(method, f"{self.base_url}{path}", headers=headers,
                                        timeout=self.timeout, **kwargs)
        except requests.Timeout as exc:
            raise ProviderError("timeout", str(exc)) from exc
        except requests.RequestException as exc:
            raise ProviderError("unavailable", str(exc)) from exc
        if response.status_code == 404:
            raise ProviderError("not_found", f"HTTP 404 {path}")
        if response.status_code >= 400:
            raise ProviderError("unavailable" if response.status_code >= 500 else "refused",
                                f"HTTP {response.status_code}: {_detail(response)}")
        try:
            body = response.json()
        except ValueError as exc:
            raise ProviderError("unavailable", "unreadable answer") from exc
        if not isinstance(body, dict):
            raise ProviderError("unavailable", "unreadable answer")
        return body

    def create_checkout(self, request: CheckoutRequest) -> ProviderCheckout:
        payload = {
            "amount": {"currency": request.currency, "value": f"{request.amount:.2f}"},
            "description": request.description[:255],
            "redirectUrl": request.return_url,
            "metadata": {"checkout_id": request.checkout_id,
                         "customer_number": request.customer_number},
            "locale": _locale(request.language, self.country),
        }
        # Mollie refuses a webhook it cannot reach (localhost): then the return page confirms.
        if request.webhook_url and _public(request.webhook_url):
            payload["webhookUrl"] = request.webhook_url
        if request.method or self.method:  # the customer's choice, else the configured one
            payload["method"] = request.method or self.method
        body = self._call("POST", "/v2/payments", json=payload)
        provider_id = str(body.get("id") or "")
        checkout = ((body.get("_links") or {}).get("checkout") or {}).get("href")
        if not PAYMENT_ID.match(provider_id) or not checkout:
            raise ProviderError("unavailable", "no payment id or checkout link in the answer")
        return ProviderCheckout(provider_id=provider_id, checkout_url=checkout)

    def fetch(self, provider_id: str) -> ProviderPayment:
        if not PAYMENT_ID.match(provider_id or ""):
            raise ProviderError("not_found", "not a Mollie payment id")
        body = self._call("GET", f"/v2/payments/{provider_id}")
        if body.get("id") != provider_id:
            raise ProviderError("unavailable", "answer about another payment")
        status = str(body.get("status") or "")
        amount = body.get("amount") or {}
        try:
            value = Decimal(str(amount.get("value"))).quantize(Decimal("0.01"))
        except (InvalidOperation, TypeError, AttributeError):
            value = None
        return ProviderPayment(
            provider_id=provider_id, status=STATUSES.get(status, "created"),
            provider_status=status, amount=value, currency=amount.get("currency"),
            paid_at=_timestamp(body.get("paidAt")), metadata=body.get("metadata") or {})

    def webhook_payment_id(self, form: Mapping[str, str]) -> str | None:
        value = (form.get("id") or "").strip()
        return value if PAYMENT_ID.match(value) else None


def _detail(response: requests.Response) -> str:
    try:
        body = response.json()
        return f"{body.get('title', '')} {body.get('detail', '')}".strip()[:300]
    except (ValueError, AttributeError):
        return response.text[:300]


def _locale(language: str, country: str) -> str:
    """Mollie's page in the customer's language: fr_BE / nl_BE, or fr_FR / nl_NL, en_US."""
    if language == "fr":
        return "fr_FR" if country == "FR" else "fr_BE"
    if language == "nl":
        return "nl_NL" if country == "NL" else "nl_BE"
    return "en_US"


def _public(url: str) -> bool:
    host = (urlsplit(url).hostname or "").lower()
    return bool(host) and host not in ("localhost", "127.0.0.1", "::1") \
        and not host.endswith(".local")


def _timestamp(value) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value)) if value else None
    except ValueError:
        return None


plugin = PluginSpec(
    name="psp_mollie", kind="payment_provider", priority=10,
    label=_l("Mollie (online payment)"),
    description=_l("Customers pay online with Bancontact, iDEAL, cards and more on Mollie's "
                   "payment page; payments are booked when Mollie confirms them."),
    factory=MolliePayments, enabled_by_default=False,
    settings=(
        PluginSetting("method", _l("Payment method (empty: the customer chooses)"), default=""),
        PluginSetting("country", _l("Country for the payment page language (BE, NL, FR)"),
                      default="BE"),
        PluginSetting("base_url", _l("API address"), default="https://api.mollie.com"),
        PluginSetting("timeout", _l("Timeout in seconds"), default=10),
        PluginSetting("api_key", _l("API key"), secret=True),
    ),
)
