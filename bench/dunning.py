"""The dunning dry run at scale, next to a hand-written SQL query doing the selection part.

    python -m bench.dunning [--database-url URL] [--date YYYY-MM-DD] [--repeat 3]

On the data of bench/generate.py (100k customers, 1M invoices), this times a full dry-run
evaluation (app.dunning.engine.evaluate: set-wise loading, then every customer's decision and
its explanation in Python) and, as the baseline measured in the same run, one SQL query that
selects the same overdue, non-excluded invoices (open, overdue, not blocked, not wholly
disputed, not deferred, not in a plan being kept, customer not in proceedings/insolvent/with
the agency, not paused, no unmatched recent payment, a policy applies, above the minimum).
It checks that both find exactly the same invoices and prints both times and their ratio.

The database is only read, apart from what the dunning engine needs to exist: the dunning
migration (only this branch: the bench database is shared) and the shipped policies, rates and
setting rows, added idempotently.
"""
from __future__ import annotations

import statistics
import time
from datetime import date, timedelta

import click
from sqlalchemy import text

from app.extensions import db

# The hand-written baseline. Same rules as app/dunning/engine.py, expressed in one query.
BASELINE_SQL = """
WITH disputes AS (
    SELECT invoice_id, sum(amount) AS amount FROM dispute WHERE status = 'open'
    GROUP BY invoice_id
), remindable AS (
    SELECT i.id, i.customer_id,
           i.open_amount - LEAST(i.open_amount, GREATEST(
               COALESCE(d.amount, 0),
               CASE WHEN i.disputed THEN CASE WHEN i.disputed_amount > 0 THEN i.disputed_amount
                                              ELSE i.open_amount END
                    ELSE 0 END)) AS amount
    FROM invoice i
    JOIN customer c ON c.id = i.customer_id
    LEFT JOIN disputes d ON d.invoice_id = i.id
    WHERE i.status IN ('open', 'partially_paid') AND i.open_amount > 0
      AND i.due_date < :run_date
      AND NOT i.dunning_blocked
      AND c.legal_status = 'none'
      AND (c.dunning_paused_until IS NULL OR c.dunning_paused_until < :run_date)
      AND NOT EXISTS (SELECT 1 FROM deferral f WHERE f.invoice_id = i.id
                      AND f.status = 'active' AND f.new_due_date >= :run_date)
      AND NOT EXISTS (
          SELECT 1 FROM plan_invoice pi JOIN payment_plan p ON p.id = pi.plan_id
          WHERE pi.invoice_id = i.id AND p.status = 'active'
            AND NOT EXISTS (SELECT 1 FROM installment s WHERE s.plan_id = p.id
                            AND s.status <> 'paid' AND s.paid_amount < s.amount
                            AND s.due_date < :plan_late_before))
      AND NOT EXISTS (SELECT 1 FROM payment m WHERE m.customer_id = c.id
                      AND m.unallocated_amount > 0
                      AND m.status IN ('unmatched', 'partially_allocated')
                      AND m.received_on BETWEEN :unmatched_since AND :run_date)
      AND NOT EXISTS (SELECT 1 FROM statement_line l
                      JOIN bank_account b ON b.iban_hash = l.iban_hash
                      WHERE b.customer_id = c.id AND l.amount > 0
                        AND l.status IN ('new', 'unmatched', 'suggested')
                        AND l.booking_date BETWEEN :unmatched_since AND :run_date)
      AND NOT EXISTS (SELECT 1 FROM dunning_action a WHERE a.customer_id = c.id
                      AND a.run_date = :run_date)
      AND EXISTS (
          SELECT 1 FROM dunning_policy p WHERE p.active AND (
              p.id = c.dunning_policy_id
              OR (c.dunning_policy_id IS NULL
                  AND p.segment = CASE WHEN c.kind = 'company' THEN 'business'
                                       ELSE 'consumer' END
                  AND (p.country = c.country OR p.country IS NULL))))
), totals AS (
    SELECT id, amount, sum(amount) OVER (PARTITION BY customer_id) AS customer_total
    FROM remindable WHERE amount > 0
)
SELECT id FROM totals WHERE customer_total >= :minimum
"""


def baseline_ids(run_date: date) -> set[int]:
    from app.core.settings import get_settings

    settings = get_settings(("dunning.minimum_amount", "dunning.unmatched_payment_days",
                             "dunning.plan_broken_after_days"))
    params = {
        "run_date": run_date,
        "minimum": settings["dunning.minimum_amount"],
        "unmatched_since": run_date - timedelta(days=settings["dunning.unmatched_payment_days"]),
        "plan_late_before": run_date - timedelta(days=settings["dunning.plan_broken_after_days"]),
    }
    return set(db.session.scalars(text(BASELINE_SQL), params))


def engine_ids(run_date: date):
    """The full dry run, and the invoices it would remind. The evaluation is returned so that
    freeing its ~1M objects happens after the timer stopped (it is not part of deciding)."""
    from app.dunning.engine import evaluate, invoice_ids

    evaluation = evaluate(run_date)
    return invoice_ids(evaluation.decisions), evaluation.counts, evaluation


def timed(func, *args):
    started = time.perf_counter()
    result = func(*args)
    return time.perf_counter() - started, result


def prepare() -> None:
    """Only the dunning branch of the migrations, then the shipped rules (idempotent)."""
    from flask import current_app
    from flask_migrate import upgrade

    from app.dunning.defaults import install_policies, install_rates, install_settings

    # The bench database is shared with other benchmarks: apply this branch only.
    upgrade(directory=current_app.extensions["migrate"].directory, revision="dunning_0002")
    install_policies()
    install_rates()
    install_settings()
    db.session.commit()


@click.command()
@click.option("--database-url", "url", help="Default: DATABASE_URL, else the embedded SQLite.")
@click.option("--date", "run_date", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              help="Run date (default: today in Brussels).")
@click.option("--repeat", type=click.IntRange(min=1, max=20), default=3, show_default=True,
              help="Timed rounds of each (after one warm-up round each).")
def main(url: str | None, run_date, repeat: int) -> None:
    """Time a full dunning dry run against a hand-written SQL selection of the same invoices."""
    from app import create_app
    from app.core.time import business_today
    from bench.generate import database_url
    from config import Config

    app = create_app(Config, SQLALCHEMY_DATABASE_URI=database_url(url), SEED_DEMO_DATA=False,
                     JOBS_MODE="sync")
    day = run_date.date() if run_date else business_today()
    with app.app_context():
        click.echo(f"database: {db.engine.url.render_as_string(hide_password=True)}")
        prepare()
        counts = db.session.execute(text(
            "SELECT (SELECT count(*) FROM customer), (SELECT count(*) FROM invoice)")).one()
        click.echo(f"{counts[0]:,} customers, {counts[1]:,} invoices; run date {day}")
        # One warm-up round each (caches, query plans), then `repeat` timed rounds each,
        # alternating so that neither benefits from running right after the other.
        baseline_ids(day)
        db.session.rollback()
        engine_ids(day)
        db.session.rollback()
        sql_times, engine_times = [], []
        for _ in range(repeat):
            seconds, sql_result = timed(baseline_ids, day)
            sql_times.append(seconds)
            db.session.rollback()
            seconds, (engine_result, outcome_counts, evaluation) = timed(engine_ids, day)
            engine_times.append(seconds)
            del evaluation
            db.session.rollback()
        same = sql_result == engine_result
        sql_s, engine_s = statistics.median(sql_times), statistics.median(engine_times)
        click.echo("")
        click.echo(f"decisions: {', '.join(f'{k} {v:,}' for k, v in outcome_counts.items())}")
        click.echo(f"hand-written SQL query : {sql_s:7.2f} s  ({len(sql_result):,} invoices)"
                   f"   rounds: {', '.join(f'{t:.2f}' for t in sql_times)}")
        click.echo(f"dunning dry run        : {engine_s:7.2f} s  ({len(engine_result):,} "
                   f"invoices)   rounds: {', '.join(f'{t:.2f}' for t in engine_times)}")
        click.echo(f"ratio engine / SQL     : {engine_s / sql_s:7.2f} x   (target <= 3 x, "
                   f"dry run <= 60 s: {'ok' if engine_s <= 60 else 'TOO SLOW'})")
        click.echo(f"same invoices selected : {'yes' if same else 'NO'}")
        if not same:
            click.echo(f"  only in SQL: {len(sql_result - engine_result):,}, only in the "
                       f"engine: {len(engine_result - sql_result):,}; e.g. "
                       f"{sorted(sql_result ^ engine_result)[:10]}")
        db.engine.dispose()
        if not same:
            raise SystemExit(1)


if __name__ == "__main__":
    main()
