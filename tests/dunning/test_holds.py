"""Reminder holds (app/dunning/holds.py): the engine waits while one is in force."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from app.dunning.engine import evaluate
from app.dunning.holds import (
    HoldRefused,
    ReminderHold,
    hold_reminders,
    holds_of,
    release_hold,
    release_holds,
)
from app.dunning.runs import run
from app.extensions import db
from app.notifications.models import Message
from tests.dunning.conftest import consumer, day, overdue, texts, today

pytestmark = pytest.mark.usefixtures("defaults")


def decision_for(customer, on=None):
    [decision] = evaluate(on or today(), customer_ids=[customer.id]).decisions
    return decision


def test_a_customer_hold_stops_reminders_until_its_date_then_they_resume():
    customer = consumer()
    overdue(customer, 30)
    hold_reminders(customer.id, until=day(5), reason="Customer replied: already paid",
                   source="inbound:reply:1")
    db.session.commit()

    decision = decision_for(customer)
    assert decision.outcome == "excluded"
    assert "Customer replied: already paid" in texts(decision.reasons)
    assert run(today()).counts.get("remind", 0) == 0
    assert db.session.scalars(select(Message)).all() == []
    assert decision_for(customer, day(6)).outcome == "remind"


def test_released_hold_no_longer_holds_and_releasing_twice_is_harmless():
    customer = consumer()
    overdue(customer, 30)
    hold = hold_reminders(customer.id, until=day(10), reason="reply", source="inbound:reply:2")
    db.session.commit()
    assert decision_for(customer).outcome == "excluded"
    release_hold(hold.id, by="staff:1")
    release_hold(hold.id, by="staff:2")
    db.session.commit()
    assert hold.released_by == "staff:1"
    assert holds_of(customer.id) == []
    assert decision_for(customer).outcome == "remind"


def test_an_invoice_hold_leaves_only_that_invoice_out():
    customer = consumer()
    held = overdue(customer, 30, total="70.00")
    other = overdue(customer, 30, total="90.00")
    hold_reminders(customer.id, invoice_ids=[held.id], until=day(3), reason="Peppol: paid",
                   source="peppol:response:9")
    db.session.commit()
    decision = decision_for(customer)
    assert decision.outcome == "remind"
    assert [i.invoice.id for i in decision.listed] == [other.id]
    left_out = next(i for i in decision.invoices if i.invoice.id == held.id)
    assert left_out.status == "excluded" and "Peppol: paid" in texts(left_out.reasons)


def test_holding_again_for_the_same_source_extends_instead_of_duplicating():
    customer = consumer()
    first = hold_reminders(customer.id, until=day(3), reason="reply", source="inbound:x")
    db.session.commit()
    again = hold_reminders(customer.id, until=day(8), reason="reply again", source="inbound:x")
    db.session.commit()
    assert again.id == first.id and again.until == day(8)
    assert len(db.session.scalars(select(ReminderHold)).all()) == 1
    other = hold_reminders(customer.id, until=day(2), reason="peppol", source="peppol:1")
    db.session.commit()
    assert other.id != first.id
    assert release_holds(customer.id, by="test", source_prefix="inbound:") == 1
    db.session.commit()
    assert [h.source for h in holds_of(customer.id)] == ["peppol:1"]


def test_nonsense_holds_are_refused():
    customer = consumer()
    with pytest.raises(HoldRefused):
        hold_reminders(customer.id, until=day(-1), reason="x", source="y")
    with pytest.raises(HoldRefused):
        hold_reminders(customer.id, until=day(1), reason=" ", source="y")
    with pytest.raises(HoldRefused):
        hold_reminders(customer.id, invoice_ids=[], until=day(1), reason="x", source="y")
