"""The daily scheduler: enqueues each job of app.jobs.SCHEDULE once per business day.

Production runs it as its own process (`flask creditdesk scheduler`, the docker-compose
"scheduler" service); `python run.py` runs the same loop in a background thread. Several
scheduler processes may run at once: each job's day is a row of ``scheduled_job_run`` taken with
one atomic insert-if-absent (app.core.job_runs.claim_slot), so exactly one of them enqueues it.
The slot counts as "ran today" only once the queue accepted the job; when the enqueue fails
(Redis down) the slot is given back and the next tick tries again. A scheduler that was down at
the planned time catches up when it comes back.
"""
from __future__ import annotations

import logging
import threading
from datetime import datetime

from flask import Flask, current_app

from app.core import job_runs
from app.core.models import utcnow
from app.core.time import BUSINESS_TZ
from app.extensions import db
from app.jobs import FREQUENT, SCHEDULE, ScheduledJob, enqueue

log = logging.getLogger(__name__)

PROCESS_STARTED = utcnow()
# (job, date) pairs already reported late by this process: one log warning a day, not a tick.
_warned: set[tuple[str, str]] = set()


def rq_job_id(job: ScheduledJob, day: str) -> str:
    """RQ 2 accepts only letters, digits, "-" and "_" in a job id (no ":")."""
    return f"{job.name}-{day}"


def due_jobs(now: datetime) -> list[ScheduledJob]:
    """The scheduled jobs whose time has come today (whether they ran is the slot's business)."""
    local = now.astimezone(BUSINESS_TZ)
    return [job for job in SCHEDULE if local.strftime("%H:%M") >= job.at]


def tick(now: datetime | None = None) -> list[str]:
    """Enqueue what is due and not enqueued yet today; returns the names enqueued.

    Safe to call as often as wanted, from as many processes as wanted.
    """
    now = now or datetime.now(BUSINESS_TZ)
    today = now.astimezone(BUSINESS_TZ).date()
    started = []
    for job in due_jobs(now):
        run_id = job_runs.claim_slot(job.name, today)
        if run_id is None:
            continue  # enqueued today already, by this scheduler or another one
        job_id = rq_job_id(job, today.isoformat())
        try:
            enqueue(job.func, job_id=job_id, scheduled_run_id=run_id)
        except Exception:
            # Not "ran today": the next tick (here or in another scheduler) enqueues it.
            if job_runs.release_slot(run_id):
                log.exception("scheduled job %s for %s could not be enqueued; retried at the "
                              "next tick", job.name, today)
                continue
            # It had started: run inline (sync mode) and failed, which its row records.
            log.warning("scheduled job %s for %s failed", job.name, today)
        job_runs.confirm_enqueued(run_id, job_id)
        started.append(job.name)
        log.info("scheduled job %s enqueued for %s", job.name, today)
    return started


def check_late(now: datetime | None = None) -> list[str]:
    """Daily jobs not finished by their expected time: a log warning (once a day per job).

    Staff see them on the Scheduled jobs screen and in "My work today". In RQ mode, a run left
    "running" by a killed worker is first marked interrupted.
    """
    app = current_app._get_current_object()
    if app.config.get("JOBS_MODE") == "thread":
        # The in-process runner died with its process: what it left running is interrupted.
        job_runs.mark_interrupted(job_runs.running_before(PROCESS_STARTED),
                                  "the process running it stopped before it finished")
    elif app.config.get("JOBS_MODE") == "rq":
        try:
            from app.jobs import redis_connection

            job_runs.find_interrupted_rq(redis_connection(app))
        except Exception:  # Redis down: the enqueue path already says so
            db.session.rollback()
            log.debug("could not look for interrupted jobs", exc_info=True)
    late = job_runs.late_jobs(now)
    today = (now or utcnow()).astimezone(BUSINESS_TZ).date().isoformat()
    _warned.difference_update({key for key in _warned if key[1] != today})
    for state in late:
        key = (state.name, state.planned.date().isoformat())
        if key in _warned:
            continue
        _warned.add(key)
        status = state.today.status if state.today is not None else "not enqueued"
        log.warning("scheduled job %s is late: planned at %s, expected to have finished by %s, "
                    "status %s", state.name, state.at, state.expected_by.strftime("%H:%M"),
                    status)
    return [state.name for state in late]


def _enqueue_frequent() -> None:
    for func in FREQUENT:
        enqueue(func)


def run_forever(app: Flask, interval_seconds: int = 30, stop: threading.Event | None = None) -> None:
    stop = stop or threading.Event()
    while not stop.is_set():
        with app.app_context():
            # Each step on its own: Redis being down must not stop the late-job check.
            for step in (tick, _enqueue_frequent, check_late):
                try:
                    step()
                except Exception:  # keep the scheduler alive; the failure is in the log
                    db.session.rollback()
                    log.exception("scheduler step %s failed", step.__name__)
            db.session.remove()
        stop.wait(interval_seconds)


def start_in_thread(app: Flask, interval_seconds: int = 30) -> threading.Event:
    stop = threading.Event()
    thread = threading.Thread(target=run_forever, args=(app, interval_seconds, stop),
                              name="creditdesk-scheduler", daemon=True)
    thread.start()
    return stop
