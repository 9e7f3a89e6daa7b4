"""`flask import-statement FILE`: import a camt.053 or CODA 2 bank statement.

Same rules as the admin upload and the API (app.payments.incoming.importing). The report goes to stdout;
a refused file prints the reason to stderr and exits with code 1, so a cron job notices.
"""
from __future__ import annotations

import getpass
from pathlib import Path

import click
from flask import Flask
from flask.cli import with_appcontext
from flask_babel import gettext as _
from sqlalchemy import inspect

from app.core.i18n import money
from app.extensions import db
from app.payments.incoming.importing import (
    StatementImportReport,
    import_statement,
    statement_max_bytes,
)
from app.payments.incoming.models import BankStatement


@click.command("import-statement")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True,
              help="Parse, check and match, print what would be booked, and change nothing.")
@click.option("--import-anyway", "reason", metavar="REASON",
              help="Import statements whose balances do not add up; REASON goes to the audit "
                   "trail with your login name.")
@with_appcontext
def import_statement_command(file: Path, dry_run: bool, reason: str | None) -> None:
    """Import a bank statement (camt.053 .001.02-.13 or CODA 2, or a ZIP of them), match and
    book its payments."""
    if not inspect(db.engine).has_table(BankStatement.__tablename__):
        click.echo(_("The database is not ready: its tables were not created. Run \"flask "
                     "init-db\" (or \"flask db upgrade\") once, then import the file again."),
                   err=True)
        raise click.exceptions.Exit(1)
    limit = statement_max_bytes()
    size = file.stat().st_size
    if size > limit:  # checked before reading the file into memory
        click.echo(_("The file is too large (%(size)s MB); the limit is %(limit)s MB.",
                     size=round(size / 1048576, 1), limit=limit // 1048576), err=True)
        raise click.exceptions.Exit(1)
    bar = _LazyBar(_("Importing"))
    try:
        report = import_statement(file.read_bytes(), file.name, None, progress=bar.update,
                                  on_total=bar.start, dry_run=dry_run,
                                  force_reason=_signed(reason))
    finally:
        bar.finish()
    if not report.ok:
        click.echo(report.error, err=True)
        raise click.exceptions.Exit(1)
    if dry_run:
        click.echo(_("Dry run: nothing was saved. This is what the import would do:"))
    for line in report_lines(report):
        click.echo(line)
    for warning in report.warnings:
        click.echo(_("Warning: %(warning)s", warning=warning), err=True)


def _signed(reason: str | None) -> str | None:
    """The reason, with who gave it: the CLI has no staff login, the system user stands in."""
    if reason is None:
        return None
    if not reason.strip():
        raise click.UsageError(_("--import-anyway needs a reason."))
    return f"{reason.strip()} ({getpass.getuser()}, flask import-statement)"


class _LazyBar:
    """A progress bar on stderr that appears once the number of entries is known."""

    def __init__(self, label: str):
        self.label, self.bar = label, None

    def start(self, total: int) -> None:
        self.bar = click.progressbar(length=max(total, 1), label=self.label, show_pos=True,
                                     file=click.get_text_stream("stderr"))
        self.bar.__enter__()

    def update(self, n: int) -> None:
        if self.bar is not None:
            self.bar.update(n)

    def finish(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
            self.bar = None


def report_lines(report: StatementImportReport) -> list[str]:
    def tally(label: str, t) -> str:
        # One amount per currency, each with its own symbol: never added together.
        amounts = "  ".join(f"{money(amount, currency):>16}"
                            for currency, amount in sorted(t.amounts.items())) or \
            f"{money(0):>16}"
        return f"{label:<28}{t.count:>8}  {amounts}"

    files = [f"{entry['file_name']}: {entry['message']}" for entry in report.files]
    return [*files,
        report.summary(),
        f"{_('Format'):<28}{report.format}",
        f"{_('Entries in the file'):<28}{report.entries:>8}",
        f"{_('Already imported'):<28}{report.duplicates:>8}",
        f"{_('Not booked (pending)'):<28}{report.skipped:>8}",
        tally(_("Matched automatically"), report.matched),
        tally(_("Suggested"), report.suggested),
        tally(_("Unmatched"), report.unmatched),
        tally(_("Returns applied"), report.returns),
        tally(_("Returns to review"), report.returns_open),
        tally(_("Money out (ignored)"), report.ignored),
    ]


def register(app: Flask) -> None:
    """Adds `flask import-statement`."""
    app.cli.add_command(import_statement_command)
