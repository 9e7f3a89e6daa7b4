"""Messages on the customer's timeline, with their delivery status. Registered with
app.customers.timeline (register_source), which sits below notifications and never imports it;
app.backoffice imports this module at start (TIMELINE_SOURCES)."""
from __future__ import annotations

from flask_babel import gettext as _
from sqlalchemy import select

from app.customers.timeline import Event, label, register_source, show_link
from app.extensions import db
from app.notifications.models import CHANNELS, MESSAGE_STATUSES, Message


def message_events(cid: int, n: int) -> list[Event]:
    rows = db.session.execute(
        select(Message.id, Message.created_at, Message.sent_at, Message.channel, Message.event,
               Message.subject, Message.status, Message.error, Message.recipient)
        .where(Message.customer_id == cid)
        .order_by(Message.created_at.desc(), Message.id.desc()).limit(n))
    events = []
    tones = {"sent": "success", "failed": "danger", "queued": "default", "sending": "default"}
    for m in rows:
        detail = m.subject or ""
        if m.status == "failed" and m.error:
            detail = f"{detail} · {m.error[:200]}" if detail else m.error[:200]
        events.append(Event(
            "message", m.created_at,
            _("%(channel)s sent: %(event)s", channel=label(CHANNELS, m.channel),
              event=m.event.replace("_", " ")),
            detail, show_link("MessageView", m.id), label(MESSAGE_STATUSES, m.status),
            tones.get(m.status, "default"), {"recipient": m.recipient}))
    return events


register_source(message_events, rank=30)
