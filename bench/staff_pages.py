"""Back office pages at 1M invoices: the staff dashboard, the aging page and the dunning dry run.

    python -m bench.generate --database-url postgresql+psycopg://postgres@127.0.0.1:5432/bench_pages
    python -m bench.staff_pages --database-url postgresql+psycopg://postgres@127.0.0.1:5432/bench_pages

On the data of ``bench.generate`` (100k customers, 1M invoices) this signs a staff Admin in and
requests each page through the real app (Flask test client in this one process, like one warm
web worker: the whole FAB page rendered), then

1. times the very first request of each page after the app started (cold process caches; the
   database's own cache is warm, as on a running server),
2. times ``--rounds`` warm requests of each page (p50 and p95),
3. records the SQL each page ran and replays exactly those statements on a bare psycopg
   connection: the "bare SQL" baseline of the same run, printed beside each page.

Before the timed requests it runs the scheduled jobs that keep the pages' costly figures as
snapshots (the DSO trend, the dry run's counts per outcome: app.jobs.SCHEDULE), as the scheduler
does before the working day, and prints how long each took.

Targets (issue 22): dashboard <= 300 ms, aging <= 800 ms, dry run <= 800 ms warm; first request
of each <= 1 s. Writes only a bench Admin user (and the shipped dunning rules if missing).
"""
from __future__ import annotations

import statistics
import time

import click

from bench.customer360 import Recorder, percentile, staff_client, timed_sql

TARGETS_MS = {"dashboard": 300.0, "aging": 800.0, "dry run": 800.0}
FIRST_TARGET_MS = 1000.0
PAGES = {"dashboard": "/", "aging": "/insights/aging", "dry run": "/dunning/dry-run/"}


def _get(client, path: str) -> float:
    started = time.perf_counter()
    response = client.get(path)
    elapsed = (time.perf_counter() - started) * 1000
    if response.status_code != 200:
        raise click.ClickException(f"{path}: HTTP {response.status_code}")
    return elapsed


def _record(recorder: Recorder, client, path: str) -> list[tuple[str, object]]:
    recorder.statements, recorder.on = [], True
    try:
        client.get(path)
    finally:
        recorder.on = False
    return [(s, p) for s, p in recorder.statements if s.lstrip().upper().startswith(
        ("SELECT", "WITH"))]


@click.command()
@click.option("--database-url", "url", required=True,
              help="The bench.generate database (only a bench user is written).")
@click.option("--rounds", default=10, show_default=True, type=click.IntRange(3, 200))
def main(url: str, rounds: int) -> None:
    """Time the staff dashboard, aging and dry-run pages beside their bare SQL."""
    from app import create_app
    from app.extensions import db
    from app.setup_cli import prepare_database
    from bench.generate import database_url
    from config import Config

    url = database_url(url)
    app = create_app(Config, SQLALCHEMY_DATABASE_URI=url, JOBS_MODE="sync", REDIS_URL="",
                     SEED_DEMO_DATA=False, WTF_CSRF_ENABLED=True, FAB_UPDATE_PERMS=False)
    with app.app_context():
        click.echo(f"database: {db.engine.url.render_as_string(hide_password=True)}")
        prepare_database()
        from sqlalchemy import text

        customers, invoices = db.session.execute(text(
            "SELECT (SELECT count(*) FROM customer), (SELECT count(*) FROM invoice)")).one()
        db.session.commit()
        click.echo(f"{customers:,} customers, {invoices:,} invoices")
        # What the scheduler does before the working day (app.jobs.SCHEDULE): the costly figures
        # (DSO trend, dry-run counts) kept as snapshots that the pages date. Timed and printed:
        # it is work, only not a page view's.
        from app.dunning.jobs import refresh_dry_run_figures
        from app.insights.aging import refresh_dso_today

        for label, job in (("DSO trend", refresh_dso_today),
                           ("dry-run counts", refresh_dry_run_figures)):
            started = time.perf_counter()
            job()
            click.echo(f"snapshot of the {label} (scheduled job): "
                       f"{(time.perf_counter() - started) * 1000:.0f} ms")
        client = staff_client(app)
        first = {name: _get(client, path) for name, path in PAGES.items()}
        warm = {name: [_get(client, path) for _ in range(rounds)] for name, path in PAGES.items()}
        recorder = Recorder(db.engine)
        bare = {name: timed_sql(url, _record(recorder, client, path), rounds)
                for name, path in PAGES.items()}
        db.engine.dispose()

    click.echo("")
    click.echo(f"{'page':<10} {'first ms':>9} {'p50 ms':>9} {'p95 ms':>9} | "
               f"{'bare SQL p50':>12} {'x SQL':>6} | target")
    verdicts = []
    for name in PAGES:
        p50, p95 = statistics.median(warm[name]), percentile(warm[name], .95)
        sql = statistics.median(bare[name])
        ok = p95 <= TARGETS_MS[name] and first[name] <= FIRST_TARGET_MS
        verdicts.append(ok)
        click.echo(f"{name:<10} {first[name]:9.0f} {p50:9.0f} {p95:9.0f} | {sql:12.0f} "
                   f"{p50 / sql if sql else 0:6.2f} | p95 <= {TARGETS_MS[name]:.0f} ms, first <= "
                   f"{FIRST_TARGET_MS:.0f} ms: {'OK' if ok else 'TOO SLOW'}")
    click.echo(f"({rounds} warm rounds each; 'bare SQL' = the statements the page ran, replayed "
               "on a bare psycopg connection in the same run)")


if __name__ == "__main__":
    main()
