"""The access point's webhook: a signed call saying a document arrived for us.

e-invoice.be signs each call (docs.e-invoice.be, essentials/webhooks): ``X-Signature:
sha256=<hex>``, the HMAC-SHA256 with the webhook secret of the complete event serialised with
its keys sorted. The docs name no timestamp header: the event's own ``timestamp`` (inside what
is signed; Unix seconds or ISO 8601) must be no older or newer than five minutes, and an event
id we already took is refused: a captured call replayed later, or a forged one, changes
nothing. What the docs say and do not say: plugins/peppol_einvoice_be/__init__.py. The document itself is then fetched from the access point's
own address (never from an address the caller chose) and received as an invoice response.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import time
from datetime import UTC, datetime
from urllib.parse import urlsplit

from flask import Blueprint, abort, current_app, request
from sqlalchemy import select

from app.core.plugins import PluginUnavailable, build, get_plugin, secret
from app.core.validation import ValidationError
from app.einvoicing.models import EDocument
from app.extensions import db

bp = Blueprint("einvoicing_webhook", __name__)
MAX_SKEW_SECONDS = 300
PLUGIN = "peppol_einvoice_be"


def signature(secret_value: str, payload: dict) -> str:
    body = json.dumps(payload, sort_keys=True).encode()
    return "sha256=" + hmac.new(secret_value.encode(), body, hashlib.sha256).hexdigest()


def check_call(payload: dict, given: str, secret_value: str, now: float | None = None) -> None:
    """Raises PermissionError when the call is forged, stale or replayed."""
    if not secret_value or not hmac.compare_digest(signature(secret_value, payload), given or ""):
        raise PermissionError("bad signature")
    sent = _seconds(payload.get("timestamp"))
    if sent is None:
        raise PermissionError("no timestamp")
    if abs((now or time.time()) - sent) > MAX_SKEW_SECONDS:
        raise PermissionError("stale timestamp")
    event_id = str(payload.get("id") or "")
    if not event_id:
        raise PermissionError("no event id")
    seen = db.session.scalar(select(EDocument.id).where(
        EDocument.direction == "in", EDocument.doc_type == "webhook_event",
        EDocument.number == event_id[:60], EDocument.sender == PLUGIN))
    if seen is not None:
        raise PermissionError("replayed event")


def _seconds(value) -> float | None:
    """The event's timestamp as Unix seconds: a number, or an ISO 8601 date-time (the docs'
    excerpts do not show which; one without a zone is taken as UTC)."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        pass
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _document_of(payload: dict) -> dict:
    """The received document's description: at the top level (older docs) or in ``data``."""
    data = payload.get("data") if isinstance(payload.get("data"), dict) else {}
    for candidate in (payload.get("document"), data.get("document"), data):
        if isinstance(candidate, dict) and candidate.get("url"):
            return candidate
    return {}


@bp.route("/einvoicing/webhook", methods=["POST"])
def receive():
    """Server to server: no login, no CSRF token; the signature is the authentication."""
    try:
        spec = get_plugin(PLUGIN)
    except PluginUnavailable:
        abort(404)
    try:
        payload = json.loads(request.get_data(cache=False) or b"{}")
    except ValueError:
        return {"message": "not JSON"}, 400
    if not isinstance(payload, dict):
        return {"message": "not a JSON object"}, 400
    try:
        check_call(payload, request.headers.get("X-Signature", ""),
                   secret(spec, "webhook_secret") or "")
    except PermissionError as refused:
        current_app.logger.warning("Peppol webhook refused: %s", refused)
        return {"message": "refused"}, 401
    # Remember the event first: a replay of this call is refused from now on.
    db.session.add(EDocument(direction="in", doc_type="webhook_event", sender=PLUGIN,
                             number=str(payload["id"])[:60], status="applied",
                             failed_rules=[], findings=[],
                             note=str(payload.get("type") or "")[:200]))
    db.session.commit()
    document = _document_of(payload)
    if payload.get("type") not in (None, "document.received") or not document.get("url"):
        return {"message": "ignored"}, 200
    try:
        plugin = build(PLUGIN)
    except PluginUnavailable:
        return {"message": "plugin disabled"}, 503
    try:
        data = plugin.download(document["url"])
    except PermissionError:
        return {"message": "document address refused"}, 400
    from app.einvoicing.responses import receive_response

    try:
        received = receive_response(data)
    except ValidationError as refused:
        db.session.rollback()
        return {"message": "invalid document", "errors": refused.errors}, 422
    db.session.commit()
    return {"message": "received", "status": received.status}, 200


def same_host(url: str, base_url: str) -> bool:
    left, right = urlsplit(url), urlsplit(base_url)
    return (left.scheme, left.netloc) == (right.scheme, right.netloc)
