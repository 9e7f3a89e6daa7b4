"""Reminder holds on the 360° timeline: when a hold ended early, and what ended it (the payment
that was awaited, the customer's own request, staff). Registered with app.customers.timeline
at start (app.backoffice.TIMELINE_SOURCES)."""
from __future__ import annotations

from flask_babel import gettext as _
from sqlalchemy import select

from app.customers.timeline import Event, register_source
from app.dunning.holds import ReminderHold
from app.extensions import db
from app.requests.models import REQUEST_KINDS, CustomerRequest


def why_released(released_by: str | None, request_kind: str | None) -> str:
    """The words for ``released_by``: "payment", "request:<id>", "staff:<name>", …"""
    by = released_by or ""
    if by == "payment":
        return _("the payment was booked")
    if by.startswith("request:"):
        kind = str(REQUEST_KINDS.get(request_kind, request_kind or ""))
        return _("the customer's request: %(kind)s (#%(id)s)", kind=kind,
                 id=by.partition(":")[2])
    if by.startswith("staff:"):
        return _("released by %(who)s", who=by.partition(":")[2])
    return by


def hold_release_events(cid: int, n: int) -> list[Event]:
    rows = db.session.execute(
        select(ReminderHold.id, ReminderHold.released_at, ReminderHold.released_by,
               ReminderHold.reason, ReminderHold.until)
        .where(ReminderHold.customer_id == cid, ReminderHold.released_at.is_not(None))
        .order_by(ReminderHold.released_at.desc(), ReminderHold.id.desc()).limit(n)).all()
    request_ids = {int(r.released_by.partition(":")[2]) for r in rows
                   if (r.released_by or "").startswith("request:")
                   and r.released_by.partition(":")[2].isdigit()}
    kinds = dict(db.session.execute(select(CustomerRequest.id, CustomerRequest.kind).where(
        CustomerRequest.id.in_(request_ids))).all()) if request_ids else {}
    events = []
    for r in rows:
        by = r.released_by or ""
        kind = kinds.get(int(by.partition(":")[2])) if by.partition(":")[2].isdigit() else None
        events.append(Event("pause", r.released_at,
                            _("Reminders no longer held: %(why)s",
                              why=why_released(by, kind)),
                            r.reason or "", None, _("Released"), "success",
                            {"hold": r.id, "released_by": by}))
    return events


register_source(hold_release_events)
