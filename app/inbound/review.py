"""What staff do with a reply: correct its category, tie it to a customer, read it, let the
reminders go again; and the demonstration reply of the embedded default."""
from __future__ import annotations

from email.mime.text import MIMEText
from email.utils import formatdate, make_msgid

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import func, select

from app.core.models import utcnow
from app.core.validation import ValidationError
from app.customers.models import Customer
from app.dunning.holds import release_hold
from app.extensions import db
from app.inbound import actions
from app.inbound.models import CATEGORIES, InboundMessage
from app.inbound.receiving import Received, receive
from app.notifications.models import Message


def _who(user) -> str:
    return f"staff:{getattr(user, 'username', None) or getattr(user, 'id', '?')}"[:100]


def replies(status: str | None, limit: int = 100, offset: int = 0) -> tuple[list, int]:
    query = select(InboundMessage)
    if status == "open":
        query = query.where(InboundMessage.status.in_(("to_review", "to_read")))
    elif status:
        query = query.where(InboundMessage.status == status)
    total = db.session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = list(db.session.scalars(query.order_by(InboundMessage.received_at.desc(),
                                                  InboundMessage.id.desc())
                                   .limit(limit).offset(offset)))
    return rows, total


def change_category(row: InboundMessage, category: str, user, *, send_answer: bool) -> None:
    """Staff correct the category; the hold follows; an answer only when asked for."""
    if category not in CATEGORIES:
        raise ValidationError({"category": [_("Choose one of the categories.")]})
    if row.kind != "human":
        raise ValidationError({"category": [_("Automatic replies and bounces have no "
                                              "category.")]})
    row.category, row.category_by = category, "staff"
    if row.customer_id is None:
        return
    customer = db.session.get(Customer, row.customer_id)
    actions.pause(row, customer)
    if category == "other":
        actions.open_question(row, customer)
    elif send_answer and not actions.answer(row, customer, invoice_ids=[], forced=True):
        raise ValidationError({"category": [_("No answer could be sent for this reply.")]})


def assign_customer(row: InboundMessage, number: str, user) -> Customer:
    """Staff tie an unknown sender's reply to a customer: it then acts like any reply (the
    reminders wait; an answer only when staff ask for one)."""
    number = (number or "").strip()
    customer = db.session.scalar(select(Customer).where(Customer.number == number)) \
        if number else None
    if customer is None:
        raise ValidationError({"customer": [_("No customer has the number %(number)s.",
                                              number=number or "—")]})
    row.customer_id, row.tied_by = customer.id, "staff"
    if row.kind == "human":
        row.status = "to_read"
        actions.pause(row, customer)
        if row.category == "other":
            actions.open_question(row, customer)
    return customer


def mark_read(row: InboundMessage, user) -> None:
    row.status, row.read_at, row.read_by = "read", utcnow(), _who(user)


def release(row: InboundMessage, user) -> None:
    if row.hold_id is not None:
        release_hold(row.hold_id, by=_who(user))


def may_simulate() -> bool:
    """The embedded default only (python run.py): a demonstration, never in production."""
    return not current_app.config.get("PUBLIC_URL_REQUIRED")


def simulate_reply(customer: Customer, text: str) -> Received:
    """A reply as the customer's mail program would send it to the last e-mail we sent them
    (In-Reply-To with its token), read through the same path as the mailbox's."""
    from app.notifications.channels import message_id_for

    text = (text or "").strip()
    if not text:
        raise ValidationError({"reply_text": [_("Write the text of the reply.")]})
    if len(text) > 10000:
        raise ValidationError({"reply_text": [_("The reply is too long.")]})
    last = db.session.scalar(select(Message).where(
        Message.customer_id == customer.id, Message.channel == "email")
        .order_by(Message.id.desc()).limit(1))
    mail = MIMEText(text, "plain", "utf-8")
    mail["From"] = customer.email or f"{customer.number.lower()}@example.invalid"
    mail["To"] = "billing@localhost"
    mail["Subject"] = f"Re: {last.subject}" if last is not None and last.subject else "Re:"
    mail["Date"] = formatdate(localtime=True)
    mail["Message-ID"] = make_msgid(domain="simulated.localhost")
    if last is not None:
        domain = (current_app.config.get("MAIL_FROM") or "creditdesk@localhost").rpartition(
            "@")[2] or "localhost"
        mail["In-Reply-To"] = message_id_for(last.idempotency_key, domain, last.id)
    return receive(mail.as_bytes(), mailbox="simulated")
