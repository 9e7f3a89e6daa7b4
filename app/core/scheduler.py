"""The daily scheduler: enqueues each job of app.jobs.SCHEDULE once per business day.

Production runs it as its own process (`flask creditdesk scheduler`, the docker-compose
"scheduler" service); `python run.py` runs the same loop in a background thread. The date of
the last run is kept in the database, so a restart never runs a job twice on the same day, and
a scheduler that was down at the planned time catches up when it comes back.
"""
from __future__ import annotations

import logging
import threading
from datetime import datetime

from flask import Flask
from sqlalchemy import select

from app.core.models import Setting
from app.core.time import BUSINESS_TZ
from app.extensions import db
from app.jobs import FREQUENT, SCHEDULE, ScheduledJob, enqueue

log = logging.getLogger(__name__)
_KEY = "scheduler.last_run.{}"


def due_jobs(now: datetime) -> list[ScheduledJob]:
    """The scheduled jobs whose time has come today and that have not run today."""
    local = now.astimezone(BUSINESS_TZ)
    today = local.date().isoformat()
    due = []
    for job in SCHEDULE:
        if local.strftime("%H:%M") < job.at:
            continue
        row = db.session.scalar(select(Setting).where(Setting.key == _KEY.format(job.name)))
        if row is None or row.value != today:
            due.append(job)
    return due


def tick(now: datetime | None = None) -> list[str]:
    """Enqueue what is due; returns the names enqueued. Safe to call as often as wanted."""
    now = now or datetime.now(BUSINESS_TZ)
    today = now.astimezone(BUSINESS_TZ).date().isoformat()
    started = []
    for job in due_jobs(now):
        key = _KEY.format(job.name)
        row = db.session.scalar(select(Setting).where(Setting.key == key))
        if row is None:
            row = Setting(key=key, category="scheduler",
                          description="Date the scheduler last enqueued this job")
            db.session.add(row)
        row.value = today
        db.session.commit()  # recorded before enqueueing: at most once a day, even on a crash
        enqueue(job.func, job_id=f"{job.name}:{today}")
        started.append(job.name)
        log.info("scheduled job %s enqueued for %s", job.name, today)
    return started


def run_forever(app: Flask, interval_seconds: int = 30, stop: threading.Event | None = None) -> None:
    stop = stop or threading.Event()
    while not stop.is_set():
        with app.app_context():
            try:
                tick()
                for func in FREQUENT:
                    enqueue(func)
            except Exception:  # keep the scheduler alive; the failure is in the log
                log.exception("scheduler tick failed")
            finally:
                db.session.remove()
        stop.wait(interval_seconds)


def start_in_thread(app: Flask, interval_seconds: int = 30) -> threading.Event:
    stop = threading.Event()
    thread = threading.Thread(target=run_forever, args=(app, interval_seconds, stop),
                              name="creditdesk-scheduler", daemon=True)
    thread.start()
    return stop
