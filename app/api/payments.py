"""/api/v1/payments: book a payment received by the ERP (idempotent by external_id)."""
from __future__ import annotations

from typing import Any

from flask_appbuilder.api import BaseApi, expose, protect, safe
from flask_appbuilder.security.decorators import permission_name
from flask_babel import gettext as _

from app.api import schemas
from app.api.errors import (
    ApiError,
    check_fields,
    commit,
    json_errors,
    json_response,
    read_json_object,
)
from app.extensions import db
from app.payments.models import Payment
from app.payments.services import clean_payment, post_payment

MAX_ID = 2**31 - 1  # an INTEGER column: a larger id cannot exist (and PostgreSQL would refuse it)


def payment_body(payment: Payment) -> dict[str, Any]:
    data = {field: getattr(payment, field) for field in (
        "id", "amount", "unallocated_amount", "currency", "received_on", "method", "status",
        "communication", "external_id", "counterparty_name", "counterparty_iban", "created_at")}
    data["customer_number"] = payment.customer.number if payment.customer else None
    data["allocations"] = [{"invoice_number": a.invoice.number, "amount": a.amount}
                           for a in payment.allocations
                           if a.reversed_at is None]
    return schemas.PaymentSchema().dump(data)


def _check_same_payment(existing: Payment, clean: dict[str, Any]) -> None:
    """A repeated external_id must describe the same payment, else it is an ERP mistake."""
    if existing.amount != clean["amount"] or existing.received_on != clean["received_on"]:
        raise ApiError(409, _("external_id %(id)s was already used for another payment; "
                              "nothing was booked.", id=clean["external_id"]), {
            "external_id": [_("Already used for the payment of %(amount)s received on "
                              "%(date)s.", amount=existing.amount,
                              date=existing.received_on.isoformat())]})


class PaymentsApi(BaseApi):
    """Payments booked from the ERP. GET needs can_get, POST can_post."""

    resource_name = "payments"
    openapi_spec_tag = "Payments"
    openapi_spec_component_schemas = schemas.COMPONENT_SCHEMAS
    responses = schemas.RESPONSES

    @expose("", methods=["POST"])
    @protect()
    @safe
    @permission_name("post")
    @json_errors
    def post(self):
        """Book a payment and allocate it to open invoices.
        ---
        post:
          summary: Post a payment
          description: >-
            The payment goes to the named invoice (invoice_number or reference) first, then
            to the customer's oldest open invoices; what is left stays on the payment as a
            credit. A payment with no known customer is booked as unmatched for the finance
            team. Send external_id: posting the same external_id again books nothing and
            answers 200 with the first payment (409 if amount or date differ).
          requestBody:
            required: true
            content:
              application/json:
                schema: {$ref: '#/components/schemas/PaymentInput'}
          responses:
            200:
              description: Already booked under this external_id; nothing new was booked.
              content:
                application/json:
                  schema: {$ref: '#/components/schemas/Payment'}
            201:
              description: Booked.
              content:
                application/json:
                  schema: {$ref: '#/components/schemas/Payment'}
            400: {$ref: '#/components/responses/BadBody'}
            401: {$ref: '#/components/responses/401'}
            403: {$ref: '#/components/responses/403'}
            409: {$ref: '#/components/responses/Conflict'}
            422: {$ref: '#/components/responses/FieldErrors'}
        """
        body = read_json_object()
        check_fields(body, schemas.PaymentInputSchema)
        clean = clean_payment(body)
        payment, created = commit(lambda: post_payment(clean))
        if not created:
            _check_same_payment(payment, clean)
        return json_response(201 if created else 200, payment_body(payment))

    @expose("/<payment_id>", methods=["GET"])
    @protect()
    @safe
    @permission_name("get")
    @json_errors
    def get(self, payment_id: str):
        """One payment and where it went.
        ---
        get:
          summary: Read a payment
          parameters:
          - in: path
            name: payment_id
            required: true
            schema: {type: integer}
          responses:
            200:
              description: The payment with its allocations.
              content:
                application/json:
                  schema: {$ref: '#/components/schemas/Payment'}
            401: {$ref: '#/components/responses/401'}
            403: {$ref: '#/components/responses/403'}
            404: {$ref: '#/components/responses/NotFound'}
        """
        payment = None
        if payment_id.isascii() and payment_id.isdigit() and len(payment_id) <= 10 and 0 < int(payment_id) <= MAX_ID:
            payment = db.session.get(Payment, int(payment_id))
        if payment is None:
            raise ApiError(404, _("No payment with id %(id)s.", id=payment_id[:20]))
        return json_response(200, payment_body(payment))

