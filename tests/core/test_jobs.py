"""Background jobs run the same way in every mode: inline, in-process thread, and RQ."""
from __future__ import annotations

import os
from datetime import datetime
from decimal import Decimal

import pytest
from sqlalchemy import select

from app import jobs
from app.core import scheduler
from app.core.models import Setting
from app.core.time import BUSINESS_TZ
from app.customers.models import Customer
from app.extensions import db
from tests.helpers import make_customer, make_invoice


def _corrupt_balance(customer: Customer) -> None:
    customer.balance = Decimal("999.99")
    db.session.commit()


def _balance_of(customer_id: int) -> Decimal:
    db.session.expire_all()
    return db.session.get(Customer, customer_id).balance


def test_refresh_balances_job_repairs_a_wrong_balance():
    customer = make_customer()
    make_invoice(customer, total="120.00")
    _corrupt_balance(customer)
    jobs.enqueue("app.customers.jobs.refresh_all_balances")  # sync mode in tests
    assert _balance_of(customer.id) == Decimal("120.00")


def test_thread_mode_runs_the_job_in_the_background(app):
    customer = make_customer()
    make_invoice(customer, total="75.00")
    _corrupt_balance(customer)
    app.config["JOBS_MODE"] = "thread"
    try:
        future = jobs.enqueue("app.customers.jobs.refresh_all_balances")
        assert future.result(timeout=30) == 1
    finally:
        app.config["JOBS_MODE"] = "sync"
    assert _balance_of(customer.id) == Decimal("75.00")


def _redis():
    url = os.environ.get("TEST_REDIS_URL")
    if url:
        from redis import Redis

        return Redis.from_url(url)
    import fakeredis

    return fakeredis.FakeStrictRedis()


def test_rq_mode_queues_the_job_and_a_worker_runs_it(app, monkeypatch):
    from rq import Queue, SimpleWorker

    connection = _redis()
    connection.flushdb()
    monkeypatch.setattr(jobs, "redis_connection", lambda app=None: connection)
    monkeypatch.setattr(jobs, "_worker_app", app)
    customer = make_customer()
    make_invoice(customer, total="42.00")
    _corrupt_balance(customer)
    app.config["JOBS_MODE"] = "rq"
    try:
        job_id = jobs.enqueue("app.customers.jobs.refresh_all_balances", job_id="refresh-test")
    finally:
        app.config["JOBS_MODE"] = "sync"
    assert job_id == "refresh-test"
    assert _balance_of(customer.id) == Decimal("999.99"), "nothing runs before a worker does"
    queue = Queue("default", connection=connection)
    SimpleWorker([queue], connection=connection).work(burst=True)
    assert queue.fetch_job("refresh-test").get_status() == "finished"
    assert _balance_of(customer.id) == Decimal("42.00")


def test_scheduler_enqueues_each_job_once_per_day(monkeypatch):
    from app.core.job_runs import ScheduledJobRun

    ran = []
    monkeypatch.setattr(scheduler, "SCHEDULE", [jobs.ScheduledJob(
        "refresh-balances", "02:30", "app.customers.jobs.refresh_all_balances")])
    monkeypatch.setattr(scheduler, "enqueue",
                        lambda func, job_id=None, scheduled_run_id=None: ran.append(job_id))
    morning = datetime(2026, 11, 23, 1, 0, tzinfo=BUSINESS_TZ)
    night = datetime(2026, 11, 23, 3, 0, tzinfo=BUSINESS_TZ)
    assert scheduler.tick(morning) == []  # refresh-balances is planned at 02:30
    assert scheduler.tick(night) == ["refresh-balances"]
    assert scheduler.tick(night) == []  # not twice the same day, even after a restart
    assert ran == ["refresh-balances-2026-11-23"]  # RQ 2 refuses ":" in a job id
    next_day = datetime(2026, 11, 24, 9, 0, tzinfo=BUSINESS_TZ)
    assert scheduler.tick(next_day) == ["refresh-balances"]
    days = db.session.scalars(select(ScheduledJobRun.business_date)
                              .order_by(ScheduledJobRun.business_date)).all()
    assert [d.isoformat() for d in days] == ["2026-11-23", "2026-11-24"]
    # The scheduler's bookkeeping is not a business rule.
    assert db.session.scalar(select(Setting).where(Setting.key.like("scheduler.%"))) is None


@pytest.mark.parametrize("mode", ["sync", "thread"])
def test_a_failing_job_does_not_take_the_app_down(app, mode):
    app.config["JOBS_MODE"] = mode
    try:
        if mode == "sync":
            with pytest.raises(ZeroDivisionError):
                jobs.enqueue("tests.core.test_jobs.failing_job")
        else:
            future = jobs.enqueue("tests.core.test_jobs.failing_job")
            assert isinstance(future.exception(timeout=30), ZeroDivisionError)
    finally:
        app.config["JOBS_MODE"] = "sync"


def failing_job():
    return 1 / 0
