"""`flask creditdesk ...` commands (and the `creditdesk` console script)."""
from __future__ import annotations

import click
from flask import Flask
from flask.cli import AppGroup, FlaskGroup

creditdesk = AppGroup("creditdesk", help="CreditDesk administration commands.")


@creditdesk.command("worker")
@click.option("--queue", "queues", multiple=True, default=["default"], show_default=True)
@click.option("--burst", is_flag=True, help="Stop when the queues are empty.")
def worker_command(queues: tuple[str, ...], burst: bool) -> None:
    """Run an RQ worker (needs REDIS_URL)."""
    from flask import current_app

    from app.jobs import start_worker

    if not current_app.config.get("REDIS_URL"):
        raise click.UsageError("REDIS_URL is not set: the worker needs Redis.")
    start_worker(current_app._get_current_object(), list(queues), burst=burst)


def init_app(app: Flask) -> None:
    app.cli.add_command(creditdesk)


def main() -> None:
    """Console script: `creditdesk <command>` is `flask --app app creditdesk <command>`."""
    from app import create_app

    cli = FlaskGroup(create_app=lambda: create_app())
    cli.main(prog_name="creditdesk")
