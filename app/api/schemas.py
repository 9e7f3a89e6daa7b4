"""The JSON shapes of the REST API, as marshmallow schemas.

One definition serves three purposes: the response bodies are produced with ``dump()``, the
OpenAPI spec (GET /api/v1/_openapi) documents them as components, and the ``*InputSchema``
classes list the fields each write endpoint accepts (app.api.errors.check_fields refuses any
other field). The business validation itself stays in the domain services.
"""
from __future__ import annotations

from flask_appbuilder.api import BaseApi
from marshmallow import Schema, fields


class Money(fields.Decimal):
    """Money as a JSON string with two decimals ("125.50"): a JSON float would lose cents."""

    def __init__(self, **kwargs):
        metadata = {"type": "string", "format": "decimal", "example": "125.50"}
        metadata.update(kwargs.pop("metadata", {}))
        super().__init__(places=2, as_string=True, metadata=metadata, **kwargs)


def _doc(description: str, **extra) -> dict:
    return {"metadata": {"description": description, **extra}}


# --- What clients send ------------------------------------------------------------------

class CustomerInputSchema(Schema):
    __component_name__ = "CustomerInput"
    number = fields.String(**_doc("The ERP's customer number (the key). In PUT it may be left "
                                  "out: the number in the URL is used.", example="C1001"))
    name = fields.String(required=True, **_doc("Person or company name.", example="Dupont SRL"))
    kind = fields.String(**_doc("person (default) or company.", example="company"))
    vat_number = fields.String(**_doc("BE, NL and FR numbers are checked.", example="BE0403019261"))
    language = fields.String(**_doc("fr (default), nl or en.", example="fr"))
    country = fields.String(**_doc("BE (default), NL, FR, LU or DE.", example="BE"))
    email = fields.String(**_doc("Where reminders go.", example="ap@dupont.example"))
    phone = fields.String(**_doc("Phone number.", example="+32 2 123 45 67"))
    delivery_channel = fields.String(**_doc("email (default) or paper.", example="email"))
    sms_reminders = fields.Boolean(**_doc("SMS reminders on or off (default off)."))
    payment_method = fields.String(**_doc("transfer (default) or direct_debit.",
                                          example="transfer"))
    preferred_payment_day = fields.Integer(**_doc("Day of the month, 1 to 31.", example=25))
    legal_status = fields.String(**_doc("none (default), legal_proceedings, collection_agency "
                                        "or insolvent.", example="none"))
    contact_name = fields.String(**_doc("Billing contact named in messages.",
                                        example="Marie Dupont"))
    address_line1 = fields.String(**_doc("Billing address: street. With postal_code and city.",
                                         example="Rue de la Loi 16"))
    address_line2 = fields.String(**_doc("Billing address: second line."))
    postal_code = fields.String(**_doc("Billing address: postal code.", example="1000"))
    city = fields.String(**_doc("Billing address: city.", example="Bruxelles"))


class InvoiceInputSchema(Schema):
    __component_name__ = "InvoiceInput"
    number = fields.String(**_doc("The ERP's invoice number (the key); required in POST. In "
                                  "PUT it may be left out: the number in the URL is used.",
                                  example="F2024-0042"))
    customer_number = fields.String(required=True, **_doc("An existing customer's number.",
                                                          example="C1001"))
    issue_date = fields.Date(required=True, **_doc("YYYY-MM-DD (DD/MM/YYYY also accepted)."))
    due_date = fields.Date(required=True, **_doc("Not before issue_date."))
    total_amount = Money(required=True, **_doc("Total including VAT, greater than zero; a "
                                               "string (\"125.50\") or a JSON number."))
    currency = fields.String(**_doc("EUR (the only currency supported).", example="EUR"))
    description = fields.String(**_doc("Shown to the customer.", example="Maintenance March"))
    structured_reference = fields.String(**_doc(
        "The ERP's Belgian structured communication, typed any way (+++090/9337/55493+++ "
        "or 090933755493). Left out: CreditDesk assigns one.", example="+++090/9337/55493+++"))


class PaymentInputSchema(Schema):
    __component_name__ = "PaymentInput"
    customer_number = fields.String(**_doc("Who paid. At least one of customer_number, "
                                           "invoice_number and reference is required.",
                                           example="C1001"))
    invoice_number = fields.String(**_doc("The invoice paid first; the rest goes to the "
                                          "customer's oldest open invoices.",
                                          example="F2024-0042"))
    reference = fields.String(**_doc("Structured communication, RF reference or invoice "
                                     "number as the payer wrote it.",
                                     example="+++090/9337/55493+++"))
    amount = Money(required=True, **_doc("Amount received, greater than zero."))
    received_on = fields.Date(required=True, **_doc("Date the money was received."))
    method = fields.String(**_doc("transfer (default), direct_debit, online, cash or other.",
                                  example="transfer"))
    external_id = fields.String(**_doc("Your own id for this payment. Send it: a repeated "
                                       "post with the same id books nothing and returns the "
                                       "first payment (200).", example="ERP-PAY-778"))
    counterparty_name = fields.String(**_doc("Payer name as on the bank statement."))
    counterparty_iban = fields.String(**_doc("Payer IBAN."))


# --- What the API answers -----------------------------------------------------------------

class ReferenceSchema(Schema):
    __component_name__ = "PaymentReference"
    raw = fields.String(metadata={"description": "As stored: digits (OGM) or compact (RF).",
                                  "example": "090933755493"})
    formatted = fields.String(metadata={"description": "As printed on the invoice.",
                                        "example": "+++090/9337/55493+++"})


class CustomerSchema(Schema):
    __component_name__ = "Customer"
    number = fields.String()
    name = fields.String()
    kind = fields.String()
    vat_number = fields.String(allow_none=True)
    language = fields.String()
    country = fields.String()
    email = fields.String(allow_none=True)
    phone = fields.String(allow_none=True)
    delivery_channel = fields.String()
    sms_reminders = fields.Boolean()
    payment_method = fields.String()
    preferred_payment_day = fields.Integer(allow_none=True)
    legal_status = fields.String()
    contact_name = fields.String(allow_none=True)
    address_line1 = fields.String(allow_none=True)
    address_line2 = fields.String(allow_none=True)
    postal_code = fields.String(allow_none=True)
    city = fields.String(allow_none=True)
    currency = fields.String(metadata={"example": "EUR"})
    balance = Money(metadata={"description": "Open invoices minus open credit notes."})
    overdue_amount = Money(metadata={"description": "Open amount of invoices past their due "
                                                    "date."})
    updated_at = fields.DateTime()


class BalanceSchema(Schema):
    __component_name__ = "CustomerBalance"
    customer_number = fields.String()
    currency = fields.String(metadata={"example": "EUR"})
    balance = Money(metadata={"description": "Open invoices minus open credit notes."})
    overdue_amount = Money(metadata={"description": "Open amount past the due date."})
    open_invoices = fields.Integer(metadata={"description": "Number of open invoices."})
    oldest_due_date = fields.Date(allow_none=True, metadata={
        "description": "Due date of the oldest open invoice (null when none is open)."})


class InvoiceSchema(Schema):
    __component_name__ = "Invoice"
    number = fields.String()
    customer_number = fields.String()
    issue_date = fields.Date()
    due_date = fields.Date()
    currency = fields.String()
    total_amount = Money()
    open_amount = Money(metadata={"description": "What is still to be paid."})
    status = fields.String(metadata={"description": "open, partially_paid, paid, written_off "
                                                    "or cancelled."})
    overdue = fields.Boolean(metadata={"description": "Open and past its due date."})
    days_overdue = fields.Integer(metadata={"description": "0 unless overdue."})
    description = fields.String(allow_none=True)
    structured_communication = fields.Nested(ReferenceSchema)
    rf_reference = fields.Nested(ReferenceSchema)
    disputed = fields.Boolean()
    paid_on = fields.Date(allow_none=True)
    updated_at = fields.DateTime()


class InvoicePageSchema(Schema):
    __component_name__ = "InvoicePage"
    count = fields.Integer(metadata={"description": "Open invoices in total (all pages)."})
    page = fields.Integer(metadata={"description": "This page, from 1."})
    page_size = fields.Integer()
    result = fields.List(fields.Nested(InvoiceSchema))


class AllocationSchema(Schema):
    __component_name__ = "Allocation"
    invoice_number = fields.String()
    amount = Money()


class PaymentSchema(Schema):
    __component_name__ = "Payment"
    id = fields.Integer()
    customer_number = fields.String(allow_none=True)
    amount = Money()
    unallocated_amount = Money(metadata={"description": "Left over, kept as a credit."})
    currency = fields.String()
    received_on = fields.Date()
    method = fields.String()
    status = fields.String(metadata={"description": "unmatched, partially_allocated, allocated "
                                                    "or returned."})
    communication = fields.String(allow_none=True)
    external_id = fields.String(allow_none=True)
    counterparty_name = fields.String(allow_none=True)
    counterparty_iban = fields.String(allow_none=True)
    allocations = fields.List(fields.Nested(AllocationSchema))
    created_at = fields.DateTime()


class ErrorSchema(Schema):
    __component_name__ = "Error"
    message = fields.String(metadata={"description": "What went wrong, in the request's "
                                                     "language (Accept-Language: fr, nl, en)."})
    errors = fields.Dict(keys=fields.String(), values=fields.List(fields.String()), metadata={
        "description": "Field name -> messages; only when fields are at fault.",
        "example": {"total_amount": ["The amount must be greater than zero."]}})


# Nested schemas first, so that the spec refers to them by these names.
COMPONENT_SCHEMAS = (ReferenceSchema, AllocationSchema, ErrorSchema, CustomerInputSchema,
                     InvoiceInputSchema, PaymentInputSchema, CustomerSchema, BalanceSchema,
                     InvoiceSchema, InvoicePageSchema, PaymentSchema)


def _error_response(description: str) -> dict:
    return {"description": description,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


# OpenAPI responses: FAB's own 400/401/403/404/500 (the same {"message"} shape) and ours.
RESPONSES = {
    **BaseApi.responses,
    "FieldErrors": _error_response("Some fields are not valid; nothing was changed."),
    "BadBody": _error_response("The body is not a JSON object."),
    "NotFound": _error_response("No such record."),
    "Conflict": _error_response("The request conflicts with what is already booked."),
}
