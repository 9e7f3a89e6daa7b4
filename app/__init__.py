"""CreditDesk application factory."""
from __future__ import annotations

import logging
from pathlib import Path

from flask import Flask
from flask_appbuilder import AppBuilder

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

    from app import models  # noqa: F401  (registers every model on the metadata)
    from app.core import i18n

    i18n.compile_catalogues()
    db.init_app(app)
    migrate.init_app(app, db, directory=MIGRATIONS_DIR, render_as_batch=True)

    with app.app_context():
        # FAB keeps per-app state on the AppBuilder: one instance per app (see STACK-NOTES).
        appbuilder = AppBuilder(update_perms=app.config.get("FAB_UPDATE_PERMS", False))
        appbuilder.init_app(app, db.session)
        i18n.install_locale_selector(app)
        from app.core.views import register_views

        register_views(appbuilder)
        appbuilder.post_init()

    from app import cli, jobs

    from app.portal import register_portal

    jobs.init_app(app)
    cli.init_app(app)
    register_portal(app)
    return app


def _instance_path(config: object | str) -> str | None:
    if isinstance(config, str):
        return None
    return getattr(config, "INSTANCE_DIR", None)
