"""REST API for the ERP (and later for customers' own software), under /api/v1.

Authentication is FAB's: a JWT from POST /api/v1/security/login, or an API key when
FAB_API_KEY_ENABLED is on (see docs/api.md). What each role may call is in app/core/roles.py,
by class name: keep the names CustomersApi, InvoicesApi, PaymentsApi.
"""
from __future__ import annotations

from flask import current_app
from flask_appbuilder import AppBuilder
from flask_appbuilder.api.manager import OpenApi


def register(appbuilder: AppBuilder) -> None:
    """Registers the API views on the AppBuilder."""
    from app.api import imports, statements
    from app.api.customers import CustomersApi
    from app.api.errors import install_jwt_error_handlers
    from app.api.invoices import InvoicesApi
    from app.api.payments import PaymentsApi

    for api in (CustomersApi, InvoicesApi, PaymentsApi):
        appbuilder.add_api(api)
    imports.register(appbuilder)
    statements.register(appbuilder)
    _serve_openapi_spec(appbuilder)
    install_jwt_error_handlers(appbuilder.sm.jwt_manager)


def _serve_openapi_spec(appbuilder: AppBuilder) -> None:
    """Serve GET /api/v1/_openapi without the Swagger UI.

    FAB only registers its OpenApi view together with the Swagger UI (FAB_API_SWAGGER_UI),
    and that UI loads its scripts from a CDN, which CreditDesk pages must never do.
    """
    if current_app.config.get("FAB_ADD_OPENAPI_VIEWS", True):
        appbuilder.add_api(OpenApi)  # a no-op when FAB already added it
