"""Online payments: a provider's confirmed payment is booked once, on the checkout's invoices."""
from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.notifications.models import Message
from app.payments.models import Allocation, Payment
from app.payments.online import checkouts
from app.payments.online import provider as providers
from app.payments.online.models import OnlineCheckout
from app.payments.online.provider import (
    CheckoutRequest,
    ProviderCheckout,
    ProviderError,
    ProviderPayment,
)
from tests.helpers import make_customer, make_invoice, money


class StubProvider:
    """A provider whose answers the test sets: what a PSP would say about its payments."""

    def __init__(self) -> None:
        self.payments: dict[str, ProviderPayment] = {}
        self.requests: list[CheckoutRequest] = []
        self.fail_with: ProviderError | None = None

    def is_configured(self) -> bool:
        return True

    def create_checkout(self, request: CheckoutRequest) -> ProviderCheckout:
        if self.fail_with:
            raise self.fail_with
        self.requests.append(request)
        provider_id = f"tr_stub{request.checkout_id}"
        self.payments[provider_id] = ProviderPayment(provider_id, "created", "open",
                                                     request.amount, "EUR")
        return ProviderCheckout(provider_id, f"https://psp.example.test/pay/{provider_id}")

    def fetch(self, provider_id: str) -> ProviderPayment:
        if self.fail_with:
            raise self.fail_with
        return self.payments[provider_id]

    def webhook_payment_id(self, form):
        return form.get("id")

    def set(self, provider_id: str, status: str, amount: str | None = None,
            currency: str = "EUR") -> None:
        old = self.payments[provider_id]
        self.payments[provider_id] = ProviderPayment(
            provider_id, status, status, Decimal(amount) if amount else old.amount, currency)


@pytest.fixture
def notification_defaults(app):
    from app.notifications.defaults import install_defaults

    install_defaults()


def _start(customer, parts, provider):
    checkout = checkouts.start_checkout(
        customer, parts, description="Invoices", language="fr",
        return_url_for=lambda i: f"http://portal.test/return/{i}",
        webhook_url_for=lambda name: f"http://portal.test/webhook/{name}",
        provider=("psp_stub", provider))
    db.session.commit()
    return checkout


def _payments() -> int:
    return db.session.scalar(select(func.count(Payment.id)))


def _thank_yous(customer) -> int:
    return db.session.scalar(select(func.count(Message.id)).where(
        Message.customer_id == customer.id, Message.event == "payment_received"))


def test_paid_checkout_books_once_on_its_invoices_and_thanks_the_customer(
        notification_defaults):
    customer = make_customer(language="fr")
    old = make_invoice(customer, total="100.00", due_in_days=-20)
    newer = make_invoice(customer, total="50.00", due_in_days=-5)
    other = make_invoice(customer, total="30.00", due_in_days=-30)  # not in the checkout
    provider = StubProvider()
    checkout = _start(customer, [(newer, Decimal("50.00")), (old, Decimal("100.00"))], provider)
    assert checkout.amount == money("150.00")
    assert provider.requests[0].amount == money("150.00")
    assert provider.requests[0].return_url.endswith(f"/return/{checkout.id}")

    checkouts.refresh(checkout, provider)  # still open at the provider: nothing booked
    db.session.commit()
    assert checkout.status == "created" and _payments() == 0

    provider.set(checkout.provider_id, "paid")
    checkouts.refresh(checkout, provider)
    db.session.commit()
    payment = checkout.payment
    assert checkout.status == "paid"
    assert payment.method == "online" and payment.external_id == checkout.provider_id
    assert payment.amount == money("150.00") and payment.unallocated_amount == 0
    for invoice in (old, newer):
        db.session.refresh(invoice)
        assert invoice.status == "paid" and invoice.open_amount == 0
    db.session.refresh(other)
    assert other.open_amount == money("30.00")  # only the checkout's invoices
    assert _thank_yous(customer) == 1

    # The same confirmation again (webhook repeated, return page reloaded): nothing more.
    checkout.status = "created"  # even if our row had not recorded it
    checkouts.apply_provider_payment(checkout, provider.fetch(checkout.provider_id))
    db.session.commit()
    assert _payments() == 1 and _thank_yous(customer) == 1
    assert db.session.scalar(select(func.count(Allocation.id))) == 2


def test_disputed_parts_are_not_paid_by_the_online_payment(notification_defaults):
    customer = make_customer()
    disputed = make_invoice(customer, total="100.00", due_in_days=-20)
    plain = make_invoice(customer, total="40.00", due_in_days=-2)
    provider = StubProvider()
    # The pay page offered 70.00 on the first (30.00 disputed) and 40.00 on the second.
    checkout = _start(customer, [(disputed, Decimal("70.00")), (plain, Decimal("40.00"))],
                      provider)
    provider.set(checkout.provider_id, "paid")
    checkouts.refresh(checkout, provider)
    db.session.commit()
    db.session.refresh(disputed)
    db.session.refresh(plain)
    assert disputed.open_amount == money("30.00")  # the disputed part stays open
    assert plain.status == "paid"


def test_overpayment_stays_as_credit_and_underpayment_pays_oldest_first(notification_defaults):
    customer = make_customer()
    first = make_invoice(customer, total="60.00", due_in_days=-20)
    second = make_invoice(customer, total="40.00", due_in_days=-10)
    provider = StubProvider()
    checkout = _start(customer, [(first, Decimal(60)), (second, Decimal(40))], provider)
    # The provider reports less than expected: we book what was received, oldest first.
    provider.set(checkout.provider_id, "paid", amount="70.00")
    checkouts.refresh(checkout, provider)
    db.session.commit()
    db.session.refresh(first)
    db.session.refresh(second)
    assert checkout.payment.amount == money("70.00")
    assert first.status == "paid" and second.open_amount == money("30.00")
    assert "70.00" in checkout.note

    again = make_invoice(customer, total="20.00", due_in_days=-3)
    more = _start(customer, [(again, Decimal("20.00"))], provider)
    provider.set(more.provider_id, "paid", amount="25.00")
    checkouts.refresh(more, provider)
    db.session.commit()
    assert more.payment.unallocated_amount == money("5.00")  # credit on the account
    db.session.refresh(second)
    assert second.open_amount == money("30.00")  # not spread over other invoices


def test_other_currency_is_not_booked(notification_defaults):
    customer = make_customer()
    invoice = make_invoice(customer, total="10.00", due_in_days=-1)
    provider = StubProvider()
    checkout = _start(customer, [(invoice, Decimal("10.00"))], provider)
    provider.set(checkout.provider_id, "paid", amount="10.00", currency="USD")
    checkouts.refresh(checkout, provider)
    db.session.commit()
    assert checkout.status == "paid" and checkout.payment is None and "USD" in checkout.note
    assert _payments() == 0


@pytest.mark.parametrize("status", ["failed", "expired", "cancelled"])
def test_failed_expired_cancelled_book_nothing(notification_defaults, status):
    customer = make_customer()
    invoice = make_invoice(customer, total="10.00", due_in_days=-1)
    provider = StubProvider()
    checkout = _start(customer, [(invoice, Decimal("10.00"))], provider)
    provider.set(checkout.provider_id, status)
    checkouts.refresh(checkout, provider)
    db.session.commit()
    assert checkout.status == status
    assert _payments() == 0 and _thank_yous(customer) == 0
    db.session.refresh(invoice)
    assert invoice.open_amount == money("10.00")
    # A later "paid" for a checkout we closed is not booked through it either.
    provider.set(checkout.provider_id, "paid")
    checkouts.refresh(checkout, provider)
    assert _payments() == 0


def test_provider_failure_at_creation_books_nothing_and_says_why(app):
    customer = make_customer()
    invoice = make_invoice(customer, total="10.00", due_in_days=-1)
    provider = StubProvider()
    provider.fail_with = ProviderError("timeout", "read timed out")
    from app.core.validation import ValidationError

    with app.test_request_context(headers={"Accept-Language": "en"}), \
            pytest.raises(ValidationError) as raised:
        _start(customer, [(invoice, Decimal("10.00"))], provider)
    assert "did not answer in time" in raised.value.errors["provider"][0]
    row = db.session.scalar(select(OnlineCheckout))
    assert row.status == "failed" and "timeout" in row.note
    assert _payments() == 0


def test_nothing_to_pay_and_another_customers_invoice_are_refused(app):
    from app.core.validation import ValidationError

    customer = make_customer()
    stranger = make_invoice(make_customer(), total="10.00", due_in_days=-1)
    with app.test_request_context(), pytest.raises(ValidationError):
        _start(customer, [(stranger, Decimal("10.00"))], StubProvider())
    assert db.session.scalar(select(func.count(OnlineCheckout.id))) == 0


def test_repeated_webhook_through_the_demo_provider_books_once(app, notification_defaults):
    from plugins.psp_demo import decide

    customer = make_customer()
    invoice = make_invoice(customer, total="25.00", due_in_days=-3)
    with app.test_request_context():
        name, provider = next((n, p) for n, p in providers.available_providers() if n == "psp_demo")
        checkout = checkouts.start_checkout(
            customer, [(invoice, Decimal("25.00"))], description="x", language="en",
            return_url_for=lambda i: "http://x/r", webhook_url_for=lambda n: "http://x/w",
            provider=(name, provider))
        db.session.commit()
    assert checkouts.handle_webhook("psp_demo", {"id": checkout.provider_id}) == "ok"
    assert _payments() == 0  # still open at the "provider"
    decide(checkout, pay=True)
    db.session.commit()
    for _ in range(3):
        checkouts.handle_webhook("psp_demo", {"id": checkout.provider_id})
    assert _payments() == 1 and _thank_yous(customer) == 1
    # Garbage and unknown ids are ignored, never an error.
    for form in ({}, {"id": "demo_0000000000000000"}, {"id": "<script>"}, {"id": "x" * 5000}):
        assert checkouts.handle_webhook("psp_demo", form) == "ignored"
    assert checkouts.handle_webhook("no_such_provider", {"id": checkout.provider_id}) == "ignored"
