"""Setting up a database: migrations, roles, staff users, demo data."""
from __future__ import annotations

import click
from flask import Flask, current_app
from flask_migrate import upgrade

from app.cli import creditdesk


def prepare_database() -> None:
    """Bring the schema to the latest migration and create the role rows. Idempotent."""
    # "heads": domains may add migration branches side by side; all of them are applied.
    upgrade(directory=current_app.extensions["migrate"].directory, revision="heads")
    current_app.appbuilder.sm.sync_roles()


@creditdesk.command("init-db")
def init_db_command() -> None:
    """Apply the migrations and create the staff roles (run once at every deploy)."""
    prepare_database()
    click.echo("Database is up to date; roles are in place.")


def register(app: Flask) -> None:
    """Commands live on the `creditdesk` group; nothing more to add."""
