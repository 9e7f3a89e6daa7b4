"""CreditDesk application factory."""
from __future__ import annotations

import logging
from pathlib import Path

from flask import Flask, has_request_context, request
from flask.sessions import SecureCookieSessionInterface
from flask_appbuilder import AppBuilder
from werkzeug.middleware.proxy_fix import ProxyFix

from app.extensions import db, migrate

MIGRATIONS_DIR = str(Path(__file__).resolve().parent.parent / "migrations")


def create_app(config: object | str = "config.Config", **overrides) -> Flask:
    """Build the Flask app: database, back office, languages, portal, API, jobs and plugins."""
    app = Flask(__name__, instance_path=_instance_path(config))
    app.config.from_object(config)
    app.config.update(overrides)
    from app.core.roles import FAB_ROLES

    app.config.setdefault("FAB_ROLES", FAB_ROLES)
    logging.basicConfig(level=app.config.get("LOG_LEVEL", logging.INFO))
    from app.core import links

    links.init_app(app)  # PUBLIC_URL checked, TRUSTED_HOSTS derived from it
    from app.core import log_redaction

    log_redaction.install(app)  # no token of a portal address in any request log
    app.wsgi_app = TrustedProxies(app, app.wsgi_app)
    app.session_interface = HttpsSessionInterface()

    from app import models  # noqa: F401  (registers every model on the metadata)
    from app.core import i18n

    i18n.compile_catalogues()
    db.init_app(app)
    migrate.init_app(app, db, directory=MIGRATIONS_DIR, render_as_batch=True)
    from app.core import read_transactions

    read_transactions.init_app(app)  # a request that only read commits: prepared statements stay

    with app.app_context():
        # FAB keeps per-app state on the AppBuilder: one instance per app (see STACK-NOTES).
        appbuilder = AppBuilder(update_perms=app.config.get("FAB_UPDATE_PERMS", False))
        appbuilder.init_app(app, db.session)
        i18n.install_locale_selector(app)
        from app.backoffice import register_views

        register_views(appbuilder)
        appbuilder.post_init()

    from app import cli, jobs
    from app.core import storage
    from app.portal import register_portal

    storage.init_app(app)  # the file store STORAGE_URL names (a wrong one stops the start)
    jobs.init_app(app)
    cli.init_app(app)
    from app.core import request_guards  # ids, FAB list parameters, dates: 400/404, never 500

    request_guards.init_app(app)
    register_portal(app)
    from app.core import web_security

    web_security.init_app(app)  # CSRF app-wide, no state change on GET, security headers
    return app


class TrustedProxies:
    """werkzeug's ProxyFix for TRUSTED_PROXY_COUNT proxies (X-Forwarded-For, -Proto, -Host), so
    that request.remote_addr and request.is_secure are the client's everywhere: sign-in limits,
    mandate evidence, the audit trail. With 0 (the default: no proxy), the headers are ignored,
    as a client could set them. The count is read from the config per request (a dict lookup),
    so a setting changed after create_app() is honoured too."""

    def __init__(self, app: Flask, wsgi_app):
        self.config = app.config
        self.wsgi_app = wsgi_app
        self._fixed: dict[int, ProxyFix] = {}

    def __call__(self, environ, start_response):
        count = int(self.config.get("TRUSTED_PROXY_COUNT") or 0)
        if count <= 0:
            return self.wsgi_app(environ, start_response)
        fixed = self._fixed.get(count)
        if fixed is None:
            fixed = self._fixed[count] = ProxyFix(self.wsgi_app, x_for=count, x_proto=count,
                                                  x_host=count)
        return fixed(environ, start_response)


class HttpsSessionInterface(SecureCookieSessionInterface):
    """The session cookie is Secure whenever the request came in over HTTPS (behind a trusted
    proxy: X-Forwarded-Proto), and always when SESSION_COOKIE_SECURE is True. HttpOnly and
    SameSite stay as configured."""

    def get_cookie_secure(self, app: Flask) -> bool:
        if super().get_cookie_secure(app):
            return True
        return has_request_context() and request.is_secure


def _instance_path(config: object | str) -> str | None:
    if isinstance(config, str):
        return None
    return getattr(config, "INSTANCE_DIR", None)
