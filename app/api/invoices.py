"""/api/v1/invoices: create, create-or-update and read invoices by their ERP number."""
from __future__ import annotations

from datetime import date
from typing import Any

from flask import request
from flask_appbuilder.api import BaseApi, expose, protect, safe
from flask_appbuilder.security.decorators import permission_name
from flask_babel import gettext as _
from sqlalchemy import select

from app.api import schemas
from app.api.errors import (
    ApiError,
    check_fields,
    commit,
    json_errors,
    json_response,
    lookup_key,
    read_json_object,
    same_key_in_body,
)
from app.core.time import business_today
from app.core.validation import ValidationError
from app.extensions import db
from app.invoices.models import Invoice
from app.invoices.references import format_ogm, format_rf
from app.invoices.services import clean_invoice, upsert_invoice


def find_invoice_or_404(number: str) -> Invoice:
    key = lookup_key(number)
    invoice = db.session.scalar(select(Invoice).where(Invoice.number == key)) if key else None
    if invoice is None:
        raise ApiError(404, _("No invoice with number %(number)s.", number=number[:40]))
    return invoice


def invoice_body(invoice: Invoice, today: date | None = None) -> dict[str, Any]:
    days = invoice.days_overdue(today or business_today()) if invoice.is_open else 0
    data = {field: getattr(invoice, field) for field in (
        "number", "issue_date", "due_date", "currency", "total_amount", "open_amount",
        "status", "description", "disputed", "paid_on", "updated_at")}
    data.update(
        customer_number=invoice.customer.number,
        overdue=days > 0,
        days_overdue=days,
        structured_communication={"raw": invoice.structured_reference,
                                  "formatted": format_ogm(invoice.structured_reference)},
        rf_reference={"raw": invoice.rf_reference, "formatted": format_rf(invoice.rf_reference)},
    )
    return schemas.InvoiceSchema().dump(data)


def _number_taken(number: Any) -> bool:
    key = lookup_key(str(number)) if number is not None else None
    return bool(key) and db.session.scalar(
        select(Invoice.id).where(Invoice.number == key)) is not None


class InvoicesApi(BaseApi):
    """Invoices by their ERP number. Reads need can_get, POST can_post, PUT can_put."""

    resource_name = "invoices"
    openapi_spec_tag = "Invoices"
    openapi_spec_component_schemas = schemas.COMPONENT_SCHEMAS
    responses = schemas.RESPONSES

    @expose("", methods=["POST"])
    @protect()
    @safe
    @permission_name("post")
    @json_errors
    def post(self):
        """Create an invoice; refused when its number exists.
        ---
        post:
          summary: Create an invoice
          description: >-
            The number must be new (422 on "number" otherwise; use PUT to update). The
            customer must exist. Without structured_reference, CreditDesk assigns a
            structured communication and an RF reference.
          requestBody:
            required: true
            content:
              application/json:
                schema: {$ref: '#/components/schemas/InvoiceInput'}
          responses:
            201:
              description: Created.
              content:
                application/json:
                  schema: {$ref: '#/components/schemas/Invoice'}
            400: {$ref: '#/components/responses/BadBody'}
            401: {$ref: '#/components/responses/401'}
            403: {$ref: '#/components/responses/403'}
            422: {$ref: '#/components/responses/FieldErrors'}
        """
        body = read_json_object()
        check_fields(body, schemas.InvoiceInputSchema)
        errors: dict[str, list[str]] = {}
        try:
            clean = clean_invoice(body)
        except ValidationError as exc:
            errors = exc.errors
        if _number_taken(body.get("number")):
            errors.setdefault("number", []).append(_(
                "An invoice with number %(number)s already exists; use PUT to change it.",
                number=str(body["number"]).strip()))
        if errors:
            raise ValidationError(errors)

        def create() -> Invoice:
            # Checked again inside the transaction: a concurrent POST may have won the race.
            if _number_taken(clean["number"]):
                raise ValidationError({"number": _(
                    "An invoice with number %(number)s already exists; use PUT to change it.",
                    number=clean["number"])})
            return upsert_invoice(clean)[0]

        invoice = commit(create)
        return json_response(201, invoice_body(invoice))

    @expose("/ubl", methods=["POST"])
    @protect()
    @safe
    @permission_name("post")
    @json_errors
    def post_ubl(self):
        """Create or update invoices and credit notes from Peppol BIS 3.0 UBL.
        ---
        post:
          summary: Import Peppol UBL invoices / credit notes
          description: >-
            The body is one UBL Invoice or CreditNote (application/xml) or a ZIP of them
            (application/zip). Each is checked with CreditDesk's rules and the Peppol
            validation kit; if any fails, nothing is stored and the 422 answer names the file,
            the rule or field, and the message. A number already imported is updated.
          responses:
            200: {description: "Imported: counts and numbers."}
            401: {$ref: '#/components/responses/401'}
            403: {$ref: '#/components/responses/403'}
            422: {$ref: '#/components/responses/FieldErrors'}
        """
        from app.einvoicing.importing import files_from_upload, import_documents

        raw = request.get_data(cache=False)
        if not raw.strip():
            raise ApiError(400, _("The request body must be a UBL document or a ZIP of them."))
        report = import_documents(files_from_upload("body.xml", raw))
        if not report.ok:
            errors: dict[str, list[str]] = {}
            for problem in report.problems:
                key = ":".join(part for part in (problem.file, problem.field) if part)
                errors.setdefault(key, []).append(problem.message)
            raise ValidationError(errors)
        return json_response(200, {"created": report.created, "updated": report.updated,
                                   "customers_created": report.customers_created,
                                   "numbers": report.numbers})

    @expose("/<path:number>", methods=["PUT"])
    @protect()
    @safe
    @permission_name("put")
    @json_errors
    def put(self, number: str):
        """Create the invoice, or replace its data (idempotent).
        ---
        put:
          summary: Create or update an invoice
          description: >-
            Payments already booked stay allocated: the total cannot go below what is paid,
            and an invoice with payments cannot move to another customer.
          parameters:
          - in: path
            name: number
            required: true
            schema: {type: string, maxLength: 40}
          requestBody:
            required: true
            content:
              application/json:
                schema: {$ref: '#/components/schemas/InvoiceInput'}
          responses:
            200:
              description: Updated.
              content:
                application/json:
                  schema: {$ref: '#/components/schemas/Invoice'}
            201:
              description: Created.
              content:
                application/json:
                  schema: {$ref: '#/components/schemas/Invoice'}
            400: {$ref: '#/components/responses/BadBody'}
            401: {$ref: '#/components/responses/401'}
            403: {$ref: '#/components/responses/403'}
            422: {$ref: '#/components/responses/FieldErrors'}
        """
        body = read_json_object()
        check_fields(body, schemas.InvoiceInputSchema)
        same_key_in_body(body, number)
        clean = clean_invoice({**body, "number": number})
        invoice, created = commit(lambda: upsert_invoice(clean))
        return json_response(201 if created else 200, invoice_body(invoice))

    @expose("/<path:number>", methods=["GET"])
    @protect()
    @safe
    @permission_name("get")
    @json_errors
    def get(self, number: str):
        """One invoice with its payment references and what is still open.
        ---
        get:
          summary: Read an invoice
          parameters:
          - in: path
            name: number
            required: true
            schema: {type: string}
          responses:
            200:
              description: The invoice.
              content:
                application/json:
                  schema: {$ref: '#/components/schemas/Invoice'}
            401: {$ref: '#/components/responses/401'}
            403: {$ref: '#/components/responses/403'}
            404: {$ref: '#/components/responses/NotFound'}
        """
        return json_response(200, invoice_body(find_invoice_or_404(number)))
