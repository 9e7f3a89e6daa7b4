"""The company's own webhooks (ERP): the customers' webhook machinery with the company as
subscriber — every customer's events plus the records made inside CreditDesk, signed, logged,
switched off after failures; managed on the staff screen "ERP webhooks" and via the ERP API."""
from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import select
from standardwebhooks.webhooks import Webhook as ReferenceVerifier

from app.core.audit_models import AuditEvent
from app.core.plugins import get_plugin, plugin_config
from app.core.validation import ValidationError
from app.customer_api import webhooks
from app.customer_api.models import WebhookAttempt, WebhookEndpoint
from app.extensions import db
from app.invoices.models import CreditNote
from app.notifications.models import Message
from app.notifications.services import notify_payment_received
from app.payments.services import clean_payment, post_payment
from tests.api.support import ApiClient, jwt_for
from tests.customer_api.receiver import receiver
from tests.customer_api.test_webhooks import _retry_now
from tests.helpers import csrf_for


@pytest.fixture(autouse=True)
def webhook_plugin(app):
    plugin_config(get_plugin("webhook")).enabled = True
    db.session.commit()


def _company_endpoint(url, events=("credit_note.created", "payment.received")):
    endpoint, secret = webhooks.add_endpoint(webhooks.COMPANY, url, list(events))
    db.session.commit()
    return endpoint, secret


def _credit_note(customer, number="CN-1"):
    note = CreditNote(customer_id=customer.id, number=number, issue_date=date(2026, 1, 5),
                      amount=Decimal("25.00"), open_amount=Decimal("25.00"), status="open",
                      reason="Goodwill")
    db.session.add(note)
    db.session.commit()
    return note


def test_company_endpoint_hears_every_customers_events_and_records_made_here(api, other):
    with receiver() as hook:
        _endpoint, secret = _company_endpoint(hook.url)
        note = _credit_note(other.customer)
        payment, _created = post_payment(clean_payment({
            "invoice_number": api.invoices[0].number, "amount": "300.00",
            "received_on": "2026-01-05"}))
        db.session.commit()
        notify_payment_received(payment)
        db.session.commit()
        payloads = [ReferenceVerifier(secret).verify(body, headers)
                    for headers, body in hook.received]
    by_type = {p["type"]: p for p in payloads}
    assert set(by_type) == {"credit_note.created", "payment.received"}
    created = by_type["credit_note.created"]
    assert created["customer"] == other.customer.number
    assert created["data"]["number"] == note.number and created["data"]["amount"] == "25.00"
    assert "reason" not in created["data"]  # free text stays home
    assert by_type["payment.received"]["customer"] == api.customer.number


def test_status_change_of_a_record_flows_back_and_customers_do_not_get_company_events(api):
    with receiver() as mine, receiver() as company:
        webhooks.add_endpoint(api.customer, mine.url, ["payment.received"])
        _company_endpoint(company.url, ["credit_note.status_changed"])
        note = _credit_note(api.customer)
        db.session.refresh(note)
        note.status = "used"
        db.session.commit()
        assert mine.received == []
        (_headers, body), = company.received
        data = json.loads(body)["data"]
        assert data["status"] == "used" and data["previous_status"] == "open"


def test_customer_cannot_subscribe_to_company_events(api):
    with receiver() as hook, pytest.raises(ValidationError) as refused:
        webhooks.add_endpoint(api.customer, hook.url, ["credit_note.created"])
    assert list(refused.value.errors) == ["events"]


def test_company_endpoint_switched_off_after_failures_is_audited_not_mailed(api, app):
    app.config["CUSTAPI_WEBHOOK_DISABLE_AFTER"] = 2
    try:
        with receiver() as hook:
            hook.statuses = [500] * 5
            endpoint, _secret = _company_endpoint(hook.url)
            webhooks.send_test_event(endpoint)
            db.session.commit()
            _retry_now()
            db.session.refresh(endpoint)
            assert not endpoint.enabled and "2 failed deliveries" in endpoint.disabled_reason
        assert [a.status_code for a in db.session.scalars(select(WebhookAttempt))] == [500, 500]
        assert db.session.scalar(select(Message).where(
            Message.event == "webhook_disabled")) is None
        assert db.session.scalar(select(AuditEvent).where(
            AuditEvent.action == "webhook_switched_off")) is not None
    finally:
        app.config.pop("CUSTAPI_WEBHOOK_DISABLE_AFTER", None)


def test_erp_api_manages_endpoints_and_sends_a_test_event(app, client, api):
    erp = ApiClient(client, jwt_for(app, client, "ERP integration"))
    with receiver() as hook:
        customers_endpoint, _ = webhooks.add_endpoint(api.customer, hook.url,
                                                      ["payment.received"])
        db.session.commit()
        made = erp.post("/api/v1/webhooks", json={"url": hook.url,
                                                    "events": ["refund.created", "test"]})
        assert made.status_code == 201, made.get_json()
        body = made.get_json()
        assert body["secret"].startswith("whsec_") and body["events"] == ["refund.created"]
        listed = erp.get("/api/v1/webhooks").get_json()
        assert [e["id"] for e in listed["endpoints"]] == [body["id"]]
        assert "secret" not in listed["endpoints"][0] and "mandate.created" in listed["events"]
        assert erp.post(f"/api/v1/webhooks/{body['id']}/test").status_code == 202
        ReferenceVerifier(body["secret"]).verify(hook.received[0][1], hook.received[0][0])
    log = erp.get(f"/api/v1/webhooks/{body['id']}").get_json()["deliveries"]
    assert [(d["event"], d["status_code"]) for d in log] == [("test", 200)]
    # a customer's endpoint is not the company's: 404, never data
    assert erp.get(f"/api/v1/webhooks/{customers_endpoint.id}").status_code == 404
    assert erp.put(f"/api/v1/webhooks/{body['id']}", json={"enabled": "no"}).status_code == 422
    assert erp.put(f"/api/v1/webhooks/{body['id']}", json={"enabled": False}).status_code == 200
    assert erp.post(f"/api/v1/webhooks/{body['id']}/test").status_code == 422  # switched off
    assert erp.client.delete(f"/api/v1/webhooks/{body['id']}",
                             headers=erp.headers).status_code == 200
    assert erp.get("/api/v1/webhooks").get_json()["endpoints"] == []


def test_erp_api_refuses_private_targets_and_other_roles(app, client):
    app.config["CUSTAPI_WEBHOOK_ALLOW_PRIVATE"] = False
    erp = ApiClient(client, jwt_for(app, client, "ERP integration"))
    refused = erp.post("/api/v1/webhooks", json={"url": "https://127.0.0.1/h",
                                                  "events": ["refund.created"]})
    assert refused.status_code == 422 and "url" in refused.get_json()["errors"]
    odd = erp.post("/api/v1/webhooks", json={"url": 5, "events": 7})
    assert odd.status_code == 422 and set(odd.get_json()["errors"]) == {"url", "events"}
    clerk = ApiClient(client, jwt_for(app, client, "AR clerk"))
    assert clerk.post("/api/v1/webhooks", json={"url": "https://127.0.0.2/h",
                                                 "events": ["refund.created"]}).status_code == 403
    assert db.session.scalar(select(WebhookEndpoint)) is None


def test_staff_screen_adds_shows_the_secret_once_and_is_role_restricted(staff_client):
    manager = staff_client("Credit manager")
    with receiver() as hook:
        page = manager.post("/erp-webhooks/add", data={
            "url": hook.url, "events": ["dispute.created", "plan.status_changed"],
            "csrf_token": csrf_for(manager)})
        assert page.status_code == 200
        html = page.get_data(as_text=True)
        endpoint = db.session.scalar(select(WebhookEndpoint))
        assert endpoint.customer_id is None and endpoint.secret in html
        assert endpoint.secret not in manager.get("/erp-webhooks/").get_data(as_text=True)
        sent = manager.post(f"/erp-webhooks/{endpoint.id}/test",
                            data={"csrf_token": csrf_for(manager)})
        assert sent.status_code == 302 and len(hook.received) == 1
    no_csrf = manager.post(f"/erp-webhooks/{endpoint.id}/disable")
    assert no_csrf.status_code == 400
    bad = manager.post("/erp-webhooks/add", data={"url": "ftp://x", "events": [],
                                                   "csrf_token": csrf_for(manager)})
    assert bad.status_code == 400 and db.session.scalar(
        select(db.func.count(WebhookEndpoint.id))) == 1
    clerk = staff_client("AR clerk")
    assert clerk.get("/erp-webhooks/").status_code == 200  # reads
    refused = clerk.post(f"/erp-webhooks/{endpoint.id}/disable",
                         data={"csrf_token": csrf_for(clerk)})
    assert refused.status_code in (302, 403)
    db.session.refresh(endpoint)
    assert endpoint.enabled
