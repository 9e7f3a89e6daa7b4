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
from app.dunning.holds import AWAITED, ReminderHold, hold_reminders
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


def act_on_many(items: list[tuple[InboundMessage, ParsedMail | None, Tie | None]],
                customers: dict[int, Customer] | None = None) -> None:
    """``act_on`` for a poll's batch (rows inserted, ids known): the same outcome, with the
    answers already sent read once, the holds and answers written together, and no savepoint
    per reply (receiving.receive_many reads the batch again one by one if this fails)."""
    from app.notifications.outbox import prepare_batch

    humans = [(row, mail, found) for row, mail, found in items
              if row.kind == HUMAN and row.customer_id is not None]
    known = customers or {}
    customers = {cid: known.get(cid) or db.session.get(Customer, cid)
                 for cid in sorted({row.customer_id for row, _m, _f in humans})}
    answered = answered_recently(list(customers))
    answerable = [row for row, _m, _f in humans
                  if row.category not in (None, OTHER) and row.tied_by in ANSWERABLE]
    if answerable and rules.rule(rules.AUTO_ANSWER):
        prepare_batch([customers[row.customer_id] for row in answerable
                       if customers.get(row.customer_id) is not None],
                      [answer_key(row) for row in answerable])
    holds, answers, questions = [], [], []
    for row, mail, found in items:
        if row.kind == BOUNCE and mail is not None:
            mark_failing(row, mail)
            continue
        customer = customers.get(row.customer_id) if row.kind == HUMAN else None
        if customer is None:
            continue
        # What a reply adds (a hold, a pay link, an answer, a question) is written with the
        # batch's flush, not before each read of the next reply: those reads never need it (new
        # sources, answers counted in ``answered``; the questions are opened together below).
        with db.session.no_autoflush:
            hold = pause(row, customer, flush=False)
            if hold is not None:
                holds.append((row, hold))
            if row.category == OTHER:
                if row.request_id is None:
                    questions.append((row, customer))
            elif row.tied_by in ANSWERABLE:
                message = answer(row, customer, invoice_ids=found.invoice_ids if found else [],
                                 answered=answered, flush=False)
                if message is not None:
                    answers.append((row, message))
    open_questions(questions)
    db.session.flush()
    for row, hold in holds:
        row.hold_id = hold.id
    for row, message in answers:
        row.answer_id = message.id


def answered_recently(customer_ids: list[int]) -> set[int]:
    """The customers an automatic answer went to less than the gap ago (one query)."""
    since = utcnow() - timedelta(hours=int(rules.rule(rules.ANSWER_GAP_HOURS)))
    found: set[int] = set()
    for start in range(0, len(customer_ids), 500):
        found.update(db.session.scalars(select(InboundMessage.customer_id).where(
            InboundMessage.customer_id.in_(customer_ids[start:start + 500]),
            InboundMessage.answer_id.is_not(None),
            InboundMessage.received_at >= since).distinct()))
    return found


def answer_key(row: InboundMessage) -> str:
    return f"reply-answer:{row.id}:{row.category}"


def hold_source(row: InboundMessage) -> str:
    return f"inbound:reply:{row.id}"


def pause(row: InboundMessage, customer: Customer, *, flush: bool = True) -> ReminderHold | None:
    """The customer's next reminder waits: N days, longer when they say they paid.
    ``flush=False`` (a batch, new replies): the caller flushes and sets ``row.hold_id``."""
    days = int(rules.rule(rules.PAUSE_DAYS))
    if row.category == PAID:
        days = max(days, int(rules.rule(rules.PAID_HOLD_DAYS)))
    if days <= 0:
        return None
    # Stored as written in the language of the moment (a job: the default), like a staff note.
    reason = _("the customer replied by e-mail (reply #%(id)s: %(category)s)", id=row.id,
               category=str(CATEGORIES.get(row.category or OTHER)))
    # The hold ends early when what the reply is about happens: the payment is booked, or the
    # customer uses the self-service action the answer points to (app.dunning.holds).
    awaits = row.category if row.category in AWAITED else None
    hold = hold_reminders(customer.id, until=business_today() + timedelta(days=days),
                          reason=reason, source=hold_source(row), awaits=awaits,
                          fresh=not flush)
    if flush:
        db.session.flush()
        row.hold_id = hold.id
    return hold


def open_question(row: InboundMessage, customer: Customer) -> None:
    """An "other" reply becomes a question in the requests queue (its SLA); its acknowledgment
    is the one answer the customer gets."""
    if row.request_id is None:
        open_questions([(row, customer)])


def open_questions(replies: list[tuple[InboundMessage, Customer]]) -> None:
    """``open_question`` for a batch's "other" replies: the requests opened together."""
    from app.requests.services import open_requests

    made = open_requests([_question(row, customer) for row, customer in replies])
    for (row, _customer), req in zip(replies, made, strict=True):
        row.request_id = req.id


def _question(row: InboundMessage, customer: Customer) -> dict:
    return {"customer": customer, "kind": "question", "channel": "email",
            "subject": (row.subject or "")[:200] or None,
            "message": (row.text or row.full_text or "")[:4000],
            "payload": {"inbound_id": row.id}, "notify": row.tied_by in ANSWERABLE}


def recently_answered(customer_id: int) -> bool:
    """An automatic answer went to this customer less than the gap ago (loop guard)."""
    since = utcnow() - timedelta(hours=int(rules.rule(rules.ANSWER_GAP_HOURS)))
    return bool(db.session.scalar(select(func.count(InboundMessage.id)).where(
        InboundMessage.customer_id == customer_id, InboundMessage.answer_id.is_not(None),
        InboundMessage.received_at >= since)))


def answer(row: InboundMessage, customer: Customer, *, invoice_ids: list[int],
           forced: bool = False, answered: set[int] | None = None, flush: bool = True):
    """One short answer in the customer's language with the link that settles it. ``forced``:
    staff asked for it (after correcting the category): no gap, a new answer. A batch passes
    ``answered`` (answered_recently, kept up to date here) and ``flush=False``: it gets the
    message back and sets ``row.answer_id`` after its flush."""
    from app.inbound.links import action_link
    from app.notifications.outbox import queue_message

    if row.category in (None, OTHER) or not row.sender:
        return None if not flush else False
    if not forced:
        recent = (customer.id in answered if answered is not None
                  else recently_answered(customer.id))
        if not rules.rule(rules.AUTO_ANSWER) or recent:
            return None if not flush else False
    language = row.language if row.language in ("fr", "nl", "en") else customer.language
    key = answer_key(row)
    link = action_link(customer, row.category, invoice_ids)
    context = {"category": row.category, "reply_subject": row.subject or ""}
    if isinstance(link, str):
        context["action_url"] = link
    messages = queue_message(
        customer, event="reply_answer", template_key="reply_answer", context=context,
        idempotency_key=key, channels=["email"], recipient=row.sender, language=language,
        links=None if isinstance(link, str) else {"action_url": link})
    if not flush:
        if messages and answered is not None:
            answered.add(customer.id)
        return messages[0] if messages else None
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
        customer_id = row.customer_id
        if not customer_id:  # a bounce tied to its customer needs no search by address
            owners = customers_with_address(bounce.recipient)
            customer_id = owners[0] if len(owners) == 1 else None
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
