"""The scheduler on the production shape: the real tick, real Redis, real RQ worker processes.

* every daily job of app.jobs.SCHEDULE is enqueued into RQ (ids RQ 2 accepts), executed by a
  real worker, and its outcome recorded;
* two scheduler processes ticking at the same instant (a barrier) enqueue each job once;
* Redis down during the tick: nothing counts as run, the next tick enqueues everything.

The RQ tests need TEST_REDIS_URL (CI's PostgreSQL + Redis pass); the two-process test also runs
without it (the enqueue is then only counted).
"""
from __future__ import annotations

import multiprocessing
import os
import time
from datetime import datetime

import pytest
from sqlalchemy import delete, select

from app import jobs
from app.core import scheduler
from app.core.job_runs import FINISHED, ScheduledJobRun
from app.core.time import BUSINESS_TZ
from app.extensions import db
from tests.conftest import _TMP, database_url

REDIS_URL = os.environ.get("TEST_REDIS_URL")
needs_redis = pytest.mark.skipif(not REDIS_URL, reason="needs a real Redis: set TEST_REDIS_URL")


def _late_evening() -> datetime:
    """Today (Brussels) after every planned time: every daily job is due."""
    return datetime.now(BUSINESS_TZ).replace(hour=23, minute=59, second=0, microsecond=0)


def _runs() -> list[ScheduledJobRun]:
    db.session.rollback()  # see the other processes' commits
    db.session.expire_all()
    return list(db.session.scalars(select(ScheduledJobRun).order_by(ScheduledJobRun.job_name)))


def _wait(condition, timeout: float, what) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what() if callable(what) else what}")


@pytest.fixture
def rq_mode(app, monkeypatch):
    from redis import Redis

    Redis.from_url(REDIS_URL).flushdb()
    monkeypatch.setitem(app.config, "JOBS_MODE", "rq")
    monkeypatch.setitem(app.config, "REDIS_URL", REDIS_URL)
    yield Redis.from_url(REDIS_URL)


def _install_defaults() -> None:
    from app.dunning.defaults import install_defaults as dunning_defaults
    from app.notifications.defaults import install_defaults as message_templates
    from app.retention.rules import install_defaults as retention_rules

    message_templates()
    dunning_defaults()
    retention_rules()


@needs_redis
def test_every_daily_job_runs_under_rq_and_its_outcome_is_recorded(rq_mode, tmp_path):
    from rq import Queue

    from tests.notifications.workers import start_worker, stop

    _install_defaults()
    now = _late_evening()
    assert sorted(scheduler.tick(now)) == sorted(job.name for job in jobs.SCHEDULE)
    queued = Queue("default", connection=rq_mode).job_ids
    assert sorted(queued) == sorted(f"{j.name}-{now.date().isoformat()}" for j in jobs.SCHEDULE)
    runs = _runs()
    assert all(r.enqueued_at is not None and r.started_at is None for r in runs)

    worker = start_worker(database_url(), REDIS_URL, str(_TMP / "instance"),
                          tmp_path / "worker.log")
    try:
        _wait(lambda: all(r.status in FINISHED for r in _runs()), 300,
              lambda: [(r.job_name, r.status) for r in _runs()]
              + [(tmp_path / "worker.log").read_text()[-3000:]])
    finally:
        stop(worker)
    runs = _runs()
    assert {r.job_name for r in runs} == {j.name for j in jobs.SCHEDULE}
    for run in runs:
        assert run.status == "succeeded", (run.job_name, run.error)
        assert run.enqueued_at <= run.started_at <= run.finished_at
        assert run.rq_job_id == f"{run.job_name}-{now.date().isoformat()}"
    assert scheduler.tick(now) == [], "once a day"


@needs_redis
def test_redis_down_during_the_tick_records_nothing_and_the_next_tick_enqueues(app, rq_mode,
                                                                                monkeypatch):
    from rq import Queue

    from tests.core.test_worker_reconnect import _free_port

    now = _late_evening()
    monkeypatch.setitem(app.config, "REDIS_URL", f"redis://127.0.0.1:{_free_port()}/0")
    assert scheduler.tick(now) == []
    assert _runs() == [], "a refused enqueue is not a run"
    monkeypatch.setitem(app.config, "REDIS_URL", REDIS_URL)
    assert len(scheduler.tick(now)) == len(jobs.SCHEDULE)
    assert len(Queue("default", connection=rq_mode).job_ids) == len(jobs.SCHEDULE)


def _tick_in_a_process(db_url: str, redis_url: str | None, barrier, results) -> None:
    """A second scheduler process: its own app, its own connections."""
    from app import create_app
    from app.core import scheduler as child_scheduler
    from config import TestConfig

    app = create_app(TestConfig, SQLALCHEMY_DATABASE_URI=db_url, REDIS_URL=redis_url or "",
                     JOBS_MODE="rq" if redis_url else "sync")
    with app.app_context():
        if not redis_url:  # no Redis here: count the enqueues instead of running the jobs
            child_scheduler.enqueue = lambda func, job_id=None, scheduled_run_id=None: job_id
        db.session.execute(select(1))  # connect before the barrier: the ticks really overlap
        db.session.commit()
        barrier.wait(timeout=120)
        results.put(child_scheduler.tick(_late_evening()))


def test_two_schedulers_ticking_at_once_enqueue_each_job_once(app):
    if REDIS_URL:
        from redis import Redis

        Redis.from_url(REDIS_URL).flushdb()
    context = multiprocessing.get_context("spawn")
    for _round in range(3):
        db.session.execute(delete(ScheduledJobRun))
        db.session.commit()
        barrier, results = context.Barrier(2), context.Queue()
        processes = [context.Process(target=_tick_in_a_process,
                                     args=(database_url(), REDIS_URL, barrier, results))
                     for _ in range(2)]
        for process in processes:
            process.start()
        enqueued = [results.get(timeout=240) for _ in processes]
        for process in processes:
            process.join(timeout=60)
            assert process.exitcode == 0
        names = [name for names in enqueued for name in names]
        assert sorted(names) == sorted(job.name for job in jobs.SCHEDULE), enqueued
        runs = _runs()
        assert len(runs) == len(jobs.SCHEDULE)
        assert all(r.enqueued_at is not None for r in runs)
        if REDIS_URL:
            from redis import Redis
            from rq import Queue

            connection = Redis.from_url(REDIS_URL)
            assert len(Queue("default", connection=connection).job_ids) == len(jobs.SCHEDULE)
            connection.flushdb()
