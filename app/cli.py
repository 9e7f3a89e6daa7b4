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


@creditdesk.command("scheduler")
@click.option("--interval", default=30, show_default=True, help="Seconds between checks.")
def scheduler_command(interval: int) -> None:
    """Enqueue the daily jobs at their planned time (runs until stopped)."""
    from flask import current_app

    from app.core.scheduler import run_forever

    run_forever(current_app._get_current_object(), interval_seconds=interval)


@creditdesk.command("run-job")
@click.argument("name")
def run_job_command(name: str) -> None:
    """Run one scheduled job now, in this process (e.g. refresh-balances)."""
    from app.jobs import SCHEDULE, resolve

    jobs = {job.name: job for job in SCHEDULE}
    if name not in jobs:
        raise click.BadParameter(f"unknown job; known: {', '.join(sorted(jobs))}")
    result = resolve(jobs[name].func)()
    click.echo(f"{name}: {result}")


# Each domain adds its own commands in its cli module (a `register(app)` function).
DOMAIN_CLI_MODULES = (
    "app.setup_cli",
    "app.imports.cli",
    "app.api.cli",
    "app.dunning.cli",
    "app.payments.incoming.cli",
    "app.payments.outgoing.cli",
    "app.retention.cli",
)


def init_app(app: Flask) -> None:
    import importlib

    app.cli.add_command(creditdesk)
    for module_name in DOMAIN_CLI_MODULES:
        importlib.import_module(module_name).register(app)


def main() -> None:
    """Console script: `creditdesk <command>` is `flask --app app creditdesk <command>`."""
    from app import create_app

    cli = FlaskGroup(create_app=lambda: create_app())
    cli.main(prog_name="creditdesk")
