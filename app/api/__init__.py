"""REST API for the ERP (and later for customers' own software), under /api/v1.

Authentication is FAB's: a JWT from POST /api/v1/security/login, or an API key when
FAB_API_KEY_ENABLED is on (see docs/api.md). What each role may call is in app/core/roles.py,
by class name: keep the names CustomersApi, InvoicesApi, PaymentsApi.
"""
from __future__ import annotations

from typing import Any

from apispec import APISpec
from flask import current_app
from flask_appbuilder import AppBuilder
from flask_appbuilder.api.manager import OpenApi as FabOpenApi


def register(appbuilder: AppBuilder) -> None:
    """Registers the API views on the AppBuilder."""
    from app.api import imports, statements, webhooks
    from app.api.customers import CustomersApi
    from app.api.errors import install_json_http_errors, install_jwt_error_handlers
    from app.api.invoices import InvoicesApi
    from app.api.payments import PaymentsApi

    for api in (CustomersApi, InvoicesApi, PaymentsApi):
        appbuilder.add_api(api)
    imports.register(appbuilder)
    statements.register(appbuilder)
    webhooks.register(appbuilder)
    _serve_openapi_spec(appbuilder)
    install_jwt_error_handlers(appbuilder.sm.jwt_manager)
    install_json_http_errors(current_app)
    from app.api.customer import register as register_customer_api

    register_customer_api(current_app)  # /api/customer/v1: customers' own software


def _serve_openapi_spec(appbuilder: AppBuilder) -> None:
    """Serve GET /api/v1/_openapi without the Swagger UI.

    FAB only registers its OpenApi view together with the Swagger UI (FAB_API_SWAGGER_UI),
    and that UI loads its scripts from a CDN, which CreditDesk pages must never do.
    """
    if current_app.config.get("FAB_ADD_OPENAPI_VIEWS", True):
        appbuilder.add_api(OpenApi)  # a no-op when FAB already added it


# --- the OpenAPI document ---------------------------------------------------------------------

ERROR_RESPONSES = {
    "401": "Not signed in: no, an invalid or an expired token or API key.",
    "403": "Signed in, but the user's role does not allow this operation (the role's API "
           "permissions: app/core/roles.py).",
    "404": "No such record, or no such address under /api/.",
    "405": "This address does not take this HTTP method.",
}


class _DocumentedSpec(APISpec):
    """The spec FAB builds, with the error answers every operation can give written out."""

    def to_dict(self) -> dict[str, Any]:
        return document_errors(super().to_dict())


class OpenApi(FabOpenApi):
    """FAB's /api/<version>/_openapi (same class name: same permission and endpoint), whose
    document lists the 401 and 403 of every protected operation and the 404 of every
    operation on a record, in the shape the API really answers ({"message": ...}); the
    server address is PUBLIC_URL, never the request's Host header."""

    @staticmethod
    def _create_api_spec(version: str) -> APISpec:
        spec = FabOpenApi._create_api_spec(version)
        spec.__class__ = _DocumentedSpec
        if not current_app.config.get("FAB_OPENAPI_SERVERS"):
            spec.options["servers"] = [{"url": _public_base()}]
        return spec


def _public_base() -> str:
    from app.core.links import public_base

    try:
        return public_base()
    except Exception:  # noqa: BLE001  (no public address configured: a relative server)
        return "/"


def document_errors(spec: dict[str, Any]) -> dict[str, Any]:
    """Every operation that needs a login documents 401 and 403; one with a path parameter
    documents 404; each points at a shared response with our error body."""
    components = spec.setdefault("components", {})
    responses = components.setdefault("responses", {})
    schemas = components.setdefault("schemas", {})
    error_schema = ({"$ref": "#/components/schemas/Error"} if "Error" in schemas else
                    {"type": "object", "properties": {"message": {"type": "string"}}})
    for status, description in ERROR_RESPONSES.items():
        responses[status] = {"description": description,
                             "content": {"application/json": {"schema": error_schema}}}
    for path, operations in spec.get("paths", {}).items():
        for operation in operations.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            answers = operation["responses"]
            wanted = []
            if operation.get("security", spec.get("security")):
                wanted += ["401", "403"]
            if "{" in path:
                wanted.append("404")
            for status in wanted:
                if status not in answers and int(status) not in answers:
                    answers[status] = {"$ref": f"#/components/responses/{status}"}
    return spec
