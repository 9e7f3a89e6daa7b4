"""How every API endpoint reads its JSON body and answers errors.

Error bodies always look like {"message": "...", "errors": {field: [messages]}} ("errors" only
when fields are at fault), so an ERP can show the message and point at the field. Whatever a
client sends, the answer is a 4xx with that shape and nothing is written: the transaction is
rolled back before the error is returned.
"""
from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from flask import Response, jsonify, make_response, request
from flask_babel import gettext as _
from flask_jwt_extended import JWTManager
from marshmallow import Schema, fields
from sqlalchemy.exc import IntegrityError
from werkzeug.exceptions import HTTPException

from app.core.validation import Errors, ValidationError
from app.extensions import db

T = TypeVar("T")

# Longer strings are refused before the services see them, so an error message never echoes
# megabytes back; the services apply the real (shorter) limits per field.
MAX_LENGTHS = {"text": 1000, "amount": 40, "date": 40, "integer": 20, "boolean": 10}
MAX_UNKNOWN_FIELDS_REPORTED = 10
MAX_KEY_LENGTH = 40  # the ERP numbers are String(40)


class ApiError(Exception):
    """An error answered as-is: an HTTP status, a message, and optionally field errors."""

    def __init__(self, status: int, message: str, errors: Mapping[str, list[str]] | None = None):
        super().__init__(message)
        self.status, self.message, self.errors = status, message, dict(errors or {})


def error_response(status: int, message: str, errors: Mapping[str, list[str]] | None = None
                   ) -> Response:
    body: dict[str, Any] = {"message": message}
    if errors:
        body["errors"] = dict(errors)
    return make_response(jsonify(body), status)


def json_response(status: int, body: Mapping[str, Any]) -> Response:
    return make_response(jsonify(body), status)


def json_errors(f: Callable[..., Response]) -> Callable[..., Response]:
    """Map ValidationError to 422 and ApiError to its status, after rolling back.

    Anything else is rolled back too and re-raised for FAB's @safe (a logged 500: a bug).
    """

    @functools.wraps(f)
    def wrapper(*args: Any, **kwargs: Any) -> Response:
        try:
            return f(*args, **kwargs)
        except ValidationError as exc:
            db.session.rollback()
            return error_response(422, _("Some fields are not valid; nothing was changed."),
                                  exc.errors)
        except ApiError as exc:
            db.session.rollback()
            return error_response(exc.status, exc.message, exc.errors)
        except Exception:
            db.session.rollback()
            raise

    return wrapper


def read_json_object() -> dict[str, Any]:
    """The request body as a JSON object, whatever the Content-Type says; ApiError otherwise."""
    try:
        raw = request.get_data(cache=True)
    except HTTPException as exc:  # e.g. 413 when the body is over MAX_CONTENT_LENGTH
        raise ApiError(exc.code or 400, _("The request body could not be read.")) from exc
    if not raw.strip():
        raise ApiError(400, _("The request body must be a JSON object."))
    try:
        body = json.loads(raw, parse_constant=_refuse_constant)
    except (ValueError, RecursionError) as exc:  # bad JSON, bad UTF-8, NaN, absurd nesting
        raise ApiError(400, _("The request body is not valid JSON.")) from exc
    if not isinstance(body, dict):
        raise ApiError(400, _("The request body must be a JSON object."))
    return body


def _refuse_constant(name: str) -> Any:
    raise ValueError(name)  # NaN and Infinity are not JSON and not amounts


def _kind(field: fields.Field) -> str:
    if isinstance(field, fields.Decimal):
        return "amount"
    if isinstance(field, fields.Date):
        return "date"
    if isinstance(field, fields.Integer):
        return "integer"
    if isinstance(field, fields.Boolean):
        return "boolean"
    return "text"


def check_fields(body: Mapping[str, Any], schema: type[Schema]) -> None:
    """Refuse unknown fields and values of the wrong JSON type before the services see them.

    The services turn anything into text (a nested object would become a name like
    "{'a': 1}"), so the API checks the JSON types itself: the accepted fields and their kind
    come from the input schema that also documents them.
    """
    declared = schema._declared_fields
    errors = Errors()
    unknown = [key for key in body if key not in declared]
    for key in unknown[:MAX_UNKNOWN_FIELDS_REPORTED]:
        errors.add(str(key)[:100], _("Unknown field."))
    for name, field in declared.items():
        message = _check_value(body.get(name), _kind(field))
        if message:
            errors.add(name, message)
    errors.raise_if_any()


def _check_value(value: Any, kind: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, (dict, list)):
        return _("Must be a single value, not a list or an object.")
    if isinstance(value, bool):
        return None if kind == "boolean" else _type_message(kind)
    if isinstance(value, float) and kind != "amount":
        return _type_message(kind)
    if isinstance(value, int) and kind == "date":
        return _type_message(kind)
    if isinstance(value, str):
        if len(value) > MAX_LENGTHS[kind]:
            return _("At most %(n)s characters.", n=MAX_LENGTHS[kind])
        if not is_storable_text(value):
            return _("Contains characters that are not allowed.")
    return None


def _type_message(kind: str) -> str:
    return {
        "text": _("Must be text."),
        "amount": _("Must be an amount, e.g. \"125.50\"."),
        "date": _("Must be a date written as text, e.g. \"2024-03-31\"."),
        "integer": _("Must be a whole number."),
        "boolean": _("Must be true or false."),
    }[kind]


def is_storable_text(value: str) -> bool:
    """False for NUL characters and lone surrogates, which PostgreSQL refuses to store."""
    if "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def lookup_key(value: str) -> str | None:
    """A customer or invoice number from the URL, or None when no record can have it."""
    value = value.strip()
    if not value or len(value) > MAX_KEY_LENGTH or not is_storable_text(value):
        return None
    return value


def same_key_in_body(body: Mapping[str, Any], url_key: str) -> None:
    """PUT /x/<number>: a number in the body, when given, must be the one in the URL."""
    given = body.get("number")
    if given is not None and str(given).strip() != url_key.strip():
        raise ValidationError({"number": _(
            "The number in the body (%(body)s) is not the one in the URL (%(url)s).",
            body=str(given)[:MAX_KEY_LENGTH], url=url_key)})


def commit(operation: Callable[[], T]) -> T:
    """Run a write and commit it; on a unique-key race, roll back and run it once more.

    Two requests creating the same customer, invoice or external_id at the same moment both
    pass the "does it exist?" check; the loser's INSERT fails on the unique index. Running the
    operation again then finds the winner's row and updates it (or reports the duplicate).
    """
    for attempt in (1, 2):
        try:
            result = operation()
            db.session.commit()
            return result
        except IntegrityError:
            db.session.rollback()
            if attempt == 2:
                raise ApiError(409, _("Another request changed the same record at the same "
                                      "time; nothing was changed. Please retry.")) from None
    raise AssertionError("unreachable")


def _http_messages() -> dict[int, str]:
    return {
        400: _("The request could not be understood."),
        401: _("Authentication required: send \"Authorization: Bearer <token or API key>\"."),
        403: _("Your role does not allow this operation."),
        404: _("There is nothing at this address of the API."),
        405: _("This address of the API does not accept the %(method)s method.",
               method=request.method[:10]),
        413: _("The request body is too large."),
        415: _("This content type is not accepted here."),
        429: _("Too many requests; wait a moment and try again."),
    }


def install_json_http_errors(app: Any) -> None:
    """Every error answer under /api/ in the API's shape, {"message": ...}, translated.

    Routing answers an unknown address (404) or method (405) before any API view runs, with
    Werkzeug's HTML page; FAB's @protect answers 403 with an English "Forbidden". An
    after_request hook sees them all (error handlers' answers too, whichever blueprint or
    handler produced them) and rewrites the body, keeping the status and headers (Allow).
    """
    if app.extensions.get("creditdesk_api_json_errors"):
        return
    app.extensions["creditdesk_api_json_errors"] = True

    @app.after_request
    def _json_errors_under_api(response: Response) -> Response:
        if response.status_code < 400 or not request.path.startswith("/api/"):
            return response
        message = None
        if not response.is_json:
            message = _http_messages().get(response.status_code) or _(
                "The request failed (HTTP %(status)s).", status=response.status_code)
        elif response.status_code == 403 and (response.get_json(silent=True) or {}).get(
                "message") == "Forbidden":
            message = _http_messages()[403]
        if message is None:
            return response
        response.set_data(json.dumps({"message": message}))
        response.mimetype = "application/json"
        return response


def install_jwt_error_handlers(jwt_manager: JWTManager) -> None:
    """Missing, malformed or expired tokens: 401 with our error shape.

    Flask-JWT-Extended answers a malformed token with 422 {"msg": ...}, which a client would
    read as a validation error of its data.
    """

    def unauthorized(_reason: str) -> Response:
        return error_response(401, _("Authentication required: send \"Authorization: Bearer "
                                     "<token or API key>\"."))

    def invalid(_reason: str) -> Response:
        return error_response(401, _("The token is not valid."))

    def expired(_header: dict, _payload: dict) -> Response:
        return error_response(401, _("The token has expired; log in again."))

    def unknown_user(_header: dict, _payload: dict) -> Response:
        return error_response(401, _("The token's user does not exist or is disabled."))

    jwt_manager.unauthorized_loader(unauthorized)
    jwt_manager.invalid_token_loader(invalid)
    jwt_manager.expired_token_loader(expired)
    jwt_manager.user_lookup_error_loader(unknown_user)
