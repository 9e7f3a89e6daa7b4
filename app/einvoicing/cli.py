"""`flask import-invoices FILE.xml|DIR|ZIP`: the UBL side of the invoice import command."""
from __future__ import annotations

from pathlib import Path

import click

from app.core.validation import ValidationError
from app.einvoicing.importing import files_from_path, import_documents


def import_ubl(path: Path, dry_run: bool) -> None:
    """Errors to stderr, one line each, exit code 1 (as the CSV import)."""
    try:
        files = files_from_path(path)
    except ValidationError as refused:
        for messages in refused.errors.values():
            for message in messages:
                click.echo(f"{path.name}: {message}", err=True)
        raise click.exceptions.Exit(1) from None
    report = import_documents(files, dry_run=dry_run)
    if not report.ok:
        for problem in report.problems:
            click.echo(str(problem), err=True)
        click.echo(report.summary(), err=True)
        raise click.exceptions.Exit(1)
    click.echo(report.summary())
