"""One message from the mailbox, stored once and understood: the heart of the inbound channel.

``receive(raw, ...)`` is idempotent: the message's dedupe key (Message-ID and sender, or a hash
of its bytes) is unique, so a message read again (a crash between storing and moving it, a
UIDVALIDITY change) returns the stored row and does nothing more. A message that cannot be
understood is still stored, for review: never lost.
"""
from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass

from flask import current_app
from sqlalchemy import select

from app.core.models import utcnow
from app.extensions import db
from app.inbound import actions
from app.inbound.attachments import keep_attachments
from app.inbound.autodetect import BOUNCE, HUMAN, kind_of
from app.inbound.classify import classify
from app.inbound.models import InboundMessage
from app.inbound.parsing import ParsedMail, parse
from app.inbound.settings import reply_address
from app.inbound.tying import BatchLookup, Tie, tie

log = logging.getLogger(__name__)


@dataclass
class Received:
    message: InboundMessage
    created: bool


def dedupe_key(raw: bytes, mail: ParsedMail | None) -> str:
    if mail is not None and mail.message_id:
        return f"{mail.message_id}|{mail.sender}"[:300]
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def already_stored(key: str) -> InboundMessage | None:
    return db.session.scalar(select(InboundMessage).where(InboundMessage.dedupe_key == key))


def own_addresses() -> set[str]:
    from app.inbound.settings import rule

    found = {reply_address(), (rule("company.email") or "").lower(),
             (current_app.config.get("MAIL_FROM") or "").lower()}
    return {a for a in found if a}


def receive(raw: bytes, *, mailbox: str = "", uid_validity: int | None = None,
            uid: int | None = None, truncated: bool = False, size: int | None = None,
            act: bool = True) -> Received:
    """Store and understand one raw message in the caller's transaction (the caller commits).

    ``truncated``: only the start of a message too large to read whole was fetched.
    """
    try:
        mail = parse(raw)
    except Exception:
        log.exception("inbound message %s/%s could not be parsed", mailbox, uid)
        mail = None
    key = dedupe_key(raw, mail)
    existing = already_stored(key)
    if existing is not None:
        return Received(existing, False)
    row = InboundMessage(dedupe_key=key, mailbox=mailbox[:100], uid_validity=uid_validity,
                         uid=uid, size=size if size is not None else len(raw),
                         received_at=utcnow(), notes=[])
    try:
        with db.session.begin_nested():
            _understand(row, mail, truncated, act)
    except Exception as exc:
        log.exception("inbound message %s/%s could not be processed", mailbox, uid)
        row = InboundMessage(dedupe_key=key, mailbox=mailbox[:100], uid_validity=uid_validity,
                             uid=uid, size=size if size is not None else len(raw),
                             received_at=utcnow(), status="to_review",
                             notes=["processing_error", str(exc)[:200]],
                             subject=(mail.subject if mail else "")[:300],
                             sender=(mail.sender if mail else "")[:300],
                             text=(mail.new_text if mail else "")[:20000],
                             full_text=(mail.text if mail else raw[:20000].decode(
                                 "utf-8", errors="replace")))
        db.session.add(row)
        db.session.flush()
    return Received(row, True)


def _understand(row: InboundMessage, mail: ParsedMail | None, truncated: bool,
                act: bool) -> None:
    if mail is None:
        row.status, row.notes = "to_review", ["unreadable"]
        db.session.add(row)
        db.session.flush()
        return
    kind, signs = kind_of(mail, own_addresses())
    with db.session.no_autoflush:  # one INSERT with everything, not an INSERT and UPDATEs
        found = tie(mail, returned=kind == BOUNCE)
    language = None
    if kind == HUMAN and found.customer_id is not None:
        from app.customers.models import Customer

        customer = db.session.get(Customer, found.customer_id)
        language = customer.language if customer else None
    _fill(row, mail, truncated, kind, signs, found, language)
    db.session.add(row)
    db.session.flush()
    if _keeps_attachments(row, truncated):
        keep_attachments(row, mail.attachments)
    if act:
        actions.act_on(row, mail, found)


def _fill(row: InboundMessage, mail: ParsedMail, truncated: bool, kind: str, signs: list[str],
          found: Tie, customer_language: str | None) -> None:
    """Everything a reply says, on its row (no database work: the caller inserts it)."""
    row.message_id_header = (mail.message_id or "")[:300] or None
    row.sender, row.sender_name = mail.sender, mail.sender_name or None
    row.subject, row.sent_at = mail.subject, mail.sent_at
    row.text, row.full_text = mail.new_text[:20000], mail.text
    notes = [f"defect:{d}" for d in mail.defects[:5]]
    if truncated:
        notes.append("too_large")
    row.kind = kind
    notes.extend(signs)
    row.customer_id, row.answers_message_id, row.tied_by = (found.customer_id, found.message_id,
                                                            found.by)
    row.token_refused = found.token_refused
    notes.extend(found.notes)
    if kind == HUMAN:
        result = classify(mail.new_text or mail.text, mail.subject, customer_language)
        row.category, row.category_by = result.category, "auto"
        row.matched_words, row.language = result.matched, result.language
        row.status = "to_read" if found.customer_id is not None else "to_review"
    else:
        row.status = "ignored"
    row.notes = notes


def _keeps_attachments(row: InboundMessage, truncated: bool) -> bool:
    return row.kind != "loop" and row.kind != BOUNCE and not truncated


# -- a poll's batch ------------------------------------------------------------------------------

@dataclass
class Incoming:
    """One message fetched from the mailbox."""

    uid: int | None
    raw: bytes
    truncated: bool = False
    size: int | None = None


def receive_many(items: list[Incoming], *, mailbox: str = "",
                 uid_validity: int | None = None) -> list[Received]:
    """``receive`` for a poll's batch, set-wise, in the caller's transaction (it commits).

    The same outcome as receiving each message in turn (the same rows, holds, answers and
    questions), with the database read a few times for the whole batch: the stored keys, the
    tokens' and threads' messages, the senders, the invoices named, the customers, the answers
    already sent; the replies are inserted together and acted on together. If anything in the
    batch fails, the batch is undone (a savepoint) and read again message by message, each in
    its own savepoint, so one bad message still costs only itself.
    """
    if not items:
        return []
    try:
        with db.session.begin_nested():
            return _receive_many(items, mailbox, uid_validity)
    except Exception:
        log.exception("a batch of %s messages from %s is read one by one", len(items), mailbox)
        return [receive(item.raw, mailbox=mailbox, uid_validity=uid_validity, uid=item.uid,
                        truncated=item.truncated, size=item.size) for item in items]


def _receive_many(items: list[Incoming], mailbox: str,
                  uid_validity: int | None) -> list[Received]:
    from app.customers.models import Customer

    parsed = []
    for item in items:
        try:
            mail = parse(item.raw)
        except Exception:
            log.exception("inbound message %s/%s could not be parsed", mailbox, item.uid)
            mail = None
        parsed.append((item, mail, dedupe_key(item.raw, mail)))
    keys = sorted({key for _item, _mail, key in parsed})
    stored: dict[str, InboundMessage] = {}
    with db.session.no_autoflush:
        for start in range(0, len(keys), 500):
            stored.update((row.dedupe_key, row) for row in db.session.scalars(
                select(InboundMessage).where(InboundMessage.dedupe_key.in_(keys[start:start + 500]))))
        own = own_addresses()
        lookup = BatchLookup([mail for _item, mail, key in parsed
                              if mail is not None and key not in stored])
        results: list[Received | None] = []
        new: list[tuple[InboundMessage, ParsedMail | None, Tie | None, Incoming, str, list]] = []
        for item, mail, key in parsed:
            if key in stored:  # stored before, or earlier in this batch
                results.append(Received(stored[key], False))
                continue
            row = InboundMessage(dedupe_key=key, mailbox=mailbox[:100], uid_validity=uid_validity,
                                 uid=item.uid, size=item.size if item.size is not None
                                 else len(item.raw), received_at=utcnow(), notes=[])
            stored[key] = row
            kind, signs, found = None, [], None
            if mail is not None:
                kind, signs = kind_of(mail, own)
                found = tie(mail, returned=kind == BOUNCE, lookup=lookup)
            new.append((row, mail, found, item, kind, signs))
            results.append(Received(row, True))
        wanted = sorted({found.customer_id for _r, _m, found, _i, kind, _s in new
                         if found is not None and found.customer_id is not None})
        # Held here for the batch: the session's identity map keeps rows only while
        # something refers to them, and acting on the replies needs them again.
        customers: dict[int, Customer] = {}
        for start in range(0, len(wanted), 500):
            customers.update((c.id, c) for c in db.session.scalars(select(Customer).where(
                Customer.id.in_(wanted[start:start + 500]))))
        languages = {cid: customer.language for cid, customer in customers.items()}
        for row, mail, found, item, kind, signs in new:
            if mail is None:
                row.status, row.notes = "to_review", ["unreadable"]
            else:
                _fill(row, mail, item.truncated, kind, signs, found,
                      languages.get(found.customer_id) if kind == HUMAN else None)
        db.session.add_all([row for row, *_rest in new])
    db.session.flush()  # one INSERT for the batch
    for row, mail, _found, item, _kind, _signs in new:
        if mail is not None and mail.attachments and _keeps_attachments(row, item.truncated):
            keep_attachments(row, mail.attachments)
    actions.act_on_many([(row, mail, found) for row, mail, found, *_rest in new], customers)
    return results
