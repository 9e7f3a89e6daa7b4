"""The outbox: every message is a row created in the transaction of the event that caused it.

``queue_message`` renders the message for each channel the customer wants and adds Message rows
to the caller's session; nothing is sent until the caller commits. After the commit, one
delivery job per message is enqueued (app.notifications.jobs.deliver_message). If the process
dies between commit and enqueue, the periodic sweep (deliver_due_messages) picks the row up:
a message is never lost, and the idempotency key makes a repeated event a no-op.
"""
from __future__ import annotations

import logging
from datetime import datetime
from typing import Any, Iterable

from sqlalchemy import event, select
from sqlalchemy.orm import Session

from app.core.models import utcnow
from app.customers.models import Customer
from app.extensions import db
from app.notifications.models import Message
from app.notifications.rendering import render

log = logging.getLogger(__name__)
_PENDING = "creditdesk_outbox_pending"


class NoRecipient(ValueError):
    """The customer has no address for this channel (e.g. SMS without a phone number)."""


def channels_for(customer: Customer, *, dunning: bool = False, wanted: Iterable[str] | None = None
                 ) -> list[str]:
    """The channels a message goes out on, following the customer's preferences.

    Paper customers get letters instead of e-mail; SMS only with the customer's opt-in and a
    phone number; ``wanted`` narrows to the channels an event or dunning level asks for.
    """
    wanted = list(wanted) if wanted is not None else ["email", "sms"]
    chosen: list[str] = []
    if "email" in wanted or "letter" in wanted:
        if customer.delivery_channel == "paper" or not _email_for(customer, dunning):
            chosen.append("letter")
        else:
            chosen.append("email")
    if "sms" in wanted and customer.sms_reminders and customer.phone:
        chosen.append("sms")
    if "webhook" in wanted:
        chosen.append("webhook")
    return chosen


def _email_for(customer: Customer, dunning: bool) -> str | None:
    if dunning:
        reminder = next((c for c in customer.contacts if c.role == "reminder" and c.email), None)
        if reminder is not None:
            return reminder.email
    billing = next((c for c in customer.contacts if c.role == "billing" and c.email), None)
    return customer.email or (billing.email if billing else None)


def recipient_for(customer: Customer, channel: str, dunning: bool = False) -> str:
    if channel == "email":
        address = _email_for(customer, dunning)
    elif channel == "sms":
        address = customer.phone
    elif channel == "letter":
        postal = next((a for a in customer.addresses if a.kind == "postal"), None) or next(
            iter(customer.addresses), None)
        address = "\n".join([customer.name, *postal.lines()]) if postal else None
    elif channel == "webhook":
        address = f"customer:{customer.number}"
    else:
        address = None
    if not address:
        raise NoRecipient(f"{customer.number} has no {channel} address")
    return address


def queue_message(customer: Customer, *, event: str, template_key: str, context: dict[str, Any],
                  idempotency_key: str, channels: Iterable[str] | None = None,
                  dunning: bool = False, attachments: list[dict] | None = None,
                  language: str | None = None) -> list[Message]:
    """Add the message(s) for ``event`` to the session; the caller commits.

    The same ``idempotency_key`` never produces a second message on a channel: the existing row
    is returned instead (so re-running a job, or a double click, sends nothing twice).
    """
    language = language or customer.language or "en"
    messages = []
    for channel in channels_for(customer, dunning=dunning, wanted=channels):
        key = f"{idempotency_key}:{channel}"
        existing = db.session.scalar(select(Message).where(Message.idempotency_key == key))
        if existing is not None:
            messages.append(existing)
            continue
        try:
            recipient = recipient_for(customer, channel, dunning)
        except NoRecipient:
            log.warning("no %s address for customer %s: %s not sent on %s", channel,
                        customer.number, event, channel)
            continue
        rendered = render(template_key, channel, language, {**context, "customer": customer})
        message = Message(customer=customer, channel=channel, recipient=recipient,
                          language=rendered.template.language, template=rendered.template,
                          event=event, subject=rendered.subject, body_text=rendered.text,
                          body_html=rendered.html, attachments=attachments or [],
                          status="queued", idempotency_key=key, next_attempt_at=utcnow())
        db.session.add(message)
        _remember(db.session(), message)
        messages.append(message)
    return messages


def _remember(session: Session, message: Message) -> None:
    session.info.setdefault(_PENDING, []).append(message)


@event.listens_for(Session, "after_commit")
def _enqueue_after_commit(session: Session) -> None:
    pending = session.info.pop(_PENDING, [])
    ids = [m.id for m in pending if m.id is not None]
    if not ids:
        return
    from app.jobs import enqueue

    for message_id in ids:
        try:
            enqueue("app.notifications.jobs.deliver_message", message_id,
                    job_id=f"deliver-message-{message_id}")
        except Exception:  # the sweep delivers it later; the row is safe in the database
            log.exception("could not enqueue delivery of message %s", message_id)


@event.listens_for(Session, "after_rollback")
def _forget_after_rollback(session: Session) -> None:
    session.info.pop(_PENDING, None)


def due_for_delivery(now: datetime | None = None, limit: int = 500) -> list[int]:
    """Queued messages whose time has come (used by the sweep after a crash or a retry delay)."""
    now = now or utcnow()
    return list(db.session.scalars(
        select(Message.id).where(Message.status == "queued", Message.next_attempt_at <= now)
        .order_by(Message.id).limit(limit)
    ))
