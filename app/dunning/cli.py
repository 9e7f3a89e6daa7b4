"""`flask dunning run [--date D] [--dry-run]`: the same run the scheduler starts every day.

A second run of the same date started while one is running changes nothing: it says so and
exits with code 3.
"""
from __future__ import annotations

import textwrap
from datetime import date

import click
from flask import Flask
from flask.cli import AppGroup

from app.core.i18n import money
from app.core.time import business_today

dunning = AppGroup("dunning", help="Reminders for overdue invoices.")
IN_PROGRESS_EXIT_CODE = 3
SHOW = ("remind", "postponed", "waiting", "excluded", "not_due", "done", "all")


@dunning.command("run")
@click.option("--date", "run_date", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              help="Run date (YYYY-MM-DD). Default: today in Brussels.")
@click.option("--dry-run", is_flag=True, help="Show what would happen; change nothing.")
@click.option("--customer", "customers", multiple=True,
              help="Only this customer number (repeatable; dry run only).")
@click.option("--show", type=click.Choice(SHOW), default="all", show_default=True,
              help="Dry run: which decisions to list.")
@click.option("--limit", type=click.IntRange(min=0), default=50, show_default=True,
              help="Dry run: customers listed at most (0: all).")
def run_command(run_date, dry_run: bool, customers: tuple[str, ...], show: str,
                limit: int) -> None:
    """Evaluate every open invoice and send one reminder per customer at its highest level."""
    day = run_date.date() if run_date else business_today()
    if customers and not dry_run:
        raise click.UsageError("--customer only works with --dry-run: a real run covers "
                               "every customer.")
    if dry_run:
        _dry_run(day, customers, show, limit)
    else:
        _run(day)


def _run(day: date) -> None:
    from app.dunning.runs import RunInProgress, run

    try:
        with click.progressbar(length=1, label=f"Dunning run {day.isoformat()}",
                               show_pos=True) as bar:
            def progress(done: int, total: int) -> None:
                bar.length = max(total, 1)
                bar.update(done - bar.pos)

            result = run(day, triggered_by="cli", progress=progress)
    except RunInProgress:
        # Exit code 3: nothing was done because another run of that date is working on it
        # (scripts can tell this from a failure, 1, and retry later).
        click.echo(f"A dunning run for {day.isoformat()} is in progress; nothing was done. "
                   "Try again when it has finished.", err=True)
        raise SystemExit(IN_PROGRESS_EXIT_CODE) from None
    _warn_stale_rates(day)
    click.echo(_counts_line(result.counts))


def _dry_run(day: date, numbers: tuple[str, ...], show: str, limit: int) -> None:
    from sqlalchemy import select

    from app.customers.models import Customer
    from app.dunning.engine import evaluate
    from app.extensions import db

    ids = None
    if numbers:
        ids = list(db.session.scalars(select(Customer.id).where(Customer.number.in_(numbers))))
        missing = set(numbers) - set(db.session.scalars(
            select(Customer.number).where(Customer.id.in_(ids))))
        if missing:
            raise click.BadParameter(f"unknown customer number(s): {', '.join(sorted(missing))}",
                                     param_hint="--customer")
    evaluation = evaluate(day, customer_ids=ids)
    click.echo(f"Dry run for {day.isoformat()}: nothing is changed, nothing is sent.")
    _warn_stale_rates(day)
    click.echo(_counts_line(evaluation.counts))
    chosen = [d for d in evaluation.decisions if show == "all" or d.outcome == show]
    shown = chosen if limit == 0 else chosen[:limit]
    click.echo("")
    for line in explanation_table(shown):
        click.echo(line)
    if len(shown) < len(chosen):
        click.echo(f"\n(showing {len(shown)} of {len(chosen)}; --limit 0 shows all, "
                   "--show picks an outcome)")


def _warn_stale_rates(day: date) -> None:
    from app.dunning.rates import is_stale

    if is_stale("ecb", day):
        click.echo("Warning: no ECB reference rate for this half-year yet (Dunning → Reference "
                   "rates): interest is computed with the last known rate.", err=True)


def _counts_line(counts: dict[str, int]) -> str:
    return " | ".join(f"{key}: {value:,}" for key, value in counts.items())


def explanation_table(decisions) -> list[str]:
    """Per customer: outcome, level, amount, fees, then why, and each invoice and why."""
    header = (f"{'CUSTOMER':<12}{'NAME':<28}{'OUTCOME':<11}{'LEVEL':<30}{'AMOUNT':>14}"
              f"{'FEES':>12}")
    lines = [header, "-" * 107]
    for decision in decisions:
        level = (f"{decision.level.sequence} {decision.level.name}" if decision.level else "")
        lines.append(f"{decision.customer.number:<12}{decision.customer.name[:27]:<28}"
                     f"{decision.outcome:<11}{level[:29]:<30}"
                     f"{money(decision.amount_due):>14}{money(decision.fee_total):>12}")
        for why in decision.reasons:
            lines.extend(_wrapped("  - ", why.text()))
        for item in decision.invoices:
            inv = item.invoice
            head = (f"  {inv.number} due {inv.due_date.isoformat()} "
                    f"({item.days_late} days late) {money(item.amount)} [{item.status}"
                    f"{', level ' + str(item.level_after) if item.status == 'listed' else ''}]")
            if item.fees.total:
                head += f" fees {money(item.fees.total)}"
            lines.append(head)
            for why in item.reasons:
                lines.extend(_wrapped("      ", why.text()))
    return lines


def _wrapped(prefix: str, text: str) -> list[str]:
    return textwrap.wrap(text, width=105, initial_indent=prefix,
                         subsequent_indent=" " * len(prefix)) or [prefix]


def register(app: Flask) -> None:
    app.cli.add_command(dunning)
