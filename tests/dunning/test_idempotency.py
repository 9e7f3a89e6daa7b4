"""Running a date twice, crashing halfway, or only looking (dry run)."""
from __future__ import annotations

import pytest
from sqlalchemy import delete, func, select, update

from app.core.portal_access import PortalAccess
from app.dunning.engine import evaluate
from app.dunning.models import DunningAction, DunningActionInvoice, DunningRun
from app.dunning.runs import run
from app.extensions import db
from app.invoices.models import Invoice
from app.notifications.models import Message
from app.requests.models import Deferral
from tests.dunning.conftest import (
    business,
    consumer,
    count,
    day,
    outcome_snapshot,
    overdue,
    remind_state,
    today,
)

pytestmark = pytest.mark.usefixtures("defaults")


class Crash(RuntimeError):
    pass


def _population():
    """Seven customers in different situations, some with several invoices."""
    for n in range(5):
        customer = consumer(name=f"Consumer {n}", language=("fr", "nl", "en")[n % 3])
        overdue(customer, 10 + n, total=f"{100 + n}.00")
        if n % 2:
            old = overdue(customer, 50, total="250.00")
            remind_state(old, level=1, reminded_days_ago=20)
    company = business(name="Company")
    overdue(company, 30, total="1200.00")
    overdue(business(name="Company FR", country="FR", language="fr"), 12, total="75.00")


REMINDER_COLUMNS = ("dunning_level", "last_reminded_on", "last_reminder_effective_on",
                    "dunning_fees_from", "dunning_fees")


def _reminder_state() -> dict[int, dict]:
    return {invoice.id: {column: getattr(invoice, column) for column in REMINDER_COLUMNS}
            for invoice in db.session.scalars(select(Invoice))}


def _forget_every_run(state: dict[int, dict]) -> None:
    """Back to ``state``, before any run (to compare with a clean run on the same data)."""
    db.session.execute(delete(DunningActionInvoice))
    db.session.execute(update(DunningAction).values(message_id=None))
    db.session.execute(delete(DunningAction))
    db.session.execute(delete(DunningRun))
    db.session.execute(delete(Message))
    db.session.execute(delete(PortalAccess))
    for invoice_id, values in state.items():
        db.session.execute(update(Invoice).where(Invoice.id == invoice_id).values(**values))
    db.session.commit()


def test_a_crash_after_a_batch_and_a_rerun_give_the_result_of_one_clean_run():
    _population()
    initial = _reminder_state()

    def crash_after_first_batch(number):
        if number == 1:
            raise Crash("worker killed")

    with pytest.raises(Crash):
        run(today(), batch_size=3, after_batch=crash_after_first_batch)
    db.session.expire_all()
    assert count(DunningAction) == 3  # the first batch was committed, nothing of the rest
    assert db.session.scalar(select(DunningRun.status)) == "failed"

    resumed = run(today(), batch_size=3)
    assert resumed.counts["done"] == 3 and resumed.counts["remind"] == 4
    after_crash = outcome_snapshot()
    assert db.session.scalar(select(func.count()).select_from(DunningRun)) == 1
    assert db.session.scalar(select(DunningRun.status)) == "done"

    _forget_every_run(initial)
    assert count(Message) == 0 and all(v["dunning_level"] in (0, 1) for v in initial.values())
    run(today(), batch_size=100)
    assert outcome_snapshot() == after_crash
    assert len(after_crash["actions"]) == 7
    assert len(after_crash["messages"]) == 7


def test_running_the_same_date_again_changes_nothing():
    _population()
    run(today())
    first = outcome_snapshot()
    run(today())
    assert outcome_snapshot() == first
    assert count(DunningRun) == 1


def test_a_dry_run_changes_nothing():
    _population()
    customer = consumer(name="Promise")
    invoice = overdue(customer, 30)
    db.session.add(Deferral(customer=customer, invoice=invoice,
                            original_due_date=invoice.due_date, new_due_date=day(-2)))
    db.session.commit()
    before = (outcome_snapshot(), count(DunningRun), count(PortalAccess),
              db.session.scalar(select(Deferral.status)))

    evaluation = evaluate(today())

    assert evaluation.counts["remind"] == 8
    db.session.rollback()
    after = (outcome_snapshot(), count(DunningRun), count(PortalAccess),
             db.session.scalar(select(Deferral.status)))
    assert after == before
    assert before[3] == "active"
