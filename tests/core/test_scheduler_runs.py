"""The scheduler's daily slots and the runs' records, in-process (SQLite and PostgreSQL).

The same tick against real Redis and real RQ workers is in test_scheduler_rq.py.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select

from app import jobs
from app.core import job_runs, scheduler
from app.core.job_runs import ScheduledJobRun
from app.core.models import Setting, utcnow
from app.core.time import BUSINESS_TZ
from app.extensions import db

DAY = datetime(2026, 11, 23, 9, 0, tzinfo=BUSINESS_TZ)
CALLS: list[str] = []


def ok_job() -> str:
    CALLS.append("ok")
    return "did 3 things"


def failing_job() -> None:
    CALLS.append("fail")
    raise RuntimeError("agency down")


@pytest.fixture
def schedule(monkeypatch):
    CALLS.clear()
    entries = [jobs.ScheduledJob("ok-job", "08:00", "tests.core.test_scheduler_runs.ok_job"),
               jobs.ScheduledJob("bad-job", "08:30", "tests.core.test_scheduler_runs.failing_job")]
    monkeypatch.setattr(scheduler, "SCHEDULE", entries)
    monkeypatch.setattr(jobs, "SCHEDULE", entries)
    monkeypatch.setattr(job_runs, "SCHEDULE", entries)  # what the screen and the late check read
    scheduler._warned.clear()
    return entries


def _runs() -> dict[str, ScheduledJobRun]:
    db.session.expire_all()
    return {r.job_name: r for r in db.session.scalars(select(ScheduledJobRun))}


def test_each_daily_job_runs_once_and_its_outcome_is_recorded(schedule):
    assert scheduler.tick(DAY) == ["ok-job", "bad-job"]  # sync mode: they ran inline
    assert scheduler.tick(DAY) == []
    assert CALLS == ["ok", "fail"]
    runs = _runs()
    ok, bad = runs["ok-job"], runs["bad-job"]
    assert ok.status == "succeeded" and ok.result == "did 3 things" and ok.attempts == 1
    assert ok.enqueued_at and ok.started_at and ok.finished_at >= ok.started_at
    assert ok.rq_job_id == "ok-job-2026-11-23"
    assert bad.status == "failed" and "RuntimeError: agency down" in bad.error
    assert db.session.scalar(select(func.count()).select_from(Setting)) == 0


def test_a_failed_enqueue_is_not_recorded_as_run_and_the_next_tick_retries(schedule,
                                                                             monkeypatch):
    def redis_down(*args, **kwargs):
        raise ConnectionError("Error 111 connecting to 127.0.0.1:6390. Connection refused.")

    monkeypatch.setattr(scheduler, "enqueue", redis_down)
    assert scheduler.tick(DAY) == []
    assert _runs() == {}, "nothing counts as run while the queue refuses"
    monkeypatch.undo()
    monkeypatch.setattr(scheduler, "SCHEDULE", schedule)
    assert scheduler.tick(DAY) == ["ok-job", "bad-job"]
    assert _runs()["ok-job"].status == "succeeded"


def test_a_slot_taken_by_a_scheduler_that_died_is_taken_over(schedule, monkeypatch):
    enqueued = []
    monkeypatch.setattr(scheduler, "enqueue",
                        lambda func, job_id=None, scheduled_run_id=None: enqueued.append(job_id))
    # Another scheduler took the slot and died before enqueueing (no enqueued_at).
    assert job_runs.claim_slot("ok-job", DAY.date(), utcnow() - timedelta(minutes=30))
    assert job_runs.claim_slot("bad-job", DAY.date(), utcnow())  # this one is recent: alive
    assert scheduler.tick(DAY) == ["ok-job"]
    assert enqueued == ["ok-job-2026-11-23"]


def test_a_late_job_is_shown_logged_and_in_the_work_queue(schedule, caplog):
    from app.insights.workqueues import work_queues

    noon = datetime.combine(DAY.date(), datetime.min.time(), tzinfo=BUSINESS_TZ) \
        + timedelta(hours=12)
    # ok-job ran and succeeded; bad-job failed: late once its grace (120 min) has passed.
    scheduler.tick(DAY)
    states = {s.name: s for s in job_runs.job_states(noon)}
    assert not states["ok-job"].late and states["bad-job"].late
    with caplog.at_level(logging.WARNING, logger="app.core.scheduler"):
        assert scheduler.check_late(noon) == ["bad-job"]
        scheduler.check_late(noon)
    warnings = [r for r in caplog.records if "late" in r.getMessage()]
    assert len(warnings) == 1 and "bad-job" in warnings[0].getMessage()
    queue = next(q for q in work_queues(rows=True, now=noon) if q.key == "late_jobs")
    assert queue.count == 1 and queue.rows[0][0] == "bad-job"
    # Before planned time + grace, nothing is late (bad-job planned 08:30, grace 120 min).
    early = noon - timedelta(hours=1, minutes=31)
    assert [s.name for s in job_runs.late_jobs(early)] == []


def test_a_job_not_even_enqueued_by_its_expected_time_is_late(schedule):
    evening = DAY + timedelta(hours=10)
    assert {s.name for s in job_runs.late_jobs(evening)} == {"ok-job", "bad-job"}


def test_leases_one_holder_at_a_time_and_a_dead_holder_is_taken_over():
    first = job_runs.acquire_lock("purge", timedelta(minutes=5))
    with pytest.raises(job_runs.LockBusy):
        job_runs.acquire_lock("purge", timedelta(minutes=5))
    later = utcnow() + timedelta(minutes=6)
    second = job_runs.acquire_lock("purge", timedelta(minutes=5), now=later)
    assert second != first
    job_runs.release_lock("purge", first)  # the old holder's release does not free it
    with pytest.raises(job_runs.LockBusy):
        job_runs.acquire_lock("purge", timedelta(minutes=5), now=later)
    job_runs.release_lock("purge", second)
    job_runs.release_lock("purge", job_runs.acquire_lock("purge", timedelta(minutes=5)))


def test_the_scheduled_jobs_screen_is_for_admins(schedule, staff_client):
    scheduler.tick(DAY)
    admin = staff_client("Admin")
    page = admin.get("/scheduled-jobs/")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'id="job-ok-job"' in html and "agency down" in html
    # Times in Europe/Brussels, written the reader's way.
    run = _runs()["ok-job"]
    local = run.started_at.astimezone(BUSINESS_TZ)
    assert local.strftime("%-m/%-d/%y, %-I:%M") in html  # en: 12/7/26, 9:00 AM
    from flask import g

    g.pop("_flask_babel", None)  # the test's app context outlives the request: forget "en"
    french = admin.get("/scheduled-jobs/?lang=fr").get_data(as_text=True)
    row = french[french.index('id="job-ok-job"'):][:600]
    assert local.strftime("%-d/%m/%y %H:%M") in french, row  # fr_BE: 7/12/26 09:00
    for role in ("Credit manager", "AR clerk", "Compliance officer", "Read-only"):
        response = staff_client(role).get("/scheduled-jobs/")
        assert response.status_code in (302, 403), role


def test_a_run_left_running_by_a_dead_process_is_interrupted(app, schedule, monkeypatch):
    """The embedded default runs jobs in a thread of its own process: after a restart, what
    the old process left "running" will never finish."""
    run_id = job_runs.claim_slot("ok-job", DAY.date())
    job_runs.record_start(run_id)
    monkeypatch.setattr(scheduler, "PROCESS_STARTED", utcnow() + timedelta(seconds=1))
    monkeypatch.setitem(app.config, "JOBS_MODE", "thread")
    scheduler.check_late(DAY)
    run = _runs()["ok-job"]
    assert run.status == "interrupted" and run.finished_at is not None and run.error


def test_the_thread_mode_records_start_end_and_result_too(app, schedule, monkeypatch):
    import time

    monkeypatch.setitem(app.config, "JOBS_MODE", "thread")
    assert scheduler.tick(DAY) == ["ok-job", "bad-job"]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and any(r.status not in job_runs.FINISHED
                                              for r in _runs().values()):
        time.sleep(0.1)
    runs = _runs()
    assert runs["ok-job"].status == "succeeded" and runs["ok-job"].finished_at
    assert runs["bad-job"].status == "failed" and "agency down" in runs["bad-job"].error
