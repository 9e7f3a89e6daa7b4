"""The retention purge at scale, with the portal under load during the run.

    createdb -h 127.0.0.1 -U postgres -T bench bench_retention
    python -m bench.retention --database-url postgresql+psycopg://postgres@127.0.0.1:5432/bench_retention

On a copy of the ``bench.generate`` database (100k customers, 1M invoices) — the purge writes,
never point it at the shared ``bench`` database — this

1. marks every customer's relationship as ended 12 years ago and lets the "invoices" rule count
   from the end of the relationship (the generated invoices are all from the last two years),
   so that every customer not on legal hold is past every retention period;
2. measures the portal (gunicorn, the real app, signed-in sample customers, as bench/portal.py)
   before the run: the baseline;
3. runs the real purge (app.retention.purge.execute, batches of ``--batch-size``) while the same
   load keeps hitting the portal, and measures the portal again during the run;
4. prints the purge time (target <= 60 s), the longest transaction (target <= 500 ms), the
   customers purged and held, and the portal p95 during the run next to the baseline.
"""
from __future__ import annotations

import json
import os
import random
import secrets
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from types import SimpleNamespace

import click
from sqlalchemy import text

from bench.portal import PAGES, PORTAL_PATHS, Result, Server, percentile, run_load

TARGET_SECONDS = 60.0  # issue 22
TARGET_TRANSACTION_MS = 500.0


def _p95(result: Result) -> float:
    values = [v for page in PAGES for v in result.latencies[page]]
    return percentile(values, .95)


def _count(result: Result) -> int:
    return sum(len(result.latencies[p]) for p in PAGES)


def mark_past_retention(years: int = 12, settle: bool = True) -> int:
    """Every customer's relationship ended ``years`` ago; invoices count from that end.

    ``settle``: debts paid and no legal proceedings, so that no automatic legal hold keeps
    anyone (every customer is then past retention); without it about half are held."""
    from app.extensions import db

    ended = date.today() - timedelta(days=365 * years)
    if settle:
        db.session.execute(text(
            "UPDATE invoice SET status = 'paid', open_amount = 0, paid_on = issue_date "
            "WHERE status IN ('open', 'partially_paid')"))
        db.session.execute(text("UPDATE customer SET balance = 0, legal_status = 'none' "
                                "WHERE balance <> 0 OR legal_status <> 'none'"))
    updated = db.session.execute(text(
        "UPDATE customer SET relationship_ended_on = :ended WHERE anonymised_at IS NULL"),
        {"ended": ended}).rowcount
    db.session.execute(text("UPDATE retention_rule SET counts_from = 'relationship_end' "
                            "WHERE category = 'invoices'"))
    db.session.commit()
    # Vacuumed, with fresh statistics, as autovacuum leaves the tables after such a change:
    # without the VACUUM every index still holds the entries of the ~1M row versions the
    # UPDATEs above left dead (a production database pays its invoices over years, not in one
    # statement), and the purge's first reads would pay for this set-up instead.
    with db.engine.connect() as connection:
        connection.execution_options(isolation_level="AUTOCOMMIT").execute(
            text("VACUUM ANALYZE" if connection.dialect.name == "postgresql" else "ANALYZE"))
    return updated


def _purge_only(url: str, batch_size: int) -> None:
    """The purge's process: the real app on the same database, one line of JSON at the end."""
    from app import create_app
    from app.extensions import db
    from app.retention import purge
    from config import Config

    instance = os.environ.get("CREDITDESK_INSTANCE_DIR") or tempfile.mkdtemp()
    app = create_app(Config, SQLALCHEMY_DATABASE_URI=url, JOBS_MODE="sync",
                     SECRET_KEY=os.environ["SECRET_KEY"], SEED_DEMO_DATA=False,
                     INSTANCE_DIR=instance, UPLOAD_DIR=os.path.join(instance, "uploads"))
    with app.app_context():
        outcome = purge.execute(triggered_by="bench", batch_size=batch_size)
        db.engine.dispose()
    click.echo(json.dumps({"subjects": outcome.subjects, "batches": outcome.batches,
                           "seconds": outcome.seconds, "longest_ms": outcome.longest_ms,
                           "batch_ms": outcome.batch_ms,
                           "counts": outcome.counts}))


@click.command()
@click.option("--database-url", "url", required=True,
              help="A COPY of the bench database (the purge changes it).")
@click.option("--clients", default=8, show_default=True, type=click.IntRange(1, 64))
@click.option("--customers", default=200, show_default=True, type=click.IntRange(1, 5000))
@click.option("--workers", default=4, show_default=True, type=click.IntRange(1, 32))
@click.option("--baseline-requests", default=150, show_default=True,
              type=click.IntRange(10, 10000), help="Per page, before the run.")
@click.option("--batch-size", default=500, show_default=True, type=click.IntRange(1, 10000))
@click.option("--settle/--keep-debts", default=True, show_default=True,
              help="Mark every debt paid first, so that no automatic hold applies.")
@click.option("--seed", default=1, show_default=True)
@click.option("--purge-only", is_flag=True, hidden=True,
              help="(Internal) run the purge in this process and print its outcome as JSON.")
def main(url: str, clients: int, customers: int, workers: int, baseline_requests: int,
         batch_size: int, settle: bool, seed: int, purge_only: bool) -> None:
    """Time the purge of every customer past retention, and the portal's p95 during it."""
    if purge_only:
        _purge_only(url, batch_size)
        return
    from app import create_app
    from app.extensions import db
    from app.retention import purge
    from app.setup_cli import prepare_database
    from bench.generate import database_url
    from bench.portal import remove_sessions, signed_in_cookies
    from config import Config

    url = database_url(url)
    if url.rstrip("/").endswith("/bench"):
        raise click.UsageError("the purge writes: use a copy (createdb -T bench bench_retention)")
    secret = secrets.token_hex(32)
    instance = tempfile.mkdtemp(prefix="creditdesk-bench-retention-")
    env = {**os.environ, "DATABASE_URL": url, "SECRET_KEY": secret, "JOBS_MODE": "sync",
           "REDIS_URL": "", "SEED_DEMO_DATA": "0", "CREDITDESK_INSTANCE_DIR": instance,
           "FAB_UPDATE_PERMS": "0", "PYTHONPATH": str(os.getcwd())}
    app = create_app(Config, SQLALCHEMY_DATABASE_URI=url, SECRET_KEY=secret, JOBS_MODE="sync",
                     SEED_DEMO_DATA=False, INSTANCE_DIR=instance,
                     UPLOAD_DIR=os.path.join(instance, "uploads"))
    with app.app_context():
        click.echo(f"database: {db.engine.url.render_as_string(hide_password=True)}")
        prepare_database()
        marked = mark_past_retention(settle=settle)
        click.echo(f"{marked} customers marked as ended 12 years ago")
        cookies, rows = signed_in_cookies(app, customers, seed)
        # The customers who use the portal during the run are current customers: a customer
        # whose relationship ended 12 years ago has no portal session to keep.
        db.session.execute(text("UPDATE customer SET relationship_ended_on = NULL "
                                "WHERE id = ANY(:ids)"), {"ids": [c for c, _ in cookies]})
        db.session.commit()
        click.echo(f"{len(cookies)} of them kept as current customers, signed in to the portal")
        started = time.perf_counter()
        found = purge.plan()
        plan_seconds = time.perf_counter() - started
        click.echo(f"plan: {len(found.subject_ids)} customers to purge "
                   f"({plan_seconds:.1f} s to find them)")
    rng = random.Random(seed)
    picks = [rng.choice(cookies) for _ in range(100_000)]

    def portal_request(i: int):
        _customer_id, cookie = picks[i % len(picks)]
        page = PAGES[i % len(PAGES)]
        return page, PORTAL_PATHS[page], {"Cookie": f"session={cookie}"}

    server = Server("bench.portal:portal_app()", env, workers, 1)
    outcome_box: dict = {}
    try:
        server.wait_ready("/portal/login")
        click.echo(f"portal baseline: {baseline_requests} requests per page ...")
        before = run_load(server.port, portal_request, clients, baseline_requests, 120,
                          warmup=30)
        # The purge runs in its own process, as in production (an RQ worker): in this one it
        # would share the interpreter lock with the load generator's client threads and be
        # timed waiting for them.
        click.echo("purge running, portal under the same load ...")
        purger = subprocess.Popen(
            [sys.executable, "-m", "bench.retention", "--database-url", url,
             "--batch-size", str(batch_size), "--purge-only"],
            env=env, stdout=subprocess.PIPE, text=True)
        during = Result()
        while purger.poll() is None:
            chunk = run_load(server.port, portal_request, clients, 20, 30, warmup=0)
            for page in PAGES:
                during.latencies[page] += chunk.latencies[page]
            during.errors += chunk.errors
            during.seconds += chunk.seconds
        output = purger.stdout.read()
        lines = [line for line in output.splitlines() if line.startswith("{")]
        if purger.returncode != 0 or not lines:
            outcome_box["error"] = f"exit {purger.returncode}: {output[-2000:]}"
        else:
            outcome_box["outcome"] = SimpleNamespace(**json.loads(lines[-1]))
    finally:
        server.stop()
        with app.app_context():
            remove_sessions(rows)
            held = db.session.execute(text(
                "SELECT count(*) FROM customer WHERE anonymised_at IS NULL")).scalar()
            db.engine.dispose()
    if "error" in outcome_box:
        raise click.ClickException(f"purge failed: {outcome_box['error']!r}")
    outcome = outcome_box["outcome"]
    click.echo("")
    click.echo(f"purge: {outcome.subjects} customers in {outcome.batches} batches of "
               f"{batch_size}: {outcome.seconds:.1f} s (target <= {TARGET_SECONDS:.0f} s: "
               f"{'meets' if outcome.seconds <= TARGET_SECONDS else 'MISSES'})")
    click.echo(f"longest transaction: {outcome.longest_ms} ms (target <= "
               f"{TARGET_TRANSACTION_MS:.0f} ms: "
               f"{'meets' if outcome.longest_ms <= TARGET_TRANSACTION_MS else 'MISSES'})")
    click.echo(f"batch transactions: p50 {outcome.batch_ms[0]} ms, p95 {outcome.batch_ms[1]} ms; "
               f"load average {os.getloadavg()[0]:.1f} (2 cores shared)")
    click.echo(f"customers left as they were (legal hold: unpaid, dispute, proceedings): "
               f"{held}")
    for name, result in (("before the run", before), ("during the run", during)):
        click.echo(f"portal {name:<15}: p95 {_p95(result):7.1f} ms, p50 "
                   f"{percentile([v for p in PAGES for v in result.latencies[p]], .5):7.1f} ms"
                   f" over {_count(result)} requests, {len(result.errors)} errors")
    for category, entry in outcome.counts.items():
        if isinstance(entry, dict):
            click.echo(f"  {category:<16} {entry['action']:<10} {entry['records']:>9} rows "
                       f"{entry['subjects']:>8} customers")


if __name__ == "__main__":
    main()
