"""REST API for the ERP: push customers and invoices, all rows or none.

POST /api/v1/imports/customers and /api/v1/imports/invoices take either a multipart CSV file
(field "file", the same files the admin screen accepts) or JSON ``{"rows": [{...}, ...]}`` whose
keys are the CSV column names. Answers: 200 with the counts, 422 with every error (nothing was
imported), 400 when the request itself is malformed. ``?dry_run=1`` validates and changes
nothing.
"""
from __future__ import annotations

from flask import request
from flask_appbuilder import AppBuilder
from flask_appbuilder.api import BaseApi, expose, protect, safe
from flask_babel import gettext as _
from werkzeug.exceptions import RequestEntityTooLarge

from app.imports import services
from app.imports.columns import CUSTOMERS, INVOICES

_TRUE = {"1", "true", "yes", "on"}

REPORT_SCHEMA = {
    "type": "object",
    "properties": {
        "kind": {"type": "string", "enum": [CUSTOMERS, INVOICES]},
        "rows": {"type": "integer", "description": "rows read"},
        "created": {"type": "integer"},
        "updated": {"type": "integer"},
        "imported": {"type": "boolean", "description": "false on a dry run"},
        "errors": {"type": "array", "items": {"$ref": "#/components/schemas/ImportError"}},
        "ignored_columns": {"type": "array", "items": {"type": "string"}},
    },
}
ERROR_SCHEMA = {
    "type": "object",
    "properties": {
        "line": {"type": "integer", "nullable": True,
                 "description": "line in the CSV file (header = 1), or position in rows "
                                "(first = 1); null for the request as a whole"},
        "field": {"type": "string", "nullable": True},
        "message": {"type": "string"},
    },
}


class ImportsApi(BaseApi):
    resource_name = "imports"
    route_base = "/api/v1/imports"
    openapi_spec_tag = "Imports"

    def add_apispec_components(self, api_spec) -> None:
        super().add_apispec_components(api_spec)
        for name, schema in (("ImportReport", REPORT_SCHEMA), ("ImportError", ERROR_SCHEMA)):
            if name not in api_spec.components.schemas:
                api_spec.components.schema(name, schema)

    @expose("/customers", methods=["POST"])
    @protect()
    @safe
    def import_customers(self):
        """Create or update customers, keyed on the ERP customer number.
        ---
        post:
          summary: Import customers (all rows or none)
          description: >-
            A CSV file (multipart field "file"; separator ; , or tab; UTF-8 or Latin-1) or a
            JSON body {"rows": [...]}. Keys: number, name, kind, vat_number, language, country,
            email, phone, delivery_channel, sms_reminders, payment_method,
            preferred_payment_day, legal_status, contact_name, address_line1, address_line2,
            postal_code, city (or the Dutch/French aliases the CSV import accepts).
          parameters:
          - in: query
            name: dry_run
            schema:
              type: boolean
            description: validate only; change nothing
          requestBody:
            content:
              application/json:
                schema:
                  type: object
                  required: [rows]
                  properties:
                    rows:
                      type: array
                      items:
                        type: object
                        additionalProperties: true
              multipart/form-data:
                schema:
                  type: object
                  properties:
                    file:
                      type: string
                      format: binary
              text/csv:
                schema:
                  type: string
          responses:
            200:
              description: Every row imported (or valid, on a dry run)
              content:
                application/json:
                  schema:
                    $ref: '#/components/schemas/ImportReport'
            400:
              $ref: '#/components/responses/400'
            401:
              $ref: '#/components/responses/401'
            413:
              description: The file is too large
            422:
              description: Some rows are wrong; nothing was imported
              content:
                application/json:
                  schema:
                    $ref: '#/components/schemas/ImportReport'
        """
        return self._import(CUSTOMERS)

    @expose("/invoices", methods=["POST"])
    @protect()
    @safe
    def import_invoices(self):
        """Create or update invoices, keyed on the ERP invoice number.
        ---
        post:
          summary: Import invoices (all rows or none)
          description: >-
            A CSV file (multipart field "file") or a JSON body {"rows": [...]}. Keys: number,
            customer_number, issue_date, due_date (YYYY-MM-DD or DD/MM/YYYY), total_amount,
            currency, description, structured_reference. The customers must exist already.
          parameters:
          - in: query
            name: dry_run
            schema:
              type: boolean
            description: validate only; change nothing
          requestBody:
            content:
              application/json:
                schema:
                  type: object
                  required: [rows]
                  properties:
                    rows:
                      type: array
                      items:
                        type: object
                        additionalProperties: true
              multipart/form-data:
                schema:
                  type: object
                  properties:
                    file:
                      type: string
                      format: binary
              text/csv:
                schema:
                  type: string
          responses:
            200:
              description: Every row imported (or valid, on a dry run)
              content:
                application/json:
                  schema:
                    $ref: '#/components/schemas/ImportReport'
            400:
              $ref: '#/components/responses/400'
            401:
              $ref: '#/components/responses/401'
            413:
              description: The file is too large
            422:
              description: Some rows are wrong; nothing was imported
              content:
                application/json:
                  schema:
                    $ref: '#/components/schemas/ImportReport'
        """
        return self._import(INVOICES)

    def _import(self, kind: str):
        try:
            data = self._payload()
        except RequestEntityTooLarge:
            return self.response(413, message=_(
                "The file is too large; the limit is %(limit)s MB.",
                limit=services.max_bytes() // (1024 * 1024)))
        if isinstance(data, str):
            return self.response_400(message=data)
        dry_run = request.args.get("dry_run", "").strip().lower() in _TRUE
        report = (services.preview if dry_run else services.run_import)(kind, data)
        return self.response(200 if report.ok else 422, **report.as_dict())

    @staticmethod
    def _payload() -> bytes | list | str:
        """The CSV bytes or the JSON rows; a str is the reason the request is malformed."""
        limit = services.max_bytes()
        if request.mimetype == "multipart/form-data":
            upload = request.files.get("file")
            if upload is None:
                return _("Send the CSV file in the multipart field \"file\".")
            data = upload.read(limit + 1)
        elif request.mimetype == "text/csv":
            data = request.get_data()
        else:
            data = None
        if data is not None:
            if len(data) > limit:
                raise RequestEntityTooLarge()
            return data
        # Like the other endpoints, JSON is read whatever the Content-Type says.
        body = request.get_json(force=True, silent=True)
        if not isinstance(body, dict) or not isinstance(body.get("rows"), list):
            return _("Send a JSON object {\"rows\": [...]} or a CSV file in the multipart "
                     "field \"file\".")
        if not all(isinstance(row, dict) for row in body["rows"]):
            return _("Every item of \"rows\" must be an object.")
        return body["rows"]


def register(appbuilder: AppBuilder) -> None:
    """Called from app.api.register: adds the import endpoints to the REST API."""
    appbuilder.add_api(ImportsApi)
