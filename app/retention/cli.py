"""`flask retention purge [--dry-run]` and `flask retention replay [--journal FILE]`."""
from __future__ import annotations

from contextlib import contextmanager
from datetime import date
from pathlib import Path

import click
from flask import Flask
from flask.cli import AppGroup

retention = AppGroup("retention", help="GDPR retention: purge what is past its period.")


def _counts_lines(counts: dict) -> list[str]:
    lines = [f"{'category':<18} {'action':<10} {'records':>9} {'customers':>10}  samples"]
    for category, entry in counts.items():
        if category.startswith("_"):
            continue
        lines.append(f"{category:<18} {entry.get('action', ''):<10} {entry.get('records', 0):>9}"
                     f" {entry.get('subjects', 0):>10}  {', '.join(entry.get('samples', []))}")
    return lines


@retention.command("purge")
@click.option("--dry-run", is_flag=True, help="List what would be purged; change nothing.")
@click.option("--date", "as_of", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              help="Count the periods back from this day (default: today in Brussels).")
@click.option("--batch-size", type=click.IntRange(1, 10000), default=None,
              help="Customers per transaction (default: setting retention.batch_size).")
def purge_command(dry_run: bool, as_of, batch_size: int | None) -> None:
    """Delete or anonymise personal data past its retention period (legal holds respected)."""
    from app.retention import purge

    day: date | None = as_of.date() if as_of else None
    if dry_run:
        run = purge.dry_run(day, triggered_by="cli")
        click.echo(f"Dry run #{run.id} as of {run.as_of}: nothing was changed.")
        for line in _counts_lines(run.counts):
            click.echo(line)
        click.echo(f"customers concerned: {run.counts.get('_subjects', 0)}")
        return
    with click.progressbar(length=1, label="Retention purge", show_pos=True) as bar, \
            _refused_while_running():
        def progress(done: int, total: int) -> None:
            bar.length = max(total, 1)
            bar.update(done - bar.pos)

        outcome = purge.execute(day, triggered_by="cli", batch_size=batch_size,
                                progress=progress)
    click.echo(f"Run #{outcome.run_id}: {outcome.subjects} customers in {outcome.batches} "
               f"batches, {outcome.seconds:.1f} s, longest transaction {outcome.longest_ms} ms.")
    for line in _counts_lines(outcome.counts):
        click.echo(line)


@retention.command("replay")
@click.option("--journal", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Tombstone journal (default: RETENTION_JOURNAL or the instance folder).")
def replay_command(journal: Path | None) -> None:
    """Apply again the purges recorded in the journal and tombstones (after a restore)."""
    from app.retention import purge

    with click.progressbar(length=1, label="Retention replay", show_pos=True) as bar, \
            _refused_while_running():
        def progress(done: int, total: int) -> None:
            bar.length = max(total, 1)
            bar.update(done - bar.pos)

        outcome = purge.replay(journal, triggered_by="cli replay", progress=progress)
    click.echo(f"Replay run #{outcome.run_id}: {outcome.subjects} customers purged again.")
    for line in _counts_lines(outcome.counts):
        click.echo(line)


@contextmanager
def _refused_while_running():
    """Another purge is running: say so and exit with code 3 (nothing was done)."""
    from app.retention.purge import PurgeInProgress

    try:
        yield
    except PurgeInProgress:
        click.echo("A retention purge is in progress; nothing was done. Try again when it has "
                   "finished.", err=True)
        raise SystemExit(3) from None


def register(app: Flask) -> None:
    app.cli.add_command(retention)
