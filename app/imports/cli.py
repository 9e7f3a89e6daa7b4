"""`flask import-customers FILE` and `flask import-invoices FILE`.

Same rules as the admin screen: every row valid or nothing imported. Errors go to stderr, one
line each, and the exit code is 1, so a cron job or an ERP hand-over script notices.
"""
from __future__ import annotations

from pathlib import Path

import click
from flask import Flask
from flask.cli import with_appcontext
from flask_babel import gettext as _

from app.imports import services
from app.imports.columns import CUSTOMERS, INVOICES
from app.imports.csvfile import CsvFileError, check_size


def _import_command(kind: str, path: Path, dry_run: bool) -> None:
    try:
        check_size(path.stat().st_size, services.max_bytes())  # before reading it into memory
        table = services.load(kind, path.read_bytes())
    except CsvFileError as exc:
        _fail(services.ImportReport(kind, errors=[services.RowError(exc.line, exc.field,
                                                                    exc.message)]))
    except OSError as exc:
        raise click.FileError(str(path), hint=exc.strerror) from exc
    stderr = click.get_text_stream("stderr")
    with click.progressbar(length=len(table.rows), label=_("Checking") if dry_run
                           else _("Importing"), file=stderr) as bar:
        report = services.process(kind, table, commit=not dry_run, progress=bar.update)
    if not report.ok:
        _fail(report)
    click.echo(report.summary())


def _fail(report: services.ImportReport) -> None:
    for error in report.errors:
        where = _("line %(line)s", line=error.line) if error.line else _("file")
        if error.field:
            where = f"{where}, {error.field}"
        click.echo(f"{where}: {error.message}", err=True)
    click.echo(report.summary(), err=True)
    raise click.exceptions.Exit(1)


@click.command("import-customers")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Check the file and report; change nothing.")
@with_appcontext
def import_customers_command(file: Path, dry_run: bool) -> None:
    """Import or update customers from an ERP CSV export (all rows or none)."""
    _import_command(CUSTOMERS, file, dry_run)


@click.command("import-invoices")
@click.argument("file", type=click.Path(exists=True, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Check the file and report; change nothing.")
@with_appcontext
def import_invoices_command(file: Path, dry_run: bool) -> None:
    """Import or update invoices from an ERP CSV export (all rows or none), or from Peppol UBL
    invoices and credit notes: FILE.xml, a folder of them, or a ZIP (all documents or none)."""
    if file.is_dir() or file.suffix.lower() in (".xml", ".zip"):
        from app.einvoicing.cli import import_ubl

        import_ubl(file, dry_run)
        return
    _import_command(INVOICES, file, dry_run)


def register(app: Flask) -> None:
    """Adds the import commands to `flask`."""
    app.cli.add_command(import_customers_command)
    app.cli.add_command(import_invoices_command)
