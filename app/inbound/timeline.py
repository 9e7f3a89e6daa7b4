"""Replies on the 360° timeline and in "My work today"; the 360° page's replies panel."""
from __future__ import annotations

from typing import Any

from flask import has_request_context, url_for
from flask_babel import gettext as _
from sqlalchemy import func, select
from werkzeug.routing import BuildError

from app.customers.timeline import Event, register_source
from app.extensions import db
from app.inbound.models import CATEGORIES, KINDS, STATUSES, InboundMessage
from app.notifications.models import Message


def _link(endpoint: str, **values) -> str | None:
    if not has_request_context():
        return None
    try:
        return url_for(endpoint, **values)
    except BuildError:
        return None


def reply_events(cid: int, n: int) -> list:
    """Timeline source: the customer's replies, each naming the message it answers."""
    rows = db.session.execute(
        select(InboundMessage.id, InboundMessage.received_at, InboundMessage.kind,
               InboundMessage.category, InboundMessage.subject, InboundMessage.text,
               InboundMessage.status, InboundMessage.answers_message_id, Message.subject,
               Message.event)
        .outerjoin(Message, Message.id == InboundMessage.answers_message_id)
        .where(InboundMessage.customer_id == cid)
        .order_by(InboundMessage.received_at.desc(), InboundMessage.id.desc()).limit(n))
    events = []
    for r in rows:
        if r.kind == "human":
            title = _("Reply from the customer: %(category)s",
                      category=str(CATEGORIES.get(r.category, r.category or "")))
        else:
            title = str(KINDS.get(r.kind, r.kind))
        answered = (_("In answer to: %(subject)s", subject=r[8] or r[9] or "")
                    if r.answers_message_id else "")
        # Plain text only: the template escapes it; HTML was turned into text when read.
        detail = " · ".join(p for p in (answered, (r.text or r.subject or "")[:300]) if p)
        events.append(Event("reply", r.received_at, title, detail,
                            _link("InboundReplyView.show", pk=r.id),
                            str(STATUSES.get(r.status, r.status)),
                            "warning" if r.status in ("to_read", "to_review") else "default",
                            {"answers": r.answers_message_id}))
    return events


def replies_queue(rows: bool, limit: int) -> tuple[int, list[tuple[str, str | None, str]]]:
    """My work today: replies to read (tied) and to review (no customer found)."""
    query = select(InboundMessage).where(InboundMessage.status.in_(("to_read", "to_review")))
    count = db.session.scalar(select(func.count()).select_from(query.subquery())) or 0
    listed = []
    if rows and count:
        for row in db.session.scalars(query.order_by(InboundMessage.received_at).limit(limit)):
            who = (f"{row.customer.number} {row.customer.name}" if row.customer is not None
                   else row.sender)
            listed.append((f"{who}: {row.subject or ''}"[:120],
                           _link("InboundReplyView.show", pk=row.id),
                           str(CATEGORIES.get(row.category, "")) if row.category
                           else str(STATUSES.get(row.status, row.status))))
    return count, listed


def customer_panel(customer_id: int) -> dict[str, Any]:
    """The 360° page: reminder holds in force, failing addresses, replies not read yet."""
    from app.dunning.holds import holds_of
    from app.inbound.actions import failing_addresses
    from app.inbound.review import may_simulate

    unread = db.session.scalar(select(func.count(InboundMessage.id)).where(
        InboundMessage.customer_id == customer_id,
        InboundMessage.status.in_(("to_read", "to_review")))) or 0
    return {"holds": holds_of(customer_id), "failing": failing_addresses(customer_id),
            "unread": unread, "may_simulate": may_simulate()}


register_source(reply_events)
