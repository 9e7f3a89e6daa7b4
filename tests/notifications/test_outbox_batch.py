"""A batch of messages is written set-wise, and a key queued meanwhile elsewhere is not doubled."""
from __future__ import annotations

from decimal import Decimal

from sqlalchemy import event, func, insert, inspect, select

from app.core.models import utcnow
from app.core.time import business_today
from app.extensions import db
from app.notifications.models import Message
from app.notifications.outbox import prepare_batch, queue_message
from tests.helpers import make_customer


def _queue(customer, key: str):
    return queue_message(customer, event="payment_received", template_key="payment_received",
                         context={"payment_amount": Decimal("10.00"),
                                  "payment_date": business_today(), "balance": Decimal("0.00"),
                                  "invoices": []},
                         idempotency_key=key, channels=["email"])


def test_a_batch_is_one_insert_and_reads_no_row_per_message(defaults):
    customers = [make_customer(language=lang, email=f"c{n}@example.test")
                 for n, lang in enumerate(("fr", "nl", "en") * 4)]
    db.session.commit()
    db.session.expire_all()  # as after a batch job's previous commit
    statements: list[str] = []

    def seen(conn, cursor, statement, *args):
        statements.append(statement.lstrip()[:40])

    event.listen(db.engine, "before_cursor_execute", seen)
    try:
        prepare_batch(customers, [f"batch:{c.id}" for c in customers])
        reads = len(statements)
        messages = [m for c in customers for m in _queue(c, f"batch:{c.id}")]
        db.session.commit()
    finally:
        event.remove(db.engine, "before_cursor_execute", seen)
    # The batch's reads happen up front; the twelve messages are then written by one INSERT
    # (the commit also delivers them here: jobs run at once in tests). Before that INSERT only
    # the templates (one per language) and a few settings are read, not rows per message.
    inserts = [n for n, s in enumerate(statements) if s.startswith("INSERT INTO message ")]
    assert len(inserts) == 1
    assert len(statements[reads:inserts[0]]) <= 10
    assert all(m.id is not None for m in messages)
    rows = db.session.scalars(select(Message).order_by(Message.id)).all()
    assert [(m.recipient, m.language) for m in rows] == [
        (c.email, c.language) for c in customers]
    assert all(m.subject and m.body_text for m in rows)


def test_a_key_queued_by_another_process_meanwhile_is_not_written_twice(defaults):
    customer = make_customer(language="en", email="anna@example.test")
    db.session.commit()
    prepare_batch([customer], ["race:1"])  # the key is free when the batch is prepared ...
    [mine] = _queue(customer, "race:1")
    # ... and another process queues the same event before this transaction commits.
    with db.engine.begin() as other:
        other.execute(insert(Message).values(
            customer_id=customer.id, channel="email", recipient="anna@example.test",
            language="en", event="payment_received", subject="first", body_text="first",
            attachments=[], status="queued", attempts=0, idempotency_key="race:1:email",
            created_at=utcnow(), next_attempt_at=utcnow()))
    db.session.commit()  # no error: the repeated key is skipped
    assert mine.id is None
    assert db.session.scalar(select(func.count()).select_from(Message)) == 1
    assert db.session.scalar(select(Message.subject)) == "first"
    # Queued again later, the event finds the existing message instead of a new one.
    [again] = _queue(customer, "race:1")
    assert again.subject == "first"


def test_a_rolled_back_batch_leaves_no_message_behind(defaults):
    customer = make_customer(language="en", email="bob@example.test")
    db.session.commit()
    [message] = _queue(customer, "rollback:1")
    db.session.flush()  # written (one INSERT), then the caller's transaction fails
    assert message.id is not None
    db.session.rollback()
    assert inspect(message).transient  # forgotten, as any row inserted by a rolled-back flush
    assert db.session.scalar(select(func.count()).select_from(Message)) == 0
    [again] = _queue(customer, "rollback:1")  # the event, retried, queues its message anew
    db.session.commit()
    assert again.id is not None and again.recipient == "bob@example.test"


def test_the_written_row_keeps_every_value_and_a_too_long_one_is_refused(defaults):
    """The batch INSERT (one array per column on PostgreSQL) writes what the ORM would: JSON,
    timestamps with their zone, NULLs; a value too long for its column is an error, never
    cut short (a cut idempotency key could fold two messages into one)."""
    import pytest
    from sqlalchemy.exc import DataError

    customer = make_customer(language="fr", email="zoe@example.test")
    db.session.commit()
    [message] = queue_message(customer, event="payment_received",
                              template_key="payment_received",
                              context={"payment_amount": Decimal("10.00"),
                                       "payment_date": business_today(),
                                       "balance": Decimal("0.00"), "invoices": []},
                              idempotency_key="values:1", channels=["email"],
                              attachments=[{"invoice_id": 7}])
    before = utcnow()
    db.session.flush()
    row = db.session.execute(select(Message.__table__).where(
        Message.id == message.id)).one()._mapping
    assert row["attachments"] == [{"invoice_id": 7}]
    assert row["recipient"] == "zoe@example.test" and row["status"] == "queued"
    assert row["idempotency_key"] == "values:1:email" and row["attempts"] == 0
    assert row["sent_at"] is None and row["print_batch_id"] is None
    assert abs((row["created_at"] - before).total_seconds()) < 60  # zone-aware, same instant
    db.session.rollback()
    if db.engine.dialect.name != "postgresql":
        return  # SQLite does not enforce a string column's length
    _queue(customer, "x" * 130)  # 130 + ":email" > 120 characters
    with pytest.raises(DataError):
        db.session.flush()
    db.session.rollback()
