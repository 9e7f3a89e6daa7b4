"""Delivering the outbox: exactly once per message, never lost.

A message goes queued → sending → sent (or failed). Each step is committed before the next side
effect, so whatever kills a worker:

* killed before taking the message: it is still "queued"; the sweep (deliver_due_messages)
  queues a job for it again;
* killed while handing it over (between "sending" and "sent"): the sweep puts it back to
  "queued" once it has been "sending" for longer than ``notifications.stuck_after_minutes``.
  The receiver may then get a second copy, with the same Message-ID / idempotency key, so it
  can fold it: that is the only duplicate possible, one per kill;
* two jobs for the same message (a retry, the sweep, a double enqueue): only the one whose
  "queued → sending" update changes the row sends; the other sees it is taken and stops.

A job takes its batch in one update and writes each message's outcome (one autocommit UPDATE)
before it hands the next one over: whatever kills it, at most the message in hand is
uncertain. While it works through the batch it restarts the "sending" clock of the messages
it has not sent yet every REFRESH_SECONDS, in one update that also tells which of them are
still its own (not put back by the sweep and taken by another job); a hand-over begins at most
REFRESH_SECONDS after that clock restarted, so the sweep's delay (2 minutes) minus
REFRESH_SECONDS is what a hand-over may take before its message could be sent twice. (Before
issue 22 the clock restarted with an UPDATE before every message: a second round trip per
message for the same guarantee.)

Transient errors put the message back to "queued" with a growing delay (next_attempt_at);
permanent errors, or too many attempts, mark it "failed" with the error for staff, who can send
it again from the admin (same row, same Message-ID).
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import Update, bindparam, or_, select, tuple_, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import joinedload
from sqlalchemy.orm.attributes import set_committed_value

from app.core.models import utcnow
from app.core.sets import one_of
from app.core.settings import get_setting
from app.extensions import db
from app.notifications.channels import DeliveryError, PermanentError, PluginPool
from app.notifications.models import Message
from app.notifications.outbox import (
    DELIVERY_BATCH,
    SecretExpired,
    enqueue_delivery,
    revealed,
    sealed_bodies,
)
from app.notifications.withdrawal import is_moot

log = logging.getLogger(__name__)

# Seconds to wait before attempt 2, 3, ...; the last value repeats.
BACKOFF_SECONDS = (60, 300, 900, 3600, 3 * 3600, 6 * 3600, 12 * 3600)


def backoff(attempts: int) -> timedelta:
    """The wait after the ``attempts``-th failed attempt (1 → one minute)."""
    index = min(max(attempts, 1), len(BACKOFF_SECONDS)) - 1
    return timedelta(seconds=BACKOFF_SECONDS[index])


def deliver_message(message_id: int) -> str:
    """Deliver one message; returns what happened: sent, retry, failed or skipped."""
    return deliver_messages([message_id])[message_id]


def deliver_messages(message_ids: list[int]) -> dict[int, str]:
    """Deliver a batch of messages, reusing one connection per channel for the batch.

    The batch is taken in one update (queued → sending); then each message is sent and its
    outcome committed before the next one is sent, so a crash leaves at most the message in
    hand uncertain.
    """
    ids = [int(i) for i in message_ids]
    outcomes = {message_id: "skipped" for message_id in ids}
    claimed_at = time.monotonic()  # before the claim: the clock it starts is no older
    claimed = _claim(ids, utcnow())
    if not claimed:
        return outcomes  # sent, failed, waiting for their retry time, or taken by another job
    session = db.session()
    messages = session.scalars(select(Message).options(joinedload(Message.customer))
                               .where(one_of(Message.id, claimed)).order_by(Message.id)
                               .execution_options(populate_existing=True)).all()
    # Each outcome is committed on its own; keeping the loaded batch unexpired across those
    # commits saves reloading every message of the batch after each one.
    expire_on_commit, session.expire_on_commit = session.expire_on_commit, False
    pool, recorder = PluginPool(), Recorder()
    recorder.take(messages, claimed_at)
    # Read with the batch, not once per message: the few sealed secrets of the batch.
    sealed = sealed_bodies(claimed)
    position = 0
    try:
        for position, message in enumerate(messages):
            outcomes[message.id] = _deliver_one(message, pool, recorder,
                                                sealed.get(message.id))
    except BaseException:  # an error, RQ's job timeout, a cold shutdown of the worker
        # Give back what this job took but never tried, so it goes out without waiting for
        # the sweep; the message in hand stays "sending" for the sweep to decide.
        _release([m.id for m in messages[position + 1:]])
        raise
    finally:
        pool.close()
        recorder.close()
        session.expire_on_commit = expire_on_commit
    return outcomes


def _release(ids: list[int]) -> None:
    if not ids:
        return
    try:
        db.session.rollback()
        db.session.execute(update(Message).where(one_of(Message.id, ids),
                                                 Message.status == "sending")
                           .values(status="queued", attempts=Message.attempts - 1)
                           .execution_options(synchronize_session=False))
        db.session.commit()
    except Exception:  # best effort: the sweep re-queues them anyway
        log.exception("could not give back messages %s", ids)


def _claim(ids: list[int], now: datetime) -> list[int]:
    """queued → sending, committed; returns the ids this job took."""
    claimed = db.session.scalars(
        update(Message)
        .where(one_of(Message.id, ids), Message.status == "queued",
               or_(Message.next_attempt_at.is_(None), Message.next_attempt_at <= now))
        .values(status="sending", sending_started_at=now, attempts=Message.attempts + 1)
        .returning(Message.id)
        .execution_options(synchronize_session=False)
    ).all()
    db.session.commit()
    return list(claimed)


# Waits between tries to write an outcome when the database is momentarily unavailable (a
# lock held by another writer on SQLite, a failover on PostgreSQL). A message already handed
# over must be recorded as sent, or the sweep would send it a second time.
RECORD_RETRY_SECONDS = (0.2, 0.5, 1, 2, 5, 10, 20)


_OUTCOME_STATEMENTS: dict[tuple[str, ...], Update] = {}


def _outcome_statement(names: tuple[str, ...]) -> Update:
    """UPDATE message SET <names> WHERE id = :m_id, built once per set of columns: a worker
    writes one per message, and building the statement cost more than running it."""
    statement = _OUTCOME_STATEMENTS.get(names)
    if statement is None:
        statement = _OUTCOME_STATEMENTS[names] = (
            update(Message).where(Message.id == bindparam("m_id"))
            .values({name: bindparam(f"v_{name}") for name in names}))
    return statement


# A job restarts the "sending" clock of the rest of its batch this often (see the top).
REFRESH_SECONDS = 10.0


class Recorder:
    """Writes each message's outcome at once, in its own transaction.

    One autocommit UPDATE on a connection kept for the batch is one round trip to the
    database (instead of BEGIN, UPDATE, COMMIT and a pool check-out): at thousands of messages
    that is most of a worker's time.

    On PostgreSQL these commits do not wait for the WAL to reach the disk (``synchronous_commit
    off`` on this connection only, reset before it goes back to the pool): a commit is still
    atomic and seen by every other session at once, and a worker killed after it loses
    nothing; only a crash of the database server itself within a fraction of a second could
    forget the last outcomes, and those messages would then be sent again with their same
    Message-ID — the duplicate a killed worker can already cause, never a lost message (the
    "sending" claim before the hand-over is committed durably, as before). Two flushes of the
    WAL per message were what a worker waited for most (issue 22).
    """

    def __init__(self) -> None:
        self._conn = None
        self._waiting: dict[int, int] = {}  # message id -> attempts, taken and not yet done
        self._refreshed = 0.0  # time.monotonic() of the last clock restart (or the claim)

    def take(self, messages: Iterable[Message], claimed_at: float) -> None:
        """The batch this job claimed (at ``claimed_at``, time.monotonic())."""
        self._waiting = {m.id: m.attempts for m in messages}
        self._refreshed = claimed_at

    def record(self, message: Message, **values) -> None:
        for wait in (*RECORD_RETRY_SECONDS, None):
            try:
                if db.session.new or db.session.dirty or db.session.deleted:
                    db.session.commit()  # rows a plugin wrote, e.g. a letter's print batch
                self._connect()
                self._conn.execute(_outcome_statement(tuple(values)),
                                   {"m_id": message.id,
                                    **{f"v_{name}": value for name, value in values.items()}})
                break
            except OperationalError:
                db.session.rollback()
                self.close()
                if wait is None:
                    raise
                log.warning("message %s: database busy, recording %s again in %ss",
                            message.id, values.get("status"), wait)
                time.sleep(wait)
        self._waiting.pop(message.id, None)
        for name, value in values.items():  # the loaded copy agrees, without a reload
            set_committed_value(message, name, value)

    def still_ours(self, message: Message) -> bool:
        """Right before the hand-over: is the message still this job's?

        The batch was taken at once; while it is worked through, the sweep may have given a
        message to another job (this one looked stuck). Then this job leaves it alone. Asked
        of the database once every REFRESH_SECONDS for all the batch's waiting messages,
        restarting their clock; in between, the sweep cannot have taken any of them.
        """
        if time.monotonic() - self._refreshed >= REFRESH_SECONDS:
            self._refresh()
        return message.id in self._waiting

    def _refresh(self) -> None:
        started = time.monotonic()
        self._connect()
        waiting = list(self._waiting.items())
        ours: set[int] = set()
        for start in range(0, len(waiting), 500):
            chunk = waiting[start:start + 500]
            ours.update(self._conn.scalars(
                update(Message).where(tuple_(Message.id, Message.attempts).in_(chunk),
                                      Message.status == "sending")
                .values(sending_started_at=utcnow()).returning(Message.id)))
        self._waiting = {k: v for k, v in waiting if k in ours}
        self._refreshed = started

    def _connect(self) -> None:
        if self._conn is None:
            self._conn = db.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            if self._conn.dialect.name == "postgresql":
                self._conn.exec_driver_sql("SET synchronous_commit TO OFF")

    def close(self) -> None:
        if self._conn is not None:
            try:
                if self._conn.dialect.name == "postgresql":
                    self._conn.exec_driver_sql("RESET synchronous_commit")
            except Exception:  # noqa: BLE001 (never back to the pool with the setting on)
                self._conn.invalidate()
            try:
                self._conn.close()
            except Exception:  # noqa: BLE001, S110 (the pool discards a broken connection)
                pass
            self._conn = None


def _deliver_one(message: Message, pool: PluginPool, recorder: Recorder,
                 sealed: str | None = None) -> str:
    if not recorder.still_ours(message):
        return "skipped"
    if is_moot(message.event, message.idempotency_key, message.customer_id):
        recorder.record(message, status="withdrawn", next_attempt_at=None,
                        error="every invoice it reminds was settled before it was sent")
        log.info("message %s withdrawn: its invoices were settled", message.id)
        return "withdrawn"
    try:
        name, plugin = pool.get(message.channel)
        # A message carrying a secret is stored with it hidden: the real text exists only
        # while the plugin hands it over (outbox.revealed).
        with revealed(message, sealed):
            provider_id = plugin.send(message)
    except SecretExpired as exc:
        _fail(message, str(exc), recorder)
        return "failed"
    except PermanentError as exc:
        pool.discard(message.channel)
        _fail(message, str(exc), recorder)
        return "failed"
    except Exception as exc:  # DeliveryError(transient) or anything unexpected: try later
        pool.discard(message.channel)
        db.session.rollback()
        if not isinstance(exc, DeliveryError):
            log.exception("message %s: unexpected error while sending", message.id)
        return _retry_later(message, f"{type(exc).__name__}: {exc}"
                            if not isinstance(exc, DeliveryError) else str(exc), recorder)
    recorder.record(message, status="sent", provider=name,
                    provider_message_id=str(provider_id)[:200] if provider_id else None,
                    sent_at=utcnow(), error=None, next_attempt_at=None,
                    print_batch_id=message.print_batch_id, sealed_body=None)
    return "sent"


def _fail(message: Message, error: str, recorder: Recorder) -> None:
    recorder.record(message, status="failed", error=error[:4000], next_attempt_at=None,
                    sealed_body=None)  # a secret given up on is forgotten
    log.warning("message %s failed: %s", message.id, error)


def _retry_later(message: Message, error: str, recorder: Recorder) -> str:
    if message.attempts >= int(get_setting("notifications.max_attempts")):
        _fail(message, f"gave up after {message.attempts} attempts: {error}", recorder)
        return "failed"
    when = utcnow() + backoff(message.attempts)
    recorder.record(message, status="queued", error=error[:4000], next_attempt_at=when)
    log.info("message %s: attempt %s failed (%s); next attempt at %s", message.id,
             message.attempts, error, when.isoformat())
    schedule_retry(message.id, when)
    return "retry"


def schedule_retry(message_id: int, when: datetime) -> None:
    """Ask the job runner to try again at ``when``; the sweep is the safety net if it forgets."""
    app = current_app._get_current_object()
    mode = app.config.get("JOBS_MODE", "thread")
    try:
        if mode == "rq":
            from rq import Queue

            from app.jobs import redis_connection, run_in_app_context

            Queue("default", connection=redis_connection(app)).enqueue_at(
                when, run_in_app_context, "app.notifications.jobs.deliver_message", message_id)
        elif mode == "thread":
            delay = max((when - utcnow()).total_seconds(), 0)
            timer = threading.Timer(delay, _enqueue_in_app, args=(app, message_id))
            timer.daemon = True
            timer.start()
        # "sync" (tests): nothing runs later by itself; tests call deliver_due_messages().
    except Exception:
        log.exception("could not schedule the retry of message %s", message_id)


def _enqueue_in_app(app, message_id: int) -> None:
    with app.app_context():
        enqueue_delivery([message_id])


def requeue_stuck(now: datetime | None = None, stuck_after: timedelta | None = None) -> int:
    """Messages left "sending" by a worker that died mid-send go back to "queued"."""
    now = now or utcnow()
    if stuck_after is None:
        stuck_after = timedelta(minutes=int(get_setting("notifications.stuck_after_minutes")))
    result = db.session.execute(
        update(Message)
        .where(Message.status == "sending", Message.sending_started_at <= now - stuck_after)
        .values(status="queued", next_attempt_at=now,
                error="the worker sending it stopped; sent again with the same Message-ID")
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    if result.rowcount:
        log.warning("%s message(s) stuck in sending were queued again", result.rowcount)
    return result.rowcount


def deliver_due_messages(stuck_after_seconds: float | None = None, limit: int = 5000) -> int:
    """The sweep: re-queue stuck messages, then queue delivery jobs for every due message.

    Safe to run as often as wanted (every minute in production) and at the same time as the
    workers: a message already taken by a job is skipped by the second one.
    """
    stuck_after = (timedelta(seconds=stuck_after_seconds)
                   if stuck_after_seconds is not None else None)
    requeue_stuck(stuck_after=stuck_after)
    now = utcnow()
    ids = list(db.session.scalars(
        select(Message.id).where(Message.status == "queued",
                                 or_(Message.next_attempt_at.is_(None),
                                     Message.next_attempt_at <= now))
        .order_by(Message.id).limit(limit)))
    db.session.commit()
    for start in range(0, len(ids), DELIVERY_BATCH):
        enqueue_delivery(ids[start:start + DELIVERY_BATCH])
    return len(ids)


def resend_failed(messages: Iterable[Message | None]) -> tuple[int, int, int]:
    """Staff's "Send again" on a selection (Messages sent): only a failed message goes out
    again, and not one that carried a sign-in link or code (wiped once sending failed: the
    customer asks for a new one). Returns (queued again, secret, left as they are); the caller
    commits, after which the outbox queues their delivery."""
    from app.notifications.outbox import SECRET_EVENTS

    done = secret = skipped = 0
    for message in messages:
        if message is None or message.status != "failed":
            skipped += 1
        elif message.event in SECRET_EVENTS:
            secret += 1
        else:
            resend(message)
            done += 1
    return done, secret, skipped


def resend(message: Message) -> None:
    """Staff send a failed message again: same row, same Message-ID (the caller commits)."""
    message.status = "queued"
    message.next_attempt_at = utcnow()
    message.attempts = 0
    from app.notifications.outbox import _remember

    _remember(db.session(), message)
