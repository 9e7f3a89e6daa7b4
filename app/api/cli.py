"""`flask creditdesk api-key create|list|revoke`: API keys for the ERP's technical user.

FAB stores only a hash of each key; the key itself is printed once, at creation. The key acts
with its user's roles, so give it to a user whose only role is "ERP integration". FAB's own
key-management API stays off with the rest of its security API (FAB_ADD_SECURITY_API).

The group is mounted on `flask creditdesk` by ``register`` (app.cli.init_app calls it), so this
module does not import app.cli: app.cli is the composition root (its console script builds the
whole app, portal included), and the API does not import the portal.
"""
from __future__ import annotations

from datetime import datetime, timedelta

import click
from flask import Flask, current_app
from flask.cli import AppGroup
from flask_babel import gettext as _

api_key_group = AppGroup("api-key", help="Create, list and revoke API keys of staff users.")


def _find_user(username: str):
    user = current_app.appbuilder.sm.find_user(username=username)
    if user is None:
        raise click.BadParameter(_("No staff user %(name)s.", name=username),
                                 param_hint="USERNAME")
    return user


@api_key_group.command("create")
@click.argument("username")
@click.option("--name", default="ERP", show_default=True, help="What the key is used for.")
@click.option("--days", type=click.IntRange(1, 3650), default=None,
              help="The key expires after this many days (default: never).")
def create_command(username: str, name: str, days: int | None) -> None:
    """Create an API key for USERNAME and print it (shown only this once)."""
    user = _find_user(username)
    if not current_app.config.get("FAB_API_KEY_ENABLED"):
        click.echo(_("Warning: FAB_API_KEY_ENABLED is off; the key is refused until it is "
                     "turned on."), err=True)
    # FAB compares expires_on with a naive local datetime.now().
    expires_on = datetime.now() + timedelta(days=days) if days else None
    info = current_app.appbuilder.sm.create_api_key(user, name, expires_on=expires_on)
    if not info:
        raise click.ClickException(_("The key could not be created; see the log."))
    click.echo(_("API key %(uuid)s for %(user)s (shown only once):", uuid=info["uuid"],
                 user=username), err=True)
    click.echo(info["key"])


@api_key_group.command("list")
@click.argument("username")
def list_command(username: str) -> None:
    """List USERNAME's API keys (never the keys themselves)."""
    user = _find_user(username)
    for key in current_app.appbuilder.sm.find_api_keys_for_user(user.id):
        state = _("active") if key.is_active else _("inactive")
        click.echo(f"{key.uuid}  {key.name}  {state}  {key.created_on:%Y-%m-%d}  "
                   f"{key.last_used_on or '-'}")


@api_key_group.command("revoke")
@click.argument("uuid")
def revoke_command(uuid: str) -> None:
    """Revoke the API key with this UUID: it is refused from the next request on."""
    if not current_app.appbuilder.sm.revoke_api_key(uuid):
        raise click.ClickException(_("No API key %(uuid)s.", uuid=uuid))
    click.echo(_("API key %(uuid)s revoked.", uuid=uuid))


def register(app: Flask) -> None:
    """Mount `api-key` on the `creditdesk` group that app.cli.init_app added just before."""
    app.cli.commands["creditdesk"].add_command(api_key_group)
