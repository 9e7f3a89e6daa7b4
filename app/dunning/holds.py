"""Reminder holds: the one place that makes a customer's reminders wait for something.

A hold says "no reminder until <date>, because <reason>" for a whole customer or for some of
its invoices, and who asked for it (``source``: "inbound:reply:12", "peppol:response:7",
"staff:3"...). The dunning engine reads the active holds set-wise (``active_holds``) and leaves
the held customers / invoices out with a reason; the 360° page shows them. A hold ends on its
date by itself, or earlier when it is released (staff, the customer's own action, the bank
line that was awaited).

A hold may say what it ``awaits``: "paid" (the customer said they paid: the bank line), or the
self-service action that settles it — "more_time" (a deferral or a plan), "dispute" (a dispute),
"details" (a change of details). Such a hold is released as soon as that happens, whatever the
door: the payments domain's ``money_booked`` signal (every booking path goes through its
Consequences) and the requests domain's ``request_opened`` signal (every request goes through
open_request) are received here, in the same transaction. The release says why
(``released_by``: "payment", "request:<id>", "staff:<name>") and is shown on the 360° timeline
(app.dunning.timeline).

Holding twice for the same source is idempotent: the open hold is extended, not duplicated,
so a job that runs again changes nothing.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from flask_appbuilder import Model
from sqlalchemy import JSON, Date, ForeignKey, Index, Integer, String, select
from sqlalchemy.orm import Mapped, mapped_column

from app.core.models import UTCDateTime, utcnow
from app.core.sets import where_in
from app.core.time import business_today
from app.extensions import db
from app.payments.signals import money_booked
from app.requests.signals import request_opened


class ReminderHold(Model):
    __tablename__ = "reminder_hold"
    __table_args__ = (Index("ix_reminder_hold_customer_open", "customer_id", "released_at"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"))
    # None: every invoice of the customer; else the ids of the held invoices.
    invoice_ids: Mapped[list | None] = mapped_column(JSON)
    until: Mapped[date] = mapped_column(Date)
    reason: Mapped[str] = mapped_column(String(300))
    source: Mapped[str] = mapped_column(String(80), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    released_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    released_by: Mapped[str | None] = mapped_column(String(100))
    # What ends it early: "paid" (a payment booked), "more_time", "dispute", "details" (the
    # customer's request of that kind); None: only its date or staff.
    awaits: Mapped[str | None] = mapped_column(String(12))

    def is_active(self, on: date | None = None) -> bool:
        return self.released_at is None and self.until >= (on or business_today())

    def __repr__(self) -> str:
        return f"hold #{self.id} until {self.until}"


# What a hold may await, and the request kinds that settle each (a payment settles "paid").
AWAITED = ("paid", "more_time", "dispute", "details")
SETTLED_BY_REQUEST = {"deferral": "more_time", "payment_plan": "more_time",
                      "dispute": "dispute", "data_change": "details"}


class HoldRefused(ValueError):
    """A hold that makes no sense (a date in the past, no reason, no source)."""


def hold_reminders(customer_id: int, *, invoice_ids: Iterable[int] | None = None, until: date,
                   reason: str, source: str, awaits: str | None = None,
                   fresh: bool = False) -> ReminderHold:
    """Hold the customer's reminders (or those of ``invoice_ids``) until ``until``, inclusive.

    Adds to the caller's session; the caller commits. The same ``source`` with the same
    invoices and an open hold extends that hold (to the later date) instead of adding one.
    ``fresh``: the caller knows the source is new (a reply just stored): nothing is looked up.
    """
    reason = (reason or "").strip()[:300]
    source = (source or "").strip()[:80]
    if not reason or not source:
        raise HoldRefused("a reminder hold needs a reason and a source")
    if until < business_today():
        raise HoldRefused("a reminder hold cannot end in the past")
    wanted = sorted({int(i) for i in invoice_ids}) if invoice_ids is not None else None
    if wanted == []:
        raise HoldRefused("a reminder hold on invoices needs at least one invoice")
    if awaits is not None and awaits not in AWAITED:
        raise HoldRefused(f"a reminder hold cannot await {awaits!r}")
    for existing in () if fresh else db.session.scalars(select(ReminderHold).where(
            ReminderHold.customer_id == customer_id, ReminderHold.source == source,
            ReminderHold.released_at.is_(None))):
        if (existing.invoice_ids or None) == wanted:
            existing.until = max(existing.until, until)
            existing.reason, existing.awaits = reason, awaits
            return existing
    hold = ReminderHold(customer_id=customer_id, invoice_ids=wanted, until=until, reason=reason,
                        source=source, awaits=awaits)
    db.session.add(hold)
    return hold


def release_hold(hold_id: int, *, by: str) -> ReminderHold | None:
    """End one hold now (None if it does not exist). Releasing twice changes nothing."""
    hold = db.session.get(ReminderHold, hold_id)
    if hold is not None and hold.released_at is None:
        hold.released_at = utcnow()
        hold.released_by = (by or "")[:100]
    return hold


def release_holds(customer_id: int, *, by: str, source: str | None = None,
                  source_prefix: str | None = None) -> int:
    """End the customer's open holds (all, or those of one source / source family)."""
    query = select(ReminderHold).where(ReminderHold.customer_id == customer_id,
                                       ReminderHold.released_at.is_(None))
    if source is not None:
        query = query.where(ReminderHold.source == source)
    if source_prefix is not None:
        query = query.where(ReminderHold.source.startswith(source_prefix))
    released = 0
    for hold in db.session.scalars(query):
        hold.released_at = utcnow()
        hold.released_by = (by or "")[:100]
        released += 1
    return released


def holds_of(customer_id: int, *, on: date | None = None) -> list[ReminderHold]:
    """The customer's holds still in force on ``on`` (today), latest end first (360° page)."""
    on = on or business_today()
    return list(db.session.scalars(select(ReminderHold).where(
        ReminderHold.customer_id == customer_id, ReminderHold.released_at.is_(None),
        ReminderHold.until >= on).order_by(ReminderHold.until.desc(), ReminderHold.id)))


@dataclass(frozen=True, slots=True)
class ActiveHold:
    until: date
    reason: str


@dataclass
class ActiveHolds:
    """What the engine needs: whole-customer holds and per-invoice holds, the latest end."""

    customers: dict[int, ActiveHold]
    invoices: dict[int, ActiveHold]


def active_holds(run_date: date, customer_ids: Sequence[int] | None = None) -> ActiveHolds:
    """Every hold in force on ``run_date`` (for ``customer_ids``, or for everyone): one query."""
    query = select(ReminderHold.customer_id, ReminderHold.invoice_ids, ReminderHold.until,
                   ReminderHold.reason).where(ReminderHold.released_at.is_(None),
                                              ReminderHold.until >= run_date)
    if customer_ids is not None:
        query = query.where(ReminderHold.customer_id.in_(list(customer_ids)))
    customers: dict[int, ActiveHold] = {}
    invoices: dict[int, ActiveHold] = {}
    for customer_id, invoice_ids, until, reason in db.session.execute(query):
        targets = ([(customers, customer_id)] if not invoice_ids
                   else [(invoices, int(i)) for i in invoice_ids])
        for found, key in targets:
            previous = found.get(key)
            if previous is None or until > previous.until:
                found[key] = ActiveHold(until, reason)
    return ActiveHolds(customers, invoices)


# -- released by what they awaited -----------------------------------------------------------

def release_awaited(awaits: str, invoices_by_customer: dict[int, set[int]], *, by: str) -> int:
    """Release the open holds awaiting ``awaits`` of these customers: a whole-customer hold
    always, a hold on invoices when one of them is named (or no invoice is named). One query."""
    if not invoices_by_customer:
        return 0
    released = 0
    now = utcnow()
    # One query on PostgreSQL (an array parameter): a big statement import names 5,000
    # customers per chunk, mostly without any hold.
    for customers in where_in(ReminderHold.customer_id, sorted(invoices_by_customer)):
        for hold in db.session.scalars(select(ReminderHold).where(
                customers, ReminderHold.released_at.is_(None), ReminderHold.awaits == awaits)):
            named = invoices_by_customer.get(hold.customer_id) or set()
            if hold.invoice_ids and named and not named & {int(i) for i in hold.invoice_ids}:
                continue
            hold.released_at, hold.released_by = now, by[:100]
            released += 1
    return released


@money_booked.connect
def _payment_booked(_sender, customers: dict[int, set[int]], **_extra) -> None:
    """payments.signals.money_booked: the bank line an "already paid" hold waited for."""
    release_awaited("paid", customers, by="payment")


@request_opened.connect
def _request_opened(req, **_extra) -> None:
    """requests.signals.request_opened: the customer's own action that settles the hold."""
    awaits = SETTLED_BY_REQUEST.get(req.kind)
    if awaits is None or req.customer_id is None:
        return
    invoice_ids = {i.id for i in (req.invoices or []) if i.id is not None}
    release_awaited(awaits, {req.customer_id: invoice_ids}, by=f"request:{req.id}")
