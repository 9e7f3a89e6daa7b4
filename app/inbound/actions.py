"""What a reply calls for: reminders wait, one answer pointing to the self-service page that
settles it, a question for staff, a failing address. Automatic replies and loops get nothing."""
from __future__ import annotations

import logging
from datetime import timedelta

from flask_babel import gettext as _
from sqlalchemy import func, select

from app.core.models import utcnow
from app.core.time import business_today
from app.customers.models import Customer
from app.dunning.holds import AWAITED, hold_reminders
from app.extensions import db
from app.inbound import settings as rules
from app.inbound.autodetect import BOUNCE, HUMAN
from app.inbound.classify import OTHER, PAID
from app.inbound.models import CATEGORIES, FailingAddress, InboundMessage
from app.inbound.parsing import Bounce, ParsedMail
from app.inbound.tying import Tie, customers_with_address

log = logging.getLogger(__name__)
# Tied this surely, a reply is answered at the address that wrote it; tied only by an invoice
# number typed by anyone, it is not (staff decide).
ANSWERABLE = ("token", "thread", "sender", "staff")


def act_on(row: InboundMessage, mail: ParsedMail | None, found: Tie | None) -> None:
    if row.kind == BOUNCE and mail is not None:
        mark_failing(row, mail)
        return
    if row.kind != HUMAN or row.customer_id is None:
        return
    customer = db.session.get(Customer, row.customer_id)
    if customer is None:
        return
    pause(row, customer)
    if row.category == OTHER:
        open_question(row, customer)
    elif row.tied_by in ANSWERABLE:
        try:
            with db.session.begin_nested():
                answer(row, customer, invoice_ids=found.invoice_ids if found else [])
        except Exception:
            log.exception("no automatic answer to reply %s", row.id)
            row.notes = [*(row.notes or []), "answer_failed"]


def hold_source(row: InboundMessage) -> str:
    return f"inbound:reply:{row.id}"


def pause(row: InboundMessage, customer: Customer) -> None:
    """The customer's next reminder waits: N days, longer when they say they paid."""
    days = int(rules.rule(rules.PAUSE_DAYS))
    if row.category == PAID:
        days = max(days, int(rules.rule(rules.PAID_HOLD_DAYS)))
    if days <= 0:
        return
    # Stored as written in the language of the moment (a job: the default), like a staff note.
    reason = _("the customer replied by e-mail (reply #%(id)s: %(category)s)", id=row.id,
               category=str(CATEGORIES.get(row.category or OTHER)))
    # The hold ends early when what the reply is about happens: the payment is booked, or the
    # customer uses the self-service action the answer points to (app.dunning.holds).
    awaits = row.category if row.category in AWAITED else None
    hold = hold_reminders(customer.id, until=business_today() + timedelta(days=days),
                          reason=reason, source=hold_source(row), awaits=awaits)
    db.session.flush()
    row.hold_id = hold.id


def open_question(row: InboundMessage, customer: Customer) -> None:
    """An "other" reply becomes a question in the requests queue (its SLA); its acknowledgment
    is the one answer the customer gets."""
    from app.requests.services import open_request

    if row.request_id is not None:
        return
    req = open_request(customer, "question", channel="email",
                       subject=(row.subject or "")[:200] or None,
                       message=(row.text or row.full_text or "")[:4000],
                       payload={"inbound_id": row.id}, notify=row.tied_by in ANSWERABLE)
    row.request_id = req.id


def recently_answered(customer_id: int) -> bool:
    """An automatic answer went to this customer less than the gap ago (loop guard)."""
    since = utcnow() - timedelta(hours=int(rules.rule(rules.ANSWER_GAP_HOURS)))
    return bool(db.session.scalar(select(func.count(InboundMessage.id)).where(
        InboundMessage.customer_id == customer_id, InboundMessage.answer_id.is_not(None),
        InboundMessage.received_at >= since)))


def answer(row: InboundMessage, customer: Customer, *, invoice_ids: list[int],
           forced: bool = False) -> bool:
    """One short answer in the customer's language with the link that settles it. ``forced``:
    staff asked for it (after correcting the category): no gap, a new answer."""
    from app.inbound.links import action_link
    from app.notifications.outbox import queue_message

    if row.category in (None, OTHER) or not row.sender:
        return False
    if not forced and (not rules.rule(rules.AUTO_ANSWER) or recently_answered(customer.id)):
        return False
    language = row.language if row.language in ("fr", "nl", "en") else customer.language
    key = f"reply-answer:{row.id}:{row.category}"
    link = action_link(customer, row.category, invoice_ids)
    messages = queue_message(
        customer, event="reply_answer", template_key="reply_answer",
        context={"category": row.category, "action_url": link,
                 "reply_subject": row.subject or ""},
        idempotency_key=key, channels=["email"], recipient=row.sender, language=language)
    if messages:
        db.session.flush()
        row.answer_id = messages[0].id
    return bool(messages)


def mark_failing(row: InboundMessage, mail: ParsedMail) -> None:
    """A permanent bounce marks the address failing (shown on the 360° page)."""
    now = utcnow()
    for bounce in mail.bounces or []:
        if not bounce.permanent or "@" not in bounce.recipient:
            continue
        owners = customers_with_address(bounce.recipient)
        customer_id = row.customer_id or (owners[0] if len(owners) == 1 else None)
        found = db.session.scalar(select(FailingAddress)
                                  .where(FailingAddress.address == bounce.recipient))
        if found is None:
            db.session.add(FailingAddress(address=bounce.recipient, customer_id=customer_id,
                                          reason=(bounce.diagnostic or bounce.status)[:300],
                                          inbound_id=row.id, first_failed_at=now,
                                          last_failed_at=now, bounces=1))
        else:
            found.bounces += 1
            found.last_failed_at, found.cleared_at, found.inbound_id = now, None, row.id
            found.customer_id = found.customer_id or customer_id
        if row.customer_id is None and customer_id is not None:
            row.customer_id = customer_id
    failed = mail.headers.get("x-failed-recipients")
    if failed and not mail.bounces:
        for address in (a.strip().lower() for a in failed.split(",")):
            if "@" in address:
                mail.bounces.append(Bounce(address, "failed", "5.0.0"))
        if mail.bounces:
            mark_failing(row, mail)


def failing_addresses(customer_id: int) -> list[FailingAddress]:
    return list(db.session.scalars(select(FailingAddress).where(
        FailingAddress.customer_id == customer_id, FailingAddress.cleared_at.is_(None))
        .order_by(FailingAddress.last_failed_at.desc())))
