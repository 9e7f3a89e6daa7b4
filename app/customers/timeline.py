"""One timeline of everything that happened with a customer, newest first.

``customer_timeline(customer_id, limit, offset)`` reads each source (here: invoices, staff
notes / calls / pauses, portal log-ins; registered by their packages: payments and their
allocations, messages with their delivery status, requests with decisions and comments,
disputes, plans, deferrals, pay links, replies, e-invoices, reminder holds) for at most
``offset + limit`` rows, newest first, merges them by date and returns one page. Each source is
one indexed query on ``customer_id``, so a page costs the same for a customer with 20 events or
20,000.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any

from flask import has_request_context, url_for
from flask_babel import gettext as _
from sqlalchemy import select
from werkzeug.routing import BuildError

from app.core.i18n import day, money
from app.core.portal_access import PortalAccess
from app.core.time import BUSINESS_TZ
from app.customers.models import CALL_DIRECTIONS, CALL_OUTCOMES, CustomerNote
from app.extensions import db
from app.invoices.models import INVOICE_STATUSES, Invoice

KINDS = ("invoice", "payment", "message", "request", "decision", "comment", "dispute", "plan",
         "deferral", "note", "call", "pause", "login", "pay_link", "reply", "e_invoice")


@dataclass
class Event:
    kind: str
    at: datetime
    title: str
    detail: str = ""
    link: str | None = None
    status: str | None = None  # a short state shown as a badge (e.g. a message's "failed")
    tone: str = "default"  # default / success / warning / danger: the badge colour
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class TimelinePage:
    events: list[Event]
    offset: int
    limit: int
    has_more: bool


def moment(value: date | datetime | None) -> datetime:
    """Dates (business days) sort as the start of that day in Brussels."""
    if isinstance(value, datetime):
        return value
    return datetime.combine(value or date.min, time(0), tzinfo=BUSINESS_TZ)


def show_link(view: str, pk: int) -> str | None:
    if not has_request_context():
        return None
    try:
        return url_for(f"{view}.show", pk=pk)
    except BuildError:
        return None


def label(choices: dict, value: str | None) -> str:
    return str(choices.get(value, value or ""))


# --- sources: each returns at most n events, newest first -------------------------------------

def _invoices(cid: int, n: int) -> list[Event]:
    rows = db.session.execute(
        select(Invoice.id, Invoice.number, Invoice.issue_date, Invoice.due_date,
               Invoice.total_amount, Invoice.open_amount, Invoice.status, Invoice.dunning_level)
        .where(Invoice.customer_id == cid)
        .order_by(Invoice.issue_date.desc(), Invoice.id.desc()).limit(n))
    events = []
    for r in rows:
        events.append(Event(
            "invoice", moment(r.issue_date), _("Invoice %(number)s issued", number=r.number),
            _("%(amount)s, due on %(date)s; open: %(open)s", amount=money(r.total_amount),
              date=day(r.due_date), open=money(r.open_amount)),
            show_link("InvoiceView", r.id), label(INVOICE_STATUSES, r.status),
            "success" if r.status == "paid" else "default"))
    return events


def _notes(cid: int, n: int) -> list[Event]:
    rows = db.session.scalars(select(CustomerNote).where(CustomerNote.customer_id == cid)
                              .order_by(CustomerNote.created_at.desc(), CustomerNote.id.desc())
                              .limit(n))
    events = []
    for note in rows:
        by = note.user_name or ""
        if note.kind == "call":
            title = label(CALL_DIRECTIONS, note.call_direction) or _("Phone call")
            status = label(CALL_OUTCOMES, note.call_outcome) or None
        elif note.kind == "pause":
            title = _("Reminders paused until %(date)s", date=day(note.paused_until))
            status = None
        else:
            title, status = _("Note"), None
        events.append(Event(note.kind, note.created_at, title, note.text, None, status,
                            "warning" if note.kind == "pause" else "default", {"by": by}))
    return events


def _logins(cid: int, n: int) -> list[Event]:
    rows = db.session.execute(
        select(PortalAccess.used_at, PortalAccess.ip)
        .where(PortalAccess.customer_id == cid, PortalAccess.kind == "magic_link",
               PortalAccess.used_at.is_not(None))
        .order_by(PortalAccess.used_at.desc()).limit(n))
    return [Event("login", r.used_at, _("Signed in to the portal"), r.ip or "") for r in rows]


# Each source gives (customer id, how many) -> its newest events. The packages whose tables
# these are add theirs with register_source when they are imported (payments, messages,
# requests and what hangs off them, pay links, e-mail replies, e-invoice responses, reminder
# holds: app.backoffice imports them at start, TIMELINE_SOURCES), so this module, below all of
# them, imports none. A source's rank orders events of the same moment (a date sorts as the
# start of its day): the order of KINDS, invoices first.
SOURCES = [_invoices, _notes, _logins]
_RANKS = {_invoices: 10, _notes: 80, _logins: 90}


def register_source(source, rank: int = 100) -> None:
    """Add a package's events to every customer's timeline (once). ``rank``: where its events
    go among events of the same moment (payments 20, messages 30, requests 40 ... the order of
    KINDS; sources of the same rank keep the order they registered in)."""
    if source in SOURCES:
        return
    _RANKS[source] = rank
    SOURCES.append(source)
    SOURCES.sort(key=_RANKS.__getitem__)


def customer_timeline(customer_id: int, limit: int = 50, offset: int = 0,
                      kinds: set[str] | None = None) -> TimelinePage:
    """One page of the merged timeline, newest first (``kinds`` narrows it)."""
    limit = max(1, min(int(limit), 500))
    offset = max(0, int(offset))
    want = offset + limit + 1
    events: list[Event] = []
    for source in SOURCES:
        events.extend(e for e in source(customer_id, want) if not kinds or e.kind in kinds)
    events.sort(key=lambda e: e.at, reverse=True)
    return TimelinePage(events[offset:offset + limit], offset, limit, len(events) > offset + limit)

