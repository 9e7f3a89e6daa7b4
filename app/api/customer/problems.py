"""RFC 9457 problem details for the customer API, with ``detail`` in the caller's language
(Accept-Language; the key's customer's language otherwise)."""
from __future__ import annotations

from typing import Any

from flask import Response, json
from flask_babel import get_locale
from flask_babel import gettext as _

PROBLEM_TYPE = "https://creditdesk.invalid/problems/"


def _titles() -> dict[int, str]:
    return {
        400: _("The request is not valid."),
        401: _("No valid API key: it is missing, unknown, revoked or expired."),
        403: _("This key may only read: ask for a key that may act."),
        404: _("No such record on your account."),
        405: _("This address does not take this HTTP method."),
        406: _("This format is not offered here."),
        409: _("This Idempotency-Key was already used for another request."),
        412: _("The record changed since you read it."),
        413: _("The request is too large."),
        422: _("The request was understood, but refused by the rules."),
        428: _("Send an Idempotency-Key header with every POST."),
        429: _("Too many requests for this key: wait and try again."),
    }


def problem(status: int, detail: str | None = None, *, code: str | None = None,
            errors: dict[str, list[str]] | None = None, headers: dict[str, str] | None = None,
            **extra: Any) -> Response:
    title = _titles().get(status, _("The request failed (HTTP %(status)s).", status=status))
    body: dict[str, Any] = {"type": PROBLEM_TYPE + (code or str(status)), "title": title,
                            "status": status, "detail": detail or title}
    if errors:
        body["errors"] = errors
    body.update(extra)
    response = Response(json.dumps(body), status=status,
                        mimetype="application/problem+json", headers=headers or {})
    response.headers["Content-Language"] = str(get_locale() or "en").split("_")[0]
    return response


class Problem(Exception):
    """Raised in a route: answered as problem JSON by the blueprint's handler."""

    def __init__(self, status: int, detail: str | None = None, **kwargs: Any):
        super().__init__(detail or str(status))
        self.status, self.detail, self.kwargs = status, detail, kwargs

    def response(self) -> Response:
        return problem(self.status, self.detail, **self.kwargs)
