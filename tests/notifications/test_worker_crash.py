"""kill -9 of a real RQ worker mid-batch: every message arrives, at most one extra copy per kill.

Needs a real Redis (TEST_REDIS_URL; CI sets it in its second pass) and starts real worker
processes on the test database.
"""
from __future__ import annotations

import asyncio
import os
import time
from collections import Counter

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.notifications.channels import message_id_for
from app.notifications.jobs import deliver_due_messages
from app.notifications.models import Message
from app.notifications.outbox import queue_message
from tests.conftest import _TMP, database_url
from tests.helpers import make_customer
from tests.notifications.conftest import SmtpServer, configure_plugin
from tests.notifications.workers import kill_hard, start_worker, stop

REDIS_URL = os.environ.get("TEST_REDIS_URL")
pytestmark = pytest.mark.skipif(not REDIS_URL, reason="needs a real Redis: set TEST_REDIS_URL "
                                                       "(CI sets it in its second pass)")
TOTAL = 1000


class SlowServer(SmtpServer):
    """Takes a few milliseconds per mail, like a real server, so the kill lands mid-batch."""

    def __init__(self) -> None:
        super().__init__()
        accept = self.handler.handle_DATA

        async def slow(server, session, envelope):
            await asyncio.sleep(0.004)
            return await accept(server, session, envelope)

        self.handler.handle_DATA = slow


def _wait(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _statuses() -> Counter:
    db.session.rollback()  # see the workers' commits
    return Counter(dict(db.session.execute(
        select(Message.status, func.count(Message.id)).group_by(Message.status)).all()))


def test_kill_9_mid_batch_loses_nothing(app, defaults, monkeypatch, tmp_path):
    from redis import Redis
    from rq import Worker

    Redis.from_url(REDIS_URL).flushdb()
    server = SlowServer().start()
    workers = []
    try:
        configure_plugin("email_smtp", host="127.0.0.1", port=server.port)
        customers = [make_customer() for _ in range(50)]
        instance = str(_TMP / "instance")
        workers = [start_worker(database_url(), REDIS_URL, instance, tmp_path / f"w{n}.log")
                   for n in range(2)]

        monkeypatch.setitem(app.config, "JOBS_MODE", "rq")
        monkeypatch.setitem(app.config, "REDIS_URL", REDIS_URL)
        keys = []
        for n in range(TOTAL):
            customer = customers[n % len(customers)]
            key = f"crash-test-{n}"
            queue_message(customer, event="payment_received", template_key="account_settled",
                          context={"settled_on": customer.created_at.date()},
                          idempotency_key=key, channels=["email"])
            keys.append(f"{key}:email")
        db.session.commit()  # the delivery jobs are enqueued after this commit

        connection = Redis.from_url(REDIS_URL)

        def first_worker_busy():
            busy = {w.pid for w in Worker.all(connection=connection) if w.state == "busy"}
            return len(server.handler.messages) >= TOTAL // 4 and workers[0].pid in busy

        _wait(first_worker_busy, 120, "the first worker to be busy sending")
        kill_hard(workers[0])  # kill -9 in the middle of the batch
        received_at_kill = len(server.handler.messages)
        assert received_at_kill < TOTAL, "the batch finished before the kill"
        workers[0] = start_worker(database_url(), REDIS_URL, instance, tmp_path / "w2.log")

        # The surviving workers finish what is queued; what the dead one had taken stays
        # "sending" until the sweep, run here without waiting the usual minutes.
        def settled():
            statuses = _statuses()
            idle = all(w.state == "idle" for w in Worker.all(connection=connection))
            return (idle and connection.llen("rq:queue:default") == 0
                    and statuses["queued"] == 0
                    and statuses["sent"] + statuses["sending"] == TOTAL)

        _wait(settled, 120, "the queue to drain")
        stuck = _statuses()["sending"]
        assert stuck >= 1, "the kill left nothing half-done: it did not land mid-batch"
        deliver_due_messages(stuck_after_seconds=0)
        _wait(lambda: _statuses()["sent"] == TOTAL, 120, "every message to be sent")
    finally:
        for worker in workers:
            stop(worker)
        server.stop()

    received = Counter(server.handler.message_ids())
    ids = dict(db.session.execute(select(Message.idempotency_key, Message.id)).all())
    expected = {message_id_for(key, "localhost", ids[key]) for key in keys}
    assert set(received) == expected  # all 1,000 distinct Message-IDs, nothing else
    extra = sum(received.values()) - TOTAL
    assert extra <= 1, f"{extra} extra copies for one kill"
    print(f"received at kill: {received_at_kill}, left sending by the dead worker: {stuck}, "
          f"extra copies: {extra}")
