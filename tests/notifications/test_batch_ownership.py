"""A delivery job and the rest of its batch: one statement per message (its outcome), and which
messages are still the job's own is asked once every REFRESH_SECONDS for the whole rest of the
batch; a message the sweep gave to another job meanwhile is left alone."""
from __future__ import annotations

from sqlalchemy import event, select, update

from app.extensions import db
from app.notifications import jobs as delivery
from app.notifications import outbox
from app.notifications.models import Message
from app.notifications.outbox import queue_message
from plugins.email_smtp.channel import SmtpChannel
from tests.helpers import make_customer


def _queued(monkeypatch, n: int) -> list[int]:
    """n messages queued and committed, their delivery not started (the test runs it)."""
    customer = make_customer()
    with monkeypatch.context() as patch:
        patch.setattr(outbox, "enqueue_delivery", lambda ids: None)
        for i in range(n):
            queue_message(customer, event="payment_received", template_key="account_settled",
                          context={"settled_on": customer.created_at.date()},
                          idempotency_key=f"ownership-{i}", channels=["email"])
        db.session.commit()
    return list(db.session.scalars(select(Message.id).order_by(Message.id)))


def test_a_batch_writes_one_statement_per_message(use_smtp, monkeypatch):
    ids = _queued(monkeypatch, 20)
    updates: list[str] = []

    def seen(conn, cursor, statement, *args):
        if statement.lstrip().upper().startswith("UPDATE MESSAGE"):
            updates.append(statement)

    event.listen(db.engine, "before_cursor_execute", seen)
    try:
        outcomes = delivery.deliver_messages(ids)
    finally:
        event.remove(db.engine, "before_cursor_execute", seen)
    assert set(outcomes.values()) == {"sent"}
    assert len(use_smtp.handler.messages) == 20
    assert len(updates) == 1 + 20  # the claim, then each outcome before the next hand-over


def test_a_message_given_to_another_job_meanwhile_is_left_alone(use_smtp, monkeypatch):
    first, second, third = _queued(monkeypatch, 3)
    monkeypatch.setattr(delivery, "REFRESH_SECONDS", 0.0)  # ask before every hand-over
    send = SmtpChannel.send

    def send_and_lose_the_third(self, message):
        if message.id == first:
            # Meanwhile the sweep put the third back and another job took it (attempt 2).
            with db.engine.begin() as other:
                other.execute(update(Message).where(Message.id == third)
                              .values(attempts=Message.attempts + 1))
        return send(self, message)

    monkeypatch.setattr(SmtpChannel, "send", send_and_lose_the_third)
    outcomes = delivery.deliver_messages([first, second, third])
    assert outcomes == {first: "sent", second: "sent", third: "skipped"}
    assert len(use_smtp.handler.messages) == 2
    db.session.expire_all()
    assert db.session.get(Message, third).status == "sending"  # the other job's, untouched
