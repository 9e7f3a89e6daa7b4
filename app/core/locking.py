"""Decisions taken once, however many people, clicks or processes race for them.

A decision reads, checks a rule, then writes: "is this request still open? then make the plan".
Two staff members (or a customer's double click, or two web processes) doing that at the same
moment both read "still open" and both write, unless the read is made under a lock that is held
until commit. ``lock`` takes that lock, then the rule is checked on what is committed *now*:
the loser waits for the winner's commit, sees its result and is refused with the same message
as if it had come second (never a second plan, a second message or an IntegrityError).

    claim(req, OPEN_STATUSES, _("This request has already been decided."))   # lock + re-check
    lock(customer)                                                          # lock + re-read

How, per database:
* PostgreSQL: ``SELECT … FOR UPDATE OF <table>`` on the rows; other rows are not blocked.
* SQLite: one writer at a time for the whole file. A no-op ``UPDATE`` on the rows makes the
  driver begin the transaction and take the write lock at once, so every read that follows
  sees the last commit and nobody else commits before us (a second decision waits on the busy
  timeout, then reads the first one's result).

After the lock every object the session loaded earlier is expired (pending changes are flushed
first), so relationships and rows read before the lock (the view's request, a customer's
mandates) are read again. Objects inserted by this transaction are kept as they are: nobody
else can see them, and code waiting for the commit (the outbox) still reads them.

Lock order, so that two decisions never wait on each other (deadlock): the request, then the
customer, then the row being decided (mandate, refund, bank account); invoices are locked on
their own (disputes, write-offs) and then the customer, as payments do (invoices, then the
balance on the customer). Nothing here locks a customer before an invoice.
"""
from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Any, TypeVar

from sqlalchemy import Index, event, inspect, select, text, update
from sqlalchemy.orm import Session

from app.core.validation import ValidationError
from app.extensions import db

T = TypeVar("T")
_INSERTED = "locking.inserted"  # session.info: states inserted by the current transaction


@event.listens_for(Session, "pending_to_persistent")
def _inserted(session: Session, instance: Any) -> None:
    session.info.setdefault(_INSERTED, set()).add(inspect(instance))


@event.listens_for(Session, "after_transaction_end")
def _transaction_ended(session: Session, transaction: Any) -> None:
    if transaction.parent is None:
        session.info.pop(_INSERTED, None)


def _expire_loaded(session: Session) -> None:
    """Expire what was read from the database, not what this transaction inserted."""
    inserted = session.info.get(_INSERTED, set())
    for state in list(session.identity_map.all_states()):
        if state not in inserted and state.obj() is not None:
            session.expire(state.obj())


def _primary_key(model: type) -> Any:
    columns = model.__mapper__.primary_key
    if len(columns) != 1:
        raise TypeError(f"{model.__name__}: lock needs a single-column primary key")
    return columns[0]


def lock_rows(model: type[T], ids: Iterable[Any]) -> list[T]:
    """Lock these rows of ``model`` until commit and return them freshly read (missing ids are
    left out), in primary-key order."""
    wanted = sorted({i for i in ids if i is not None})
    if not wanted:
        return []
    session = db.session
    session.flush()
    pk = _primary_key(model)
    if session.get_bind().dialect.name == "sqlite":
        # Core UPDATE (not ORM): no audit or flush listener sees this no-op.
        session.execute(update(pk.table).where(pk.in_(wanted)).values({pk.name: pk}))
    _expire_loaded(session)
    return list(session.scalars(
        select(model).where(pk.in_(wanted)).order_by(pk).with_for_update(of=pk.table)
        .execution_options(populate_existing=True)))


def lock(*objects: Any) -> None:
    """Lock the rows of these (persistent) objects until commit and re-read everything."""
    db.session.flush()  # a new object gets its primary key
    by_model: dict[type, list[Any]] = {}
    for obj in objects:
        if obj is not None:
            by_model.setdefault(type(obj), []).append(obj)
    for model, found in by_model.items():
        lock_rows(model, [inspect(obj).identity[0] for obj in found])


def unique_where(name: str, *columns: str, where: str) -> Index:
    """A unique partial index (PostgreSQL and SQLite): the database's own guarantee behind a
    locked decision, e.g. one plan per request. ``where`` is plain SQL on the table's columns."""
    return Index(name, *columns, unique=True, postgresql_where=text(where),
                 sqlite_where=text(where))


def claim(obj: Any, allowed: Collection[str], refusal: str, *, attribute: str = "status",
          field: str = "status") -> None:
    """Lock ``obj`` and check, on its committed state, that ``attribute`` is still one of
    ``allowed``; else ValidationError({field: refusal}) and nothing is changed.

    The first of two racing decisions wins; the second waits, then gets ``refusal``."""
    lock(obj)
    if getattr(obj, attribute) not in allowed:
        raise ValidationError({field: refusal})
