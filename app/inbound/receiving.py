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
from app.inbound.tying import tie

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
    row.message_id_header = (mail.message_id or "")[:300] or None
    row.sender, row.sender_name = mail.sender, mail.sender_name or None
    row.subject, row.sent_at = mail.subject, mail.sent_at
    row.text, row.full_text = mail.new_text[:20000], mail.text
    notes = [f"defect:{d}" for d in mail.defects[:5]]
    if truncated:
        notes.append("too_large")
    kind, signs = kind_of(mail, own_addresses())
    row.kind = kind
    notes.extend(signs)
    with db.session.no_autoflush:  # one INSERT with everything, not an INSERT and UPDATEs
        found = tie(mail, returned=kind == BOUNCE)
    row.customer_id, row.answers_message_id, row.tied_by = (found.customer_id, found.message_id,
                                                            found.by)
    row.token_refused = found.token_refused
    notes.extend(found.notes)
    if kind == HUMAN:
        language = None
        if found.customer_id is not None:
            from app.customers.models import Customer

            customer = db.session.get(Customer, found.customer_id)
            language = customer.language if customer else None
        result = classify(mail.new_text or mail.text, mail.subject, language)
        row.category, row.category_by = result.category, "auto"
        row.matched_words, row.language = result.matched, result.language
        row.status = "to_read" if found.customer_id is not None else "to_review"
    else:
        row.status = "ignored"
    row.notes = notes
    db.session.add(row)
    db.session.flush()
    if kind != "loop" and kind != BOUNCE and not truncated:
        keep_attachments(row, mail.attachments)
    if act:
        actions.act_on(row, mail, found)
