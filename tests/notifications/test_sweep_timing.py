"""The sweep's "stuck" delay against a measured send time: a message whose worker died goes out
again after about 2 minutes (it was 10), and a live send is never taken for a dead one."""
from __future__ import annotations

import asyncio
import time
from datetime import timedelta

from sqlalchemy import select, update

from app.core.models import utcnow
from app.core.settings import get_setting
from app.extensions import db
from app.notifications import jobs as delivery
from app.notifications.models import Message
from app.notifications.outbox import queue_message
from tests.helpers import make_customer
from tests.notifications.conftest import configure_plugin

SEND_SECONDS = 0.05  # a remote SMTP relay accepting a message: tens of milliseconds


def _slow(server) -> None:
    accept = server.handler.handle_DATA

    async def slow(srv, session, envelope):
        await asyncio.sleep(SEND_SECONDS)
        return await accept(srv, session, envelope)

    server.handler.handle_DATA = slow


def _queue(n: int) -> list[Message]:
    customer = make_customer()
    messages = []
    for i in range(n):
        messages += queue_message(customer, event="payment_received",
                                  template_key="account_settled",
                                  context={"settled_on": customer.created_at.date()},
                                  idempotency_key=f"sweep-timing-{i}", channels=["email"])
    return messages


def test_a_hand_over_takes_a_small_fraction_of_the_stuck_delay(defaults, smtp_server,
                                                               monkeypatch):
    _slow(smtp_server)
    configure_plugin("email_smtp", host="127.0.0.1", port=smtp_server.port, security="none")
    began: dict[int, float] = {}
    took: list[float] = []
    still_ours, record = delivery.Recorder.still_ours, delivery.Recorder.record

    def timed_still_ours(self, message):
        began[message.id] = time.perf_counter()
        return still_ours(self, message)

    def timed_record(self, message, **values):
        if values.get("status") == "sent":
            took.append(time.perf_counter() - began[message.id])
        return record(self, message, **values)

    monkeypatch.setattr(delivery.Recorder, "still_ours", timed_still_ours)
    monkeypatch.setattr(delivery.Recorder, "record", timed_record)
    _queue(100)
    started = time.perf_counter()
    db.session.commit()  # sync mode: the delivery jobs run here
    delivery.deliver_due_messages()
    batch_seconds = time.perf_counter() - started
    assert len(took) == 100
    stuck_after = int(get_setting("notifications.stuck_after_minutes")) * 60
    assert stuck_after == 120
    slowest = max(took)
    print(f"hand-over: slowest {slowest * 1000:.0f} ms, batch of 100 {batch_seconds:.1f} s, "
          f"stuck after {stuck_after} s")
    # A live send is far from being taken for a dead one, and so is a whole batch waiting its
    # turn (its messages' clock starts when the batch is taken).
    assert slowest < stuck_after / 20
    assert batch_seconds < stuck_after / 4


def test_a_message_whose_worker_died_goes_out_again_after_two_minutes(defaults, use_smtp):
    messages = _queue(2)
    db.session.commit()
    db.session.execute(update(Message).values(status="queued", sent_at=None))
    db.session.commit()
    # Both were taken by a worker that died mid-send: one 3 minutes ago, one 1 minute ago.
    for message, minutes in zip(messages, (3, 1), strict=True):
        db.session.execute(update(Message).where(Message.id == message.id).values(
            status="sending", sending_started_at=utcnow() - timedelta(minutes=minutes)))
    db.session.commit()
    delivery.deliver_due_messages()
    db.session.expire_all()
    statuses = dict(db.session.execute(select(Message.id, Message.status)).all())
    assert statuses == {messages[0].id: "sent", messages[1].id: "sending"}
