"""Setting up a database: migrations, roles, and every domain's shipped defaults.

Not in app.core: installing the defaults of notifications, dunning and retention composes the
domain packages, so it sits at the top beside app/cli.py and create_app (the composition root),
and core stays below every domain package.
"""
from __future__ import annotations

import click
from flask import Flask, current_app
from flask_migrate import upgrade

from app.cli import creditdesk


def prepare_database() -> None:
    """Migrations, role rows, and the shipped defaults (templates, dunning policies). Idempotent:
    defaults never overwrite what staff changed."""
    from app.dunning.defaults import install_defaults as install_dunning_defaults
    from app.notifications.defaults import install_defaults as install_message_templates

    # "heads": domains may add migration branches side by side; all of them are applied.
    upgrade(directory=current_app.extensions["migrate"].directory, revision="heads")
    current_app.appbuilder.sm.sync_roles()
    install_message_templates()
    install_dunning_defaults()
    from app.retention.rules import install_defaults as install_retention_rules

    install_retention_rules()


@creditdesk.command("init-db")
def init_db_command() -> None:
    """Apply the migrations, create the staff roles and the shipped defaults (every deploy)."""
    prepare_database()
    click.echo("Database is up to date; roles are in place.")


def register(app: Flask) -> None:
    """Commands live on the `creditdesk` group; nothing more to add."""
