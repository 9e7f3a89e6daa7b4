"""Background jobs: one ``enqueue()`` for the whole product, three ways to run what it queues.

* ``rq``     production: RQ on Redis (REDIS_URL), workers started by ``flask creditdesk worker``.
* ``thread`` the embedded default: a single in-process worker thread, no Redis needed.
* ``sync``   tests: the job runs before enqueue() returns, in its own app context.

Jobs are module-level functions that take ids and primitives, never ORM objects, and are
idempotent (see DESIGN.md). Every mode runs them inside an app context pushed here, in one place.
"""
from __future__ import annotations

import importlib
import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from flask import Flask, current_app

from app.core import job_runs

log = logging.getLogger(__name__)

_executor_lock = threading.Lock()



@dataclass(frozen=True)
class ScheduledJob:
    """A job the scheduler enqueues once a day at ``at`` (HH:MM, Europe/Brussels)."""

    name: str
    at: str
    func: str


# Each domain's daily jobs (the dunning run, retention purge, ...).
SCHEDULE: list[ScheduledJob] = [
    ScheduledJob("refresh-balances", "02:30", "app.customers.jobs.refresh_all_balances"),
    ScheduledJob("message-sweep", "03:00", "app.notifications.jobs.deliver_due_messages"),
    ScheduledJob("payment-messages", "07:00", "app.payments.jobs.send_pending_payment_messages"),
    ScheduledJob("contract-renewals", "07:00",
                 "app.notifications.services.send_contract_renewal_notices"),
    ScheduledJob("instalment-notices", "07:15", "app.notifications.services.send_instalment_notices"),
    # Broken promises and plans, whoever the dunning run looks at (idempotent; H2).
    ScheduledJob("promises-check", "08:00", "app.requests.plans.check_promises"),
    # Risk signals before the dunning run: flags for staff, a friendly proposal once a month.
    ScheduledJob("risk-signals", "06:30", "app.selfservice.risk.refresh_risk_flags"),
    ScheduledJob("dunning-run", "08:30", "app.dunning.jobs.run_daily"),
    ScheduledJob("retention-purge", "04:00", "app.retention.jobs.daily"),
    # The staff pages' costly figures (snapshots that say how fresh they are), ready before the
    # first view of the day instead of computed by it; the dunning run refreshes its own after.
    ScheduledJob("dso-figures", "06:00", "app.insights.aging.refresh_dso_today"),
    ScheduledJob("dry-run-figures", "08:15", "app.dunning.jobs.refresh_dry_run_figures"),
]


# Jobs the scheduler enqueues on every tick (about every 30 s), not once a day: the outbox
# sweep delivers messages whose delivery job was lost or whose worker was killed mid-send.
FREQUENT: list[str] = ["app.notifications.jobs.deliver_due_messages"]
# The scheduler's records read the schedule from job_runs (core cannot import this module).
job_runs.register_schedule(SCHEDULE)
# Approved credit notes of business customers get their Peppol e-invoice (built, validated, sent).
FREQUENT.append("app.einvoicing.jobs.issue_credit_note_documents")
FREQUENT.append("app.einvoicing.jobs.refresh_access_point_statuses")
# Documents the access point received for us (invoice responses), polled: the webhook's fallback.
FREQUENT.append("app.einvoicing.jobs.poll_access_point_inbox")
# A new refund bank account becomes usable as soon as its cool-off has passed.
FREQUENT.append("app.customers.bank_accounts.activate_cooled_off_accounts")
# Customers' e-mail replies: the AR mailbox is read on every tick (nothing when none is set).
FREQUENT.append("app.inbound.polling.poll_mailboxes")


def init_app(app: Flask) -> None:
    app.extensions["creditdesk_jobs"] = {"executor": None}


def func_path(func: Callable | str) -> str:
    if isinstance(func, str):
        return func
    return f"{func.__module__}.{func.__qualname__}"


def resolve(path: str) -> Callable:
    module_name, _, attr = path.rpartition(".")
    return getattr(importlib.import_module(module_name), attr)


def redis_connection(app: Flask | None = None):
    from redis import Redis

    app = app or current_app
    return Redis.from_url(app.config["REDIS_URL"])


def enqueue(func: Callable | str, *args: Any, job_id: str | None = None,
            queue: str = "default", scheduled_run_id: int | None = None,
            **kwargs: Any) -> str | Future | None:
    """Queue ``func(*args, **kwargs)`` to run in the background; returns the job id or future.

    ``scheduled_run_id`` (the scheduler's app.core.job_runs row) makes the wrapper record the
    job's start, end and result on that row, in every mode.
    """
    app = current_app._get_current_object()
    mode = app.config.get("JOBS_MODE", "thread")
    path = func_path(func)
    if mode == "rq":
        from rq import Queue, Retry

        if scheduled_run_id is not None:
            kwargs = {**kwargs, RUN_ID_KWARG: scheduled_run_id}
        rq_queue = Queue(queue, connection=redis_connection(app))
        # RQ takes positional arguments or explicit args= / kwargs=, not both.
        job = rq_queue.enqueue(
            run_in_app_context, args=(path, *args), kwargs=kwargs, job_id=job_id,
            retry=Retry(max=3, interval=[10, 60, 300]),
        )
        return job.id
    if mode == "sync":
        run_with_app(app, path, args, kwargs, scheduled_run_id)
        return job_id
    return _thread_executor(app).submit(run_with_app, app, path, args, kwargs, scheduled_run_id)


def _thread_executor(app: Flask) -> ThreadPoolExecutor:
    state = app.extensions["creditdesk_jobs"]
    with _executor_lock:
        if state["executor"] is None:
            state["executor"] = ThreadPoolExecutor(max_workers=1, thread_name_prefix="creditdesk-job")
    return state["executor"]


def run_with_app(app: Flask, path: str, args: tuple, kwargs: dict,
                 scheduled_run_id: int | None = None) -> Any:
    with app.app_context():
        try:
            return _run_recorded(path, args, kwargs, scheduled_run_id)
        except Exception:
            log.exception("job %s failed", path)
            raise


# The keyword that carries the scheduler's run id through RQ to run_in_app_context.
RUN_ID_KWARG = "_creditdesk_scheduled_run_id"


def _run_recorded(path: str, args: tuple, kwargs: dict, scheduled_run_id: int | None) -> Any:
    """Run the job (inside an app context); for a scheduled job, record start, end and result."""
    token = job_runs.current_job.set(path)
    try:
        if scheduled_run_id is None:
            return resolve(path)(*args, **kwargs)
        from app.extensions import db

        job_runs.record_start(scheduled_run_id)
        try:
            result = resolve(path)(*args, **kwargs)
        except BaseException as exc:
            db.session.rollback()  # the record goes on a connection of its own: no lock held
            job_runs.record_failure(scheduled_run_id, exc)
            raise
        db.session.rollback()  # the job committed what it meant to; nothing left to hold
        job_runs.record_success(scheduled_run_id, result)
        return result
    finally:
        job_runs.current_job.reset(token)


# --- RQ side -------------------------------------------------------------------------------
_worker_app: Flask | None = None


def run_in_app_context(path: str, *args: Any, **kwargs: Any) -> Any:
    """What RQ executes: the real job, inside the worker's app context.

    The worker command builds the app before forking; a job run by a plain ``rq worker``
    builds it once on first use.
    """
    global _worker_app
    if _worker_app is None:
        from app import create_app

        _worker_app = create_app()
    scheduled_run_id = kwargs.pop(RUN_ID_KWARG, None)
    with _worker_app.app_context():
        return _run_recorded(path, args, kwargs, scheduled_run_id)


# Waits between two attempts to reach Redis again: doubled each time, at most this.
RECONNECT_FIRST_SECONDS = 1.0
RECONNECT_MAX_SECONDS = 60.0


def start_worker(app: Flask, queues: list[str], burst: bool = False) -> bool:
    """Run an RQ worker in this process for ``app`` (used by ``flask creditdesk worker``).

    RQ's worker leaves its loop (and the process would exit) when Redis goes away outside the
    wait for a job. This loop starts it again with a capped exponential back-off, so workers
    come back by themselves when Redis does; only a stop request (SIGTERM, Ctrl-C) ends it.
    """
    import signal
    import time

    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError
    from rq import Worker
    from rq.exceptions import StopRequested

    from app.extensions import db

    global _worker_app
    _worker_app = app

    class AppWorker(Worker):
        def perform_job(self, job, queue):  # runs in the forked work horse
            with app.app_context():
                # Connections inherited from the parent must not be shared across the fork.
                db.engine.dispose(close=False)
            return super().perform_job(job, queue)

    stop = threading.Event()
    delay = RECONNECT_FIRST_SECONDS
    while True:
        began = time.monotonic()
        try:
            worker = AppWorker(queues, connection=redis_connection(app))  # talks to Redis too
            worked = worker.work(burst=burst, with_scheduler=True)
            if burst or worker._shutdown_requested_date is not None:
                return worked  # finished its burst, or asked to stop (SIGTERM, Ctrl-C)
            problem = "the worker loop ended"
        except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
            problem = f"{type(exc).__name__}: {exc}"
        except StopRequested:
            return False
        if burst:
            return False
        if time.monotonic() - began > 5 * RECONNECT_MAX_SECONDS:
            delay = RECONNECT_FIRST_SECONDS  # it had been working: a new outage starts small
        log.warning("worker: Redis unreachable (%s); reconnecting in %.0f s", problem, delay)
        # RQ's own handlers are gone with its loop: a stop request during the wait ends here.
        previous = {sig: signal.signal(sig, lambda *_: stop.set())
                    for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            stop.wait(delay)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        if stop.is_set():
            log.info("worker: stop requested while waiting for Redis")
            return False
        delay = min(delay * 2, RECONNECT_MAX_SECONDS)
