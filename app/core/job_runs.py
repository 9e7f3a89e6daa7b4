"""What the scheduler enqueued and how each daily job ended; leases for one-at-a-time jobs.

One ``ScheduledJobRun`` row per (job, business date) is the day's slot: the scheduler takes it
with one atomic insert-if-absent on that unique pair, so however many scheduler processes tick
at the same instant, exactly one of them enqueues the job. The row then follows the job:
queued (enqueued_at set once the queue really accepted it) → running → succeeded / failed, or
interrupted when the process running it died. A slot whose enqueue failed (Redis down) is
given back, so the next tick tries again.

``JobLock`` is a lease with a heartbeat: the dunning run and the retention purge take one so
that a second run started in parallel stops with a clear message, and a run whose process died
(no heartbeat for a while) is taken over by the next one.
"""
from __future__ import annotations

import logging
import os
import socket
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from flask_appbuilder import Model
from flask_babel import lazy_gettext as _l
from sqlalchemy import Date, Integer, String, Text, UniqueConstraint, delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from app.core.models import UTCDateTime, utcnow
from app.core.settings import get_setting, register_setting
from app.core.time import BUSINESS_TZ
from app.extensions import db

log = logging.getLogger(__name__)

# The job running in this thread/context (its dotted path), set by app.jobs around every job:
# the audit trail's actor for jobs (app.core.audit).
current_job: ContextVar[str | None] = ContextVar("creditdesk_current_job", default=None)

register_setting("scheduler.late_after_minutes", 120, "minutes",
                 _l("Minutes after its planned time by which a daily job must have finished "
                    "(later: an alert on the Scheduled jobs screen and in My work today)"),
                 "scheduler")
register_setting("scheduler.retry_claim_after_minutes", 5, "minutes",
                 _l("Minutes after which a scheduler that took a job's daily slot but never "
                    "confirmed the enqueue is assumed dead (another scheduler enqueues it)"),
                 "scheduler")

STATUS_LABELS = {
    "queued": _l("queued"),
    "running": _l("running"),
    "succeeded": _l("succeeded"),
    "failed": _l("failed"),
    "interrupted": _l("interrupted"),
}
FINISHED = ("succeeded", "failed", "interrupted")


class ScheduledJobRun(Model):
    """One daily job on one business date: its enqueue, start, end and result."""

    __tablename__ = "scheduled_job_run"
    __table_args__ = (UniqueConstraint("job_name", "business_date",
                                       name="uq_scheduled_job_run_day"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job_name: Mapped[str] = mapped_column(String(60))
    business_date: Mapped[date] = mapped_column(Date, index=True)
    status: Mapped[str] = mapped_column(String(20), default="queued")
    claimed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    enqueued_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    rq_job_id: Mapped[str | None] = mapped_column(String(100))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    result: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)

    def __repr__(self) -> str:
        return f"{self.job_name} {self.business_date}"


class JobLock(Model):
    """A lease held by the one process doing a job that must not run twice at once."""

    __tablename__ = "job_lock"
    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    holder: Mapped[str] = mapped_column(String(100))
    acquired_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    heartbeat_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


def process_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"[:100]


def _insert_if_absent(model, values: dict):
    """One atomic INSERT that does nothing when the unique key exists.

    Returns the new row's primary key, or None when the row existed. Committed at once, with
    no read before it in the transaction (see claim_slot).
    """
    dialect = db.session.get_bind().dialect.name
    key = next(iter(model.__table__.primary_key.columns))
    if dialect in ("postgresql", "sqlite"):
        if dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert
        # RETURNING tells whether the row went in (rowcount is -1 here with psycopg 3).
        inserted = db.session.execute(insert(model).values(**values).on_conflict_do_nothing()
                                      .returning(key)).first()
        db.session.commit()
        return inserted[0] if inserted is not None else None
    try:  # other databases: the unique index decides
        with db.session.begin_nested():
            result = db.session.execute(model.__table__.insert().values(**values))
        db.session.commit()
        return result.inserted_primary_key[0]
    except IntegrityError:
        db.session.rollback()
        return None


# --- the scheduler's daily slots ----------------------------------------------------------------

def claim_slot(job_name: str, business_date: date, now: datetime | None = None) -> int | None:
    """Take the day's slot of a job: its run id, or None when another scheduler has it."""
    now = now or utcnow()
    holder = process_name()
    stale = now - timedelta(minutes=int(get_setting("scheduler.retry_claim_after_minutes")))
    # No read left open before the writes: on SQLite, a read lock upgraded to a write lock
    # while another process writes is refused at once ("database is locked").
    db.session.commit()
    run_id = _insert_if_absent(ScheduledJobRun, {
        "job_name": job_name, "business_date": business_date, "status": "queued",
        "claimed_at": now, "claimed_by": holder, "attempts": 0})
    if run_id is not None:
        return run_id
    # A scheduler that died between taking the slot and confirming the enqueue: take it over,
    # again in one statement, so only one of several schedulers does.
    taken = db.session.scalars(
        update(ScheduledJobRun)
        .where(ScheduledJobRun.job_name == job_name,
               ScheduledJobRun.business_date == business_date,
               ScheduledJobRun.enqueued_at.is_(None), ScheduledJobRun.started_at.is_(None),
               ScheduledJobRun.claimed_at <= stale)
        .values(claimed_at=now, claimed_by=holder)
        .returning(ScheduledJobRun.id)
        .execution_options(synchronize_session=False)).all()
    db.session.commit()
    return taken[0] if taken else None


def confirm_enqueued(run_id: int, rq_job_id: str | None) -> None:
    db.session.execute(update(ScheduledJobRun).where(ScheduledJobRun.id == run_id)
                       .values(enqueued_at=utcnow(), rq_job_id=rq_job_id)
                       .execution_options(synchronize_session=False))
    db.session.commit()


def release_slot(run_id: int) -> bool:
    """The enqueue failed: give the slot back (unless the job already started, e.g. inline)."""
    db.session.rollback()
    result = db.session.execute(delete(ScheduledJobRun).where(
        ScheduledJobRun.id == run_id, ScheduledJobRun.started_at.is_(None))
        .execution_options(synchronize_session=False))
    db.session.commit()
    return result.rowcount == 1


# --- the job wrapper's records (app.jobs) -------------------------------------------------------
# Written on a connection of their own, in autocommit: the job's own transaction (and its
# rollback on failure) never takes the record with it.

def _record(run_id: int, **values) -> None:
    try:
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(update(ScheduledJobRun).where(ScheduledJobRun.id == run_id)
                         .values(**values))
    except Exception:  # the job itself must not fail because its record could not be written
        log.exception("could not record scheduled run %s: %s", run_id, values.get("status"))


def record_start(run_id: int) -> None:
    now = utcnow()
    _record(run_id, status="running", started_at=now, finished_at=None, error=None,
            attempts=ScheduledJobRun.attempts + 1)


def record_success(run_id: int, result: object) -> None:
    _record(run_id, status="succeeded", finished_at=utcnow(), error=None,
            result=None if result is None else str(result)[:2000])


def record_failure(run_id: int, exc: BaseException) -> None:
    _record(run_id, status="failed", finished_at=utcnow(),
            error=f"{type(exc).__name__}: {exc}"[:4000])


# --- what the staff screen and the alert show ---------------------------------------------------

@dataclass
class JobState:
    name: str
    func: str
    at: str
    planned: datetime  # today's planned time, Europe/Brussels
    expected_by: datetime
    last: ScheduledJobRun | None  # the latest run, whatever its day
    today: ScheduledJobRun | None
    late: bool


def planned_at(at: str, day: date) -> datetime:
    hour, minute = (int(x) for x in at.split(":"))
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=BUSINESS_TZ)


# The daily jobs (app.jobs.SCHEDULE), handed over by app.jobs when it is imported (create_app
# imports it): app.jobs records its runs here, so this module cannot import it back.
SCHEDULE: list = []


def register_schedule(schedule) -> None:
    SCHEDULE[:] = list(schedule)


def job_states(now: datetime | None = None) -> list[JobState]:
    """Each daily job of the schedule with its last run and whether today's run is late."""
    now = (now or utcnow()).astimezone(BUSINESS_TZ)
    today = now.date()
    grace = timedelta(minutes=int(get_setting("scheduler.late_after_minutes")))
    names = [job.name for job in SCHEDULE]
    latest: dict[str, ScheduledJobRun] = {}
    for row in db.session.scalars(
            select(ScheduledJobRun).where(ScheduledJobRun.job_name.in_(names),
                                          ScheduledJobRun.business_date >= today - timedelta(days=7))
            .order_by(ScheduledJobRun.business_date)):
        latest[row.job_name] = row
    for name in set(names) - set(latest):  # not run this week: the newest row, if any
        row = db.session.scalar(select(ScheduledJobRun).where(ScheduledJobRun.job_name == name)
                                .order_by(ScheduledJobRun.business_date.desc()).limit(1))
        if row is not None:
            latest[name] = row
    states = []
    for job in SCHEDULE:
        planned = planned_at(job.at, today)
        last = latest.get(job.name)
        todays = last if last is not None and last.business_date == today else None
        expected_by = planned + grace
        late = now >= expected_by and (todays is None or todays.status != "succeeded")
        states.append(JobState(job.name, job.func, job.at, planned, expected_by, last, todays,
                               late))
    return states


def late_jobs(now: datetime | None = None) -> list[JobState]:
    return [state for state in job_states(now) if state.late]


def recent_runs(limit: int = 50) -> list[ScheduledJobRun]:
    return list(db.session.scalars(select(ScheduledJobRun)
                                   .order_by(ScheduledJobRun.claimed_at.desc(),
                                             ScheduledJobRun.id.desc()).limit(limit)))


def mark_interrupted(run_ids: list[int], reason: str) -> int:
    if not run_ids:
        return 0
    result = db.session.execute(update(ScheduledJobRun).where(
        ScheduledJobRun.id.in_(run_ids), ScheduledJobRun.status == "running")
        .values(status="interrupted", finished_at=utcnow(), error=reason)
        .execution_options(synchronize_session=False))
    db.session.commit()
    return result.rowcount


def running_before(moment: datetime) -> list[int]:
    """Runs still "running" that started before ``moment`` (e.g. before this process did)."""
    ids = list(db.session.scalars(select(ScheduledJobRun.id).where(
        ScheduledJobRun.status == "running", ScheduledJobRun.started_at < moment)))
    db.session.commit()
    return ids


def find_interrupted_rq(connection) -> int:
    """Runs still "running" whose RQ job no longer runs (its worker was killed): interrupted."""
    from rq.exceptions import NoSuchJobError
    from rq.job import Job, JobStatus

    suspects = db.session.execute(select(ScheduledJobRun.id, ScheduledJobRun.rq_job_id).where(
        ScheduledJobRun.status == "running", ScheduledJobRun.rq_job_id.is_not(None))).all()
    dead = []
    for run_id, rq_id in suspects:
        try:
            status = Job.fetch(rq_id, connection=connection).get_status()
        except NoSuchJobError:
            status = None
        if status in (None, JobStatus.FAILED, JobStatus.STOPPED, JobStatus.CANCELED):
            dead.append(run_id)
    db.session.commit()
    return mark_interrupted(dead, "the worker running it stopped before it finished")


# --- leases (dunning run, retention purge) ------------------------------------------------------

class LockBusy(Exception):
    """Another live process holds the lease."""


def acquire_lock(name: str, stale_after: timedelta, now: datetime | None = None) -> str:
    """Take the lease ``name``; returns the holder token. LockBusy when a live process has it.

    A lease whose heartbeat is older than ``stale_after`` belonged to a process that died: it is
    taken over (in one UPDATE, so two newcomers cannot both take it).
    """
    now = now or utcnow()
    holder = f"{process_name()}:{now.timestamp():.6f}"[:100]
    db.session.commit()
    if _insert_if_absent(JobLock, {"name": name, "holder": holder, "acquired_at": now,
                                   "heartbeat_at": now}) is not None:
        return holder
    result = db.session.execute(update(JobLock).where(
        JobLock.name == name, JobLock.heartbeat_at <= now - stale_after)
        .values(holder=holder, acquired_at=now, heartbeat_at=now)
        .execution_options(synchronize_session=False))
    db.session.commit()
    if result.rowcount == 1:
        log.warning("lease %s: the process holding it stopped beating; taken over", name)
        return holder
    raise LockBusy(name)


def heartbeat(name: str, holder: str) -> None:
    """Refresh the lease inside the caller's transaction (committed with the batch)."""
    db.session.execute(update(JobLock).where(JobLock.name == name, JobLock.holder == holder)
                       .values(heartbeat_at=utcnow())
                       .execution_options(synchronize_session=False))


def release_lock(name: str, holder: str) -> None:
    try:
        db.session.rollback()
        db.session.execute(delete(JobLock).where(JobLock.name == name, JobLock.holder == holder)
                           .execution_options(synchronize_session=False))
        db.session.commit()
    except Exception:  # the lease goes stale by itself
        log.exception("could not release lease %s", name)
