"""The purge's batches: statements per batch bounded by the parts that have work (not by the
number of customers or of categories), one hold check per batch, and rows only a later run can
see (due after the planning) purged by that run."""
from __future__ import annotations

from contextlib import contextmanager
from datetime import date, timedelta

import pytest
from sqlalchemy import event, func, select

from app.customers.models import Address, Contact, Customer
from app.extensions import db
from app.retention import purge
from app.retention.categories import ANONYMISED_NAME, PLACEHOLDER
from app.retention.models import RetentionTombstone
from tests.helpers import make_customer
from tests.retention.conftest import LONG_AGO, rich_customer

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


def _holds_check(sql: str) -> bool:
    """A batch's first read: its customers, their ends of relationship and the holds among
    them (one UNION)."""
    return (sql.startswith("SELECT subject.id, subject.relationship_ended_on")
            and "FROM legal_hold" in sql and "UNION" in sql)


def _batch_statements(seen: list[str]) -> list[str]:
    """What ran inside batches: from each hold check to its run's bookkeeping update."""
    found, inside = [], False
    for sql in seen:
        if _holds_check(sql):
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
    # holds and relationship ends (one read), the parts with work (contact delete with its
    # pointers, the customer row; the contacts' e-mails have gone with them), tombstones, run,
    # lease: not one statement per category (there are ten) nor per customer.
    assert per_batch <= 10, inside[:20]
    assert not [s for s in inside if s.startswith("UPDATE contact ")]
    customer_writes = [s for s in inside if s.startswith("UPDATE customer ")
                       or s.startswith("WITH") and " UPDATE customer " in s]
    if db.engine.dialect.name == "postgresql":  # e-mails and anonymisation in one UPDATE
        assert len(customer_writes) == outcome.batches, customer_writes
    else:
        assert len(customer_writes) == 2 * outcome.batches, customer_writes
    holds_checks = [s for s in inside if _holds_check(s)]
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


def test_the_customer_row_is_written_once_with_what_each_category_did():
    """Contact details and the anonymisation both change the customer row: one statement on
    PostgreSQL, and each customer's tombstone and the run's counts still say which of them
    applied (each part's condition is checked on the row as it was)."""
    both = rich_customer(name="Anna Both")
    books_only = rich_customer(name="Bert Books")
    books_only.email = books_only.phone = None
    details_only = rich_customer(name="Carl Details", issued=date.today() - timedelta(days=400))
    db.session.commit()
    with statements() as seen:
        outcome = purge.execute(triggered_by="test")
    assert outcome.subjects == 3
    db.session.expire_all()
    assert [db.session.get(Customer, c.id).name for c in (both, books_only, details_only)] \
        == [ANONYMISED_NAME, ANONYMISED_NAME, "Carl Details"]
    assert db.session.scalars(select(Customer.email).where(Customer.id.in_(
        [both.id, books_only.id, details_only.id]))).all() == [None, None, None]
    categories = {t.subject: t.categories for t in db.session.scalars(
        select(RetentionTombstone).where(RetentionTombstone.run_id == outcome.run_id))}
    assert {"contact_details", "invoices"} <= set(categories[f"customer:{both.id}"])
    assert "invoices" in categories[f"customer:{books_only.id}"]
    assert "contact_details" not in categories[f"customer:{books_only.id}"]
    assert "contact_details" in categories[f"customer:{details_only.id}"]
    assert "invoices" not in categories[f"customer:{details_only.id}"]
    assert outcome.counts["contact_details"]["subjects"] == 2
    assert outcome.counts["contact_details"]["records"] == 2  # the contacts went before
    writes = [s for s in seen if s.startswith("UPDATE customer ")
              or s.startswith("WITH") and " UPDATE customer " in s]
    assert len(writes) == (1 if db.engine.dialect.name == "postgresql" else 2), writes
