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
from app.invoices.models import Invoice
from app.invoices.references import find_references
from app.notifications.models import Message
from app.notifications.reply_tokens import TokenCheck, check_tokens

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


def tie(mail: ParsedMail, *, returned: bool = False, lookup: Lookup | None = None) -> Tie:
    """``returned``: a bounce, whose thread is the returned message's own Message-ID.
    ``lookup``: where the database is read (a poll's batch reads it once for 200 messages)."""
    lookup = lookup or Lookup()
    thread = [*mail.thread_ids, *mail.returned_ids]
    check: TokenCheck = check_tokens(mail.recipients, thread)
    result = Tie(token_refused=check.refused)
    if check.refused:
        result.notes.append("token_refused")
    if check.message_id is not None:
        row = lookup.message(check.message_id)
        if row is not None and row[1] is not None:
            result.message_id, result.customer_id = row
            result.by = "token" if check.via == "address" else "thread"
    if result.customer_id is None and thread:
        row = lookup.latest_in_thread(thread[-50:])
        if row is not None:
            (result.message_id, result.customer_id), result.by = row, "thread"
    text = f"{mail.subject}\n{mail.text}"
    result.invoice_ids, by_invoice = lookup.invoices_named(text)
    if result.customer_id is None and not returned and mail.sender:
        owners = lookup.customers_with_address(mail.sender)
        if len(owners) == 1:
            result.customer_id, result.by = owners[0], "sender"
        elif len(owners) > 1:
            result.notes.append("sender_shared")
    if result.customer_id is None and len(by_invoice) == 1:
        result.customer_id, result.by = next(iter(by_invoice)), "reference"
    elif result.customer_id is None and len(by_invoice) > 1:
        result.notes.append("references_of_several_customers")
    if result.customer_id is not None:
        result.invoice_ids = [i for i, owner in lookup.owners(result.invoice_ids).items()
                              if owner == result.customer_id]
    return result


class Lookup:
    """What tying reads, one query per question (a single reply)."""

    def message(self, message_id: int) -> tuple[int, int | None] | None:
        row = db.session.execute(select(Message.id, Message.customer_id)
                                 .where(Message.id == message_id)).first()
        return (row.id, row.customer_id) if row is not None else None

    def latest_in_thread(self, thread: list[str]) -> tuple[int, int] | None:
        row = db.session.execute(select(Message.id, Message.customer_id).where(
            Message.provider_message_id.in_(thread),
            Message.customer_id.is_not(None)).order_by(Message.id.desc()).limit(1)).first()
        return (row.id, row.customer_id) if row is not None else None

    def invoices_named(self, text: str) -> tuple[list[int], set[int]]:
        return _invoices_named(text)

    def customers_with_address(self, address: str) -> list[int]:
        return customers_with_address(address)

    def owners(self, invoice_ids: list[int]) -> dict[int, int]:
        return _owners(invoice_ids)


class BatchLookup(Lookup):
    """The same answers for a batch of replies, read with a few queries for all of them."""

    def __init__(self, mails: list[ParsedMail]) -> None:
        self.messages: dict[int, tuple[int, int | None]] = {}
        self.threads: dict[str, tuple[int, int]] = {}
        self.addresses: dict[str, list[int]] = {}
        self.by_number: dict[str, list[tuple[int, int]]] = {}
        self.by_ogm: dict[str, list[tuple[int, int]]] = {}
        self.by_rf: dict[str, list[tuple[int, int]]] = {}
        self.owner: dict[int, int] = {}
        self._words: dict[str, tuple[set[str], list[str], list[str]]] = {}
        ids, threads, senders = set(), set(), set()
        numbers, ogms, rfs = set(), set(), set()
        for mail in mails:
            thread = [*mail.thread_ids, *mail.returned_ids]
            check = check_tokens(mail.recipients, thread)
            if check.message_id is not None:
                ids.add(check.message_id)
            threads.update(thread[-50:])
            if mail.sender:
                senders.add(mail.sender.strip().lower())
            found = self._words_of(f"{mail.subject}\n{mail.text}")
            numbers.update(sorted(found[0])[:500])
            ogms.update(found[1][:50])
            rfs.update(found[2][:50])
        for chunk in _chunks(ids):
            self.messages.update((r.id, (r.id, r.customer_id)) for r in db.session.execute(
                select(Message.id, Message.customer_id).where(Message.id.in_(chunk))))
        for chunk in _chunks(threads):
            for r in db.session.execute(select(Message.id, Message.customer_id,
                                               Message.provider_message_id).where(
                    Message.provider_message_id.in_(chunk), Message.customer_id.is_not(None))):
                known = self.threads.get(r.provider_message_id)
                if known is None or r.id > known[0]:
                    self.threads[r.provider_message_id] = (r.id, r.customer_id)
        owners: dict[str, set[int]] = {}
        for chunk in _chunks(senders):
            for address, cid in db.session.execute(select(func.lower(Customer.email), Customer.id)
                                                   .where(func.lower(Customer.email).in_(chunk))):
                owners.setdefault(address, set()).add(cid)
            for address, cid in db.session.execute(
                    select(func.lower(Contact.email), Contact.customer_id)
                    .where(func.lower(Contact.email).in_(chunk))):
                owners.setdefault(address, set()).add(cid)
        self.addresses = {a: sorted(c) for a, c in owners.items()}
        for column, values, into in ((Invoice.number, numbers, self.by_number),
                                     (Invoice.structured_reference, ogms, self.by_ogm),
                                     (Invoice.rf_reference, rfs, self.by_rf)):
            for chunk in _chunks(values):
                for r in db.session.execute(select(Invoice.id, Invoice.customer_id, column)
                                            .where(column.in_(chunk))):
                    into.setdefault(r[2], []).append((r.id, r.customer_id))
                    self.owner[r.id] = r.customer_id

    def _words_of(self, text: str) -> tuple[set[str], list[str], list[str]]:
        found = self._words.get(text)
        if found is None:
            found = self._words[text] = _words(text)
        return found

    def message(self, message_id: int) -> tuple[int, int | None] | None:
        return self.messages.get(message_id)

    def latest_in_thread(self, thread: list[str]) -> tuple[int, int] | None:
        found = [self.threads[t] for t in thread if t in self.threads]
        return max(found) if found else None

    def invoices_named(self, text: str) -> tuple[list[int], set[int]]:
        numbers, ogms, rfs = self._words_of(text)
        rows = {row for values, into in ((sorted(numbers)[:500], self.by_number),
                                         (ogms[:50], self.by_ogm), (rfs[:50], self.by_rf))
                for value in values for row in into.get(value, ())}
        rows = sorted(rows)[:100]
        return [i for i, _c in rows], {c for _i, c in rows}

    def customers_with_address(self, address: str) -> list[int]:
        return list(self.addresses.get(address.strip().lower(), []))

    def owners(self, invoice_ids: list[int]) -> dict[int, int]:
        return {i: self.owner[i] for i in invoice_ids if i in self.owner}


def _chunks(values, size: int = 500):
    values = sorted(values)
    for start in range(0, len(values), size):
        yield values[start:start + size]


def customers_with_address(address: str) -> list[int]:
    address = address.strip().lower()
    if not address:
        return []
    ids = set(db.session.scalars(select(Customer.id).where(func.lower(Customer.email) == address)))
    ids.update(db.session.scalars(select(Contact.customer_id)
                                  .where(func.lower(Contact.email) == address)))
    return sorted(ids)


def _words(text: str) -> tuple[set[str], list[str], list[str]]:
    """The invoice numbers (words with a digit), OGMs and RF references a text names."""
    ogms, rfs = [], []
    for kind, value in find_references(text[:20000]):
        (ogms if kind == "ogm" else rfs).append(value)
    numbers = {m.group(0) for m in _NUMBER_LIKE.finditer(text[:20000])
               if any(ch.isdigit() for ch in m.group(0))}
    return numbers, ogms, rfs


def _invoices_named(text: str) -> tuple[list[int], set[int]]:
    """Invoices the text names (number, OGM, RF) → (ids, their customers)."""
    numbers, ogms, rfs = _words(text)
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
