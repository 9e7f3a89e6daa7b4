"""Webhooks: signed the Standard Webhooks way (checked with the reference library), delivered
through the outbox with retries, logged, switched off after repeated failures, SSRF refused."""
from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import select, text
from standardwebhooks.webhooks import Webhook as ReferenceVerifier
from standardwebhooks.webhooks import WebhookVerificationError

from app.core.models import utcnow
from app.core.plugins import get_plugin, plugin_config
from app.core.validation import ValidationError
from app.customer_api import webhooks
from app.customer_api.models import WebhookAttempt, WebhookEndpoint
from app.extensions import db
from app.notifications.jobs import deliver_due_messages
from app.notifications.models import Message
from app.notifications.services import notify_payment_received
from app.payments.services import clean_payment, post_payment
from tests.customer_api.receiver import receiver


@pytest.fixture(autouse=True)
def webhook_plugin(app):
    plugin_config(get_plugin("webhook")).enabled = True
    db.session.commit()


def _subscribe(api, url, events=("payment.received", "invoice.issued", "test")):
    endpoint, secret = webhooks.add_endpoint(api.customer, url, list(events))
    db.session.commit()
    return endpoint, secret


def _retry_now():
    """Move every waiting retry to now and run the sweep (what the scheduler does later)."""
    db.session.execute(Message.__table__.update().where(Message.status == "queued")
                       .values(next_attempt_at=utcnow() - timedelta(seconds=1)))
    db.session.commit()
    deliver_due_messages()


def test_test_event_is_signed_and_verifies_with_the_reference_library(api):
    with receiver() as hook:
        endpoint, secret = _subscribe(api, hook.url)
        webhooks.send_test_event(endpoint)
        db.session.commit()  # the outbox delivers after the commit
        assert len(hook.received) == 1
        headers, body = hook.received[0]
        payload = ReferenceVerifier(secret).verify(body, headers)
        assert payload["type"] == "test" and payload["customer"] == api.customer.number
        tampered = body.replace(b"test", b"tost")
        with pytest.raises(WebhookVerificationError):
            ReferenceVerifier(secret).verify(tampered, headers)
    attempt = db.session.scalar(select(WebhookAttempt))
    assert attempt.status_code == 200 and attempt.ok


def test_payment_received_reaches_the_endpoint_through_the_outbox(api):
    with receiver() as hook:
        _endpoint, secret = _subscribe(api, hook.url)
        invoice = api.invoices[0]
        payment, _created = post_payment(clean_payment({
            "invoice_number": invoice.number, "amount": "300.00",
            "received_on": "2026-01-05"}))
        db.session.commit()
        notify_payment_received(payment)
        db.session.commit()
        events = [json.loads(body)["type"] for _h, body in hook.received]
        assert "payment.received" in events
        headers, body = hook.received[events.index("payment.received")]
        data = ReferenceVerifier(secret).verify(body, headers)["data"]
        assert data["payment_amount"] == "300.00"


def test_new_invoice_is_announced(api):
    from tests.helpers import make_invoice

    with receiver() as hook:
        _subscribe(api, hook.url)
        invoice = make_invoice(api.customer, total="42.00")
        types = [json.loads(b)["type"] for _h, b in hook.received]
        assert types == ["invoice.issued"]
        assert json.loads(hook.received[0][1])["data"]["invoice_number"] == invoice.number


def test_failures_are_retried_logged_and_switch_the_endpoint_off(api, app):
    app.config["CUSTAPI_WEBHOOK_DISABLE_AFTER"] = 3
    try:
        with receiver() as hook:
            hook.statuses = [500, 503]
            endpoint, _secret = _subscribe(api, hook.url)
            webhooks.send_test_event(endpoint)
            db.session.commit()
            message = db.session.scalar(select(Message).where(Message.channel == "webhook"))
            assert message.status == "queued" and message.attempts == 1  # back-off
            _retry_now()
            _retry_now()  # third attempt: 200
            db.session.refresh(message)
            assert message.status == "sent"
            codes = [a.status_code for a in db.session.scalars(
                select(WebhookAttempt).order_by(WebhookAttempt.id))]
            assert codes == [500, 503, 200]
            db.session.refresh(endpoint)
            assert endpoint.enabled and endpoint.consecutive_failures == 0
            # now it fails for good: three in a row switch it off and tell the customer
            hook.statuses = [500] * 10
            webhooks.send_test_event(endpoint)
            db.session.commit()
            _retry_now()
            _retry_now()
            db.session.refresh(endpoint)
            assert not endpoint.enabled and "3 failed deliveries" in endpoint.disabled_reason
            notice = db.session.scalar(select(Message).where(
                Message.event == "webhook_disabled"))
            assert notice is not None and notice.recipient == api.customer.email
            # a switched-off endpoint is not posted to again: the message fails
            before = len(hook.received)
            _retry_now()
            assert len(hook.received) == before
    finally:
        app.config.pop("CUSTAPI_WEBHOOK_DISABLE_AFTER", None)


def test_private_and_loopback_targets_are_refused(api, app):
    app.config["CUSTAPI_WEBHOOK_ALLOW_PRIVATE"] = False
    for url in ("https://127.0.0.1/hook", "https://10.1.2.3/x", "https://169.254.169.254/",
                "https://[::1]/x", "http://example.com/x", "https://localhost/x",
                "ftp://example.com"):
        with pytest.raises(ValidationError) as refused:
            webhooks.add_endpoint(api.customer, url, ["test", "payment.received"])
        assert "url" in refused.value.errors, url
    assert db.session.scalar(select(WebhookEndpoint)) is None


def test_secret_is_encrypted_at_rest(api):
    with receiver() as hook:
        endpoint, secret = _subscribe(api, hook.url)
    stored = db.session.execute(text("SELECT secret FROM custapi_webhook")).scalar_one()
    assert stored != secret and secret not in stored
    db.session.expire_all()
    assert db.session.get(WebhookEndpoint, endpoint.id).secret == secret
