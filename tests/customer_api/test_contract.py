"""Contract tests from the published OpenAPI document.

1. Every route of the blueprint is documented, and every documented answer of every
   operation is reached by a scenario below (a documented code nothing can produce is a lie).
2. Schemathesis generates requests from the document (valid and invalid) against the real app:
   no 500, only documented status codes, documented content types and response schemas.
"""
from __future__ import annotations

import io
from datetime import date, timedelta

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi import checks as openapi_checks

from app.customer_api import keys
from app.extensions import db
from tests.customer_api.conftest import make_api
from tests.customer_api.test_reads import e_invoice

PREFIX = "/api/customer/v1"
# Served by the blueprint but not operations of the API: the document itself, its UI, the
# calendar feed (its own secret in the URL).
UNDOCUMENTED = {"/openapi.json", "/docs", "/docs/init.js", "/calendar/{token}.ics"}


def _spec(client):
    return client.get(PREFIX + "/openapi.json").get_json()


def _route_paths(app):
    found = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("customer_api."):
            path = rule.rule[len(PREFIX):]
            for converter in ("int(max=2147483647):", "any(png, svg):"):
                path = path.replace(converter, "")
            path = path.replace("<", "{").replace(">", "}")
            if "{fmt}" in path:
                found |= {path.replace("{fmt}", "png"), path.replace("{fmt}", "svg")}
            else:
                found.add(path)
    return found


def test_every_route_is_documented(app, client):
    documented = set(_spec(client)["paths"])
    assert _route_paths(app) - UNDOCUMENTED == documented


def _too_many_installments(fresh):
    """More instalments than the plan table allows: sent to staff (202)."""
    return fresh.post("/payment-plans", {"invoice_ids": [i.id for i in fresh.invoices],
                                         "installment_count": 6, "day_of_month": 5},
                      idem="many")


def test_every_documented_answer_is_reachable(app, client):
    """Drive each operation into each documented status; compare with the document."""
    api, other = make_api(client), make_api(client)
    reader = keys.create_key(api.customer, "Reader", "read", actor="test").secret
    db.session.commit()
    inv, theirs = api.invoices[0], other.invoices[0]
    e_invoice(inv)  # its UBL exists: 200 (theirs: 404)
    reached: dict[tuple[str, str], set[str]] = {}

    def hit(path, method, response):
        reached.setdefault((path, method), set()).add(str(response.status_code))
        return response

    def common(path, method, call):
        """401 (no key), 429 (limit of 1 after one call), then call() for the rest."""
        hit(path, method, api.client.open(PREFIX + path.format(invoice_id=inv.id,
                                                                   request_id=1, plan_id=1),
                                          method=method.upper()))
        app.config["CUSTAPI_RATE_LIMIT"] = 0
        try:
            hit(path, method, call())
        finally:
            app.config["CUSTAPI_RATE_LIMIT"] = 120
            from app.customer_api import ratelimit
            ratelimit._local.clear()

    later = (date.today() + timedelta(days=7)).isoformat()
    gets = {
        "/balance": [lambda: api.get("/balance")],
        "/invoices": [lambda: api.get("/invoices"), lambda: api.get("/invoices?limit=x"),
                      lambda: api.get("/invoices", headers={
                          "If-None-Match": api.get("/invoices").headers["ETag"]})],
        "/invoices/{invoice_id}": [
            lambda: api.get(f"/invoices/{inv.id}"), lambda: api.get(f"/invoices/{theirs.id}"),
            lambda: api.get(f"/invoices/{inv.id}", headers={
                "If-None-Match": api.get(f"/invoices/{inv.id}").headers["ETag"]})],
        "/invoices/{invoice_id}/pdf": [lambda: api.get(f"/invoices/{inv.id}/pdf"),
                                       lambda: api.get(f"/invoices/{theirs.id}/pdf")],
        "/invoices/{invoice_id}.xml": [lambda: api.get(f"/invoices/{inv.id}.xml"),
                                       lambda: api.get(f"/invoices/{theirs.id}.xml")],
        "/invoices/{invoice_id}/payment-instructions": [
            lambda: api.get(f"/invoices/{inv.id}/payment-instructions"),
            lambda: api.get(f"/invoices/{theirs.id}/payment-instructions")],
        "/invoices/{invoice_id}/qr.png": [lambda: api.get(f"/invoices/{inv.id}/qr.png"),
                                          lambda: api.get(f"/invoices/{theirs.id}/qr.png")],
        "/invoices/{invoice_id}/qr.svg": [lambda: api.get(f"/invoices/{inv.id}/qr.svg"),
                                          lambda: api.get(f"/invoices/{theirs.id}/qr.svg")],
        "/statement": [lambda: api.get("/statement"), lambda: api.get("/statement?format=x")],
        "/requests": [lambda: api.get("/requests")],
        "/requests/{request_id}": [lambda: api.get("/requests/999999")],
        "/payment-plans/{plan_id}": [lambda: api.get("/payment-plans/999999")],
    }
    for path, calls in gets.items():
        common(path, "get", calls[0])
        for call in calls:
            hit(path, "get", call())

    def acting(path, good, bad, status_ok_calls=(), who=api):
        common(path, "post", lambda: who.post(path, good, idem="rl"))
        hit(path, "post", who.post(path, good, idem=None))  # 428
        hit(path, "post", api.post(path, good, key=reader, idem="r" + path))  # 403
        hit(path, "post", who.post(path, bad, idem="bad" + path))  # 400
        hit(path, "post", who.post(path, good, idem="ok" + path))
        hit(path, "post", who.post(path, bad, idem="ok" + path))  # 409: same key, other body
        for call in status_ok_calls:
            hit(path, "post", call())

    acting("/questions", {"subject": "s", "text": "t"}, {"subject": ""})
    acting("/payment-plans/preview", {"invoice_ids": [inv.id], "installment_count": 2,
                                      "day_of_month": 5}, {"invoice_ids": "x"})
    acting("/deferrals", {"invoice_ids": [inv.id], "new_due_date": later},
           {"invoice_ids": []},
           [lambda: api.post("/deferrals", {"invoice_ids": [api.invoices[1].id],
                                            "new_due_date": (date.today() + timedelta(
                                                days=200)).isoformat()}, idem="far")])
    planner = make_api(client)
    plan_body = {"invoice_ids": [i.id for i in planner.invoices], "installment_count": 2,
                 "day_of_month": 5}
    acting("/payment-plans", plan_body, {"invoice_ids": "x"},
           [lambda: _too_many_installments(make_api(client))], who=planner)
    from app.requests.models import PaymentPlan

    plan_id = db.session.query(PaymentPlan.id).filter_by(customer_id=planner.customer.id).scalar()
    hit("/payment-plans/{plan_id}", "get", planner.get(f"/payment-plans/{plan_id}"))
    hit("/requests/{request_id}", "get", planner.get(
        planner.get("/requests").get_json()["items"][0]["links"]["self"][len(PREFIX):]))
    dispute = f"/invoices/{inv.id}/disputes"
    reached_path = "/invoices/{invoice_id}/disputes"
    for call in (
        lambda: api.client.post(PREFIX + dispute),
        lambda: api.post(dispute, {"reason": "wrong_amount", "text": "t"}, idem=None),
        lambda: api.post(dispute, {"reason": "wrong_amount", "text": "t"}, key=reader),
        lambda: api.post(dispute, {"reason": "nonsense"}, idem="b"),
        lambda: api.post(f"/invoices/{theirs.id}/disputes", {"reason": "x"}, idem="t"),
        lambda: api.client.post(PREFIX + dispute, data={
            "reason": "wrong_amount", "text": "t", "amount": "10.00",
            "files": (io.BytesIO(b"%PDF-1.4\n%%EOF\n"), "a.pdf")},
            headers=api.headers({"Idempotency-Key": "okd"}), content_type="multipart/form-data"),
        lambda: api.post(dispute, {"reason": "other"}, idem="okd"),
    ):
        hit(reached_path, "post", call())
    app.config["CUSTAPI_RATE_LIMIT"] = 0
    hit(reached_path, "post", api.post(dispute, {}, idem="z"))
    app.config["CUSTAPI_RATE_LIMIT"] = 120

    unreachable_here = {("/invoices/{invoice_id}/pdf", "get", "503")}  # a broken PDF engine
    for path, operations in _spec(client)["paths"].items():
        for method, operation in operations.items():
            documented = set(operation["responses"])
            missing = {c for c in documented - reached.get((path, method), set())
                       if (path, method, c) not in unreachable_here}
            assert not missing, (path, method, missing, reached.get((path, method)))
            assert reached[(path, method)] <= documented, (path, method, reached[(path, method)])


# --- schemathesis -----------------------------------------------------------------------------
# Driven by hand (hypothesis' @given per operation) rather than with schemathesis' pytest
# plugin, which does not run under pytest 9 (it reads Function._nodeid).

def test_generated_requests_get_documented_answers(app, client):
    from hypothesis import given

    api = make_api(client)
    schema = schemathesis.openapi.from_wsgi(PREFIX + "/openapi.json", app)
    checks = [openapi_checks.status_code_conformance, openapi_checks.content_type_conformance,
              openapi_checks.response_schema_conformance]
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == sum(len(v) for v in _spec(client)["paths"].values())
    def fuzz(operation):
        @given(case=operation.as_strategy())
        @settings(max_examples=10, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        def run(case):
            case.headers = {**(case.headers or {}), "Authorization": f"Bearer {api.secret}"}
            response = case.call_and_validate(checks=checks)
            assert response.status_code < 500, (operation.label, response.text[:300])

        run()

    for operation in operations:
        fuzz(operation)
