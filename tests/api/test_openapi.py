"""GET /api/v1/_openapi: served without the Swagger UI, complete, and true to the responses."""
import copy

import jsonschema
import pytest

from tests.helpers import make_customer, make_invoice

OUR_OPERATIONS = {
    "/api/v1/customers/{number}": {"get", "put"},
    "/api/v1/customers/{number}/balance": {"get"},
    "/api/v1/customers/{number}/invoices": {"get"},
    "/api/v1/invoices": {"post"},
    "/api/v1/invoices/{number}": {"get", "put"},
    "/api/v1/payments": {"post"},
    "/api/v1/payments/{payment_id}": {"get"},
}


@pytest.fixture
def spec(api_as):
    response = api_as("Admin").get("/api/v1/_openapi")
    assert response.status_code == 200
    return response.get_json()


def test_spec_lists_every_endpoint_with_its_schemas(spec):
    assert spec["openapi"].startswith("3.0")
    for path, methods in OUR_OPERATIONS.items():
        assert path in spec["paths"], path
        assert set(spec["paths"][path]) >= methods, path
        for method in methods:
            operation = spec["paths"][path][method]
            assert operation["summary"] and operation["responses"]
            assert {"jwt": []} in operation["security"]
            assert {"api_key": []} in operation["security"]
    assert {"jwt", "api_key"} <= set(spec["components"]["securitySchemes"])
    login = spec["paths"]["/api/v1/security/login"]["post"]
    assert login["requestBody"]


def test_every_reference_in_the_spec_resolves(spec):
    def refs(node):
        if isinstance(node, dict):
            if "$ref" in node:
                yield node["$ref"]
            for value in node.values():
                yield from refs(value)
        elif isinstance(node, list):
            for value in node:
                yield from refs(value)

    found = set(refs(spec))
    assert "#/components/schemas/Invoice" in found
    for ref in found:
        _, section, name = ref.lstrip("#/").split("/")
        assert name in spec["components"][section], ref


def test_spec_needs_a_login_and_the_swagger_ui_stays_off(client):
    assert client.get("/api/v1/_openapi").status_code == 401
    assert client.get("/swagger/v1").status_code == 404


def json_schema(spec, name):
    """An OpenAPI 3.0 component as a JSON Schema (refs inlined, nullable made explicit)."""

    def convert(node):
        if isinstance(node, list):
            return [convert(item) for item in node]
        if not isinstance(node, dict):
            return node
        if "$ref" in node:
            return convert(spec["components"]["schemas"][node["$ref"].rsplit("/", 1)[1]])
        node = {key: convert(value) for key, value in node.items()}
        if node.pop("nullable", False):
            return {"anyOf": [node, {"type": "null"}]}
        return node

    return convert(copy.deepcopy(spec["components"]["schemas"][name]))


def test_responses_match_the_documented_schemas(spec, erp):
    customer = make_customer(number="C1")
    invoice = make_invoice(customer, total="90.00")
    payment = erp.post("/api/v1/payments", json={
        "invoice_number": invoice.number, "amount": "20", "received_on": "2024-05-02"})
    checks = [
        ("Customer", erp.get("/api/v1/customers/C1")),
        ("CustomerBalance", erp.get("/api/v1/customers/C1/balance")),
        ("InvoicePage", erp.get("/api/v1/customers/C1/invoices")),
        ("Invoice", erp.get(f"/api/v1/invoices/{invoice.number}")),
        ("Payment", payment),
        ("Error", erp.post("/api/v1/payments", json={"amount": "x"})),
        ("Error", erp.get("/api/v1/invoices/NOPE")),
    ]
    for name, response in checks:
        assert response.status_code < 500
        jsonschema.validate(response.get_json(), json_schema(spec, name))


def test_validation_catches_an_undocumented_field(spec):
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"number": "C1", "secret": 1}, json_schema(spec, "Customer"))
