"""The delivery outcome's commit: on PostgreSQL it does not wait for the WAL flush, on its own
connection only; the connection goes back to the pool as it came, and the outcome is seen by
every other session at once (a killed worker loses nothing)."""
from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import select, text

from app.core.time import business_today
from app.extensions import db
from app.notifications.jobs import Recorder
from app.notifications.models import Message
from app.notifications.outbox import queue_message
from tests.helpers import make_customer


def _setting(connection) -> str:
    return connection.execute(text("SHOW synchronous_commit")).scalar()


@pytest.mark.usefixtures("defaults")
def test_outcome_seen_at_once_and_the_pooled_connection_is_left_as_it_was(app):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("synchronous_commit is PostgreSQL's")
    customer = make_customer(email="sync@example.test")
    [message] = queue_message(customer, event="payment_received",
                              template_key="payment_received",
                              context={"payment_amount": Decimal("10.00"),
                                       "payment_date": business_today(),
                                       "balance": Decimal("0.00"), "invoices": []},
                              idempotency_key="sync-commit-1", channels=["email"])
    db.session.commit()
    recorder = Recorder()
    try:
        recorder.record(message, status="sent", error=None)
        assert _setting(recorder._conn) == "off"
        with db.engine.connect() as other:  # another session sees the outcome at once
            assert other.execute(select(Message.status).where(
                Message.id == message.id)).scalar() == "sent"
            assert _setting(other) == "on"
    finally:
        recorder.close()
    # Every pooled connection (the Recorder's included) is back to the server's default.
    connections = [db.engine.connect() for _ in range(3)]
    try:
        assert {_setting(c) for c in connections} == {"on"}
    finally:
        for c in connections:
            c.close()
