"""/api/v1/webhooks: the company's own systems subscribe to CreditDesk's events (issue 18).

The same webhooks customers subscribe to (app/customer_api/webhooks.py: Standard Webhooks
signatures, outbox delivery with retries, delivery log, test event, auto-disable, SSRF
refusal), with the company as subscriber: every customer's events, plus credit notes,
write-offs, refunds, mandates, payment plans and disputes made inside CreditDesk. The staff
screen "ERP webhooks" manages the same rows. Thin: each route is one service call.
"""
from __future__ import annotations

from typing import Any

from flask_appbuilder.api import BaseApi, expose, protect, safe
from flask_appbuilder.security.decorators import permission_name
from flask_babel import gettext as _

from app.api import schemas
from app.api.errors import ApiError, json_errors, json_response, read_json_object
from app.customer_api import webhooks
from app.customer_api.models import WebhookAttempt, WebhookEndpoint
from app.extensions import db

MAX_ID = 2**31 - 1


def endpoint_body(endpoint: WebhookEndpoint) -> dict[str, Any]:
    return {"id": endpoint.id, "url": endpoint.url, "events": list(endpoint.events or []),
            "enabled": endpoint.enabled, "consecutive_failures": endpoint.consecutive_failures,
            "disabled_at": endpoint.disabled_at.isoformat() if endpoint.disabled_at else None,
            "disabled_reason": endpoint.disabled_reason,
            "created_at": endpoint.created_at.isoformat() if endpoint.created_at else None}


def attempt_body(attempt: WebhookAttempt) -> dict[str, Any]:
    return {"id": attempt.id, "event": attempt.event, "message_id": attempt.message_id,
            "attempted_at": attempt.attempted_at.isoformat() if attempt.attempted_at else None,
            "status_code": attempt.status_code, "ok": attempt.ok, "error": attempt.error,
            "duration_ms": attempt.duration_ms}


def _endpoint(endpoint_id: str) -> WebhookEndpoint:
    found = None
    if endpoint_id.isascii() and endpoint_id.isdigit() and 0 < int(endpoint_id) <= MAX_ID:
        found = webhooks.endpoint_of(webhooks.COMPANY, int(endpoint_id))
    if found is None:
        raise ApiError(404, _("No webhook endpoint with id %(id)s.", id=endpoint_id[:20]))
    return found


class ErpWebhooksApi(BaseApi):
    """The company's webhook endpoints. GET needs can_get, POST/PUT/DELETE can_post etc."""

    resource_name = "webhooks"
    openapi_spec_tag = "Webhooks"
    openapi_spec_component_schemas = schemas.COMPONENT_SCHEMAS
    responses = schemas.RESPONSES

    @expose("", methods=["GET"])
    @protect()
    @safe
    @permission_name("get")
    @json_errors
    def list_endpoints(self):
        """The company's endpoints and the events one may subscribe to.
        ---
        get:
          summary: List webhook endpoints
          responses:
            200:
              description: "{endpoints: [...], events: {name: label}}"
            401: {$ref: '#/components/responses/401'}
            403: {$ref: '#/components/responses/403'}
        """
        return json_response(200, {
            "endpoints": [endpoint_body(e) for e in webhooks.endpoints_of(webhooks.COMPANY)
                          if e.disabled_reason != "removed"],
            "events": {k: str(v) for k, v in webhooks.COMPANY_EVENTS.items() if k != "test"}})

    @expose("", methods=["POST"])
    @protect()
    @safe
    @permission_name("post")
    @json_errors
    def create(self):
        """Subscribe an HTTPS endpoint; the answer holds its signing secret, shown once.
        ---
        post:
          summary: Add a webhook endpoint
          requestBody:
            required: true
            content:
              application/json:
                schema:
                  type: object
                  properties:
                    url: {type: string}
                    events: {type: array, items: {type: string}}
          responses:
            201:
              description: The endpoint and its secret (whsec_..., shown only here).
            400: {$ref: '#/components/responses/BadBody'}
            401: {$ref: '#/components/responses/401'}
            403: {$ref: '#/components/responses/403'}
            422: {$ref: '#/components/responses/FieldErrors'}
        """
        body = read_json_object()
        endpoint, secret = webhooks.add_endpoint(webhooks.COMPANY, body.get("url"),
                                                 body.get("events"))
        db.session.commit()
        return json_response(201, {**endpoint_body(endpoint), "secret": secret})

    @expose("/<endpoint_id>", methods=["GET"])
    @protect()
    @safe
    @permission_name("get")
    @json_errors
    def get(self, endpoint_id: str):
        """One endpoint and its last 50 delivery attempts.
        ---
        get:
          summary: Read a webhook endpoint and its delivery log
          parameters:
          - {in: path, name: endpoint_id, required: true, schema: {type: integer}}
          responses:
            200:
              description: The endpoint with "deliveries", newest first.
            401: {$ref: '#/components/responses/401'}
            403: {$ref: '#/components/responses/403'}
            404: {$ref: '#/components/responses/NotFound'}
        """
        endpoint = _endpoint(endpoint_id)
        attempts = webhooks.recent_attempts(webhooks.COMPANY, 50, endpoint_id=endpoint.id)
        return json_response(200, {**endpoint_body(endpoint),
                                   "deliveries": [attempt_body(a) for a in attempts]})

    @expose("/<endpoint_id>", methods=["PUT"])
    @protect()
    @safe
    @permission_name("put")
    @json_errors
    def put(self, endpoint_id: str):
        """Switch an endpoint on or off: {"enabled": true|false}.
        ---
        put:
          summary: Switch a webhook endpoint on or off
          parameters:
          - {in: path, name: endpoint_id, required: true, schema: {type: integer}}
          requestBody:
            required: true
            content:
              application/json:
                schema:
                  type: object
                  properties:
                    enabled: {type: boolean}
          responses:
            200:
              description: The endpoint.
            400: {$ref: '#/components/responses/BadBody'}
            401: {$ref: '#/components/responses/401'}
            403: {$ref: '#/components/responses/403'}
            404: {$ref: '#/components/responses/NotFound'}
            422: {$ref: '#/components/responses/FieldErrors'}
        """
        endpoint = _endpoint(endpoint_id)
        body = read_json_object()
        if not isinstance(body.get("enabled"), bool):
            raise ApiError(422, _("Some fields are not valid; nothing was changed."),
                           {"enabled": [_("Give true or false.")]})
        if endpoint.disabled_reason == "removed":
            raise ApiError(404, _("No webhook endpoint with id %(id)s.", id=endpoint_id[:20]))
        webhooks.set_enabled(endpoint, body["enabled"])
        db.session.commit()
        return json_response(200, endpoint_body(endpoint))

    @expose("/<endpoint_id>", methods=["DELETE"])
    @protect()
    @safe
    @permission_name("delete")
    @json_errors
    def delete(self, endpoint_id: str):
        """Remove an endpoint for good (its delivery log stays).
        ---
        delete:
          summary: Remove a webhook endpoint
          parameters:
          - {in: path, name: endpoint_id, required: true, schema: {type: integer}}
          responses:
            200:
              description: Removed.
            401: {$ref: '#/components/responses/401'}
            403: {$ref: '#/components/responses/403'}
            404: {$ref: '#/components/responses/NotFound'}
        """
        endpoint = _endpoint(endpoint_id)
        webhooks.remove_endpoint(endpoint)
        db.session.commit()
        return json_response(200, {"message": _("The webhook address was removed.")})

    @expose("/<endpoint_id>/test", methods=["POST"])
    @protect()
    @safe
    @permission_name("post")
    @json_errors
    def test(self, endpoint_id: str):
        """Send a "test" event to the endpoint (through the outbox, like every event).
        ---
        post:
          summary: Send a test event
          parameters:
          - {in: path, name: endpoint_id, required: true, schema: {type: integer}}
          responses:
            202:
              description: Queued; the delivery log shows the attempt.
            401: {$ref: '#/components/responses/401'}
            403: {$ref: '#/components/responses/403'}
            404: {$ref: '#/components/responses/NotFound'}
            422: {$ref: '#/components/responses/FieldErrors'}
        """
        webhooks.send_test_event(_endpoint(endpoint_id))
        db.session.commit()
        return json_response(202, {"message": _("A test event is on its way.")})


def register(appbuilder) -> None:
    appbuilder.add_api(ErpWebhooksApi)
