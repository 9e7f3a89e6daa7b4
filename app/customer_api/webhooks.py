"""Webhook endpoints, and the events they receive: one implementation for two subscribers.

A **customer** subscribes their own endpoints (portal "Connected apps", customer API) to the
events about their account (EVENTS). The **company** itself (its ERP, through the staff screen
"ERP webhooks" or the ERP API /api/v1/webhooks) subscribes endpoints whose ``customer_id`` is
NULL to the same events for every customer, plus what is made inside CreditDesk (credit notes,
write-offs, refunds, mandates, payment plans, disputes: COMPANY_EVENTS). Everything below —
signing, SSRF refusal, outbox delivery with retries, the delivery log, the test event and
auto-disable — is the same code for both; functions take the subscriber as ``customer_id``
(None: the company).

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
# Records made inside CreditDesk that flow back to the company's own systems (events.py reads
# them from the ORM's changes): "<kind>.created" and "<kind>.status_changed".
RECORD_KINDS = {
    "credit_note": _l("Credit note"), "write_off": _l("Write-off"), "refund": _l("Refund"),
    "mandate": _l("Direct-debit mandate"), "plan": _l("Payment plan"), "dispute": _l("Dispute"),
}
COMPANY_EVENTS = {
    **{k: v for k, v in EVENTS.items() if k != "test"},
    **{f"{kind}.created": _l("%(kind)s created", kind=label)
       for kind, label in RECORD_KINDS.items()},
    **{f"{kind}.status_changed": _l("%(kind)s status changed", kind=label)
       for kind, label in RECORD_KINDS.items()},
    "test": EVENTS["test"],
}
MAX_ENDPOINTS = 5
MAX_COMPANY_ENDPOINTS = 20
RECIPIENT_PREFIX = "endpoint:"
COMPANY = None  # the subscriber "the company itself" (its endpoints have no customer)


def events_for(customer_id: int | None) -> dict:
    """The events this subscriber may choose from (API name -> label)."""
    return EVENTS if customer_id is not None else COMPANY_EVENTS


def disable_after() -> int:
    """Consecutive failed attempts after which an endpoint is switched off."""
    return int(current_app.config.get("CUSTAPI_WEBHOOK_DISABLE_AFTER", 10))


# --- endpoints --------------------------------------------------------------------------------

def clean_events(values: Any, company: bool = False) -> list[str]:
    offered = COMPANY_EVENTS if company else EVENTS
    if isinstance(values, str):
        values = [values]
    elif not isinstance(values, (list, tuple)):
        values = []  # a number or an object from a JSON body: nothing chosen
    chosen = [v for v in (values or []) if isinstance(v, str) and v in offered and v != "test"]
    if not chosen:
        raise ValidationError({"events": _("Choose at least one event.")})
    return sorted(set(chosen))


def add_endpoint(customer, url: Any, events: Any) -> tuple[WebhookEndpoint, str]:
    """A new endpoint of ``customer`` (None: the company's own) and its signing secret (shown
    once; stored encrypted). The caller commits; ValidationError: nothing changed."""
    customer_id = customer.id if customer is not None else COMPANY
    errors: dict[str, list[str]] = {}
    cleaned_url, cleaned_events = None, None
    try:
        cleaned_url = targets.check_url(url)
    except ValidationError as exc:
        errors.update(exc.errors)
    try:
        cleaned_events = clean_events(events, company=customer_id is None)
    except ValidationError as exc:
        errors.update(exc.errors)
    most = MAX_ENDPOINTS if customer_id is not None else MAX_COMPANY_ENDPOINTS
    if len([e for e in endpoints_of(customer_id) if e.disabled_reason != "removed"]) >= most:
        errors["url"] = [_("At most %(max)d webhook addresses.", max=most)]
    if errors:
        raise ValidationError(errors)
    secret = signing.new_secret()
    endpoint = WebhookEndpoint(customer_id=customer_id, url=cleaned_url, secret=secret,
                               events=cleaned_events, enabled=True, consecutive_failures=0)
    db.session.add(endpoint)
    db.session.flush()
    _forget_any_endpoint()
    audit.record("webhook_added", "custapi_webhook", endpoint.id, customer_id=customer_id)
    return endpoint, secret


def _owned_by(customer_id: int | None):
    return (WebhookEndpoint.customer_id.is_(None) if customer_id is None
            else WebhookEndpoint.customer_id == customer_id)


def endpoints_of(customer_id: int | None) -> list[WebhookEndpoint]:
    """The subscriber's endpoints (None: the company's), removed ones included (their log)."""
    return list(db.session.scalars(select(WebhookEndpoint).where(
        _owned_by(customer_id)).order_by(WebhookEndpoint.id)))


def endpoint_of(customer_id: int | None, endpoint_id: int) -> WebhookEndpoint | None:
    """One endpoint of this subscriber, or None (another subscriber's id is not found)."""
    return db.session.scalar(select(WebhookEndpoint).where(
        WebhookEndpoint.id == endpoint_id, _owned_by(customer_id)))


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
    _forget_any_endpoint()
    audit.record("webhook_removed", "custapi_webhook", endpoint.id,
                 customer_id=endpoint.customer_id)


def recent_attempts(customer_id: int | None, limit: int = 20,
                    endpoint_id: int | None = None) -> list[WebhookAttempt]:
    """The subscriber's last delivery attempts, newest first (one endpoint's if given)."""
    query = (select(WebhookAttempt).join(WebhookEndpoint, WebhookEndpoint.id ==
                                         WebhookAttempt.endpoint_id)
             .where(_owned_by(customer_id)))
    if endpoint_id is not None:
        query = query.where(WebhookAttempt.endpoint_id == endpoint_id)
    return list(db.session.scalars(query.order_by(WebhookAttempt.id.desc()).limit(limit)))


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
    """Queue one webhook message per enabled endpoint that wants ``event`` about ``customer``:
    the customer's own and the company's (in the caller's transaction; the outbox enqueues
    them after the commit). ``customer`` is None for a test event to a company endpoint."""
    from app.notifications import outbox
    from app.notifications.models import Message

    if only_endpoint is not None:
        endpoints = [only_endpoint]
    else:
        owners = _owned_by(COMPANY) if customer is None else (
            _owned_by(customer.id) | _owned_by(COMPANY))
        with db.session.no_autoflush:
            endpoints = [e for e in db.session.scalars(
                select(WebhookEndpoint).where(WebhookEndpoint.enabled.is_(True), owners)
                .order_by(WebhookEndpoint.id)) if event in (e.events or [])]
    if not endpoints:
        return []
    queued = []
    for endpoint in endpoints:
        key = f"{idempotency_key}:wh{endpoint.id}"[:120]
        if outbox.find_queued(key) is not None:
            continue
        message_id = "msg_" + uuid.uuid4().hex
        body = json.dumps({"type": event, "id": message_id, "timestamp": utcnow().isoformat(),
                           "customer": customer.number if customer is not None else None,
                           "data": data},
                          sort_keys=True, ensure_ascii=False, default=str)
        message = Message(customer=customer, channel="webhook",
                          recipient=f"{RECIPIENT_PREFIX}{endpoint.id}",
                          language=(customer.language if customer is not None else None)
                          or "en", event=event[:60],
                          subject=message_id, body_text=body, attachments=[],
                          status="queued", idempotency_key=key, next_attempt_at=utcnow())
        outbox.add_queued(message)
        queued.append(message)
    return queued


def on_message_queued(customer, *, event: str, context: dict[str, Any], idempotency_key: str,
                      **_extra: Any) -> None:
    """outbox.message_queued receiver: the events webhooks (customers' and the company's)
    care about."""
    wanted = webhook_event_for(event)
    if wanted is None or customer is None or not _any_endpoint():
        return
    data = event_data(context)
    if wanted == "reminder.sent":
        level = context.get("level")
        data["level"] = _plain(level) if level is not None else None
    fan_out(customer, event=wanted, data=data, idempotency_key=idempotency_key)


_ANY = "custapi_any_endpoint"


def _any_endpoint(session=None) -> bool:
    """Whether any subscriber has an enabled endpoint: asked at most every few seconds per
    session, so that a dunning run or an import pays nothing while nobody uses webhooks."""
    session = session if session is not None else db.session()
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
    if not endpoint.enabled:
        raise ValidationError({"webhook": [_("Switch this address on before sending a test "
                                             "event.")]})
    fan_out(endpoint.customer, event="test", only_endpoint=endpoint,
            data={"text": "This is a test event from CreditDesk."},
            idempotency_key=f"webhook-test:{endpoint.id}:{uuid.uuid4().hex[:12]}")


# --- delivery (called by the webhook channel plugin) ----------------------------------------

class EndpointGone(Exception):
    """The endpoint was removed or switched off: the message will never go."""


class DeliveryFailed(Exception):
    """This attempt failed; the outbox tries again later (back-off)."""


def deliver(message, timeout: float = 10.0, attempts: AttemptLog | None = None) -> str:
    """POST ``message`` to its endpoint, signed; log the attempt; switch the endpoint off
    after too many failures in a row. The log and the counters are written on a connection
    of their own (the outbox rolls its session back when an attempt fails): at once, or with
    the rest of the delivery batch when the caller passes its ``attempts`` log, which also
    keeps the batch's connections, endpoints and address checks for a few seconds
    (LOOKUP_SECONDS)."""
    log_ = attempts if attempts is not None else AttemptLog()
    try:
        return _deliver(message, timeout, log_)
    finally:
        if attempts is None:
            log_.close()


def _deliver(message, timeout: float, log_: AttemptLog) -> str:
    endpoint_id = int(message.recipient.removeprefix(RECIPIENT_PREFIX))
    endpoint = log_.endpoint(endpoint_id)
    if endpoint is None or not endpoint.enabled:
        raise EndpointGone(f"webhook endpoint {endpoint_id} is switched off")
    body = (message.body_text or "").encode()
    started = time.monotonic()
    status_code, error = None, None
    try:
        target = log_.checked_target(endpoint.url)
        headers = signing.headers(endpoint.secret, message.subject or f"msg_{message.id}",
                                  int(time.time()), body)
        response = log_.http.post(target, data=body, headers=headers, timeout=timeout,
                                  allow_redirects=False)
        status_code = response.status_code
        if not 200 <= status_code < 300:
            error = f"HTTP {status_code}"
    except ValidationError as exc:
        error = "; ".join(m for v in exc.errors.values() for m in v)
    except requests.RequestException as exc:
        error = f"{type(exc).__name__}"
    duration = int((time.monotonic() - started) * 1000)
    log_.add(endpoint.id, message, status_code, error, duration)
    if error:
        raise DeliveryFailed(f"webhook endpoint {endpoint_id}: {error}")
    return f"webhook:{message.subject}"


# How long a delivery batch trusts what it looked up: an endpoint's row (switched off by staff
# meanwhile?) and its address's check (the host resolved and found public: no SSRF).
LOOKUP_SECONDS = 5.0


class AttemptLog:
    """The delivery log of one delivery batch (the webhook plugin keeps one while the outbox
    hands it a batch): successful attempts are written together, in one transaction per
    FLUSH_EVERY attempts and at the end of the batch, instead of one commit per delivery. A
    failed attempt is written at once, after the ones before it, because it counts towards
    switching its endpoint off. ``close`` (the plugin's close) writes what is left. It also
    holds the batch's keep-alive connections, which go only to checked addresses."""

    FLUSH_EVERY = 200

    def __init__(self) -> None:
        self._rows: list[dict[str, Any]] = []
        self._succeeded: set[int] = set()
        # The batch's look-ups, kept LOOKUP_SECONDS: read once per endpoint and resolved once
        # per address for a batch of deliveries to the same place, not once per delivery.
        self._endpoints: dict[int, tuple[float, SimpleNamespace | None]] = {}
        self._targets: dict[str, tuple[float, targets.Target | ValidationError]] = {}
        self.http = targets.PinnedHttp()

    def endpoint(self, endpoint_id: int) -> SimpleNamespace | None:
        """The endpoint's row as plain values (its secret decrypted once), or None."""
        now = time.monotonic()
        found = self._endpoints.get(endpoint_id)
        if found is None or now - found[0] >= LOOKUP_SECONDS:
            row = db.session.get(WebhookEndpoint, endpoint_id)
            values = None if row is None else SimpleNamespace(
                id=row.id, enabled=row.enabled, url=row.url, secret=row.secret)
            found = self._endpoints[endpoint_id] = (now, values)
        return found[1]

    def checked_target(self, url: str) -> targets.Target:
        """targets.check_target, resolved once per address for LOOKUP_SECONDS."""
        now = time.monotonic()
        found = self._targets.get(url)
        if found is None or now - found[0] >= LOOKUP_SECONDS:
            try:
                result: targets.Target | ValidationError = targets.check_target(url)
            except ValidationError as exc:
                result = exc
            found = self._targets[url] = (now, result)
        if isinstance(found[1], ValidationError):
            raise found[1]
        return found[1]

    def add(self, endpoint_id: int, message, status_code: int | None, error: str | None,
            duration: int) -> None:
        self._rows.append({"endpoint_id": endpoint_id, "message_id": message.id,
                           "event": message.event, "attempted_at": utcnow(),
                           "status_code": status_code, "ok": error is None,
                           "error": (error or None) and error[:300], "duration_ms": duration})
        if error is None:
            self._succeeded.add(endpoint_id)
            if len(self._rows) >= self.FLUSH_EVERY:
                self.flush()
        else:
            self._succeeded.discard(endpoint_id)
            self.flush(failed=(endpoint_id, error))

    def close(self) -> None:
        try:
            self.flush()
        finally:
            self.http.close()

    def flush(self, failed: tuple[int, str] | None = None) -> None:
        if not self._rows and failed is None:
            return
        rows, succeeded = self._rows, self._succeeded
        self._rows, self._succeeded = [], set()
        switched = 0
        with db.engine.begin() as connection:
            if connection.dialect.name == "postgresql":  # a log need not wait for the WAL
                connection.execute(text("SET LOCAL synchronous_commit TO OFF"))
            if rows:
                connection.execute(insert(WebhookAttempt), rows)
            if succeeded:  # a success ends a run of failures
                connection.execute(update(WebhookEndpoint).where(
                    WebhookEndpoint.id.in_(sorted(succeeded)),
                    WebhookEndpoint.consecutive_failures != 0).values(consecutive_failures=0))
            if failed is not None:
                switched = _count_failure(connection, *failed)
        if switched:  # told once the log's own transaction is over (SQLite: one writer)
            self._endpoints.pop(failed[0], None)  # read again: now switched off
            log.warning("webhook endpoint %s switched off", failed[0])
            _tell_customer_disabled(failed[0])


def _count_failure(connection, endpoint_id: int, error: str) -> int:
    """One more failure in a row; switch the endpoint off at disable_after(). Returns 1 when
    this call switched it off."""
    failures = connection.execute(
        update(WebhookEndpoint).where(WebhookEndpoint.id == endpoint_id)
        .values(consecutive_failures=WebhookEndpoint.consecutive_failures + 1)
        .returning(WebhookEndpoint.consecutive_failures)).scalar_one()
    if failures < disable_after():
        return 0
    return connection.execute(
        update(WebhookEndpoint).where(WebhookEndpoint.id == endpoint_id,
                                      WebhookEndpoint.enabled.is_(True))
        .values(enabled=False, disabled_at=utcnow(),
                disabled_reason=f"{failures} failed deliveries in a row "
                                f"(last: {error})"[:300])).rowcount


def _tell_customer_disabled(endpoint_id: int) -> None:
    """A message to the customer that their endpoint was switched off (through the outbox,
    in a session of its own so the failing delivery's rollback does not take it back). A
    company endpoint gets an audit event instead: the staff screen shows it switched off."""
    from app.customer_api.notices import notify_webhook_disabled

    try:
        notify_webhook_disabled(endpoint_id)
    except Exception:
        log.exception("could not tell the customer that webhook %s was switched off",
                      endpoint_id)
