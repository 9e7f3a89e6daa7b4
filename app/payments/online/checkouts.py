"""Paying online: a checkout through a payment-provider plugin, and booking what it paid.

The provider contract (what a plugin implements, which providers are available) is
app.payments.online.provider.

A checkout confirmed as paid becomes one Payment (method "online", external_id = the provider's
id, so a repeated webhook or a return page opened twice books nothing twice), allocated to the
checkout's invoices oldest first, up to what the customer chose to pay on each; the rest stays
as credit. book_payment's consequences (invoice paid, so its reminders stop; balance; thank-you
message) are applied in the same transaction.
"""
from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app.core.models import ZERO, utcnow
from app.core.time import BUSINESS_TZ, business_today
from app.core.validation import ValidationError
from app.customers.models import Customer
from app.extensions import db
from app.invoices.models import OPEN_STATUSES, Invoice
from app.payments.consequences import Consequences
from app.payments.models import Payment
from app.payments.online.models import FINAL_STATUSES, OnlineCheckout
from app.payments.online.provider import (
    CheckoutRequest,
    ProviderError,
    ProviderPayment,
    customer_message,
    preferred_provider,
    provider_named,
)
from app.payments.services import allocate, book_payment

log = logging.getLogger(__name__)
CENT = Decimal("0.01")


# --- starting a checkout ------------------------------------------------------------------------

def start_checkout(customer: Customer, parts: Sequence[tuple[Invoice, Decimal]], *,
                   description: str, return_url_for, webhook_url_for, language: str,
                   provider: tuple[str, Any] | None = None,
                   method: str | None = None) -> OnlineCheckout:
    """Create the checkout at the provider for ``parts`` (invoice, amount to pay on it).

    ``return_url_for(checkout_id)`` / ``webhook_url_for(provider_name)`` build our addresses.
    Raises ValidationError (translated) when there is nothing to pay or the provider fails;
    the checkout row then stays as "failed" for staff to see. Caller commits.
    """
    parts = [(invoice, Decimal(amount).quantize(CENT)) for invoice, amount in parts
             if invoice.customer_id == customer.id and amount > 0]
    total = sum((amount for _invoice, amount in parts), ZERO)
    if not parts or total < CENT:
        raise ValidationError({"amount": [_("There is nothing to pay online.")]})
    provider = provider or preferred_provider()
    if provider is None:
        raise ValidationError({"provider": [_("Online payment is not available right now. "
                                              "Please pay by bank transfer.")]})
    name, instance = provider
    checkout = OnlineCheckout(
        customer_id=customer.id, provider=name, amount=total, currency="EUR",
        description=description[:200], status="created",
        invoices=[{"id": invoice.id, "amount": str(amount)} for invoice, amount in parts])
    db.session.add(checkout)
    db.session.flush()
    request = CheckoutRequest(
        checkout_id=checkout.id, amount=total, currency="EUR", description=description[:200],
        customer_number=customer.number, language=language,
        return_url=return_url_for(checkout.id), webhook_url=webhook_url_for(name),
        invoice_numbers=tuple(invoice.number for invoice, _amount in parts), method=method)
    try:
        created = instance.create_checkout(request)
    except ProviderError as error:
        log.warning("checkout %s at %s failed: %s", checkout.id, name, error)
        checkout.status, checkout.note = "failed", f"create: {error}"[:1000]
        db.session.commit()  # keep the failed attempt for staff; nothing was booked
        raise ValidationError({"provider": [customer_message(error)]}) from error
    checkout.provider_id = created.provider_id
    checkout.checkout_url = created.checkout_url
    return checkout


# --- confirming -----------------------------------------------------------------------------------

def customer_checkout(customer_id: int, checkout_id: int) -> OnlineCheckout | None:
    """The checkout if it belongs to this customer (None otherwise: the route answers 404)."""
    return db.session.scalar(select(OnlineCheckout).where(
        OnlineCheckout.id == checkout_id, OnlineCheckout.customer_id == customer_id))


def refresh(checkout: OnlineCheckout, provider: Any | None = None) -> OnlineCheckout:
    """Fetch the provider's truth and apply it (book when paid). Caller commits.

    A provider that cannot be reached leaves the checkout as it was (ProviderError raised).
    """
    if checkout.status in FINAL_STATUSES or not checkout.provider_id:
        return checkout
    provider = provider or provider_named(checkout.provider)
    if provider is None:
        raise ProviderError("unavailable", f"provider {checkout.provider} is not enabled")
    _lock(checkout)
    if checkout.status in FINAL_STATUSES:  # another request confirmed it while we waited
        return checkout
    apply_provider_payment(checkout, provider.fetch(checkout.provider_id))
    return checkout


def apply_provider_payment(checkout: OnlineCheckout, found: ProviderPayment) -> Payment | None:
    """Record what the provider says; a paid checkout is booked once. Caller commits."""
    if found.provider_id != checkout.provider_id:
        raise ProviderError("refused", "the provider answered about another payment")
    checkout.provider_status = found.provider_status[:20]
    if checkout.status in FINAL_STATUSES:
        return checkout.payment
    if found.status == "paid":
        return book_checkout(checkout, found)
    if found.status in ("failed", "expired", "cancelled"):
        checkout.status = found.status
    return None


def book_checkout(checkout: OnlineCheckout, found: ProviderPayment) -> Payment | None:
    """Turn a paid checkout into a booked Payment, with its consequences, exactly once."""
    checkout.status = "paid"
    checkout.paid_at = found.paid_at or utcnow()
    existing = db.session.scalar(select(Payment).where(Payment.external_id == _external_id(
        checkout)))
    if existing is not None:
        checkout.payment = existing
        return existing
    currency = (found.currency or checkout.currency).upper()
    amount = found.amount if found.amount is not None else checkout.amount
    if currency != checkout.currency:
        # Money in another currency cannot be allocated to EUR invoices: staff decide.
        checkout.note = (f"paid {amount} {currency} instead of {checkout.amount} "
                         f"{checkout.currency}: not booked, to review")
        log.error("checkout %s: %s", checkout.id, checkout.note)
        return None
    if amount != checkout.amount:
        # The provider's amount is what was received: book that, never what we expected.
        checkout.note = f"paid {amount} instead of {checkout.amount}"
        log.warning("checkout %s: %s", checkout.id, checkout.note)
    received_on = (checkout.paid_at.astimezone(BUSINESS_TZ).date()
                   if checkout.paid_at else business_today())
    consequences = Consequences()
    payment = book_payment(
        amount=amount, received_on=received_on, customer_id=checkout.customer_id,
        fill_oldest=False, method="online", rule="online", external_id=_external_id(checkout),
        communication=(checkout.description or "")[:200], consequences=consequences)
    for invoice, part in _invoice_parts(checkout):
        room = min(part, invoice.open_amount, payment.unallocated_amount)
        if room > 0 and invoice.status in OPEN_STATUSES:
            allocate(payment, invoice, room, "online", consequences=consequences)
    checkout.payment = payment
    # Balances and the thank-you message, in this transaction. A concurrent booking of the
    # same provider payment fails here on Payment.external_id (unique): the caller rolls back.
    consequences.apply()
    return payment


def _external_id(checkout: OnlineCheckout) -> str:
    return checkout.provider_id or ""


def _invoice_parts(checkout: OnlineCheckout) -> list[tuple[Invoice, Decimal]]:
    amounts = {int(part["id"]): Decimal(str(part["amount"])) for part in checkout.invoices or []}
    if not amounts:
        return []
    invoices = db.session.scalars(select(Invoice).where(
        Invoice.id.in_(amounts), Invoice.customer_id == checkout.customer_id)).all()
    ordered = sorted(invoices, key=lambda i: (i.due_date, i.id))
    return [(invoice, amounts[invoice.id]) for invoice in ordered]


def _lock(checkout: OnlineCheckout) -> None:
    """Serialise confirmations of one checkout (two webhooks, or webhook and return page)."""
    if db.engine.dialect.name == "postgresql":
        db.session.execute(select(OnlineCheckout).where(OnlineCheckout.id == checkout.id)
                           .with_for_update().execution_options(populate_existing=True))


def handle_webhook(provider_name: str, form: Mapping[str, str]) -> str:
    """A provider says a payment changed: fetch its truth and apply it. Commits.

    Returns "ok", "ignored" (not ours, or garbage: nothing to do) or raises ProviderError
    when the provider cannot be reached (the route asks the provider to retry).
    """
    provider = provider_named(provider_name)
    if provider is None:
        return "ignored"
    provider_id = provider.webhook_payment_id(form)
    if not provider_id:
        return "ignored"
    checkout = db.session.scalar(select(OnlineCheckout).where(
        OnlineCheckout.provider == provider_name, OnlineCheckout.provider_id == provider_id))
    if checkout is None:
        return "ignored"
    try:
        refresh(checkout, provider)
        db.session.commit()
    except IntegrityError:
        db.session.rollback()  # booked by a concurrent call: nothing more to do
    except Exception:
        db.session.rollback()
        raise
    return "ok"
