"""The customer API, /api/customer/v1: what a customer's own software may read and do, under
the portal's rules (issue 18). Thin routes: authenticate the key, call the portal's read
models or the request services, answer JSON.

Authentication: ``Authorization: Bearer cdk_...``, a key the customer made on the portal
(app/customer_api/keys.py). Every route reads and acts for that key's customer only; an id
of another customer's record answers 404. Errors are RFC 9457 problem JSON (problems.py).
"""
from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

from flask import Blueprint, Flask, Response, current_app, g, request
from flask_babel import refresh as refresh_locale
from werkzeug.exceptions import HTTPException

from app.api.customer.problems import Problem, problem
from app.core.i18n import SUPPORTED_LANGUAGES
from app.core.validation import ValidationError
from app.extensions import db

bp = Blueprint("customer_api", __name__, url_prefix="/api/customer/v1", cli_group="customer-api")
log = logging.getLogger(__name__)

# Routes a key does not open: the published document, the Swagger UI and the calendar feed
# (which carries its own secret in the URL).
PUBLIC_ENDPOINTS = frozenset({"customer_api.openapi", "customer_api.docs",
                              "customer_api.docs_init", "customer_api.calendar"})


def register(app: Flask) -> None:
    """Mount the blueprint and connect the webhook listeners (call once from create_app)."""
    if "customer_api" in app.blueprints:
        return
    from app.api.customer import actions, cli, docs, reads  # noqa: F401  (attach to bp)
    from app.customer_api import events, webhooks
    from app.notifications.outbox import message_queued

    app.register_blueprint(bp)
    message_queued.connect(webhooks.on_message_queued, weak=False)
    events.install()
    app.config.setdefault("CUSTAPI_RATE_LIMIT", 120)
    app.config.setdefault("CUSTAPI_RATE_WINDOW", 60)


def current_key():
    return g.custapi_key


def customer():
    return g.custapi_key.customer


@bp.before_request
def _authenticate() -> Response | None:
    if request.endpoint in PUBLIC_ENDPOINTS or request.endpoint is None:
        return None
    from app.core.audit import client_ip
    from app.customer_api import keys, ratelimit

    header = request.headers.get("Authorization", "")
    raw = header[7:].strip() if header[:7].lower() == "bearer " else None
    key = keys.authenticate(raw, client_ip(), request.method, request.path)
    if key is None:
        db.session.rollback()
        return problem(401, headers={"WWW-Authenticate": 'Bearer realm="customer-api"'})
    if key.use_written:  # the use and its audit event, whatever the route does next
        db.session.commit()
    g.custapi_key = key
    # Problem details and texts in the caller's language: Accept-Language, else the customer's.
    g.request_language = (request.accept_languages.best_match(SUPPORTED_LANGUAGES)
                          or key.customer.language)
    refresh_locale()  # the key's check above may already have looked the locale up
    wait = ratelimit.hit(key.id)
    if wait is not None:
        return problem(429, headers={"Retry-After": str(wait)})
    if request.method not in ("GET", "HEAD") and not key.can_act:
        return problem(403)
    return None


@bp.after_request
def _conditional(response: Response) -> Response:
    """ETag on every successful read; If-None-Match answers 304 without the body."""
    response.headers.setdefault("Cache-Control", "private, no-cache")
    if response.status_code >= 400 and response.mimetype != "application/problem+json":
        # Answered before our routes (the app's input guards, routing): the same problem shape.
        body = response.get_json(silent=True) if response.is_json else None
        detail = body.get("message") if isinstance(body, dict) else None
        converted = problem(response.status_code, detail if isinstance(detail, str) else None)
        for name in ("Allow", "Retry-After", "WWW-Authenticate"):
            if name in response.headers:
                converted.headers[name] = response.headers[name]
        return converted
    if request.method == "GET" and response.status_code == 200 and not response.direct_passthrough:
        response.add_etag()
        response.make_conditional(request)
    return response


@bp.errorhandler(Problem)
def _problem(exc: Problem):
    db.session.rollback()
    return exc.response()


@bp.errorhandler(ValidationError)
def _invalid(exc: ValidationError):
    db.session.rollback()
    detail = "; ".join(m for messages in exc.errors.values() for m in messages)
    return problem(400, detail, errors=exc.errors)


@bp.errorhandler(HTTPException)
def _http(exc: HTTPException):
    db.session.rollback()
    return problem(exc.code or 500)


@bp.errorhandler(Exception)
def _unexpected(exc: Exception):
    db.session.rollback()
    log.exception("customer API: unexpected error on %s %s", request.method, request.path)
    return problem(500)


def idempotent(view: Callable[..., Any]) -> Callable[..., Any]:
    """Every POST needs an Idempotency-Key; a repeat gets the first answer back."""
    from app.customer_api import idempotency

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any):
        from flask_babel import gettext as _

        value = (request.headers.get("Idempotency-Key") or "").strip()
        if not value:
            return problem(428)
        if len(value) > idempotency.MAX_LENGTH:
            return problem(400, _("The Idempotency-Key is longer than %(max)d characters.",
                                  max=idempotency.MAX_LENGTH))
        body = request.get_data(cache=True)
        digest = idempotency.request_hash(request.method, request.path, body)
        claim = idempotency.claim(current_key().id, value, digest)
        if claim.conflict:
            return problem(409)
        if claim.replay is not None:
            replay = claim.replay
            kind = ("application/problem+json" if replay.status >= 400
                    else "application/json")
            return Response(replay.body, status=replay.status, mimetype=kind,
                            headers={"Idempotent-Replayed": "true"})
        row_id = claim.row.id
        try:
            response = current_app.make_response(view(*args, **kwargs))
        except Exception as exc:
            handler = {Problem: _problem, ValidationError: _invalid}.get(type(exc))
            if handler is None and isinstance(exc, HTTPException):
                handler = _http
            if handler is None:
                idempotency.remember(row_id, 500, "")
                raise
            response = handler(exc)
        idempotency.remember(row_id, response.status_code, response.get_data(as_text=True))
        return response

    return wrapper
