"""What every request goes through: CSRF on every state change, no state change on GET, and one
set of security headers for the back office and the portal.

``init_app(app)`` is called once from create_app(), after the back office views are registered
(the API and CRUD views are recognised by their blueprints).

CSRF: Flask-WTF's ``CSRFProtect`` checks every POST/PUT/PATCH/DELETE app-wide, with the token of
the session (form field ``csrf_token`` or header ``X-CSRFToken``), the one the portal's and FAB's
forms already carry. Exempt, explicitly:
- a REST API call that authenticates with ``Authorization: Bearer`` (a JWT or an API key):
  a browser cannot add that header to a cross-site request, and the API does not accept the
  session cookie (FAB's ``protect()`` requires the token); an API call with no staff session
  at all (FAB answers 401). An API call carrying a signed-in staff cookie and no token still
  needs the CSRF token;
- the endpoints in ``CSRF_EXEMPT_ENDPOINTS``: the API's sign-in (credentials in a JSON body,
  no cookie set) and the payment provider's webhook (server to server; nothing in its body is
  trusted, the status is fetched back from the provider).

The session cookie stays ``SameSite=Lax`` (config.py): staff and customers share one Flask
session cookie, and customers arrive by cross-site navigation (the sign-in link in an e-mail,
the return from the payment provider's page), which ``Strict`` would show signed out. Lax with
a token on every state change and no state change on GET is the equivalent defence: a
cross-site request either carries no cookie (POST) or cannot change anything (GET).
"""
from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

from flask import (
    Flask,
    Response,
    abort,
    current_app,
    jsonify,
    redirect,
    render_template,
    request,
)
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf.csrf import CSRFError, CSRFProtect
from werkzeug.exceptions import RequestEntityTooLarge

csrf = CSRFProtect()

# Authenticated by something else than the session cookie (see the module docstring).
CSRF_EXEMPT_ENDPOINTS = frozenset({"SecurityApi.login", "portal.online_webhook"})
# The customer API (app/api/customer) reads only its Authorization header, never a cookie.
# The Peppol access point's webhook (app.einvoicing.webhook) is authenticated by its signature.
CSRF_EXEMPT_BLUEPRINTS = frozenset({"customer_api", "einvoicing_webhook"})

# FAB's CRUD endpoints that change data; FAB also answers them on GET (with a refusal when
# CSRFProtect is installed): here GET gets a plain 405, before FAB's view runs.
CRUD_WRITE_ENDPOINTS = frozenset({"delete", "action"})

# No page loads anything from another host, none may be framed (clickjacking). The portal
# has no inline script at all; FAB's pages have a few, each carrying the request's nonce
# (FAB's templates call csp_nonce()). Back office styles stay inline-capable: FAB and the
# screens use style attributes, which a nonce cannot cover, and a style cannot run code.
PORTAL_CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
BACK_OFFICE_CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "script-src 'self' 'nonce-{nonce}'; font-src 'self'; connect-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
HSTS = "max-age=31536000"
_NONCE_KEY = "creditdesk.csp_nonce"


def init_app(app: Flask) -> None:
    # Our own before_request applies CSRFProtect with the exemptions above; Flask-WTF's
    # default hook would exempt nothing or, with FAB, every API blueprint whatever its caller.
    app.config["WTF_CSRF_CHECK_DEFAULT"] = False
    csrf.init_app(app)
    app.extensions["creditdesk_security"] = _Areas(app)
    app.before_request(_refuse_state_change_on_get)
    app.before_request(_check_csrf)
    app.after_request(security_headers)
    app.register_error_handler(CSRFError, _csrf_refused)
    app.register_error_handler(RequestEntityTooLarge, _too_large)
    app.jinja_env.globals["csp_nonce"] = csp_nonce
    _logout_by_post(app)


class _Areas:
    """The blueprints of the REST API and of FAB's CRUD views, and the staff logout endpoint."""

    def __init__(self, app: Flask):
        from flask_appbuilder import ModelView
        from flask_appbuilder.api import BaseApi
        from flask_appbuilder.baseviews import BaseCRUDView

        views = app.appbuilder.baseviews
        self.api = frozenset(v.endpoint for v in views if isinstance(v, BaseApi))
        self.crud = frozenset(v.endpoint for v in views if isinstance(v, BaseCRUDView))
        self.logout = f"{app.appbuilder.sm.auth_view.endpoint}.logout"
        # FAB's /<view>/download/<filename> serves uploaded files of file columns; no
        # CreditDesk model has one (and without UPLOAD_FOLDER FAB's route fails with a 500).
        self.unused_downloads = frozenset(
            f"{v.endpoint}.download" for v in views
            if isinstance(v, ModelView) and type(v).download is ModelView.download)


def _areas() -> _Areas:
    return current_app.extensions["creditdesk_security"]


def is_api_request() -> bool:
    return request.blueprint in _areas().api


def is_portal_request() -> bool:
    return request.path == "/portal" or request.path.startswith("/portal/")


# --- the portal's refusal pages (a registry) ---------------------------------------------------
# A refusal answered here for a portal address is the portal's own page, in the portal's layout.
# Core sits below the portal and does not import it: the portal registers its pages when it is
# mounted (app.portal.register_portal). Without a portal, the back office's plain page answers.

def register_portal_refusals(app: Flask, refused: Callable[[str, int], Any],
                             csrf_refused: Callable[[], Any]) -> None:
    """``refused(message, status)``: the portal's refusal page; ``csrf_refused()``: its page
    for a form posted without a valid CSRF token."""
    app.extensions["creditdesk_portal_refusals"] = (refused, csrf_refused)


def portal_refused(message: str, status: int):
    """The portal's refusal page for this message and status (the plain page without one)."""
    pages = current_app.extensions.get("creditdesk_portal_refusals")
    return pages[0](message, status) if pages else _refused(message, status)


# --- CSRF ---------------------------------------------------------------------------------

def _check_csrf() -> None:
    if not current_app.config.get("WTF_CSRF_ENABLED", True):
        return
    if request.method not in current_app.config["WTF_CSRF_METHODS"]:
        return
    if request.endpoint is None:
        return  # no route: the 404/405 follows, no view runs
    if request.endpoint in CSRF_EXEMPT_ENDPOINTS or request.blueprint in CSRF_EXEMPT_BLUEPRINTS:
        return
    if is_api_request() and (_bearer() or not current_user.is_authenticated):
        return  # authenticated by the token, or not at all (FAB's protect() answers 401)
    csrf.protect()  # raises CSRFError (400), handled below


def _bearer() -> bool:
    return request.headers.get("Authorization", "").lower().startswith("bearer ")


def _csrf_refused(error: CSRFError):
    """Nothing was changed: the portal's refusal page, a JSON error for the API, and a page
    asking to reload the form in the back office (400 everywhere)."""
    pages = current_app.extensions.get("creditdesk_portal_refusals")
    if is_portal_request() and pages:
        return pages[1]()
    return _refused(_("The form has expired or was not sent from this page. Please try again."),
                    400)


def _too_large(error: RequestEntityTooLarge):
    """A body over MAX_CONTENT_LENGTH cannot be read, not even for its CSRF token: refused
    with a message instead of werkzeug's English page (413)."""
    limit = max(1, int(current_app.config.get("MAX_CONTENT_LENGTH") or 0) // (1024 * 1024))
    message = _("The file is too large; the limit is %(limit)s MB.", limit=limit)
    if is_portal_request():
        return portal_refused(message, 413)
    return _refused(message, 413)


def _refused(message: str, status: int):
    if is_api_request() or request.path.startswith("/api/"):
        return jsonify(message=message), status
    return render_template("security/refused.html", message=message, status=status,
                           appbuilder=current_app.appbuilder,
                           base_template=current_app.appbuilder.base_template), status


# --- no state change on GET ------------------------------------------------------------------

def _refuse_state_change_on_get():
    if request.method not in ("GET", "HEAD") or request.endpoint is None:
        return None
    areas = _areas()
    if request.endpoint == areas.logout:
        # A link (an <img>, a prefetch) must not sign staff out: logout is a POST form.
        if current_user.is_authenticated:
            return render_template("security/logout.html", appbuilder=current_app.appbuilder,
                                   base_template=current_app.appbuilder.base_template)
        return redirect(current_app.appbuilder.get_url_for_login)
    blueprint, _dot, name = request.endpoint.rpartition(".")
    if blueprint in areas.crud and name in CRUD_WRITE_ENDPOINTS:
        abort(405, valid_methods=["POST"])
    if request.endpoint in areas.unused_downloads:
        abort(404)
    return None


def _logout_by_post(app: Flask) -> None:
    """FAB's /logout/ answers GET only: the same endpoint also takes POST (checked for CSRF);
    GET shows a page with the logout button (above)."""
    endpoint = _areas_for(app).logout
    for rule in list(app.url_map.iter_rules()):
        if rule.endpoint == endpoint:
            app.add_url_rule(rule.rule, endpoint=endpoint, methods=["POST"])
            return


def _areas_for(app: Flask) -> _Areas:
    return app.extensions["creditdesk_security"]


# --- headers -------------------------------------------------------------------------------

def csp_nonce() -> str:
    """The request's script nonce (kept in the WSGI environ: one per request, never shared)."""
    nonce = request.environ.get(_NONCE_KEY)
    if nonce is None:
        nonce = request.environ[_NONCE_KEY] = secrets.token_urlsafe(16)
    return nonce


def security_headers(response: Response) -> Response:
    """The headers every answer carries, portal and back office alike; only the CSP differs."""
    endpoint = request.endpoint or ""
    static = endpoint == "static" or endpoint.endswith((".static", ".favicon"))
    if is_portal_request():
        policy = PORTAL_CSP
    else:
        policy = BACK_OFFICE_CSP.format(nonce=csp_nonce())
    response.headers.setdefault("Content-Security-Policy", policy)
    response.headers["X-Frame-Options"] = "DENY"
    # Never to another host (a sign-in token in an address must not travel); same-origin
    # requests keep it, which Flask-WTF's HTTPS referrer check needs. A page whose own address
    # holds a token (a pay link) sets the stricter "no-referrer" itself.
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Permissions-Policy"] = "camera=(), microphone=(), geolocation=()"
    if request.is_secure:
        response.headers["Strict-Transport-Security"] = HSTS
    if not static:
        # Pages and downloads show personal data: no shared cache, no copy left on disk.
        response.headers["Cache-Control"] = "no-store"
        response.vary.add("Cookie")
    return response
