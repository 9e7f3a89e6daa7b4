"""The payment-provider contract: what a plugin of kind "payment_provider" implements.

A provider plugin's factory returns an object with this interface (see ``PaymentProvider``):

- ``is_configured()``: whether it can take payments here (API key set, ...);
- ``create_checkout(CheckoutRequest) -> ProviderCheckout``: the provider's payment id and the
  address of its hosted checkout, where we send the customer;
- ``fetch(provider_id) -> ProviderPayment``: the provider's current truth about a payment;
- ``webhook_payment_id(form) -> str | None``: which payment a webhook call is about. A webhook
  body is never trusted for anything else: the status is always fetched back from the provider.

Failures talking to the provider raise ``ProviderError(kind)``; the customer gets a translated
message for its kind and nothing is booked. Checkouts and booking: app.payments.online.checkouts.
"""
from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

from flask_babel import gettext as _

from app.core import plugins

log = logging.getLogger(__name__)
KIND = "payment_provider"


# --- the plugin interface ---------------------------------------------------------------------

@dataclass(frozen=True)
class CheckoutRequest:
    checkout_id: int
    amount: Decimal
    currency: str
    description: str
    customer_number: str
    language: str                  # fr / nl / en
    return_url: str                # where the provider sends the customer back
    webhook_url: str | None        # where the provider reports changes (None: not reachable)
    invoice_numbers: tuple[str, ...] = ()
    # The payment method the customer chose (Mollie's codes: bancontact, ideal, creditcard):
    # the provider's page opens on it. None: the provider offers its own choice.
    method: str | None = None


@dataclass(frozen=True)
class ProviderCheckout:
    provider_id: str
    checkout_url: str


@dataclass(frozen=True)
class ProviderPayment:
    provider_id: str
    status: str                    # created / paid / failed / expired / cancelled (ours)
    provider_status: str           # the provider's own word
    amount: Decimal | None = None
    currency: str | None = None
    paid_at: datetime | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


class ProviderError(Exception):
    """Talking to the provider failed. ``kind``: timeout / unavailable / refused / not_found."""

    def __init__(self, kind: str, detail: str = "") -> None:
        super().__init__(f"{kind}: {detail}" if detail else kind)
        self.kind = kind
        self.detail = detail


class PaymentProvider(Protocol):
    def is_configured(self) -> bool: ...

    def create_checkout(self, request: CheckoutRequest) -> ProviderCheckout: ...

    def fetch(self, provider_id: str) -> ProviderPayment: ...

    def webhook_payment_id(self, form: Mapping[str, str]) -> str | None: ...


def customer_message(error: ProviderError) -> str:
    """What the customer reads when the provider could not be used (nothing was charged)."""
    if error.kind == "timeout":
        return _("The payment service did not answer in time. Nothing was charged: please try "
                 "again in a few minutes, or pay by bank transfer.")
    return _("Online payment is not available right now. Nothing was charged: please try again "
             "later, or pay by bank transfer.")


# --- which providers ----------------------------------------------------------------------------

def available_providers() -> list[tuple[str, Any]]:
    """(name, provider) of every enabled and configured provider, preferred (priority) first."""
    found = []
    for spec in sorted(plugins.enabled_plugins(KIND), key=lambda s: (s.priority, s.name)):
        try:
            provider = plugins.build(spec.name)
            if provider.is_configured():
                found.append((spec.name, provider))
        except Exception:  # a broken plugin hides its button; it does not break the page
            log.exception("payment provider %s could not be built", spec.name)
    return found


def preferred_provider() -> tuple[str, Any] | None:
    found = available_providers()
    return found[0] if found else None


def provider_named(name: str) -> Any | None:
    try:
        spec = plugins.get_plugin(name)
    except plugins.PluginUnavailable:
        return None
    if spec.kind != KIND:
        return None
    try:
        return plugins.build(name)
    except plugins.PluginUnavailable:
        return None
