"""The purge's batches: statements per batch bounded by the parts that have work (not by the
number of customers or of categories), one hold check per batch, and rows only a later run can
see (due after the planning) purged by that run."""
from __future__ import annotations

from contextlib import contextmanager

import pytest
from sqlalchemy import event, func, select

from app.customers.models import Address, Contact, Customer
from app.extensions import db
from app.retention import purge
from app.retention.categories import ANONYMISED_NAME, PLACEHOLDER
from tests.helpers import make_customer
from tests.retention.conftest import LONG_AGO

pytestmark = pytest.mark.usefixtures("rules")


@contextmanager
def statements():
    seen: list[str] = []

    def count(_conn, _cursor, statement, *_args):
        seen.append(" ".join(statement.split()))

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", count)


def _plain_customers(n: int) -> list[int]:
    """Customers that left long ago with only a name, an e-mail and one contact."""
    ids = []
    for i in range(n):
        customer = make_customer(name=f"Client {i}", email=f"c{i}@example.test")
        customer.relationship_ended_on = LONG_AGO
        db.session.add(Contact(customer=customer, name=f"Contact {i}", email=f"k{i}@example.test"))
        db.session.flush()
        ids.append(customer.id)
    db.session.commit()
    return ids


def _batch_statements(seen: list[str]) -> list[str]:
    """What ran inside batches: from each hold check to its run's bookkeeping update."""
    found, inside = [], False
    for sql in seen:
        if sql.startswith("SELECT legal_hold.customer_id") and "UNION" in sql:
            inside = True
        if inside:
            found.append(sql)
        if sql.startswith("UPDATE retention_run SET") and "heartbeat_at" in sql:
            inside = False
    return found


def test_statements_per_batch_do_not_grow_with_the_batch_or_unused_categories():
    ids = _plain_customers(12)
    with statements() as seen:
        outcome = purge.execute(triggered_by="test", batch_size=4)
    assert outcome.subjects == 12 and outcome.batches == 3
    inside = _batch_statements(seen)
    per_batch = len(inside) / outcome.batches
    # hold check, relationship ends, the parts with work (contact delete with its pointers,
    # e-mails on customer and contact, the customer row), tombstones, run, lease: not one
    # statement per category (there are ten) nor per customer.
    assert per_batch <= 15, inside[:20]
    holds_checks = [s for s in inside if s.startswith("SELECT legal_hold.customer_id")]
    assert len(holds_checks) == outcome.batches  # one UNION per batch, not one per kind
    # the run's progress and heartbeat: one UPDATE per batch
    assert len([s for s in inside if s.startswith("UPDATE retention_run")]) == outcome.batches
    assert not [s for s in inside if s.startswith(("SELECT", "UPDATE", "DELETE"))
                and any(t in s for t in (" message ", " dunning_action ", " write_off ",
                                         " online_checkout "))]
    db.session.expire_all()
    names = set(db.session.scalars(select(Customer.name).where(Customer.id.in_(ids))))
    assert names == {ANONYMISED_NAME}
    assert db.session.scalar(select(func.count(Contact.id)).where(
        Contact.customer_id.in_(ids))) == 0


def test_a_row_due_after_the_planning_waits_for_the_next_run(monkeypatch):
    """The plan says which parts have work for whom; an address added between the planning and
    the batch, for a customer the plan found no address for, is left to the next run, which
    purges it (nothing is lost, nothing half-done)."""
    [customer_id] = _plain_customers(1)
    planned = purge.plan

    def plan_then_add(*args, **kwargs):
        found = planned(*args, **kwargs)
        db.session.add(Address(customer_id=customer_id, line1="Rue Tardive 1", postal_code="1000",
                               city="Bruxelles"))
        db.session.commit()
        return found

    monkeypatch.setattr(purge, "plan", plan_then_add)
    first = purge.execute(triggered_by="test")
    assert first.subjects == 1
    assert set(db.session.scalars(select(Address.line1).where(
        Address.customer_id == customer_id))) == {"Rue Tardive 1"}
    monkeypatch.setattr(purge, "plan", planned)
    again = purge.execute(triggered_by="test")
    assert again.counts["addresses"]["records"] == 1
    db.session.expire_all()
    assert set(db.session.scalars(select(Address.line1).where(
        Address.customer_id == customer_id))) == {PLACEHOLDER}
