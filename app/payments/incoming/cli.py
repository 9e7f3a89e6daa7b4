"""`flask import-statement FILE`: import a camt.053 or CODA 2 bank statement.

Same rules as the admin upload and the API (app.payments.incoming.importing). The report goes to stdout;
a refused file prints the reason to stderr and exits with code 1, so a cron job notices.
"""
from __future__ import annotations

from pathlib import Path

import click
from flask import Flask
from flask.cli import with_appcontext
from flask_babel import gettext as _

from app.core.i18n import money
from app.payments.incoming.importing import (
    StatementImportReport,
    import_statement,
    statement_max_bytes,
)


@click.command("import-statement")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@with_appcontext
def import_statement_command(file: Path) -> None:
    """Import a bank statement (camt.053 .001.02-.13 or CODA 2), match and book its payments."""
    limit = statement_max_bytes()
    size = file.stat().st_size
    if size > limit:  # checked before reading the file into memory
        click.echo(_("The file is too large (%(size)s MB); the limit is %(limit)s MB.",
                     size=round(size / 1048576, 1), limit=limit // 1048576), err=True)
        raise click.exceptions.Exit(1)
    bar = _LazyBar(_("Importing"))
    try:
        report = import_statement(file.read_bytes(), file.name, None, progress=bar.update,
                                  on_total=bar.start)
    finally:
        bar.finish()
    if not report.ok:
        click.echo(report.error, err=True)
        raise click.exceptions.Exit(1)
    for line in report_lines(report):
        click.echo(line)


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
        return f"{label:<28}{t.count:>8}  {money(t.amount):>16}"

    return [
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
