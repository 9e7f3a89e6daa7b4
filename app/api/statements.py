"""/api/v1/statements: push a bank statement (camt.053 or CODA 2), read an imported one.

POST takes the file as multipart field "file", or as the raw request body (Content-Type
application/xml, text/xml, text/plain or application/octet-stream). The import is the one the
admin screen and `flask import-statement` run (app.payments.incoming.importing): matched payments are
booked, the rest waits for a person. Answers: 201 with the report; 409 when this very file was
imported before (nothing booked); 422 when the file is refused (unknown format such as
camt.054, unsafe XML, malformed, balances that do not add up: ``balance_mismatch``), with
``error.code`` and the format found; 413 too large (naming the limit in force). Parameters:
``import_anyway=<reason>`` imports statements whose balances do not add up (the reason and the
user go to the audit trail); ``dry_run=1`` answers what would be booked and saves nothing.
"""
from __future__ import annotations

from flask import current_app, request
from flask_appbuilder import AppBuilder
from flask_appbuilder.api import BaseApi, expose, protect, safe
from flask_appbuilder.security.decorators import permission_name
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import func, select
from werkzeug.exceptions import RequestEntityTooLarge

from app.api.errors import error_response, json_response
from app.extensions import db
from app.payments.incoming.importing import import_statement, statement_max_bytes
from app.payments.incoming.models import BankStatement, StatementLine

RAW_TYPES = {"application/xml", "text/xml", "text/plain", "application/octet-stream",
             "application/zip", "application/x-zip-compressed"}
MAX_ID = 2**31 - 1

REPORT_SCHEMA = {
    "type": "object",
    "properties": {
        "message": {"type": "string"},
        "imported": {"type": "boolean"},
        "format": {"type": "string", "example": "camt.053.001.08"},
        "statement_ids": {"type": "array", "items": {"type": "integer"}},
        "entries": {"type": "integer"},
        "new_lines": {"type": "integer"},
        "duplicates": {"type": "integer", "description": "entries imported before"},
        "skipped": {"type": "integer", "description": "pending entries, not booked"},
        "matched": {"$ref": "#/components/schemas/StatementTally"},
        "suggested": {"$ref": "#/components/schemas/StatementTally"},
        "unmatched": {"$ref": "#/components/schemas/StatementTally"},
        "returns": {"$ref": "#/components/schemas/StatementTally"},
        "returns_open": {"$ref": "#/components/schemas/StatementTally"},
        "ignored": {"$ref": "#/components/schemas/StatementTally"},
        "error": {"type": "object", "properties": {
            "code": {"type": "string", "enum": ["already_imported", "too_large", "unsafe_xml",
                                               "malformed", "unsupported_format",
                                               "unsupported_version", "empty", "conflict",
                                               "balance_mismatch", "coda_utf8",
                                               "archive_refused", "no_database"]},
            "format_found": {"type": "string", "nullable": True}}},
    },
}
TALLY_SCHEMA = {"type": "object", "properties": {
    "count": {"type": "integer"}, "amount": {"type": "string", "example": "125.50"}}}


class StatementsApi(BaseApi):
    resource_name = "statements"
    openapi_spec_tag = "Statements"

    def add_apispec_components(self, api_spec) -> None:
        super().add_apispec_components(api_spec)
        for name, schema in (("StatementImport", REPORT_SCHEMA),
                             ("StatementTally", TALLY_SCHEMA)):
            if name not in api_spec.components.schemas:
                api_spec.components.schema(name, schema)

    @expose("", methods=["POST"])
    @protect()
    @safe
    @permission_name("post")
    def post(self):
        """Import a bank statement.
        ---
        post:
          summary: Import a bank statement (camt.053 .001.02-.13 or CODA 2)
          requestBody:
            required: true
            content:
              multipart/form-data:
                schema:
                  type: object
                  properties:
                    file: {type: string, format: binary}
              application/xml:
                schema: {type: string}
              text/plain:
                schema: {type: string}
          responses:
            201:
              description: Imported; matched payments are booked.
              content:
                application/json:
                  schema: {$ref: '#/components/schemas/StatementImport'}
            400: {$ref: '#/components/responses/400'}
            401: {$ref: '#/components/responses/401'}
            409:
              description: This file was imported before; nothing was booked.
              content:
                application/json:
                  schema: {$ref: '#/components/schemas/StatementImport'}
            413:
              description: The file is too large.
            422:
              description: The file was refused (format, safety, content); nothing was stored.
              content:
                application/json:
                  schema: {$ref: '#/components/schemas/StatementImport'}
        """
        # The smaller of the statement limit (settings) and the server's upload limit is the one
        # that refuses a file: name that one.
        limit = min(filter(None, (statement_max_bytes(),
                                  current_app.config.get("MAX_CONTENT_LENGTH"))))
        try:
            data, name = _payload(limit)
        except RequestEntityTooLarge:
            return error_response(413, _("The file is too large; the limit is %(limit)s MB.",
                                         limit=_megabytes(limit)))
        if data is None:
            return error_response(400, _(
                "Send the statement in the multipart field \"file\", or as the request body."))
        reason = (request.args.get("import_anyway") or request.form.get("import_anyway")
                  or "").strip()
        report = import_statement(data, name, current_user, max_bytes=limit,
                                  force_reason=reason or None,
                                  dry_run=request.args.get("dry_run") in ("1", "true"))
        if report.ok:
            return json_response(201, report.as_dict())
        status = {"already_imported": 409, "too_large": 413, "conflict": 409}.get(
            report.error_code, 422)
        return json_response(status, report.as_dict())

    @expose("/<statement_id>", methods=["GET"])
    @protect()
    @safe
    @permission_name("get")
    def get(self, statement_id: str):
        """An imported statement and what became of its lines.
        ---
        get:
          summary: Read an imported statement
          parameters:
          - in: path
            name: statement_id
            required: true
            schema: {type: integer}
          responses:
            200:
              description: The statement with counts and amounts per status.
            401: {$ref: '#/components/responses/401'}
            404: {$ref: '#/components/responses/404'}
        """
        statement = None
        if statement_id.isascii() and statement_id.isdigit() and 0 < int(statement_id) <= MAX_ID:
            statement = db.session.get(BankStatement, int(statement_id))
        if statement is None:
            return error_response(404, _("No statement with id %(id)s.", id=statement_id[:20]))
        rows = db.session.execute(
            select(StatementLine.kind, StatementLine.status, func.count(),
                   func.coalesce(func.sum(StatementLine.amount), 0))
            .where(StatementLine.statement_id == statement.id)
            .group_by(StatementLine.kind, StatementLine.status)).all()
        return json_response(200, {
            "id": statement.id, "format": statement.format, "account_iban": statement.account_iban,
            "statement_ref": statement.statement_ref,
            "from_date": _iso(statement.from_date), "to_date": _iso(statement.to_date),
            "opening_balance": _str(statement.opening_balance),
            "closing_balance": _str(statement.closing_balance),
            "imported_at": statement.imported_at.isoformat(), "file_name": statement.file_name,
            "lines": statement.line_count, "duplicates": statement.duplicate_count,
            "by_status": [{"kind": kind, "status": status, "count": count, "amount": str(amount)}
                          for kind, status, count, amount in rows]})


def _payload(limit: int) -> tuple[bytes | None, str | None]:
    if request.mimetype == "multipart/form-data":
        upload = request.files.get("file")
        if upload is None:
            return None, None
        data = upload.read(limit + 1)
        name = (upload.filename or "").replace("\\", "/").rsplit("/", 1)[-1][:200]
    elif request.mimetype in RAW_TYPES or not request.mimetype:
        data, name = request.get_data(), request.args.get("file_name", "")[:200] or None
    else:
        return None, None
    if len(data) > limit:
        raise RequestEntityTooLarge()
    return (data or None), name


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):.1f}".rstrip("0").rstrip(".")


def _iso(value) -> str | None:
    return value.isoformat() if value else None


def _str(value) -> str | None:
    return None if value is None else str(value)


def register(appbuilder: AppBuilder) -> None:
    """Called from app.api.register: adds /api/v1/statements."""
    appbuilder.add_api(StatementsApi)
