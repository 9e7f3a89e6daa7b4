"""The customer self-service portal: a blueprint at /portal with its own templates and session.

``register_portal(app)`` is called from create_app(). The portal never shows staff screens and
signs customers in with its own session key (see auth.py); every query goes through
services.py, filtered by the signed-in customer.
"""
from __future__ import annotations

from flask import Blueprint, Flask, Response, request

bp = Blueprint("portal", __name__, url_prefix="/portal", template_folder="templates",
               static_folder="static", static_url_path="/static")

# Nothing from another host, no inline script, no framing (clickjacking), no referrer (a magic
# link's token in the address must not travel to anyone).
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)


@bp.after_request
def security_headers(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Permissions-Policy"] = "camera=(), microphone=(), geolocation=()"
    if request.endpoint != "portal.static":
        # Pages show personal data: no shared cache, no copy left on a library computer.
        response.headers["Cache-Control"] = "no-store"
        response.vary.add("Cookie")
    return response


def register_portal(app: Flask) -> None:
    """Mount the portal on the app (call once from create_app)."""
    # Each module attaches its pages to bp; one module per area of the portal.
    from app.portal import (  # noqa: F401
        account,  # my details, refund account, direct debit mandate, preferences
        invoice_actions,  # deferral, payment plan, dispute
        my_data,  # GDPR: download my data, ask for erasure
        online_payment,  # pay online through a payment-provider plugin
        refund_request,  # ask for a refund of my credit
        requests_pages,  # my requests, question to the AR team, satisfaction survey
        routes,  # sign in, dashboard, invoices, pay, statement
        welcome,  # confirm my details after the first sign-in (after routes: its hooks follow)
    )

    app.register_blueprint(bp)
