"""A pretend payment provider, so that `python run.py` shows the whole "pay online" journey.

Its "hosted checkout" is a page inside the portal (/portal/demo-checkout/<id>) with Pay and
Cancel buttons; pressing one records the outcome on the provider's side (kept in the checkout's
``provider_data``, as a real PSP keeps it in its own systems) and then calls the same webhook
handling a real provider's call goes through. No money moves.

Because pressing "Pay" marks invoices paid, it only works where nobody can be fooled: on the
embedded default (SQLite), in tests, or when CREDITDESK_PLUGIN_PSP_DEMO_ALLOW_EVERYWHERE=1 is
set deliberately (a staging server). Elsewhere it stays hidden even when enabled.
"""
from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from datetime import timedelta
from decimal import Decimal, InvalidOperation

from flask import current_app, url_for
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from app.core.models import utcnow
from app.core.plugins import PluginSetting, PluginSpec
from app.extensions import db
from app.payments.online.models import OnlineCheckout
from app.payments.online.provider import (
    CheckoutRequest,
    ProviderCheckout,
    ProviderError,
    ProviderPayment,
)

PAYMENT_ID = re.compile(r"^demo_[0-9a-f]{16}$")
NAME = "psp_demo"
# What the demo "PSP" says, in Mollie's words, mapped to ours.
STATUSES = {"open": "created", "paid": "paid", "canceled": "cancelled", "expired": "expired",
            "failed": "failed"}


class DemoProvider:
    def __init__(self, settings: dict) -> None:
        self.allow_everywhere = str(settings.get("allow_everywhere") or "").lower() in (
            "1", "true", "yes", "on")
        self.expire_minutes = int(settings.get("expire_minutes") or 60)

    def is_configured(self) -> bool:
        if self.allow_everywhere or current_app.testing:
            return True
        return str(current_app.config.get("SQLALCHEMY_DATABASE_URI", "")).startswith("sqlite")

    def create_checkout(self, request: CheckoutRequest) -> ProviderCheckout:
        checkout = db.session.get(OnlineCheckout, request.checkout_id)
        if checkout is None:
            raise ProviderError("refused", "unknown checkout")
        checkout.provider_data = {"status": "open", "amount": f"{request.amount:.2f}",
                                  "currency": request.currency, "method": request.method,
                                  "return_url": request.return_url}
        return ProviderCheckout(provider_id=f"demo_{secrets.token_hex(8)}",
                                checkout_url=url_for("portal.demo_checkout",
                                                     checkout_id=request.checkout_id))

    def fetch(self, provider_id: str) -> ProviderPayment:
        checkout = _checkout(provider_id)
        if checkout is None:
            raise ProviderError("not_found", provider_id)
        data = dict(checkout.provider_data or {})
        status = data.get("status", "open")
        if status == "open" and checkout.created_at and \
                utcnow() - checkout.created_at > timedelta(minutes=self.expire_minutes):
            status = "expired"
        return ProviderPayment(provider_id=provider_id, status=STATUSES.get(status, "created"),
                               provider_status=status, amount=_amount(data.get("amount")),
                               currency=data.get("currency"))

    def webhook_payment_id(self, form: Mapping[str, str]) -> str | None:
        value = (form.get("id") or "").strip()
        return value if PAYMENT_ID.match(value) else None


def decide(checkout: OnlineCheckout, pay: bool) -> None:
    """The customer pressed Pay or Cancel on the demo checkout page (provider side)."""
    data = dict(checkout.provider_data or {})
    if data.get("status", "open") == "open":
        data["status"] = "paid" if pay else "canceled"
        data["decided_at"] = utcnow().isoformat()
        checkout.provider_data = data


def _checkout(provider_id: str) -> OnlineCheckout | None:
    if not PAYMENT_ID.match(provider_id or ""):
        return None
    return db.session.scalar(select(OnlineCheckout).where(
        OnlineCheckout.provider == NAME, OnlineCheckout.provider_id == provider_id))


def _amount(value) -> Decimal | None:
    try:
        return Decimal(str(value)) if value is not None else None
    except InvalidOperation:
        return None


plugin = PluginSpec(
    name=NAME, kind="payment_provider", priority=90,
    label=_l("Demo payment provider"),
    description=_l("Simulates an online payment page inside the portal, for demonstrations. "
                   "No money moves; it only works on the embedded default or in tests."),
    factory=DemoProvider, enabled_by_default=True,
    settings=(
        PluginSetting("expire_minutes", _l("A demo payment expires after (minutes)"),
                      default=60),
        PluginSetting("allow_everywhere", _l("Allow outside the embedded default"),
                      secret=True),
    ),
)
