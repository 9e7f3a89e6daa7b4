"""Two dunning runs of the same date at the same time: one runs, the other stops cleanly.

Before, both created their run and the second crashed on the unique (run_date, customer)
action with an unhandled IntegrityError. Threads with a barrier make the two really overlap
(on PostgreSQL and on SQLite).
"""
from __future__ import annotations

import threading
from datetime import timedelta

from sqlalchemy import func, select

from app.core import job_runs
from app.core.job_runs import JobLock
from app.core.models import utcnow
from app.dunning import jobs as dunning_jobs
from app.dunning.cli import IN_PROGRESS_EXIT_CODE, dunning
from app.dunning.models import DunningAction, DunningRun
from app.dunning.runs import RunInProgress, run
from app.extensions import db
from tests.dunning.conftest import consumer, overdue, today


def _customers(n: int = 4) -> None:
    for _ in range(n):
        overdue(consumer(), 20)


def _count(model) -> int:
    db.session.rollback()
    return db.session.scalar(select(func.count()).select_from(model))


def test_two_runs_started_together_give_one_run_and_one_clean_refusal(app, defaults):
    _customers()
    barrier = threading.Barrier(2)
    loser_done = threading.Event()
    outcomes: dict[str, object] = {}

    def hold(_batch: int) -> None:  # the winner waits until the loser has given up
        loser_done.wait(timeout=60)

    def attempt(name: str) -> None:
        with app.app_context():
            barrier.wait(timeout=30)
            try:
                outcomes[name] = run(today(), triggered_by=name, batch_size=2, after_batch=hold)
            except RunInProgress as exc:
                outcomes[name] = exc
                loser_done.set()
            except BaseException as exc:  # noqa: BLE001 (reported by the assertion below)
                outcomes[name] = exc
                loser_done.set()
            finally:
                db.session.remove()

    threads = [threading.Thread(target=attempt, args=(n,)) for n in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    refused = [o for o in outcomes.values() if isinstance(o, RunInProgress)]
    ran = [o for o in outcomes.values() if not isinstance(o, BaseException)]
    assert len(refused) == 1 and len(ran) == 1, outcomes
    assert "is in progress" in str(refused[0])
    assert _count(DunningRun) == 1
    assert _count(DunningAction) == 4
    assert _count(JobLock) == 0, "the lease is released at the end"


def test_the_cli_and_the_job_say_a_run_is_in_progress_and_change_nothing(app, defaults):
    _customers(2)
    holder = job_runs.acquire_lock(f"dunning-run-{today().isoformat()}", timedelta(minutes=10))
    result = app.test_cli_runner().invoke(dunning, ["run"])
    assert result.exit_code == IN_PROGRESS_EXIT_CODE
    assert "is in progress" in result.output
    assert "Traceback" not in result.output and result.exception.__class__ is SystemExit
    assert "in progress" in dunning_jobs.run_daily()
    assert _count(DunningRun) == 0 and _count(DunningAction) == 0
    job_runs.release_lock(f"dunning-run-{today().isoformat()}", holder)
    assert dunning_jobs.run_daily()["remind"] == 2


def test_a_run_whose_process_died_is_taken_over(app, defaults):
    _customers(2)
    lease = f"dunning-run-{today().isoformat()}"
    job_runs.acquire_lock(lease, timedelta(minutes=10), now=utcnow() - timedelta(minutes=30))
    assert run(today()).counts["remind"] == 2
