"""Webhook endpoints a customer subscribes, and the events they receive.

Delivery goes through the outbox like every message (app/notifications/outbox.py): an event
that queues a customer message also queues, for each of the customer's enabled endpoints
that wants it, a Message on the "webhook" channel whose recipient is ``endpoint:<id>`` and
whose body is the event's JSON. The webhook channel plugin (plugins/webhook) hands those to
``deliver`` below, so retries with back-off, the sweep after a crash and "failed after N
attempts" are the outbox's. Domain services do not know about any of this: the outbox sends
a signal (``outbox.message_queued``) that ``fan_out`` listens to, and ORM events add what no
message announces (invoice issued, promise kept, plan completed).
"""
from __future__ import annotations

import json
import logging
import time
import uuid
from datetime import date, datetime
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import requests
from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import insert, select, text, update

from app.core import audit
from app.core.models import utcnow
from app.core.validation import ValidationError
from app.customer_api import signing, targets
from app.customer_api.models import WebhookAttempt, WebhookEndpoint
from app.extensions import db

log = logging.getLogger(__name__)

# The events a customer can subscribe to: API name -> label.
EVENTS = {
    "invoice.issued": _l("Invoice issued"),
    "invoice.due_soon": _l("Invoice due soon"),
    "reminder.sent": _l("Reminder sent (with its level)"),
    "payment.received": _l("Payment received"),
    "promise.kept": _l("Promise to pay kept"),
    "promise.broken": _l("Promise to pay broken"),
    "plan.completed": _l("Payment plan kept (completed)"),
    "plan.broken": _l("Payment plan broken"),
    "request.decided": _l("Request decided"),
    "test": _l("Test event"),
}
# The outbox events that mean one of the above (dunning events are "dunning.<tone>").
FROM_MESSAGE_EVENT = {
    "reminder_pre_due": "invoice.due_soon",
    "payment_received": "payment.received",
    "promise_broken": "promise.broken",
    "plan_broken": "plan.broken",
    "request_decided": "request.decided",
}
MAX_ENDPOINTS = 5
RECIPIENT_PREFIX = "endpoint:"


def disable_after() -> int:
    """Consecutive failed attempts after which an endpoint is switched off."""
    return int(current_app.config.get("CUSTAPI_WEBHOOK_DISABLE_AFTER", 10))


# --- endpoints --------------------------------------------------------------------------------

def clean_events(values: Any) -> list[str]:
    chosen = [v for v in (values or []) if v in EVENTS and v != "test"]
    if not chosen:
        raise ValidationError({"events": _("Choose at least one event.")})
    return sorted(set(chosen))


def add_endpoint(customer, url: Any, events: Any) -> tuple[WebhookEndpoint, str]:
    """A new endpoint and its signing secret (shown once; stored encrypted). Caller commits."""
    errors: dict[str, list[str]] = {}
    cleaned_url, cleaned_events = None, None
    try:
        cleaned_url = targets.check_url(url)
    except ValidationError as exc:
        errors.update(exc.errors)
    try:
        cleaned_events = clean_events(events)
    except ValidationError as exc:
        errors.update(exc.errors)
    if len(endpoints_of(customer.id)) >= MAX_ENDPOINTS:
        errors["url"] = [_("At most %(max)d webhook addresses.", max=MAX_ENDPOINTS)]
    if errors:
        raise ValidationError(errors)
    secret = signing.new_secret()
    endpoint = WebhookEndpoint(customer_id=customer.id, url=cleaned_url, secret=secret,
                               events=cleaned_events, enabled=True, consecutive_failures=0)
    db.session.add(endpoint)
    db.session.flush()
    _forget_any_endpoint()
    audit.record("webhook_added", "custapi_webhook", endpoint.id, customer_id=customer.id)
    return endpoint, secret


def endpoints_of(customer_id: int) -> list[WebhookEndpoint]:
    return list(db.session.scalars(select(WebhookEndpoint).where(
        WebhookEndpoint.customer_id == customer_id).order_by(WebhookEndpoint.id)))


def endpoint_of(customer_id: int, endpoint_id: int) -> WebhookEndpoint | None:
    return db.session.scalar(select(WebhookEndpoint).where(
        WebhookEndpoint.id == endpoint_id, WebhookEndpoint.customer_id == customer_id))


def set_enabled(endpoint: WebhookEndpoint, enabled: bool) -> None:
    endpoint.enabled = enabled
    _forget_any_endpoint()
    if enabled:
        endpoint.consecutive_failures = 0
        endpoint.disabled_at = endpoint.disabled_reason = None
    audit.record("webhook_enabled" if enabled else "webhook_disabled", "custapi_webhook",
                 endpoint.id, customer_id=endpoint.customer_id)


def remove_endpoint(endpoint: WebhookEndpoint) -> None:
    """Switched off for good (the delivery log stays): the caller commits."""
    endpoint.enabled = False
    endpoint.events = []
    endpoint.disabled_at = utcnow()
    endpoint.disabled_reason = "removed"
    audit.record("webhook_removed", "custapi_webhook", endpoint.id,
                 customer_id=endpoint.customer_id)


def recent_attempts(customer_id: int, limit: int = 20) -> list[WebhookAttempt]:
    return list(db.session.scalars(
        select(WebhookAttempt).join(WebhookEndpoint, WebhookEndpoint.id ==
                                    WebhookAttempt.endpoint_id)
        .where(WebhookEndpoint.customer_id == customer_id)
        .order_by(WebhookAttempt.id.desc()).limit(limit)))


# --- events -> outbox messages ----------------------------------------------------------------

def _plain(value: Any) -> Any:
    """The JSON form of a message context value (amounts as strings, dates ISO)."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items() if not callable(v)}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, SimpleNamespace):
        return _plain(vars(value))
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


# Context keys that are links into the portal or rendering helpers, not event data.
_SKIP = {"customer", "company", "portal_url", "pay_url", "plan_url", "login_url",
         "action_url", "text_body", "subject", "confirm_url"}


def event_data(context: dict[str, Any]) -> dict[str, Any]:
    return {k: _plain(v) for k, v in context.items() if k not in _SKIP}


def webhook_event_for(message_event: str) -> str | None:
    if message_event.startswith("dunning."):
        return "reminder.sent"
    return FROM_MESSAGE_EVENT.get(message_event)


def fan_out(customer, *, event: str, data: dict[str, Any], idempotency_key: str,
            only_endpoint: WebhookEndpoint | None = None) -> list:
    """Queue one webhook message per enabled endpoint of ``customer`` that wants ``event``
    (in the caller's transaction; the outbox enqueues them after the commit)."""
    from app.notifications import outbox
    from app.notifications.models import Message

    endpoints = [only_endpoint] if only_endpoint is not None else [
        e for e in endpoints_of(customer.id) if e.enabled and event in (e.events or [])]
    if not endpoints:
        return []
    session = db.session()
    queued = []
    for endpoint in endpoints:
        key = f"{idempotency_key}:wh{endpoint.id}"[:120]
        if outbox._find_existing(session, key) is not None:
            continue
        message_id = "msg_" + uuid.uuid4().hex
        body = json.dumps({"type": event, "id": message_id, "timestamp": utcnow().isoformat(),
                           "customer": customer.number, "data": data},
                          sort_keys=True, ensure_ascii=False, default=str)
        message = Message(customer=customer, channel="webhook",
                          recipient=f"{RECIPIENT_PREFIX}{endpoint.id}",
                          language=customer.language or "en", event=event[:60],
                          subject=message_id, body_text=body, attachments=[],
                          status="queued", idempotency_key=key, next_attempt_at=utcnow())
        session.add(message)
        outbox._remember(session, message)
        queued.append(message)
    return queued


def on_message_queued(customer, *, event: str, context: dict[str, Any], idempotency_key: str,
                      **_extra: Any) -> None:
    """outbox.message_queued receiver: the events customers' webhooks care about."""
    wanted = webhook_event_for(event)
    if wanted is None or customer is None or not _any_endpoint():
        return
    data = event_data(context)
    if wanted == "reminder.sent":
        level = context.get("level")
        data["level"] = _plain(level) if level is not None else None
    fan_out(customer, event=wanted, data=data, idempotency_key=idempotency_key)


_ANY = "custapi_any_endpoint"


def _any_endpoint() -> bool:
    """Whether any customer has an enabled endpoint: asked at most every few seconds per
    session, so that a dunning run or an import pays nothing while nobody uses webhooks."""
    session = db.session()
    cached = session.info.get(_ANY)
    if cached is None or time.monotonic() - cached[1] > 5:
        with session.no_autoflush:
            found = session.scalar(select(WebhookEndpoint.id).where(
                WebhookEndpoint.enabled.is_(True)).limit(1)) is not None
        cached = session.info[_ANY] = (found, time.monotonic())
    return cached[0]


def _forget_any_endpoint() -> None:
    db.session().info.pop(_ANY, None)


def send_test_event(endpoint: WebhookEndpoint) -> None:
    """The "send test event" button: one "test" message to this endpoint (caller commits)."""
    customer = endpoint.customer
    fan_out(customer, event="test", only_endpoint=endpoint,
            data={"text": "This is a test event from CreditDesk."},
            idempotency_key=f"webhook-test:{endpoint.id}:{uuid.uuid4().hex[:12]}")


# --- delivery (called by the webhook channel plugin) ----------------------------------------

class EndpointGone(Exception):
    """The endpoint was removed or switched off: the message will never go."""


class DeliveryFailed(Exception):
    """This attempt failed; the outbox tries again later (back-off)."""


def deliver(message, http: requests.Session | None = None, timeout: float = 10.0) -> str:
    """POST ``message`` to its endpoint, signed; log the attempt; switch the endpoint off
    after too many failures in a row. The log and the counters are written on a connection
    of their own: the outbox rolls its session back when an attempt fails."""
    endpoint_id = int(message.recipient.removeprefix(RECIPIENT_PREFIX))
    endpoint = db.session.get(WebhookEndpoint, endpoint_id)
    if endpoint is None or not endpoint.enabled:
        raise EndpointGone(f"webhook endpoint {endpoint_id} is switched off")
    body = (message.body_text or "").encode()
    started = time.monotonic()
    status_code, error = None, None
    try:
        url = targets.check_url(endpoint.url)
        headers = signing.headers(endpoint.secret, message.subject or f"msg_{message.id}",
                                  int(time.time()), body)
        response = (http or requests).post(url, data=body, headers=headers, timeout=timeout,
                                           allow_redirects=False)
        status_code = response.status_code
        if not 200 <= status_code < 300:
            error = f"HTTP {status_code}"
    except ValidationError as exc:
        error = "; ".join(m for v in exc.errors.values() for m in v)
    except requests.RequestException as exc:
        error = f"{type(exc).__name__}"
    duration = int((time.monotonic() - started) * 1000)
    _record_attempt(endpoint, message, status_code, error, duration)
    if error:
        raise DeliveryFailed(f"webhook endpoint {endpoint_id}: {error}")
    return f"webhook:{message.subject}"


def _record_attempt(endpoint: WebhookEndpoint, message, status_code: int | None,
                    error: str | None, duration: int) -> None:
    now = utcnow()
    switched = 0
    with db.engine.begin() as connection:
        if connection.dialect.name == "postgresql":  # a log line need not wait for the WAL
            connection.execute(text("SET LOCAL synchronous_commit TO OFF"))
        connection.execute(insert(WebhookAttempt).values(
            endpoint_id=endpoint.id, message_id=message.id, event=message.event,
            attempted_at=now, status_code=status_code, ok=error is None,
            error=(error or None) and error[:300], duration_ms=duration))
        if error is None:
            connection.execute(update(WebhookEndpoint).where(WebhookEndpoint.id == endpoint.id)
                               .values(consecutive_failures=0))
            return
        failures = connection.execute(
            update(WebhookEndpoint).where(WebhookEndpoint.id == endpoint.id)
            .values(consecutive_failures=WebhookEndpoint.consecutive_failures + 1)
            .returning(WebhookEndpoint.consecutive_failures)).scalar_one()
        if failures >= disable_after():
            switched = connection.execute(
                update(WebhookEndpoint).where(WebhookEndpoint.id == endpoint.id,
                                              WebhookEndpoint.enabled.is_(True))
                .values(enabled=False, disabled_at=now,
                        disabled_reason=f"{failures} failed deliveries in a row "
                                        f"(last: {error})"[:300])).rowcount
    if switched:  # told once the log's own transaction is over (SQLite: one writer)
        log.warning("webhook endpoint %s switched off", endpoint.id)
        _tell_customer_disabled(endpoint.id)


def _tell_customer_disabled(endpoint_id: int) -> None:
    """A message to the customer that their endpoint was switched off (through the outbox,
    in a session of its own so the failing delivery's rollback does not take it back)."""
    from app.customer_api.notices import notify_webhook_disabled

    try:
        notify_webhook_disabled(endpoint_id)
    except Exception:
        log.exception("could not tell the customer that webhook %s was switched off",
                      endpoint_id)
