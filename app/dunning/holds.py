"""Reminder holds: the one place that makes a customer's reminders wait for something.

A hold says "no reminder until <date>, because <reason>" for a whole customer or for some of
its invoices, and who asked for it (``source``: "inbound:reply:12", "peppol:response:7",
"staff:3"...). The dunning engine reads the active holds set-wise (``active_holds``) and leaves
the held customers / invoices out with a reason; the 360° page shows them. A hold ends on its
date by itself, or earlier when it is released (staff, the customer's own action, the bank
line that was awaited).

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
from app.core.time import business_today
from app.extensions import db


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

    def is_active(self, on: date | None = None) -> bool:
        return self.released_at is None and self.until >= (on or business_today())

    def __repr__(self) -> str:
        return f"hold #{self.id} until {self.until}"


class HoldRefused(ValueError):
    """A hold that makes no sense (a date in the past, no reason, no source)."""


def hold_reminders(customer_id: int, *, invoice_ids: Iterable[int] | None = None, until: date,
                   reason: str, source: str) -> ReminderHold:
    """Hold the customer's reminders (or those of ``invoice_ids``) until ``until``, inclusive.

    Adds to the caller's session; the caller commits. The same ``source`` with the same
    invoices and an open hold extends that hold (to the later date) instead of adding one.
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
    for existing in db.session.scalars(select(ReminderHold).where(
            ReminderHold.customer_id == customer_id, ReminderHold.source == source,
            ReminderHold.released_at.is_(None))):
        if (existing.invoice_ids or None) == wanted:
            existing.until = max(existing.until, until)
            existing.reason = reason
            return existing
    hold = ReminderHold(customer_id=customer_id, invoice_ids=wanted, until=until, reason=reason,
                        source=source)
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
