"""The customer self-service portal: a blueprint at /portal with its own templates and session.

``register_portal(app)`` is called from create_app(). The portal never shows staff screens and
signs customers in with its own session key (see auth.py); every query goes through
the read models (invoice_states.py, overview.py, invoice_list.py, invoice_detail.py,
bank_transfer.py, account_statement.py), filtered by the signed-in customer.
"""
from __future__ import annotations

from flask import Blueprint, Flask

from app.core import web_security

bp = Blueprint("portal", __name__, url_prefix="/portal", template_folder="templates",
               static_folder="static", static_url_path="/static")

# The portal's headers (CSP without any inline script, no framing, no referrer to another
# host, no-store) come from the app-wide helper, as the back office's do; the 404 page for
# an unknown /portal/ address, answered before the blueprint is chosen, calls it by name.
security_headers = web_security.security_headers


def register_portal(app: Flask) -> None:
    """Mount the portal on the app (call once from create_app)."""
    # Each module attaches its pages to bp; one module per area of the portal.
    from app.portal import (  # noqa: F401
        account,  # my details, refund account, direct debit mandate, preferences
        connected_apps,  # API keys, webhooks and calendar feed for the customer's software
        invoice_actions,  # deferral, payment plan, dispute
        my_data,  # GDPR: download my data, ask for erasure
        online_payment,  # pay online through a payment-provider plugin
        pay_link,  # a message's pay link: pay, more time, instalments (no sign-in)
        pay_link_online,  # pay a pay link online, "Thank you, paid"
        refund_request,  # ask for a refund of my credit
        requests_pages,  # my requests, question to the AR team, satisfaction survey
        routes,  # sign in, dashboard, invoices, pay, statement
        sms_login,  # sign in with a code by SMS (confirmed mobile numbers)
        welcome,  # confirm my details after the first sign-in (after routes: its hooks follow)
    )

    app.register_blueprint(bp)
    # Refusals answered by core (CSRF, too large, storage down, bad parameters) use the
    # portal's own page for portal addresses: core cannot import it, so it is registered.
    from app.portal.forms import csrf_refused, refused

    web_security.register_portal_refusals(app, refused, csrf_refused)
