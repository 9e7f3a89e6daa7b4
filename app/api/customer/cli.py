"""`flask --app app customer-api create-key C1001 --name "Books" --scope act`: a key for a
customer made from the command line (onboarding a customer's software, the curl examples in
docs/api.md). Customers make their own on the portal; this one is audited as made by the CLI."""
from __future__ import annotations

import click
from sqlalchemy import select

from app.api.customer import bp


@bp.cli.command("create-key")
@click.argument("customer_number")
@click.option("--name", default="Command line", show_default=True)
@click.option("--scope", type=click.Choice(["read", "act"]), default="read", show_default=True)
@click.option("--days", type=int, default=365, show_default=True)
def create_key(customer_number: str, name: str, scope: str, days: int) -> None:
    """Print a new API key for the customer (shown once)."""
    from app.core.validation import ValidationError
    from app.customer_api import keys
    from app.customers.models import Customer
    from app.extensions import db

    customer = db.session.scalar(select(Customer).where(Customer.number == customer_number))
    if customer is None:
        raise click.ClickException(f"no customer numbered {customer_number}")
    try:
        made = keys.create_key(customer, name, scope, days, actor="cli")
    except ValidationError as exc:
        raise click.ClickException(str(exc)) from None
    db.session.commit()
    click.echo(made.secret)
