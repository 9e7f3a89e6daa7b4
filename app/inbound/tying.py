"""Whose reply is it, and which of our messages does it answer?

In order of trust: a valid reply token (Reply-To plus-address, or In-Reply-To / References);
one of our Message-IDs in the thread; the sender's address (one customer only); invoice numbers,
structured communications (OGM) or RF references in the text. Anything else is left for staff
(the review list): never guessed.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from sqlalchemy import func, or_, select

from app.customers.models import Contact, Customer
from app.extensions import db
from app.inbound.parsing import ParsedMail
from app.inbound.tokens import TokenCheck, check_tokens
from app.invoices.models import Invoice
from app.notifications.models import Message
from app.payments.references import find_references

# Words that may be an invoice number: letters, digits, "-", "/" or ".", with a digit.
_NUMBER_LIKE = re.compile(r"\b[A-Za-z0-9][A-Za-z0-9\-/.]{2,38}[A-Za-z0-9]\b")


@dataclass
class Tie:
    customer_id: int | None = None
    message_id: int | None = None
    by: str = "none"
    invoice_ids: list[int] = field(default_factory=list)
    token_refused: bool = False
    notes: list[str] = field(default_factory=list)


def tie(mail: ParsedMail, *, returned: bool = False) -> Tie:
    """``returned``: a bounce, whose thread is the returned message's own Message-ID."""
    thread = [*mail.thread_ids, *mail.returned_ids]
    check: TokenCheck = check_tokens(mail.recipients, thread)
    result = Tie(token_refused=check.refused)
    if check.refused:
        result.notes.append("token_refused")
    if check.message_id is not None:
        row = db.session.execute(select(Message.id, Message.customer_id)
                                 .where(Message.id == check.message_id)).first()
        if row is not None and row.customer_id is not None:
            result.message_id, result.customer_id = row.id, row.customer_id
            result.by = "token" if check.via == "address" else "thread"
    if result.customer_id is None and thread:
        row = db.session.execute(select(Message.id, Message.customer_id).where(
            Message.provider_message_id.in_(thread[-50:]),
            Message.customer_id.is_not(None)).order_by(Message.id.desc()).limit(1)).first()
        if row is not None:
            result.message_id, result.customer_id, result.by = row.id, row.customer_id, "thread"
    text = f"{mail.subject}\n{mail.text}"
    result.invoice_ids, by_invoice = _invoices_named(text, result.customer_id)
    if result.customer_id is None and not returned and mail.sender:
        owners = customers_with_address(mail.sender)
        if len(owners) == 1:
            result.customer_id, result.by = owners[0], "sender"
        elif len(owners) > 1:
            result.notes.append("sender_shared")
    if result.customer_id is None and len(by_invoice) == 1:
        result.customer_id, result.by = next(iter(by_invoice)), "reference"
    elif result.customer_id is None and len(by_invoice) > 1:
        result.notes.append("references_of_several_customers")
    if result.customer_id is not None:
        result.invoice_ids = [i for i, owner in _owners(result.invoice_ids).items()
                              if owner == result.customer_id]
    return result


def customers_with_address(address: str) -> list[int]:
    address = address.strip().lower()
    if not address:
        return []
    ids = set(db.session.scalars(select(Customer.id).where(func.lower(Customer.email) == address)))
    ids.update(db.session.scalars(select(Contact.customer_id)
                                  .where(func.lower(Contact.email) == address)))
    return sorted(ids)


def _invoices_named(text: str, customer_id: int | None) -> tuple[list[int], set[int]]:
    """Invoices the text names (number, OGM, RF) → (ids, their customers)."""
    ogms, rfs = [], []
    for kind, value in find_references(text[:20000]):
        (ogms if kind == "ogm" else rfs).append(value)
    numbers = {m.group(0) for m in _NUMBER_LIKE.finditer(text[:20000])
               if any(ch.isdigit() for ch in m.group(0))}
    conditions = []
    if numbers:
        conditions.append(Invoice.number.in_(sorted(numbers)[:500]))
    if ogms:
        conditions.append(Invoice.structured_reference.in_(ogms[:50]))
    if rfs:
        conditions.append(Invoice.rf_reference.in_(rfs[:50]))
    if not conditions:
        return [], set()
    rows = db.session.execute(select(Invoice.id, Invoice.customer_id)
                              .where(or_(*conditions)).order_by(Invoice.id).limit(100)).all()
    return [r.id for r in rows], {r.customer_id for r in rows}


def _owners(invoice_ids: list[int]) -> dict[int, int]:
    if not invoice_ids:
        return {}
    return dict(db.session.execute(select(Invoice.id, Invoice.customer_id)
                                   .where(Invoice.id.in_(invoice_ids))).all())
