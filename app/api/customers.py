"""/api/v1/customers: create or update a customer by its ERP number, read its balance."""
from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from flask import current_app, request
from flask_appbuilder.api import BaseApi, expose, protect, safe
from flask_appbuilder.security.decorators import permission_name
from flask_babel import gettext as _
from sqlalchemy import func, select

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
from app.api.invoices import invoice_body
from app.core.time import business_today
from app.core.validation import ValidationError
from app.customers.models import Customer
from app.customers.services import clean_customer, compute_balance, find_by_number, upsert_customer
from app.extensions import db
from app.invoices.models import Invoice, invoice_is_open

DEFAULT_PAGE_SIZE = 20
SUB_RESOURCES = ("/balance", "/invoices")  # GET-only URLs below a customer
MAX_PAGE = 100_000


def find_customer_or_404(number: str) -> Customer:
    key = lookup_key(number)
    customer = find_by_number(key) if key else None
    if customer is None:
        raise ApiError(404, _("No customer with number %(number)s.", number=number[:40]))
    return customer


def open_figures(customer: Customer, today: date) -> dict[str, Any]:
    """Overdue amount, number of open invoices and the oldest due date, in one query."""
    overdue = func.sum(Invoice.open_amount).filter(Invoice.due_date < today)
    row = db.session.execute(
        select(func.coalesce(overdue, 0), func.count(Invoice.id), func.min(Invoice.due_date))
        .where(Invoice.customer_id == customer.id, invoice_is_open())
    ).one()
    return {"overdue_amount": Decimal(row[0] or 0), "open_invoices": row[1],
            "oldest_due_date": row[2]}


def customer_body(customer: Customer) -> dict[str, Any]:
    contact = next((c for c in customer.contacts if c.role == "billing"), None)
    address = next((a for a in customer.addresses if a.kind == "billing"), None)
    data = {field: getattr(customer, field) for field in (
        "number", "name", "kind", "vat_number", "language", "country", "email", "phone",
        "delivery_channel", "sms_reminders", "payment_method", "preferred_payment_day",
        "legal_status", "updated_at")}
    data.update(
        contact_name=contact.name if contact else None,
        address_line1=address.line1 if address else None,
        address_line2=address.line2 if address else None,
        postal_code=address.postal_code if address else None,
        city=address.city if address else None,
        currency="EUR",
        balance=compute_balance(customer.id),
        overdue_amount=open_figures(customer, business_today())["overdue_amount"],
    )
    return schemas.CustomerSchema().dump(data)


def page_args() -> tuple[int, int]:
    """page (from 1) and page_size (1 to FAB_API_MAX_PAGE_SIZE) from the query string."""
    max_size = current_app.config.get("FAB_API_MAX_PAGE_SIZE", 100)
    values, errors = {}, {}
    for name, default, high in (("page", 1, MAX_PAGE), ("page_size", DEFAULT_PAGE_SIZE, max_size)):
        raw = request.args.get(name, "").strip()
        if not raw:
            values[name] = default
        elif raw.isascii() and raw.isdigit() and len(raw) < 10 and 1 <= int(raw) <= high:
            values[name] = int(raw)
        else:
            errors[name] = [_("Must be a whole number from 1 to %(high)s.", high=high)]
    if errors:
        raise ApiError(400, _("The query parameters are not valid."), errors)
    return values["page"], values["page_size"]


class CustomersApi(BaseApi):
    """Customers by their ERP number. Reads need can_get, writes can_put."""

    resource_name = "customers"
    openapi_spec_tag = "Customers"
    openapi_spec_component_schemas = schemas.COMPONENT_SCHEMAS
    responses = schemas.RESPONSES

    @expose("/<path:number>", methods=["PUT"])
    @protect()
    @safe
    @permission_name("put")
    @json_errors
    def put(self, number: str):
        """Create the customer, or replace its data (idempotent).
        ---
        put:
          summary: Create or update a customer
          description: >-
            PUT replaces the customer's data: an optional field left out goes back to its
            default. Validation is the same as the admin screens and the CSV import.
          parameters:
          - in: path
            name: number
            required: true
            schema: {type: string, maxLength: 40}
            description: The ERP's customer number.
          requestBody:
            required: true
            content:
              application/json:
                schema: {$ref: '#/components/schemas/CustomerInput'}
          responses:
            200:
              description: Updated.
              content:
                application/json:
                  schema: {$ref: '#/components/schemas/Customer'}
            201:
              description: Created.
              content:
                application/json:
                  schema: {$ref: '#/components/schemas/Customer'}
            400: {$ref: '#/components/responses/BadBody'}
            401: {$ref: '#/components/responses/401'}
            403: {$ref: '#/components/responses/403'}
            422: {$ref: '#/components/responses/FieldErrors'}
        """
        body = read_json_object()
        check_fields(body, schemas.CustomerInputSchema)
        same_key_in_body(body, number)
        if number.rstrip("/").endswith(SUB_RESOURCES):
            # PUT .../C1/balance is a client mistake, not a customer numbered "C1/balance".
            raise ValidationError({"number": _("A customer number cannot end with %(end)s.",
                                               end=" / ".join(SUB_RESOURCES))})
        clean = clean_customer({**body, "number": number})
        customer, created = commit(lambda: upsert_customer(clean))
        return json_response(201 if created else 200, customer_body(customer))

    @expose("/<path:number>", methods=["GET"])
    @protect()
    @safe
    @permission_name("get")
    @json_errors
    def get(self, number: str):
        """One customer with its balance.
        ---
        get:
          summary: Read a customer, its balance and overdue amount
          parameters:
          - in: path
            name: number
            required: true
            schema: {type: string}
          responses:
            200:
              description: The customer.
              content:
                application/json:
                  schema: {$ref: '#/components/schemas/Customer'}
            401: {$ref: '#/components/responses/401'}
            403: {$ref: '#/components/responses/403'}
            404: {$ref: '#/components/responses/NotFound'}
        """
        return json_response(200, customer_body(find_customer_or_404(number)))

    @expose("/<path:number>/balance", methods=["GET"])
    @protect()
    @safe
    @permission_name("get")
    @json_errors
    def balance(self, number: str):
        """What the customer owes.
        ---
        get:
          summary: Balance, overdue amount, open invoices and oldest due date
          parameters:
          - in: path
            name: number
            required: true
            schema: {type: string}
          responses:
            200:
              description: The balance.
              content:
                application/json:
                  schema: {$ref: '#/components/schemas/CustomerBalance'}
            401: {$ref: '#/components/responses/401'}
            403: {$ref: '#/components/responses/403'}
            404: {$ref: '#/components/responses/NotFound'}
        """
        customer = find_customer_or_404(number)
        data = {"customer_number": customer.number, "currency": "EUR",
                "balance": compute_balance(customer.id),
                **open_figures(customer, business_today())}
        return json_response(200, schemas.BalanceSchema().dump(data))

    @expose("/<path:number>/invoices", methods=["GET"])
    @protect()
    @safe
    @permission_name("get")
    @json_errors
    def invoices(self, number: str):
        """The customer's open invoices, oldest due date first.
        ---
        get:
          summary: Open invoices of a customer (paginated)
          parameters:
          - in: path
            name: number
            required: true
            schema: {type: string}
          - in: query
            name: page
            schema: {type: integer, minimum: 1, default: 1}
          - in: query
            name: page_size
            schema: {type: integer, minimum: 1, maximum: 100, default: 20}
          responses:
            200:
              description: One page of open invoices.
              content:
                application/json:
                  schema: {$ref: '#/components/schemas/InvoicePage'}
            400: {$ref: '#/components/responses/BadBody'}
            401: {$ref: '#/components/responses/401'}
            403: {$ref: '#/components/responses/403'}
            404: {$ref: '#/components/responses/NotFound'}
        """
        customer = find_customer_or_404(number)
        page, page_size = page_args()
        is_open = (Invoice.customer_id == customer.id, invoice_is_open())
        count = db.session.scalar(select(func.count(Invoice.id)).where(*is_open))
        invoices = db.session.scalars(
            select(Invoice).where(*is_open).order_by(Invoice.due_date, Invoice.id)
            .offset((page - 1) * page_size).limit(page_size)
        ).all()
        today = business_today()
        return json_response(200, {"count": count, "page": page, "page_size": page_size,
                                   "result": [invoice_body(i, today) for i in invoices]})
