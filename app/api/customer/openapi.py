"""The OpenAPI 3.1 document of the customer API (served at /api/customer/v1/openapi.json).

Written out here rather than generated: it is the contract customers' developers build on,
and tests/customer_api/test_contract.py walks it against the real routes (every documented
answer reachable, no undocumented status)."""
from __future__ import annotations

from typing import Any

from app.customer_api.webhooks import EVENTS

PROBLEM = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
COMMON = {"401": "Missing, unknown, revoked or expired key.",
          "429": "Too many calls for this key; see Retry-After."}


def _answers(codes: dict[str, str], ok: dict[str, Any]) -> dict[str, Any]:
    answers = dict(ok)
    for code, text in {**COMMON, **codes}.items():
        answers[code] = {"description": text, "content": PROBLEM}
    return answers


def _json(ref: str, description: str = "OK") -> dict[str, Any]:
    return {"description": description,
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{ref}"}}}}


def _file(kind: str, description: str) -> dict[str, Any]:
    return {"description": description,
            "content": {kind: {"schema": {"type": "string", "format": "binary"}}}}


INVOICE_ID = {"name": "invoice_id", "in": "path", "required": True,
              "schema": {"type": "integer", "minimum": 1, "maximum": 2147483647}}
IDEMPOTENCY = {"name": "Idempotency-Key", "in": "header", "required": True,
               "schema": {"type": "string", "minLength": 1, "maxLength": 100},
               "description": "Any unique string; a repeat gets the first answer back."}
ACT = {"403": "The key may only read.", "409": "Idempotency-Key reused for another request, "
       "or the first request with it is still running.",
       "428": "No Idempotency-Key header.", "400": "Invalid input (errors per field)."}


def _post(summary: str, body: dict[str, Any], ok: dict[str, Any], extra: dict[str, str] | None = None,
          params: list | None = None) -> dict[str, Any]:
    return {"summary": summary, "parameters": [*(params or []), IDEMPOTENCY],
            "requestBody": {"required": True, "content": body},
            "responses": _answers({**ACT, **(extra or {})}, ok)}


def _obj(**props: Any) -> dict[str, Any]:
    return {"type": "object", "properties": props}


S, I, B = {"type": "string"}, {"type": "integer"}, {"type": "boolean"}
MONEY = {"type": "string", "pattern": r"^-?\d+\.\d{2}$", "examples": ["125.50"]}
DATE = {"type": "string", "format": "date"}
IDS = {"type": "array", "items": {"type": "integer", "minimum": 1}, "minItems": 1}


def document(server: str) -> dict[str, Any]:
    outcome = {"201": _json("Outcome", "Approved at once under the self-service rules."),
               "202": _json("Outcome", "Sent to our team: refused_rules says which rule.")}
    return {
        "openapi": "3.1.0",
        "info": {"title": "CreditDesk customer API", "version": "1.0.0",
                 "description": "Read your balance, invoices and documents, and ask for more "
                                "time, a payment plan or a dispute under the same rules as the "
                                "portal. Authenticate with `Authorization: Bearer cdk_...` "
                                "(a key made on the portal: My details, Connected apps). "
                                "Webhook events: " + ", ".join(k for k in EVENTS) + "."},
        "servers": [{"url": server}],
        "security": [{"bearer": []}],
        "paths": {
            "/balance": {"get": {"summary": "Balance and what is due",
                                 "responses": _answers({}, {"200": _json("Balance")})}},
            "/invoices": {"get": {
                "summary": "Invoices, a page at a time",
                "parameters": [
                    {"name": "status", "in": "query",
                     "schema": {"enum": ["all", "open", "overdue", "paid"]}},
                    {"name": "limit", "in": "query",
                     "schema": {"type": "integer", "minimum": 1, "maximum": 200}},
                    {"name": "cursor", "in": "query", "schema": S,
                     "description": "links.next of the previous page"}],
                "responses": _answers({"400": "Invalid filter, limit or cursor."},
                                      {"200": _json("InvoicePage"),
                                       "304": {"description": "Not modified (If-None-Match)."}})}},
            "/invoices/{invoice_id}": {"get": {
                "summary": "One invoice", "parameters": [INVOICE_ID],
                "responses": _answers({"404": "Not one of your invoices."},
                                      {"200": _json("Invoice"),
                                       "304": {"description": "Not modified."}})}},
            "/invoices/{invoice_id}/pdf": {"get": {
                "summary": "The invoice as PDF", "parameters": [INVOICE_ID],
                "responses": _answers({"404": "Not one of your invoices.",
                                       "503": "The PDF cannot be made now."},
                                      {"200": _file("application/pdf", "PDF")})}},
            "/invoices/{invoice_id}.xml": {"get": {
                "summary": "The invoice as Peppol BIS 3.0 UBL (also: GET /invoices/{id} with "
                           "Accept: application/xml)", "parameters": [INVOICE_ID],
                "responses": _answers({"404": "Not one of your invoices, or no e-invoice was "
                                              "made for it."},
                                      {"200": _file("application/xml", "UBL")})}},
            "/invoices/{invoice_id}/payment-instructions": {"get": {
                "summary": "How to pay: IBAN, structured communication, QR code links",
                "parameters": [INVOICE_ID],
                "responses": _answers({"404": "Not one of your invoices."},
                                      {"200": _json("PaymentInstructions")})}},
            "/invoices/{invoice_id}/qr.png": {"get": {
                "summary": "EPC QR code (scan to pay), PNG", "parameters": [INVOICE_ID],
                "responses": _answers({"404": "Not yours, or nothing to pay by QR."},
                                      {"200": _file("image/png", "PNG")})}},
            "/invoices/{invoice_id}/qr.svg": {"get": {
                "summary": "EPC QR code (scan to pay), SVG", "parameters": [INVOICE_ID],
                "responses": _answers({"404": "Not yours, or nothing to pay by QR."},
                                      {"200": _file("image/svg+xml", "SVG")})}},
            "/invoices/{invoice_id}/disputes": {"post": _post(
                "Dispute an invoice (with files: multipart/form-data, field files)",
                {"application/json": {"schema": {"$ref": "#/components/schemas/DisputeIn"}},
                 "multipart/form-data": {"schema": {"allOf": [
                     {"$ref": "#/components/schemas/DisputeIn"},
                     _obj(files={"type": "array",
                                 "items": {"type": "string", "format": "binary"}})]}}},
                {"201": _json("Dispute", "Dispute opened.")},
                {"404": "Not one of your invoices."}, [INVOICE_ID])},
            "/statement": {"get": {
                "summary": "Account statement for a period (JSON, CSV or PDF)",
                "parameters": [{"name": "from", "in": "query", "schema": DATE},
                               {"name": "to", "in": "query", "schema": DATE},
                               {"name": "format", "in": "query",
                                "schema": {"enum": ["json", "csv", "pdf"]}}],
                "responses": _answers({"400": "Invalid dates or format."}, {
                    "200": {"description": "The statement", "content": {
                        "application/json": {"schema": {"$ref":
                                                        "#/components/schemas/Statement"}},
                        "text/csv": {"schema": S}, "application/pdf": {"schema": S}}}})}},
            "/requests": {"get": {"summary": "Your requests and their decisions",
                                  "responses": _answers({}, {"200": _json("RequestList")})}},
            "/requests/{request_id}": {"get": {
                "summary": "One request",
                "parameters": [{**INVOICE_ID, "name": "request_id"}],
                "responses": _answers({"404": "Not one of your requests."},
                                      {"200": _json("Request")})}},
            "/deferrals": {"post": _post(
                "Promise to pay by a later date (deferral)",
                {"application/json": {"schema": _obj(invoice_ids=IDS, new_due_date=DATE)}},
                outcome)},
            "/payment-plans/preview": {"post": _post(
                "The plan table's answer before asking",
                {"application/json": {"schema": {"$ref": "#/components/schemas/PlanIn"}}},
                {"200": _json("PlanPreview")})},
            "/payment-plans": {"post": _post(
                "Ask for a payment plan",
                {"application/json": {"schema": {"$ref": "#/components/schemas/PlanIn"}}},
                outcome)},
            "/payment-plans/{plan_id}": {"get": {
                "summary": "One payment plan",
                "parameters": [{**INVOICE_ID, "name": "plan_id"}],
                "responses": _answers({"404": "Not one of your plans."},
                                      {"200": _json("Plan")})}},
            "/questions": {"post": _post(
                "Ask the accounts team a question",
                {"application/json": {"schema": _obj(subject=S, text=S, invoice_id=I)}},
                {"201": _json("Request", "Question received.")})},
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                           "description": "cdk_... key from the portal"}},
            "schemas": _schemas(),
        },
    }


def _schemas() -> dict[str, Any]:
    invoice = _obj(id=I, number=S, issue_date=DATE, due_date=DATE, effective_due_date=DATE,
                   currency=S, total_amount=MONEY, open_amount=MONEY, payable_now=MONEY,
                   status={"enum": ["open", "overdue", "paid", "written_off", "cancelled",
                                    "partially_paid", "credited"]},
                   days_overdue=I, reminder_level=I,
                   deferral={"type": ["object", "null"]}, in_payment_plan=B,
                   dispute={"type": ["object", "null"]}, structured_reference=S,
                   description={"type": ["string", "null"]}, links={"type": "object"})
    request = _obj(id=I, kind=S, status=S, channel=S, subject=S,
                   created_at={"type": ["string", "null"]},
                   answer_due_at={"type": ["string", "null"]},
                   decided_at={"type": ["string", "null"]},
                   decision_note={"type": ["string", "null"]},
                   refused_rules={"type": "array", "items": S},
                   invoice_ids={"type": "array", "items": I}, links={"type": "object"})
    plan = _obj(id=I, status=S, total_amount=MONEY, installments={"type": "array"})
    return {
        "Problem": {**_obj(type=S, title=S, status=I, detail=S, errors={"type": "object"}),
                    "required": ["type", "title", "status", "detail"]},
        "Balance": _obj(currency=S, balance=MONEY, overdue_amount=MONEY, overdue_count=I,
                        payable_overdue=MONEY, disputed_amount=MONEY,
                        unallocated_payments=MONEY, next_due={"type": ["object", "null"]},
                        next_installment={"type": ["object", "null"]},
                        open_request_count=I),
        "Invoice": invoice,
        "InvoicePage": _obj(items={"type": "array", "items": {"$ref":
                                                              "#/components/schemas/Invoice"}},
                            links=_obj(next=S)),
        "PaymentInstructions": _obj(invoice_id=I, nothing_to_pay=B, amount=MONEY,
                                    currency=S, beneficiary=S, iban=S, bic=S,
                                    structured_communication=S, reference_kind=S,
                                    qr={"type": ["object", "null"]},
                                    qr_error={"type": ["string", "null"]}),
        "Statement": _obj(opening_balance=MONEY, closing_balance=MONEY,
                          lines={"type": "array"}, aging={"type": "array"}),
        "Request": request,
        "RequestList": _obj(items={"type": "array",
                                   "items": {"$ref": "#/components/schemas/Request"}}),
        "Outcome": _obj(approved=B, request={"$ref": "#/components/schemas/Request"},
                        refused_rules={"type": "array", "items": S},
                        deferrals={"type": "array"}, plan=plan),
        "PlanIn": _obj(invoice_ids=IDS, installment_count={"type": "integer", "minimum": 1},
                       day_of_month={"type": "integer", "minimum": 1, "maximum": 28}),
        "PlanPreview": _obj(approved_at_once=B, refused_rules={"type": "array", "items": S},
                            total_amount=MONEY, installments={"type": "array"}),
        "Plan": plan,
        "DisputeIn": _obj(amount=MONEY, reason=S, text=S),
        "Dispute": _obj(id=I, invoice_id=I, status=S, amount=MONEY, reason=S,
                        request={"$ref": "#/components/schemas/Request"}),
    }
