"""`flask payments ...`: direct-debit collections and refund files from the command line.

    flask payments collect-direct-debits [--date 2026-12-06] [--export DIR]
    flask payments propose-refunds
    flask payments export-refunds --out FILE

Same rules as the back office (app.payments.outgoing.direct_debit, app.payments.outgoing.refunds). A refused
run prints the reason to stderr and exits with code 1.
"""
from __future__ import annotations

from datetime import date
from pathlib import Path

import click
from flask import Flask
from flask.cli import AppGroup
from flask_babel import gettext as _
from flask_babel import ngettext

from app.core.i18n import money
from app.core.validation import ValidationError
from app.extensions import db

payments = AppGroup("payments", help="Direct-debit collections and refunds.")


def _fail(error: ValidationError) -> None:
    db.session.rollback()
    for messages in error.errors.values():
        for message in messages:
            click.echo(message, err=True)
    raise click.exceptions.Exit(1)


@payments.command("collect-direct-debits")
@click.option("--date", "collection_date", type=click.DateTime(formats=["%Y-%m-%d"]),
              help="Collection date (default: the earliest after the pre-notification days).")
@click.option("--export", "export_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Also write each batch's pain.008 file into this folder.")
def collect_direct_debits(collection_date, export_dir: Path | None) -> None:
    """Prepare the direct-debit batches of a collection date and tell the customers."""
    from app.payments.outgoing.direct_debit import export_batch, prepare_collection

    wanted: date | None = collection_date.date() if collection_date else None
    try:
        batches = prepare_collection(wanted)
        if export_dir is not None:
            export_dir.mkdir(parents=True, exist_ok=True)
            for batch in batches:
                (export_dir / f"{batch.payment_info_id}.xml").write_bytes(export_batch(batch))
        db.session.commit()
    except ValidationError as error:
        _fail(error)
    for batch in batches:
        click.echo(f"{batch.payment_info_id}  {batch.sequence_type}  {batch.collection_date}  "
                   f"{batch.transaction_count:>6}  {money(batch.total_amount):>14}")
    if not batches:
        click.echo(_("Nothing to collect on that date."))


@payments.command("propose-refunds")
def propose_refunds() -> None:
    """Propose a refund for every customer with a credit balance."""
    from app.payments.outgoing.refunds import propose_from_credit_balances

    made = propose_from_credit_balances()
    db.session.commit()
    click.echo(ngettext("%(num)s refund proposed from credit balances.",
                        "%(num)s refunds proposed from credit balances.", len(made)))


@payments.command("export-refunds")
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), required=True)
def export_refunds(out: Path) -> None:
    """Write the pain.001 file of the approved refunds that may be paid."""
    from app.payments.outgoing.refunds import export_refunds as export

    result = export()
    db.session.commit()
    for refund, reason in result.blocked:
        click.echo(_("Refund %(id)s not exported: %(reason)s", id=refund.id, reason=reason),
                   err=True)
    if result.batch is None:
        click.echo(_("No approved refund to export."))
        return
    out.write_text(result.batch.file_xml, encoding="utf-8")
    click.echo(ngettext("Transfer file with %(num)s refund created.",
                        "Transfer file with %(num)s refunds created.",
                        result.batch.transaction_count))


def register(app: Flask) -> None:
    app.cli.add_command(payments)
