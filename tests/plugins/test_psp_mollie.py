"""The Mollie plugin against a local fake of Mollie's Payments API v2 (real HTTP over loopback).

The fake checks what Mollie checks: the Bearer API key, the JSON body of a new payment (amount
as {currency, value "10.00"}, description, redirectUrl, locale), and answers like Mollie does
(201 with id and _links.checkout; 401/422 with a problem document; 404 for unknown ids).
"""
from __future__ import annotations

import json
import re
import threading
import time
from decimal import Decimal

import pytest
from sqlalchemy import func, select
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from app.core.plugins import get_plugin, plugin_config
from app.extensions import db
from app.payments.models import Payment
from app.payments.online import checkouts
from app.payments.online import provider as providers
from app.payments.online.models import OnlineCheckout
from app.payments.online.provider import CheckoutRequest, ProviderError
from tests.helpers import make_customer, make_invoice, money

API_KEY = "test_dHar4XY7LxsDOtmnkVtjNVWXLSlXsM"
LOCALES = {"en_US", "en_GB", "nl_NL", "nl_BE", "fr_FR", "fr_BE", "de_DE"}


class FakeMollie:
    def __init__(self) -> None:
        self.payments: dict[str, dict] = {}
        self.received: list[dict] = []
        self.delay = 0.0
        self.fail_status: int | None = None
        self.checkout_base = "https://www.mollie.com/checkout/select-method/"

    def problem(self, status: int, title: str, detail: str, field: str | None = None):
        body = {"status": status, "title": title, "detail": detail}
        if field:
            body["field"] = field
        return Response(json.dumps(body), status=status, content_type="application/hal+json")

    def __call__(self, environ, start_response):
        request = Request(environ)
        response = self.handle(request)
        return response(environ, start_response)

    def handle(self, request: Request) -> Response:
        if self.delay:
            time.sleep(self.delay)
        if request.path.startswith("/checkout/"):  # the hosted page, for a browser
            return Response("<!doctype html><title>Fake Mollie</title><h1>Fake Mollie checkout"
                            "</h1>", content_type="text/html")
        if request.headers.get("Authorization") != f"Bearer {API_KEY}":
            return self.problem(401, "Unauthorized Request",
                                "Missing authentication, or failed to authenticate")
        if self.fail_status:
            return self.problem(self.fail_status, "Service Unavailable", "Try again later")
        if request.method == "POST" and request.path == "/v2/payments":
            return self.create(request)
        match = re.fullmatch(r"/v2/payments/(tr_\w+)", request.path)
        if request.method == "GET" and match:
            payment = self.payments.get(match.group(1))
            if payment is None:
                return self.problem(404, "Not Found", "No payment exists with token "
                                    + match.group(1))
            return Response(json.dumps(payment), content_type="application/hal+json")
        return self.problem(404, "Not Found", "The resource does not exist")

    def create(self, request: Request) -> Response:
        try:
            body = json.loads(request.get_data(as_text=True))
        except ValueError:
            return self.problem(400, "Bad Request", "Invalid JSON")
        self.received.append(body)
        amount = body.get("amount") or {}
        if not re.fullmatch(r"\d+\.\d{2}", str(amount.get("value", ""))) \
                or amount.get("currency") != "EUR":
            return self.problem(422, "Unprocessable Entity", "The amount is invalid",
                                "amount.value")
        for required in ("description", "redirectUrl"):
            if not body.get(required):
                return self.problem(422, "Unprocessable Entity",
                                    f"The {required} is missing", required)
        if body.get("locale") and body["locale"] not in LOCALES:
            return self.problem(422, "Unprocessable Entity", "Invalid locale", "locale")
        payment_id = f"tr_{len(self.payments) + 1:04d}abcd"
        payment = {"resource": "payment", "id": payment_id, "mode": "test", "status": "open",
                   "amount": amount, "description": body["description"],
                   "metadata": body.get("metadata"), "redirectUrl": body["redirectUrl"],
                   "webhookUrl": body.get("webhookUrl"),
                   "createdAt": "2026-11-22T22:00:00+00:00",
                   "_links": {"checkout": {"href": f"{self.checkout_base}{payment_id}",
                                           "type": "text/html"}}}
        self.payments[payment_id] = payment
        return Response(json.dumps(payment), status=201, content_type="application/hal+json")

    def pay(self, payment_id: str, value: str | None = None) -> None:
        payment = self.payments[payment_id]
        payment["status"] = "paid"
        payment["paidAt"] = "2026-11-22T22:05:00+00:00"
        if value:
            payment["amount"] = {"currency": "EUR", "value": value}


@pytest.fixture
def fake_mollie():
    fake = FakeMollie()
    server = make_server("127.0.0.1", 0, fake, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    fake.url = f"http://127.0.0.1:{server.server_port}"
    yield fake
    server.shutdown()
    thread.join(5)


@pytest.fixture
def mollie(app, fake_mollie, monkeypatch):
    from app.notifications.defaults import install_defaults

    install_defaults()
    monkeypatch.setenv("CREDITDESK_PLUGIN_PSP_MOLLIE_API_KEY", API_KEY)
    row = plugin_config(get_plugin("psp_mollie"))
    row.enabled = True
    row.settings = {**(row.settings or {}), "base_url": fake_mollie.url, "timeout": 2}
    # Only Mollie here: the demo provider is switched off for these tests.
    plugin_config(get_plugin("psp_demo")).enabled = False
    db.session.commit()
    return fake_mollie


def _request(**changes) -> CheckoutRequest:
    values = {"checkout_id": 7, "amount": Decimal("10.5"), "currency": "EUR",
              "description": "Invoice INV-1", "customer_number": "C1", "language": "nl",
              "return_url": "https://pay.example.test/portal/payments/7/return",
              "webhook_url": "https://pay.example.test/portal/payments/webhook/psp_mollie"}
    values.update(changes)
    return CheckoutRequest(**values)


def test_create_and_fetch_speak_mollies_api(mollie):
    name, provider = providers.preferred_provider()
    assert name == "psp_mollie"
    created = provider.create_checkout(_request())
    sent = mollie.received[-1]
    assert sent["amount"] == {"currency": "EUR", "value": "10.50"}
    assert sent["locale"] == "nl_BE" and sent["metadata"]["checkout_id"] == 7
    assert sent["webhookUrl"].endswith("/webhook/psp_mollie")
    assert created.provider_id.startswith("tr_")
    assert created.checkout_url.startswith("https://www.mollie.com/checkout/")
    assert provider.fetch(created.provider_id).status == "created"
    mollie.pay(created.provider_id)
    paid = provider.fetch(created.provider_id)
    assert (paid.status, paid.amount, paid.currency) == ("paid", money("10.50"), "EUR")
    # A local address cannot be reached by Mollie: no webhookUrl (the return page confirms).
    provider.create_checkout(_request(webhook_url="http://127.0.0.1:5000/portal/x"))
    assert "webhookUrl" not in mollie.received[-1]


def test_wrong_key_timeouts_and_server_errors_are_provider_errors(mollie, monkeypatch):
    _name, provider = providers.preferred_provider()
    monkeypatch.setenv("CREDITDESK_PLUGIN_PSP_MOLLIE_API_KEY", "test_wrong")
    wrong = providers.provider_named("psp_mollie")
    with pytest.raises(ProviderError) as raised:
        wrong.create_checkout(_request())
    assert raised.value.kind == "refused" and "401" in raised.value.detail
    mollie.fail_status = 503
    with pytest.raises(ProviderError) as raised:
        provider.create_checkout(_request())
    assert raised.value.kind == "unavailable"
    mollie.fail_status = None
    mollie.delay = 3  # more than the 2 s timeout
    with pytest.raises(ProviderError) as raised:
        provider.create_checkout(_request())
    assert raised.value.kind == "timeout"
    mollie.delay = 0
    with pytest.raises(ProviderError):
        provider.fetch("tr_unknown")
    with pytest.raises(ProviderError):
        provider.fetch("../v2/refunds")  # never put a foreign id in our request path


def test_without_api_key_mollie_offers_nothing(app, fake_mollie, monkeypatch):
    monkeypatch.delenv("CREDITDESK_PLUGIN_PSP_MOLLIE_API_KEY", raising=False)
    plugin_config(get_plugin("psp_mollie")).enabled = True
    plugin_config(get_plugin("psp_demo")).enabled = False
    db.session.commit()
    assert providers.available_providers() == []


def test_webhook_fetches_the_truth_and_books_once(mollie, client):
    customer = make_customer(language="fr")
    invoice = make_invoice(customer, total="42.00", due_in_days=-3)
    with client.application.test_request_context():
        checkout = checkouts.start_checkout(
            customer, [(invoice, Decimal("42.00"))], description="Facture", language="fr",
            return_url_for=lambda i: f"http://127.0.0.1/portal/payments/{i}/return",
            webhook_url_for=lambda n: f"http://127.0.0.1/portal/payments/webhook/{n}")
        db.session.commit()
    assert mollie.received[-1]["locale"] == "fr_BE"
    hook = "/portal/payments/webhook/psp_mollie"
    # Mollie posts only the id; the body cannot make us book anything by itself.
    assert client.post(hook, data={"id": checkout.provider_id, "status": "paid"}).status_code \
        == 200
    assert db.session.scalar(select(func.count(Payment.id))) == 0
    mollie.pay(checkout.provider_id)
    for _ in range(2):
        assert client.post(hook, data={"id": checkout.provider_id}).status_code == 200
    db.session.expire_all()
    assert db.session.scalar(select(func.count(Payment.id))) == 1
    row = db.session.get(OnlineCheckout, checkout.id)
    assert row.status == "paid" and row.payment.external_id == checkout.provider_id
    assert db.session.get(type(invoice), invoice.id).status == "paid"
    # Garbage: 200 and nothing happens (never a 500).
    for body in ({}, {"id": "tr_nope0000"}, {"id": "'; DROP TABLE payment;--"}):
        assert client.post(hook, data=body).status_code == 200
    assert client.post(hook, data=b"\xff\xfe", content_type="application/json").status_code \
        == 200
    assert client.get(hook).status_code == 405


def test_webhook_when_mollie_is_down_asks_for_a_retry(mollie, client):
    customer = make_customer()
    invoice = make_invoice(customer, total="9.99", due_in_days=-3)
    with client.application.test_request_context():
        checkout = checkouts.start_checkout(
            customer, [(invoice, Decimal("9.99"))], description="x", language="en",
            return_url_for=lambda i: "http://127.0.0.1/r", webhook_url_for=lambda n: None)
        db.session.commit()
    mollie.pay(checkout.provider_id)
    mollie.fail_status = 502
    response = client.post("/portal/payments/webhook/psp_mollie", data={"id": checkout.provider_id})
    assert response.status_code == 503
    assert db.session.scalar(select(func.count(Payment.id))) == 0
    mollie.fail_status = None
    assert client.post("/portal/payments/webhook/psp_mollie",
                       data={"id": checkout.provider_id}).status_code == 200
    assert db.session.scalar(select(func.count(Payment.id))) == 1
